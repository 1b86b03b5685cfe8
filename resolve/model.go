package resolve

//go:generate go run ./internal/gencatalog

import (
	"strings"
	"unicode"

	"github.com/byok-go/byok/providers"
)

// maxModelLen bounds a model hint; real model ids are far shorter.
const maxModelLen = 256

// The vendors whose own APIs byok calls.
const (
	vendorOpenAI    = "openai"
	vendorAnthropic = "anthropic"
	vendorXAI       = "xai"
)

// model is a parsed model hint.
type model struct {
	raw    string    // the hint as given (trimmed); "" = no hint
	vendor string    // canonical vendor ("xai" for x-ai/, spacexai/, ...); "" when unknown
	id     string    // the model id without vendor, as given
	rules  *modelMap // the Resolver's overrides; nil: none
}

// key is the hint's identity across spellings: vendor, "/", and the id lower-cased with
// dots as hyphens, so claude-sonnet-4.5 and claude-sonnet-4-5 are one model.
func (m model) key() string { return m.vendor + "/" + canonicalID(m.id) }

func canonicalID(id string) string { return strings.ReplaceAll(strings.ToLower(id), ".", "-") }

// modelMap holds a Resolver's model overrides (WithVendorSlug, WithModelID). A nil
// *modelMap has none; it is never changed after New.
type modelMap struct {
	slugs map[providers.ID]map[string]string // target -> canonical vendor -> slug
	ids   map[providers.ID]map[string]string // target -> model key -> id, sent as is
	alias map[string]string                  // extra vendor slugs accepted in hints
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
			providers.OpenRouter: {vendorXAI: "x-ai"}, // OpenRouter lists xAI's models as x-ai/...
		},
		alias: map[string]string{"xai": vendorXAI, "x-ai": vendorXAI, "spacexai": vendorXAI},
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
		if vendor == vendorXAI {
			c.ids[providers.XAI][k] = id
		}
		addBare(id, vendor)
	}
	for _, id := range anthropicCatalog {
		c.ids[providers.Anthropic][vendorAnthropic+"/"+canonicalID(id)] = id
		addBare(id, vendorAnthropic)
	}
	for _, id := range openaiCatalog {
		c.ids[providers.OpenAI][vendorOpenAI+"/"+canonicalID(id)] = id
		addBare(id, vendorOpenAI)
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

// parse parses a hint: "vendor/model" or a bare model id. A bare id's vendor is the one
// whose catalog lists it; else inferred from its prefix (gpt-, chatgpt-, codex-, o1, o3,
// o4: openai; claude-: anthropic; grok-: xai; gemini-, gemma-: google); else unknown.
func (mm *modelMap) parse(hint string) (model, error) {
	hint = strings.TrimSpace(hint)
	if hint == "" {
		return model{}, nil
	}
	if len(hint) > maxModelLen || strings.IndexFunc(hint, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return model{}, &Error{Step: StepInput, Kind: ErrInvalidModel}
	}
	m := model{raw: hint, rules: mm}
	if vendor, id, ok := strings.Cut(hint, "/"); ok {
		if vendor == "" || id == "" {
			return model{}, &Error{Step: StepInput, Kind: ErrInvalidModel}
		}
		m.vendor, m.id = mm.vendorOf(strings.ToLower(vendor)), id
		return m, nil
	}
	m.id = hint
	m.vendor = inferVendor(hint)
	return m, nil
}

func (mm *modelMap) vendorOf(slug string) string {
	if mm != nil {
		if v, ok := mm.alias[slug]; ok {
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
		return vendorOpenAI // o1, o3-mini, o4-mini, ...
	}
	for _, p := range [...]struct{ prefix, vendor string }{
		{"gpt-", vendorOpenAI}, {"chatgpt-", vendorOpenAI}, {"codex-", vendorOpenAI},
		{"claude-", vendorAnthropic},
		{"grok-", vendorXAI},
		{"gemini-", "google"}, {"gemma-", "google"},
	} {
		if strings.HasPrefix(id, p.prefix) {
			return p.vendor
		}
	}
	return ""
}

// forProvider returns the model string to send to provider id, and whether id can
// serve the hint at all. Without a hint every provider serves and the model is "".
//
// The gateway serves every hint; OpenRouter every hint of a known vendor; OpenAI,
// Anthropic and xAI their own vendor's only. A bare id of an unknown vendor goes to
// the gateway alone, unchanged.
func (m model) forProvider(id providers.ID) (string, bool) {
	if m.raw == "" {
		return "", true
	}
	switch id {
	case providers.Gateway:
	case providers.OpenRouter:
		if m.vendor == "" {
			return "", false
		}
	case providers.OpenAI, providers.Anthropic, providers.XAI:
		if m.vendor != string(id) {
			return "", false
		}
	default:
		return "", false
	}
	if m.rules != nil {
		if s, ok := m.rules.ids[id][m.key()]; ok {
			return s, true
		}
	}
	switch {
	case id != providers.Gateway && id != providers.OpenRouter:
		return m.spell(id), true
	case m.vendor == "":
		return m.id, true
	default:
		return m.slug(id) + "/" + m.spell(id), true
	}
}

// slug returns how router id names the hint's vendor.
func (m model) slug(id providers.ID) string {
	if m.rules != nil {
		if s, ok := m.rules.slugs[id][m.vendor]; ok {
			return s
		}
	}
	if s, ok := catalogs.routerSlug[id][m.vendor]; ok {
		return s
	}
	return m.vendor
}

// spell returns the model id (without vendor) as target id spells it: the target's
// catalog entry for the same model, or the id as given with Anthropic's version
// convention applied (hyphens on its own API, dots on the routers).
func (m model) spell(id providers.ID) string {
	if s, ok := catalogs.ids[id][m.key()]; ok {
		return s
	}
	if m.vendor != vendorAnthropic {
		return m.id
	}
	if id == providers.Anthropic {
		return strings.ReplaceAll(m.id, ".", "-") // claude-sonnet-9.1 -> claude-sonnet-9-1
	}
	return dottedVersion(m.id) // claude-sonnet-9-1 -> claude-sonnet-9.1
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
