// Package gateway holds the Vercel AI Gateway's per-request provider options: their
// validation, their slugs and compliance rules, and their merge into JSON request bodies.
//
// The gateway reads providerOptions.gateway from the JSON body of its OpenAI-compatible
// endpoints (/v1/chat/completions, /v1/responses). The members written, and their
// meaning, are those of npm @ai-sdk/gateway 4.0.146 (type GatewayProviderOptions in
// dist/index.d.ts, and its docs/00-ai-gateway.mdx):
//
//   - order: provider slugs tried in that order; only: the only provider slugs allowed;
//   - models: fallback models tried after the primary, as gateway model ids;
//   - user: the end user the request is attributed to; tags: usage-report tags;
//   - zeroDataRetention, disallowPromptTraining: route only to providers with such
//     agreements;
//   - byok: per-request credentials by provider slug, {"anthropic": [{"apiKey": "..."}]}.
//     The gateway then ignores the team's stored BYOK credentials but "may still fall
//     back to use system credentials if the provided credentials fail": team spend.
//
// [Options] are what a caller sets; [Compile] validates them (the limits are this
// package's own, listed at Options; the gateway documents none) and encodes them once.
// A [Params] is what a gateway credential carries to its HTTP transport: compiled
// options and, on per-request BYOK, the user's key under its provider slug.
// [Params.Apply] merges them into a request's JSON body. Package resolve builds Params
// for the Providers it resolves; most programs only set Options through
// resolve.WithDefaultGatewayOptions and resolve.WithGatewayOptions.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/byok-go/byok/models"
	"github.com/byok-go/byok/providers"
)

// Options are the Vercel AI Gateway's per-request provider options, written into
// providerOptions.gateway of every JSON request body sent to a gateway. The field names
// sent are those of npm @ai-sdk/gateway's GatewayProviderOptions (order, only, models,
// user, tags, zeroDataRetention, disallowPromptTraining, quotaEntityId). The zero value
// sends nothing.
//
// The gateway documents no limits on these fields; this package applies bounds of its
// own, so a mistake fails the call instead of reaching the gateway: at most 32 slugs in
// Order and in Only, each a valid slug (1 to 64 bytes of lower-case ASCII letters,
// digits, '-', '_' and '.'; the gateway's slugs are such words: "anthropic", "bedrock",
// "vertex"); at most 16 Models; a User and a QuotaEntityID of at most 256 bytes each; at
// most 32 Tags of 1 to 128 bytes each. User, QuotaEntityID and tags must be valid UTF-8
// without control characters. No list may name an entry twice, except Tags, which are a
// set.
type Options struct {
	Order, Only            []string // gateway provider slugs: the attempt order; the only ones allowed
	Models                 []string // fallback models after the primary, mapped to gateway ids like model hints
	User                   string   // the gateway's user attribution; "" sends none
	Tags                   []string // usage-report tags
	ZeroDataRetention      bool     // route only to providers with zero data retention agreements
	DisallowPromptTraining bool     // route only to providers that do not train on prompts
	QuotaEntityID          string   // quotaEntityId: the entity whose gateway quota the request counts against; "" sends none
}

// Bounds on the options (the gateway documents none).
const (
	MaxSlugs  = 32  // slugs in Order, and in Only
	MaxModels = 16  // fallback models
	MaxUser   = 256 // bytes of User, and of QuotaEntityID
	MaxTags   = 32  // tags
	MaxTag    = 128 // bytes of one tag
)

// IsZero reports whether o sends nothing.
func (o Options) IsZero() bool {
	return len(o.Order) == 0 && len(o.Only) == 0 && len(o.Models) == 0 && o.User == "" &&
		len(o.Tags) == 0 && !o.ZeroDataRetention && !o.DisallowPromptTraining && o.QuotaEntityID == ""
}

// Clone returns o with slices of its own.
func (o Options) Clone() Options {
	o.Order = slices.Clone(o.Order)
	o.Only = slices.Clone(o.Only)
	o.Models = slices.Clone(o.Models)
	o.Tags = slices.Clone(o.Tags)
	return o
}

// Over returns call's options over o, the defaults: a non-empty Order, Only or Models of
// call replaces o's, a non-empty User or QuotaEntityID replaces o's, Tags are added to
// o's, and a
// compliance flag set on either stays set (a call can tighten the defaults' compliance,
// never loosen it).
func (o Options) Over(call Options) Options {
	if len(call.Order) > 0 {
		o.Order = call.Order
	}
	if len(call.Only) > 0 {
		o.Only = call.Only
	}
	if len(call.Models) > 0 {
		o.Models = call.Models
	}
	if call.User != "" {
		o.User = call.User
	}
	if call.QuotaEntityID != "" {
		o.QuotaEntityID = call.QuotaEntityID
	}
	if len(call.Tags) > 0 {
		o.Tags = append(slices.Clip(o.Tags), call.Tags...)
	}
	o.ZeroDataRetention = o.ZeroDataRetention || call.ZeroDataRetention
	o.DisallowPromptTraining = o.DisallowPromptTraining || call.DisallowPromptTraining
	return o
}

// ErrInvalidOptions: options failed this package's checks. The error is an
// *[OptionsError].
var ErrInvalidOptions = errors.New("gateway: invalid options")

// OptionsError says which field failed which rule. It names the field and the rule,
// never the value, which may be a key pasted into the wrong field.
type OptionsError struct {
	Reason string // e.g. "order: malformed provider slug"
}

func (e *OptionsError) Error() string { return ErrInvalidOptions.Error() + " (" + e.Reason + ")" }

// Unwrap returns ErrInvalidOptions.
func (e *OptionsError) Unwrap() error { return ErrInvalidOptions }

func optionsError(reason string) error { return &OptionsError{Reason: reason} }

// Compiled is a validated Options with its JSON members encoded once. It is immutable.
type Compiled struct {
	o       Options  // normalized; Models are gateway ids
	members []member // in the order written: order, only, models, user, tags, zeroDataRetention, disallowPromptTraining
}

// member is one member of a JSON object: its name and its encoded value.
type member struct {
	name  string
	value []byte
}

// Options returns the compiled options: trimmed, slugs lower-cased, Models as gateway
// ids, Tags without repeats. The result is a copy. A nil c gives the zero Options.
func (c *Compiled) Options() Options {
	if c == nil {
		return Options{}
	}
	return c.o.Clone()
}

// Compile validates o, maps its Models to gateway ids with rules (nil: the catalogs'
// rules only), and encodes it. It returns nil for options that send nothing, and an
// error matching ErrInvalidOptions for options that fail the checks described at
// [Options].
func Compile(o Options, rules *models.Rules) (*Compiled, error) {
	var err error
	n := o
	if n.Order, err = checkSlugs("order", o.Order); err != nil {
		return nil, err
	}
	if n.Only, err = checkSlugs("only", o.Only); err != nil {
		return nil, err
	}
	if len(o.Models) > MaxModels {
		return nil, optionsError(fmt.Sprintf("models: more than %d", MaxModels))
	}
	n.Models = make([]string, 0, len(o.Models))
	for _, hint := range o.Models {
		h, err := models.Parse(hint, rules)
		if err != nil || h.IsZero() {
			return nil, optionsError("models: malformed model")
		}
		id, _ := h.For(providers.Gateway) // the gateway serves every hint
		if slices.Contains(n.Models, id) {
			return nil, optionsError("models: a model named twice")
		}
		n.Models = append(n.Models, id)
	}
	n.User = strings.TrimSpace(o.User)
	if len(n.User) > MaxUser || !printable(n.User) {
		return nil, optionsError(fmt.Sprintf("user: over %d bytes or not printable UTF-8", MaxUser))
	}
	n.QuotaEntityID = strings.TrimSpace(o.QuotaEntityID)
	if len(n.QuotaEntityID) > MaxUser || !printable(n.QuotaEntityID) {
		return nil, optionsError(fmt.Sprintf("quotaEntityId: over %d bytes or not printable UTF-8", MaxUser))
	}
	n.Tags = nil
	for _, tag := range o.Tags {
		tag = strings.TrimSpace(tag)
		if tag == "" || len(tag) > MaxTag || !printable(tag) {
			return nil, optionsError(fmt.Sprintf("tags: a tag empty, over %d bytes or not printable UTF-8", MaxTag))
		}
		if !slices.Contains(n.Tags, tag) {
			n.Tags = append(n.Tags, tag)
		}
	}
	if len(n.Tags) > MaxTags {
		return nil, optionsError(fmt.Sprintf("tags: more than %d", MaxTags))
	}
	if n.IsZero() {
		return nil, nil
	}
	if len(n.Models) == 0 {
		n.Models = nil
	}
	c := &Compiled{o: n}
	add := func(name string, v any) {
		b, _ := json.Marshal(v) // strings and booleans only: cannot fail
		c.members = append(c.members, member{name, b})
	}
	if len(n.Order) > 0 {
		add("order", n.Order)
	}
	if len(n.Only) > 0 {
		add("only", n.Only)
	}
	if len(n.Models) > 0 {
		add("models", n.Models)
	}
	if n.User != "" {
		add("user", n.User)
	}
	if len(n.Tags) > 0 {
		add("tags", n.Tags)
	}
	if n.ZeroDataRetention {
		add("zeroDataRetention", true)
	}
	if n.DisallowPromptTraining {
		add("disallowPromptTraining", true)
	}
	if n.QuotaEntityID != "" {
		add("quotaEntityId", n.QuotaEntityID)
	}
	return c, nil
}

// checkSlugs trims and lower-cases a list of provider slugs and checks it.
func checkSlugs(field string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxSlugs {
		return nil, optionsError(fmt.Sprintf("%s: more than %d slugs", field, MaxSlugs))
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if !models.ValidSlug(s) {
			return nil, optionsError(field + ": malformed provider slug")
		}
		if slices.Contains(out, s) {
			return nil, optionsError(field + ": a slug named twice")
		}
		out = append(out, s)
	}
	return out, nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// BYOKSlugs returns the gateway provider slug under which a user's key for each
// provider rides as per-request BYOK: "openai" and "anthropic" (the slugs the gateway
// documents), for xAI the gateway's current vendor slug as rules name it ("spacexai" in
// npm @ai-sdk/gateway 4.0.146), and none for OpenRouter (the gateway does not route to
// OpenRouter); overrides replace or add entries. The map is the caller's.
func BYOKSlugs(rules *models.Rules, overrides map[providers.ID]string) map[providers.ID]string {
	out := map[providers.ID]string{
		providers.OpenAI:    rules.Slug(providers.Gateway, models.VendorOpenAI),
		providers.Anthropic: rules.Slug(providers.Gateway, models.VendorAnthropic),
		providers.XAI:       rules.Slug(providers.Gateway, models.VendorXAI),
	}
	for id, slug := range overrides {
		out[id] = slug
	}
	return out
}
