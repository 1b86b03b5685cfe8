// Package models maps a model hint to the model id each target accepts, using the
// catalogs the providers ship.
//
// A hint is "vendor/model" or a bare model id, in any common spelling. [Parse] reads it
// and [Hint.For] gives the id to send to one target, and whether that target can serve
// the model at all:
//
//   - The vendor slugs xai, x-ai and spacexai (the gateway's current one) all name xAI.
//     A bare id's vendor is the one whose catalog lists it; else it is inferred from the
//     id's prefix (gpt-, chatgpt-, codex-, o1, o3, o4: openai; claude-: anthropic;
//     grok-: xai; gemini-, gemma-: google); else it is unknown.
//   - The gateway serves every hint: the gateway's slug for the vendor, "/", and the
//     gateway catalog's spelling of the id (anthropic/claude-sonnet-4.5,
//     spacexai/grok-4.3). A bare id of an unknown vendor is passed unchanged: the
//     gateway routes by its own catalog.
//   - OpenRouter serves every hint of a known vendor, spelled as on the gateway but with
//     OpenRouter's slugs (x-ai/grok-4.3).
//   - OpenAI, Anthropic and xAI serve their own vendor's models only, as their own
//     catalogs spell them, without the vendor (claude-sonnet-4-5 on Anthropic's API).
//     So a bare id of an unknown vendor never goes to a vendor API or to OpenRouter.
//   - One model, many spellings: vendor/model or bare, dotted or hyphenated versions
//     (claude-sonnet-4.5, claude-sonnet-4-5), any letter case all map to the target's
//     id. A model no catalog lists is sent as given, but for Anthropic's version
//     convention: hyphens on its own API, dots on the gateway and OpenRouter. A dated id
//     that a target's catalog does not list is not swapped for another.
//
// The catalogs are recorded with their package versions in testdata/catalogs: the model
// list of npm @ai-sdk/gateway, and the model constants of anthropic-sdk-go and
// openai-go. testdata/catalogs/extract.sh pulls them out of those packages and
// `go generate ./models/` rebuilds the tables. [Rules] override a router's slug for a
// vendor and the id sent for a model.
package models

//go:generate go run ./internal/gencatalog

import (
	"errors"
	"strings"
	"unicode"

	"github.com/byok-go/byok/providers"
)

// MaxHintLen bounds a model hint, and an id given to [Rules.SetID], in bytes; real
// model ids are far shorter.
const MaxHintLen = 256

// ErrInvalidHint: a hint has white space or control characters inside, an empty vendor
// or model, or more than [MaxHintLen] bytes.
var ErrInvalidHint = errors.New("models: invalid model hint")

// ErrInvalidRule: a [Rules] override names a target it cannot apply to, or a malformed
// vendor, slug, hint or id.
var ErrInvalidRule = errors.New("models: invalid model rule")

// The vendors whose own APIs byok calls, as [Hint.Vendor] names them.
const (
	VendorOpenAI    = "openai"
	VendorAnthropic = "anthropic"
	VendorXAI       = "xai"
)

// Hint is a parsed model hint. The zero Hint is no hint: every target serves it, with
// the model "".
type Hint struct {
	raw    string // the hint as given (trimmed); "" = no hint
	vendor string // canonical vendor ("xai" for x-ai/, spacexai/, ...); "" when unknown
	id     string // the model id without vendor, as given
	rules  *Rules // the overrides it was parsed with; nil: none
}

// IsZero reports whether h is no hint.
func (h Hint) IsZero() bool { return h.raw == "" }

// String returns the hint as given, trimmed.
func (h Hint) String() string { return h.raw }

// Vendor returns the hint's canonical vendor ("openai", "anthropic", "xai", "google",
// ...), or "" when it is unknown.
func (h Hint) Vendor() string { return h.vendor }

// key is the hint's identity across spellings: vendor, "/", and the id lower-cased with
// dots as hyphens, so claude-sonnet-4.5 and claude-sonnet-4-5 are one model.
func (h Hint) key() string { return h.vendor + "/" + canonicalID(h.id) }

func canonicalID(id string) string { return strings.ReplaceAll(strings.ToLower(id), ".", "-") }

// Rules override the catalogs: a router's slug for a vendor ([Rules.SetVendorSlug]) and
// the id sent to a target for a model ([Rules.SetID]). A nil *Rules has none. Set them
// up first; once a Rules is in use it must not change, and it is then safe for
// concurrent use.
type Rules struct {
	slugs map[providers.ID]map[string]string // target -> canonical vendor -> slug
	ids   map[providers.ID]map[string]string // target -> model key -> id, sent as is
	alias map[string]string                  // extra vendor slugs accepted in hints
}

// SetVendorSlug sets how a router names a vendor in the model ids it is sent. target is
// providers.Gateway or providers.OpenRouter; vendor is the vendor as hints name it
// ("xai", "x-ai", "google", ...); slug is the router's name for it, which hints may then
// use too. Both are trimmed and lower-cased. Any other target, or a vendor or slug that
// is not a valid slug (see [ValidSlug]), gives an error matching ErrInvalidRule.
func (r *Rules) SetVendorSlug(target providers.ID, vendor, slug string) error {
	vendor, slug = strings.ToLower(strings.TrimSpace(vendor)), strings.ToLower(strings.TrimSpace(slug))
	if target != providers.Gateway && target != providers.OpenRouter {
		return ruleError("vendor slugs apply to the gateway and openrouter only")
	}
	if !ValidSlug(vendor) || !ValidSlug(slug) {
		return ruleError("malformed vendor or slug")
	}
	r.init()
	vendor = r.vendorOf(vendor)
	if r.slugs[target] == nil {
		r.slugs[target] = map[string]string{}
	}
	r.slugs[target][vendor] = slug
	r.alias[slug] = vendor
	return nil
}

// SetID sends id to target whenever a hint names the same model as hint, in any
// spelling (vendor/model or bare, dotted or hyphenated versions, any case). id is sent
// as is; on the gateway and OpenRouter it includes the vendor
// ("anthropic/claude-sonnet-4.5"). It does not change which targets serve the hint. hint
// is read with the vendor slugs set so far. An unknown target, a malformed or empty
// hint, or an empty id, one with white space, or one over [MaxHintLen] bytes gives an
// error matching ErrInvalidRule.
func (r *Rules) SetID(target providers.ID, hint, id string) error {
	id = strings.TrimSpace(id)
	if !target.Valid() {
		return ruleError("model id override for an unknown provider")
	}
	h, err := Parse(hint, r)
	if err != nil || h.IsZero() || id == "" || len(id) > MaxHintLen || strings.IndexFunc(id, unicode.IsSpace) >= 0 {
		return ruleError("malformed model id override")
	}
	r.init()
	if r.ids[target] == nil {
		r.ids[target] = map[string]string{}
	}
	r.ids[target][h.key()] = id
	return nil
}

func (r *Rules) init() {
	if r.slugs == nil {
		r.slugs = map[providers.ID]map[string]string{}
		r.ids = map[providers.ID]map[string]string{}
		r.alias = map[string]string{}
	}
}

// ruleError is an error matching ErrInvalidRule with a safe reason.
type ruleError string

func (e ruleError) Error() string { return ErrInvalidRule.Error() + ": " + string(e) }
func (e ruleError) Unwrap() error { return ErrInvalidRule }

// ValidSlug reports whether s can be a vendor or provider slug: 1 to 64 bytes of
// lower-case ASCII letters, digits, '-', '_' and '.', starting with a letter or digit
// ("anthropic", "x-ai", "meta-llama", "bedrock").
func ValidSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// catalogs is the per-target mapping built from the catalogs the providers ship
// (catalog_gen.go). It is built once and only read afterwards.
var catalogs = buildCatalogs()

type catalogIndex struct {
	ids        map[providers.ID]map[string]string // target -> model key -> id (without slug on routers)
	routerSlug map[providers.ID]map[string]string // gateway, openrouter -> vendor -> slug
	alias      map[string]string                  // vendor slug in a hint -> canonical vendor
	bare       map[string]string                  // canonical bare id -> vendor, when one vendor has it
}

func buildCatalogs() *catalogIndex {
	c := &catalogIndex{
		ids: map[providers.ID]map[string]string{
			providers.Gateway: {}, providers.OpenRouter: {}, providers.OpenAI: {}, providers.Anthropic: {}, providers.XAI: {},
		},
		routerSlug: map[providers.ID]map[string]string{
			providers.Gateway:    {},
			providers.OpenRouter: {VendorXAI: "x-ai"}, // OpenRouter lists xAI's models as x-ai/...
		},
		alias: map[string]string{"xai": VendorXAI, "x-ai": VendorXAI, "spacexai": VendorXAI},
		bare:  map[string]string{},
	}
	ambiguous := map[string]bool{}
	addBare := func(id, vendor string) {
		k := canonicalID(id)
		if v, ok := c.bare[k]; ok && v != vendor {
			ambiguous[k] = true
		}
		c.bare[k] = vendor
	}
	for _, full := range gatewayCatalog {
		slug, id, _ := strings.Cut(full, "/")
		vendor := c.vendorOf(slug)
		if vendor != slug {
			c.routerSlug[providers.Gateway][vendor] = slug // the gateway's current slug, e.g. spacexai
		}
		k := vendor + "/" + canonicalID(id)
		// The routers and xAI's own API spell ids as the gateway does (dotted versions).
		c.ids[providers.Gateway][k] = id
		c.ids[providers.OpenRouter][k] = id
		if vendor == VendorXAI {
			c.ids[providers.XAI][k] = id
		}
		addBare(id, vendor)
	}
	for _, id := range anthropicCatalog {
		c.ids[providers.Anthropic][VendorAnthropic+"/"+canonicalID(id)] = id
		addBare(id, VendorAnthropic)
	}
	for _, id := range openaiCatalog {
		c.ids[providers.OpenAI][VendorOpenAI+"/"+canonicalID(id)] = id
		addBare(id, VendorOpenAI)
	}
	for k := range ambiguous {
		delete(c.bare, k)
	}
	return c
}

// vendorOf returns the canonical vendor a slug names: xai for xai, x-ai and spacexai;
// the slug itself for every other.
func (c *catalogIndex) vendorOf(slug string) string {
	if v, ok := c.alias[slug]; ok {
		return v
	}
	return slug
}

// Parse parses a hint, "vendor/model" or a bare model id, with the overrides of r (nil:
// none). An empty hint gives the zero Hint; a malformed one (white space or control
// characters inside, an empty vendor or model, over [MaxHintLen] bytes) an error
// matching ErrInvalidHint.
func Parse(hint string, r *Rules) (Hint, error) {
	hint = strings.TrimSpace(hint)
	if hint == "" {
		return Hint{}, nil
	}
	if len(hint) > MaxHintLen || strings.IndexFunc(hint, func(c rune) bool {
		return unicode.IsSpace(c) || unicode.IsControl(c)
	}) >= 0 {
		return Hint{}, ErrInvalidHint
	}
	h := Hint{raw: hint, rules: r}
	if vendor, id, ok := strings.Cut(hint, "/"); ok {
		if vendor == "" || id == "" {
			return Hint{}, ErrInvalidHint
		}
		h.vendor, h.id = r.vendorOf(strings.ToLower(vendor)), id
		return h, nil
	}
	h.id = hint
	h.vendor = inferVendor(hint)
	return h, nil
}

// vendorOf returns the canonical vendor a slug names, with r's extra slugs.
func (r *Rules) vendorOf(slug string) string {
	if r != nil {
		if v, ok := r.alias[slug]; ok {
			return v
		}
	}
	return catalogs.vendorOf(slug)
}

// inferVendor returns the vendor of a bare model id: the catalogs' when one vendor
// lists it, else by prefix; "" when unknown.
func inferVendor(id string) string {
	if v, ok := catalogs.bare[canonicalID(id)]; ok {
		return v
	}
	id = strings.ToLower(id)
	if len(id) >= 2 && id[0] == 'o' && id[1] >= '1' && id[1] <= '9' && (len(id) == 2 || id[2] == '-') {
		return VendorOpenAI // o1, o3-mini, o4-mini, ...
	}
	for _, p := range [...]struct{ prefix, vendor string }{
		{"gpt-", VendorOpenAI}, {"chatgpt-", VendorOpenAI}, {"codex-", VendorOpenAI},
		{"claude-", VendorAnthropic},
		{"grok-", VendorXAI},
		{"gemini-", "google"}, {"gemma-", "google"},
	} {
		if strings.HasPrefix(id, p.prefix) {
			return p.vendor
		}
	}
	return ""
}

// For returns the model string to send to target, and whether target can serve the
// hint at all. The zero Hint is served by every target, as "".
//
// The gateway serves every hint; OpenRouter every hint of a known vendor; OpenAI,
// Anthropic and xAI their own vendor's only. A bare id of an unknown vendor goes to
// the gateway alone, unchanged.
func (h Hint) For(target providers.ID) (string, bool) {
	if h.raw == "" {
		return "", true
	}
	switch target {
	case providers.Gateway:
	case providers.OpenRouter:
		if h.vendor == "" {
			return "", false
		}
	case providers.OpenAI, providers.Anthropic, providers.XAI:
		if h.vendor != string(target) {
			return "", false
		}
	default:
		return "", false
	}
	if h.rules != nil {
		if s, ok := h.rules.ids[target][h.key()]; ok {
			return s, true
		}
	}
	switch {
	case target != providers.Gateway && target != providers.OpenRouter:
		return h.spell(target), true
	case h.vendor == "":
		return h.id, true
	default:
		return h.rules.Slug(target, h.vendor) + "/" + h.spell(target), true
	}
}

// Slug returns how router target (providers.Gateway or providers.OpenRouter) names
// vendor (a canonical vendor such as [VendorXAI]): r's override, else the catalogs'
// slug, else vendor itself. r may be nil.
func (r *Rules) Slug(target providers.ID, vendor string) string {
	if r != nil {
		if s, ok := r.slugs[target][vendor]; ok {
			return s
		}
	}
	if s, ok := catalogs.routerSlug[target][vendor]; ok {
		return s
	}
	return vendor
}

// spell returns the model id (without vendor) as target spells it: the target's
// catalog entry for the same model, or the id as given with Anthropic's version
// convention applied (hyphens on its own API, dots on the routers).
func (h Hint) spell(target providers.ID) string {
	if s, ok := catalogs.ids[target][h.key()]; ok {
		return s
	}
	if h.vendor != VendorAnthropic {
		return h.id
	}
	if target == providers.Anthropic {
		return strings.ReplaceAll(h.id, ".", "-") // claude-sonnet-9.1 -> claude-sonnet-9-1
	}
	return dottedVersion(h.id) // claude-sonnet-9-1 -> claude-sonnet-9.1
}

// dottedVersion joins two one-digit parts of a hyphenated id with a dot:
// claude-opus-4-5-20251101 becomes claude-opus-4.5-20251101, claude-3-5-haiku
// claude-3.5-haiku.
func dottedVersion(id string) string {
	parts := strings.Split(id, "-")
	oneDigit := func(s string) bool { return len(s) == 1 && s[0] >= '0' && s[0] <= '9' }
	var b strings.Builder
	for i := 0; i < len(parts); i++ {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(parts[i])
		if i+1 < len(parts) && oneDigit(parts[i]) && oneDigit(parts[i+1]) {
			b.WriteByte('.')
			b.WriteString(parts[i+1])
			i++
		}
	}
	return b.String()
}
