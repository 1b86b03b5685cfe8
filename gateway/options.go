// Package gateway holds the Vercel AI Gateway's per-request provider options: their
// validation, their slugs and compliance rules, and their merge into JSON request bodies.
//
// The gateway reads providerOptions.gateway from the JSON body of its OpenAI-compatible
// endpoints (/v1/chat/completions, /v1/responses). The members written, and their
// meaning, are those of npm @ai-sdk/gateway 4.0.146 (type GatewayProviderOptions in
// dist/index.d.ts, and its docs/00-ai-gateway.mdx):
//
//   - order: provider slugs tried in that order; only: the only provider slugs allowed;
//     sort: providers ranked by cost, tokens per second or time to first token;
//   - models: fallback models tried after the primary, as gateway model ids;
//   - user: the end user the request is attributed to; tags: usage-report tags;
//     quotaEntityId: the entity whose quota the request counts against;
//   - zeroDataRetention, disallowPromptTraining: route only to providers with such
//     agreements; headquarters: route only to providers whose parent company is
//     headquartered in (or, with "!", outside) the listed countries;
//   - has: route only to provider models with these capabilities and weight formats;
//   - serviceTier: flex or priority processing; caching: automatic prompt caching;
//   - providerTimeouts.byok: per provider slug, how long a BYOK credential may take to
//     start answering before the gateway moves on;
//   - byok: per-request credentials by provider slug, {"anthropic": [{"apiKey": "..."}]}.
//     The gateway then ignores the team's stored BYOK credentials but "may still fall
//     back to use system credentials if the provided credentials fail": team spend.
//
// [Options] are what a caller sets; [Compile] validates them (the limits are this
// package's own, listed at Options; the gateway documents none) and encodes them once.
// A [Params] is what a gateway credential carries to its HTTP transport: compiled
// options and, on per-request BYOK, the user's key under its provider slug.
// [Params.Apply] merges them into a request's JSON body, where the options' compliance
// controls and the user's key win over the body (see Apply). Package resolve builds
// Params for the Providers it resolves; most programs only set Options through
// resolve.WithDefaultGatewayOptions and resolve.WithGatewayOptions. [Pseudonym] is the
// keyed pseudonym of a user id that resolve.WithGatewayAttribution sends as User and
// QuotaEntityID.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/byok-go/byok/models"
	"github.com/byok-go/byok/providers"
)

// Options are the Vercel AI Gateway's per-request provider options, written into
// providerOptions.gateway of every JSON request body sent to a gateway. The field names
// sent are those of npm @ai-sdk/gateway's GatewayProviderOptions (order, only, models,
// user, tags, zeroDataRetention, disallowPromptTraining, sort, headquarters, has,
// serviceTier, caching, providerTimeouts, quotaEntityId). The zero value sends nothing.
//
// The gateway documents no limits on these fields; this package applies bounds of its
// own, so a mistake fails the call instead of reaching the gateway:
//
//   - Order and Only: at most 32 slugs each, each a valid slug (1 to 64 bytes of
//     lower-case ASCII letters, digits, '-', '_' and '.'; the gateway's slugs are such
//     words: "anthropic", "bedrock", "vertex"); letter case and surrounding space are
//     normalized;
//   - Models: at most 16; User and QuotaEntityID: at most 256 bytes each; Tags: at most
//     32 of 1 to 128 bytes each. User, QuotaEntityID and tags must be valid UTF-8
//     without control characters;
//   - Sort: "", "cost", "tps" or "ttft"; ServiceTier: "", "flex" or "priority";
//     Caching: "" or "auto";
//   - Headquarters: at most 64 ISO 3166-1 alpha-2 country codes, each one of the 249
//     officially assigned ones ("GB", not "UK"; letter case is normalized), all plain
//     (route only to providers headquartered there) or all prefixed with '!' (never to
//     those); a list may not mix the two;
//   - Has: at most 16 entries, each a capability the gateway names ("implicit-caching",
//     "reasoning", "structured-output", "tool-use", "vision"), or a weight-format
//     condition "quantization:F" (required) or "!quantization:F" (excluded) where F is 1
//     to 32 of [a-zA-Z0-9._-]; entries are lower-cased (the gateway compares formats
//     without case); a format both required and excluded is refused. The gateway
//     rejects capabilities it does not know with a 400; so does this package, before
//     sending. Repeats are dropped;
//   - BYOKTimeouts: at most 32 provider slugs (as for Only), each a whole number of
//     milliseconds from 1 ms to 10 minutes, sent as providerTimeouts.byok in integer
//     milliseconds.
//
// No list may name an entry twice, except Tags and Has, which are sets.
//
// ZeroDataRetention, DisallowPromptTraining, Only and Headquarters are compliance
// controls: a call's options can tighten the defaults' but never loosen them
// ([Options.Over]), and neither can a request body ([Params.Apply]).
type Options struct {
	Order, Only            []string                 // gateway provider slugs: the attempt order; the only ones allowed (compliance)
	Models                 []string                 // fallback models after the primary, mapped to gateway ids like model hints
	User                   string                   // the gateway's user attribution; "" sends none
	Tags                   []string                 // usage-report tags
	ZeroDataRetention      bool                     // route only to providers with zero data retention agreements (compliance)
	DisallowPromptTraining bool                     // route only to providers that do not train on prompts (compliance)
	Sort                   string                   // "cost" | "tps" | "ttft": rank providers by; "" sends none
	Headquarters           []string                 // ISO 3166-1 alpha-2 codes, or all "!"-prefixed to exclude (compliance)
	Has                    []string                 // capability tags, "quantization:x", "!quantization:x"
	ServiceTier            string                   // "flex" | "priority"; "" sends none
	Caching                string                   // "auto"; "" sends none
	BYOKTimeouts           map[string]time.Duration // providerTimeouts.byok: per provider slug, sent in ms
	QuotaEntityID          string                   // quotaEntityId: the entity whose gateway quota the request counts against; "" sends none
}

// Bounds on the options (the gateway documents none).
const (
	MaxSlugs        = 32               // slugs in Order, in Only, and in BYOKTimeouts
	MaxModels       = 16               // fallback models
	MaxUser         = 256              // bytes of User, and of QuotaEntityID
	MaxTags         = 32               // tags
	MaxTag          = 128              // bytes of one tag
	MaxHeadquarters = 64               // country codes in Headquarters
	MaxHas          = 16               // entries in Has
	MaxFormat       = 32               // bytes of the weight format in a quantization condition
	MaxBYOKTimeout  = 10 * time.Minute // the longest BYOK timeout; the shortest is a millisecond
)

// IsZero reports whether o sends nothing.
func (o Options) IsZero() bool {
	return len(o.Order) == 0 && len(o.Only) == 0 && len(o.Models) == 0 && o.User == "" &&
		len(o.Tags) == 0 && !o.ZeroDataRetention && !o.DisallowPromptTraining && o.Sort == "" &&
		len(o.Headquarters) == 0 && len(o.Has) == 0 && o.ServiceTier == "" && o.Caching == "" &&
		len(o.BYOKTimeouts) == 0 && o.QuotaEntityID == ""
}

// Clone returns o with slices and a map of its own.
func (o Options) Clone() Options {
	o.Order = slices.Clone(o.Order)
	o.Only = slices.Clone(o.Only)
	o.Models = slices.Clone(o.Models)
	o.Tags = slices.Clone(o.Tags)
	o.Headquarters = slices.Clone(o.Headquarters)
	o.Has = slices.Clone(o.Has)
	o.BYOKTimeouts = maps.Clone(o.BYOKTimeouts)
	return o
}

// Over returns call's options over o, the defaults:
//
//   - a non-empty Order or Models of call replaces o's; a non-empty User,
//     QuotaEntityID, Sort, ServiceTier or Caching replaces o's;
//   - Tags and Has are added to o's (every Has condition must hold);
//   - BYOKTimeouts are merged by slug, call's winning;
//   - the compliance controls only tighten. A ZeroDataRetention or
//     DisallowPromptTraining set on either stays set. A non-empty Only of call replaces
//     o's only when every slug it names is in o's Only (or o has none); a non-empty
//     Headquarters of call replaces o's only when it allows no country o's does not: a
//     list within o's list, an exclusion list that excludes at least what o's excludes,
//     or a list of countries none of which o's excludes. An exclusion list cannot be
//     proven within a list of allowed countries (the gateway knows countries this
//     package does not), so it is refused under one.
//
// A call that would loosen o's Only or Headquarters gives an error matching
// ErrInvalidOptions: it is refused, not intersected, so a call never runs under a
// policy its author did not write. Lists are compared as [Compile] normalizes them;
// a malformed list gives the error Compile would.
func (o Options) Over(call Options) (Options, error) {
	if len(call.Order) > 0 {
		o.Order = call.Order
	}
	if len(call.Only) > 0 {
		if len(o.Only) > 0 {
			def, err := checkSlugs("only", o.Only)
			if err != nil {
				return Options{}, err
			}
			c, err := checkSlugs("only", call.Only)
			if err != nil {
				return Options{}, err
			}
			if !onlyWithin(def, c) {
				return Options{}, optionsError("only: the call allows a provider the defaults' only does not")
			}
		}
		o.Only = call.Only
	}
	if len(call.Headquarters) > 0 {
		if len(o.Headquarters) > 0 {
			def, err := checkHeadquarters(o.Headquarters)
			if err != nil {
				return Options{}, err
			}
			c, err := checkHeadquarters(call.Headquarters)
			if err != nil {
				return Options{}, err
			}
			if !headquartersWithin(def, c) {
				return Options{}, optionsError("headquarters: the call allows a country the defaults' headquarters do not")
			}
		}
		o.Headquarters = call.Headquarters
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
	if call.Sort != "" {
		o.Sort = call.Sort
	}
	if call.ServiceTier != "" {
		o.ServiceTier = call.ServiceTier
	}
	if call.Caching != "" {
		o.Caching = call.Caching
	}
	if len(call.Tags) > 0 {
		o.Tags = append(slices.Clip(o.Tags), call.Tags...)
	}
	if len(call.Has) > 0 {
		o.Has = append(slices.Clip(o.Has), call.Has...)
	}
	if len(call.BYOKTimeouts) > 0 {
		// By normalized slug, so "Anthropic" in the call replaces "anthropic" of the
		// defaults instead of naming it twice.
		def, err := checkTimeouts(o.BYOKTimeouts)
		if err != nil {
			return Options{}, err
		}
		c, err := checkTimeouts(call.BYOKTimeouts)
		if err != nil {
			return Options{}, err
		}
		if def == nil {
			def = make(map[string]time.Duration, len(c))
		}
		maps.Copy(def, c)
		o.BYOKTimeouts = def
	}
	o.ZeroDataRetention = o.ZeroDataRetention || call.ZeroDataRetention
	o.DisallowPromptTraining = o.DisallowPromptTraining || call.DisallowPromptTraining
	return o, nil
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
	o        Options   // normalized; Models are gateway ids
	members  []member  // in the order of Options' fields
	timeouts []timeout // o.BYOKTimeouts by slug, for the merge into a body's own providerTimeouts
}

// member is one member of a JSON object: its name, its encoded value, and the rule a
// body's own member of that name must pass.
type member struct {
	name  string
	value []byte
	rule  rule
	set   []string // for ruleOnly and ruleHeadquarters: the list sent, as sent
}

// rule is what a body's own member must be for the body to be sent.
type rule uint8

const (
	ruleNone         rule = iota // the body's member is the caller's, kept as it is
	ruleTrue                     // compliance flag: the body's member must be true
	ruleOnly                     // compliance list: a non-empty list of slugs within set
	ruleHeadquarters             // compliance list: a non-empty list no looser than set
	ruleTimeouts                 // merged by slug into the body's providerTimeouts.byok
)

// timeout is one BYOK timeout: a slug and its encoded milliseconds.
type timeout struct {
	slug string
	ms   []byte
}

// Options returns the compiled options: trimmed, slugs lower-cased, country codes
// upper-cased, Has lower-cased, Models as gateway ids, Tags and Has without repeats.
// The result is a copy. A nil c gives the zero Options.
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
	n, err := normalize(o, rules)
	if err != nil {
		return nil, err
	}
	if n.IsZero() {
		return nil, nil
	}
	c := &Compiled{o: n}
	add := func(name string, v any, r rule, set []string) {
		b, _ := json.Marshal(v) // strings, string slices, booleans: cannot fail
		c.members = append(c.members, member{name: name, value: b, rule: r, set: set})
	}
	if len(n.Order) > 0 {
		add("order", n.Order, ruleNone, nil)
	}
	if len(n.Only) > 0 {
		add("only", n.Only, ruleOnly, n.Only)
	}
	if len(n.Models) > 0 {
		add("models", n.Models, ruleNone, nil)
	}
	if n.User != "" {
		add("user", n.User, ruleNone, nil)
	}
	if len(n.Tags) > 0 {
		add("tags", n.Tags, ruleNone, nil)
	}
	if n.ZeroDataRetention {
		add("zeroDataRetention", true, ruleTrue, nil)
	}
	if n.DisallowPromptTraining {
		add("disallowPromptTraining", true, ruleTrue, nil)
	}
	if n.Sort != "" {
		add("sort", n.Sort, ruleNone, nil)
	}
	if len(n.Headquarters) > 0 {
		add("headquarters", n.Headquarters, ruleHeadquarters, n.Headquarters)
	}
	if len(n.Has) > 0 {
		add("has", n.Has, ruleNone, nil)
	}
	if n.ServiceTier != "" {
		add("serviceTier", n.ServiceTier, ruleNone, nil)
	}
	if n.Caching != "" {
		add("caching", n.Caching, ruleNone, nil)
	}
	if len(n.BYOKTimeouts) > 0 {
		for _, slug := range slices.Sorted(maps.Keys(n.BYOKTimeouts)) {
			ms := strconv.AppendInt(nil, n.BYOKTimeouts[slug].Milliseconds(), 10)
			c.timeouts = append(c.timeouts, timeout{slug: slug, ms: ms})
		}
		v := append([]byte(`{"byok":`), c.timeoutsObject(nil, nil)...)
		c.members = append(c.members, member{name: "providerTimeouts", value: append(v, '}'), rule: ruleTimeouts})
	}
	if n.QuotaEntityID != "" {
		add("quotaEntityId", n.QuotaEntityID, ruleNone, nil)
	}
	return c, nil
}

// timeoutsObject appends {"slug":ms,...} of the timeouts not in have (nil: all).
func (c *Compiled) timeoutsObject(out []byte, have []bool) []byte {
	return append(c.timeoutMembers(append(out, '{'), have), '}')
}

// timeoutMembers appends "slug":ms,... of the timeouts not in have (nil: all).
func (c *Compiled) timeoutMembers(out []byte, have []bool) []byte {
	first := true
	for i, t := range c.timeouts {
		if have != nil && have[i] {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendJSONString(out, t.slug)
		out = append(out, ':')
		out = append(out, t.ms...)
	}
	return out
}

// normalize validates o and returns it normalized, as Compiled.Options describes.
func normalize(o Options, rules *models.Rules) (Options, error) {
	var err error
	n := o
	if n.Order, err = checkSlugs("order", o.Order); err != nil {
		return Options{}, err
	}
	if n.Only, err = checkSlugs("only", o.Only); err != nil {
		return Options{}, err
	}
	if len(o.Models) > MaxModels {
		return Options{}, optionsError(fmt.Sprintf("models: more than %d", MaxModels))
	}
	n.Models = nil
	for _, hint := range o.Models {
		h, err := models.Parse(hint, rules)
		if err != nil || h.IsZero() {
			return Options{}, optionsError("models: malformed model")
		}
		id, _ := h.For(providers.Gateway) // the gateway serves every hint
		if slices.Contains(n.Models, id) {
			return Options{}, optionsError("models: a model named twice")
		}
		n.Models = append(n.Models, id)
	}
	n.User = strings.TrimSpace(o.User)
	if len(n.User) > MaxUser || !printable(n.User) {
		return Options{}, optionsError(fmt.Sprintf("user: over %d bytes or not printable UTF-8", MaxUser))
	}
	n.QuotaEntityID = strings.TrimSpace(o.QuotaEntityID)
	if len(n.QuotaEntityID) > MaxUser || !printable(n.QuotaEntityID) {
		return Options{}, optionsError(fmt.Sprintf("quotaEntityId: over %d bytes or not printable UTF-8", MaxUser))
	}
	n.Tags = nil
	for _, tag := range o.Tags {
		tag = strings.TrimSpace(tag)
		if tag == "" || len(tag) > MaxTag || !printable(tag) {
			return Options{}, optionsError(fmt.Sprintf("tags: a tag empty, over %d bytes or not printable UTF-8", MaxTag))
		}
		if !slices.Contains(n.Tags, tag) {
			n.Tags = append(n.Tags, tag)
		}
	}
	if len(n.Tags) > MaxTags {
		return Options{}, optionsError(fmt.Sprintf("tags: more than %d", MaxTags))
	}
	if n.Sort, err = checkWord("sort", o.Sort, "cost", "tps", "ttft"); err != nil {
		return Options{}, err
	}
	if n.ServiceTier, err = checkWord("serviceTier", o.ServiceTier, "flex", "priority"); err != nil {
		return Options{}, err
	}
	if n.Caching, err = checkWord("caching", o.Caching, "auto"); err != nil {
		return Options{}, err
	}
	if n.Headquarters, err = checkHeadquarters(o.Headquarters); err != nil {
		return Options{}, err
	}
	if n.Has, err = checkHas(o.Has); err != nil {
		return Options{}, err
	}
	if n.BYOKTimeouts, err = checkTimeouts(o.BYOKTimeouts); err != nil {
		return Options{}, err
	}
	return n, nil
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

// checkWord trims and lower-cases s and checks that it is "" or one of words.
func checkWord(field, s string, words ...string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s != "" && !slices.Contains(words, s) {
		return "", optionsError(field + ": not one of " + strings.Join(words, ", "))
	}
	return s, nil
}

// checkHeadquarters trims and upper-cases a list of country codes and checks it.
func checkHeadquarters(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxHeadquarters {
		return nil, optionsError(fmt.Sprintf("headquarters: more than %d countries", MaxHeadquarters))
	}
	out := make([]string, 0, len(in))
	excluded := 0
	for _, s := range in {
		s = strings.ToUpper(strings.TrimSpace(s))
		code, excl := strings.CutPrefix(s, "!")
		if !isCountry(code) {
			return nil, optionsError("headquarters: not an assigned ISO 3166-1 alpha-2 code")
		}
		if excl {
			excluded++
		}
		if slices.Contains(out, s) {
			return nil, optionsError("headquarters: a country named twice")
		}
		out = append(out, s)
	}
	if excluded != 0 && excluded != len(out) {
		return nil, optionsError("headquarters: a list mixes allowed and excluded countries")
	}
	return out, nil
}

// capabilities are the capability tags of Has the gateway knows (npm @ai-sdk/gateway
// 4.0.146); it rejects others with a 400.
var capabilities = []string{"implicit-caching", "reasoning", "structured-output", "tool-use", "vision"}

// checkHas trims and lower-cases Has entries, drops repeats and checks them.
func checkHas(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		format, cond := strings.CutPrefix(s, "quantization:")
		if !cond {
			format, cond = strings.CutPrefix(s, "!quantization:")
		}
		switch {
		case cond && !validFormat(format):
			return nil, optionsError(fmt.Sprintf("has: a quantization format not 1 to %d of [a-z0-9._-]", MaxFormat))
		case !cond && !slices.Contains(capabilities, s):
			return nil, optionsError("has: not a capability (" + strings.Join(capabilities, ", ") + ") or quantization condition")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > MaxHas {
		return nil, optionsError(fmt.Sprintf("has: more than %d", MaxHas))
	}
	for _, s := range out {
		if f, ok := strings.CutPrefix(s, "quantization:"); ok && slices.Contains(out, "!quantization:"+f) {
			return nil, optionsError("has: a quantization format both required and excluded")
		}
	}
	return out, nil
}

// validFormat reports whether a lower-cased weight format is 1 to MaxFormat of
// [a-z0-9._-].
func validFormat(f string) bool {
	if f == "" || len(f) > MaxFormat {
		return false
	}
	for i := range len(f) {
		c := f[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkTimeouts normalizes the slugs of BYOK timeouts and checks them.
func checkTimeouts(in map[string]time.Duration) (map[string]time.Duration, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxSlugs {
		return nil, optionsError(fmt.Sprintf("byokTimeouts: more than %d slugs", MaxSlugs))
	}
	out := make(map[string]time.Duration, len(in))
	for slug, d := range in {
		slug = strings.ToLower(strings.TrimSpace(slug))
		if !models.ValidSlug(slug) {
			return nil, optionsError("byokTimeouts: malformed provider slug")
		}
		if _, dup := out[slug]; dup {
			return nil, optionsError("byokTimeouts: a slug named twice")
		}
		if d < time.Millisecond || d > MaxBYOKTimeout || d%time.Millisecond != 0 {
			return nil, optionsError("byokTimeouts: not a whole number of milliseconds from 1ms to 10m")
		}
		out[slug] = d
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
