package resolve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/byok-go/byok/providers"
)

// GatewayOptions are the Vercel AI Gateway's per-request provider options, which
// [Provider.Transport] writes into providerOptions.gateway of every JSON request body
// sent to a gateway. The field names sent are those of npm @ai-sdk/gateway's
// GatewayProviderOptions (order, only, models, user, tags, zeroDataRetention,
// disallowPromptTraining). The zero value sends nothing.
//
// The gateway documents no limits on these fields; byok applies bounds of its own, so a
// mistake fails the call instead of reaching the gateway: at most 32 slugs in Order and in
// Only, each 1 to 64 bytes of lower-case ASCII letters, digits, '-', '_' and '.' (the
// gateway's slugs are such words: "anthropic", "bedrock", "vertex"); at most 16 Models;
// a User of at most 256 bytes; at most 32 Tags of 1 to 128 bytes each. User and tags
// must be valid UTF-8 without control characters. No list may name an entry twice, except
// Tags, which are a set.
type GatewayOptions struct {
	Order, Only            []string // gateway provider slugs: the attempt order; the only ones allowed
	Models                 []string // fallback models after the primary, mapped to gateway ids like WithModel hints
	User                   string   // the gateway's user attribution; "" sends none
	Tags                   []string // usage-report tags
	ZeroDataRetention      bool     // route only to providers with zero data retention agreements
	DisallowPromptTraining bool     // route only to providers that do not train on prompts
}

// byok's own bounds on gateway options (the gateway documents none).
const (
	maxGatewaySlugs = 32
	maxGatewaySlug  = 64
	maxGatewayModel = 16
	maxGatewayUser  = 256
	maxGatewayTags  = 32
	maxGatewayTag   = 128
)

// isZero reports whether o sends nothing.
func (o GatewayOptions) isZero() bool {
	return len(o.Order) == 0 && len(o.Only) == 0 && len(o.Models) == 0 && o.User == "" &&
		len(o.Tags) == 0 && !o.ZeroDataRetention && !o.DisallowPromptTraining
}

// clone returns o with slices of its own.
func (o GatewayOptions) clone() GatewayOptions {
	o.Order = slices.Clone(o.Order)
	o.Only = slices.Clone(o.Only)
	o.Models = slices.Clone(o.Models)
	o.Tags = slices.Clone(o.Tags)
	return o
}

// over returns call's options over o: a non-empty Order, Only or Models of call replaces
// o's, a non-empty User replaces o's, Tags are added to o's, and a compliance flag set
// on either stays set (a call can tighten the defaults' compliance, never loosen it).
func (o GatewayOptions) over(call GatewayOptions) GatewayOptions {
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
	if len(call.Tags) > 0 {
		o.Tags = append(slices.Clip(o.Tags), call.Tags...)
	}
	o.ZeroDataRetention = o.ZeroDataRetention || call.ZeroDataRetention
	o.DisallowPromptTraining = o.DisallowPromptTraining || call.DisallowPromptTraining
	return o
}

// ErrInvalidGatewayOptions: gateway options failed byok's checks. A call's
// [WithGatewayOptions] fails that call with it; invalid [WithDefaultGatewayOptions] make
// the Resolver invalid, and its errors match both ErrInvalidConfig and this.
var ErrInvalidGatewayOptions = errors.New("resolve: invalid gateway options")

// gatewayOptionsError returns the error for a bad field, naming the field and the rule,
// never the value (which may be a key pasted into the wrong field).
func gatewayOptionsError(reason string) error {
	return &Error{Step: StepInput, Kind: ErrInvalidGatewayOptions, Reason: reason}
}

// gatewayOpts is a validated GatewayOptions with its JSON members encoded once.
type gatewayOpts struct {
	o       GatewayOptions // normalized; Models are gateway ids
	members []jsonMember   // in the order written: order, only, models, user, tags, zeroDataRetention, disallowPromptTraining
}

// jsonMember is one member of a JSON object: its name and its encoded value.
type jsonMember struct {
	name  string
	value []byte
}

// compileGateway validates o, maps its models with mm, and encodes it. It returns nil
// for options that send nothing.
func compileGateway(o GatewayOptions, mm *modelMap) (*gatewayOpts, error) {
	var err error
	n := o
	if n.Order, err = checkSlugs("order", o.Order); err != nil {
		return nil, err
	}
	if n.Only, err = checkSlugs("only", o.Only); err != nil {
		return nil, err
	}
	if len(o.Models) > maxGatewayModel {
		return nil, gatewayOptionsError(fmt.Sprintf("models: more than %d", maxGatewayModel))
	}
	n.Models = make([]string, 0, len(o.Models))
	for _, hint := range o.Models {
		m, err := mm.parse(hint)
		if err != nil || m.raw == "" {
			return nil, gatewayOptionsError("models: malformed model")
		}
		id, _ := m.forProvider(providers.Gateway) // the gateway serves every hint
		if slices.Contains(n.Models, id) {
			return nil, gatewayOptionsError("models: a model named twice")
		}
		n.Models = append(n.Models, id)
	}
	n.User = strings.TrimSpace(o.User)
	if len(n.User) > maxGatewayUser || !printable(n.User) {
		return nil, gatewayOptionsError(fmt.Sprintf("user: over %d bytes or not printable UTF-8", maxGatewayUser))
	}
	n.Tags = nil
	for _, tag := range o.Tags {
		tag = strings.TrimSpace(tag)
		if tag == "" || len(tag) > maxGatewayTag || !printable(tag) {
			return nil, gatewayOptionsError(fmt.Sprintf("tags: a tag empty, over %d bytes or not printable UTF-8", maxGatewayTag))
		}
		if !slices.Contains(n.Tags, tag) {
			n.Tags = append(n.Tags, tag)
		}
	}
	if len(n.Tags) > maxGatewayTags {
		return nil, gatewayOptionsError(fmt.Sprintf("tags: more than %d", maxGatewayTags))
	}
	if n.isZero() {
		return nil, nil
	}
	if len(n.Models) == 0 {
		n.Models = nil
	}
	g := &gatewayOpts{o: n}
	add := func(name string, v any) {
		b, _ := json.Marshal(v) // strings and booleans only: cannot fail
		g.members = append(g.members, jsonMember{name, b})
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
	return g, nil
}

// checkSlugs trims and lower-cases a list of gateway provider slugs and checks it.
func checkSlugs(field string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxGatewaySlugs {
		return nil, gatewayOptionsError(fmt.Sprintf("%s: more than %d slugs", field, maxGatewaySlugs))
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if !validGatewaySlug(s) {
			return nil, gatewayOptionsError(field + ": malformed provider slug")
		}
		if slices.Contains(out, s) {
			return nil, gatewayOptionsError(field + ": a slug named twice")
		}
		out = append(out, s)
	}
	return out, nil
}

// validGatewaySlug reports whether s is 1 to 64 bytes of a-z, 0-9, '-', '_' and '.',
// starting with a letter or digit.
func validGatewaySlug(s string) bool {
	if s == "" || len(s) > maxGatewaySlug {
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

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// gatewayParams is what a gateway Provider carries for its Transport: the effective
// options and, on the gateway-byok path, the user's key and the gateway's slug for its
// provider. It is immutable once built and never prints the key.
type gatewayParams struct {
	opts     *gatewayOpts     // nil: no options
	byokSlug string           // "" unless gateway-byok
	byokKey  providers.Secret // the user's provider key, sent only in the request body
}

// withOptions returns g (which may be nil) with opts instead of its options.
func (g *gatewayParams) withOptions(opts *gatewayOpts) *gatewayParams {
	n := &gatewayParams{opts: opts}
	if g != nil {
		n.byokSlug, n.byokKey = g.byokSlug, g.byokKey
	}
	if n.opts == nil && n.byokSlug == "" {
		return nil
	}
	return n
}

// String describes g without the key: "gateway{options byok=anthropic:[REDACTED]}".
func (g *gatewayParams) String() string {
	if g == nil {
		return "gateway{}"
	}
	var b strings.Builder
	b.WriteString("gateway{")
	if g.opts != nil {
		for i, m := range g.opts.members {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(m.name)
		}
	}
	if g.byokSlug != "" {
		if g.opts != nil {
			b.WriteByte(' ')
		}
		b.WriteString("byok=" + g.byokSlug + ":" + g.byokKey.String())
	}
	b.WriteByte('}')
	return b.String()
}

// Format implements [fmt.Formatter]: every verb prints String.
func (g *gatewayParams) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, g.String()) }

// LogValue implements [slog.LogValuer].
func (g *gatewayParams) LogValue() slog.Value { return slog.StringValue(g.String()) }

// MarshalJSON implements [json.Marshaler].
func (g *gatewayParams) MarshalJSON() ([]byte, error) { return json.Marshal(g.String()) }

// GatewayOptions returns the options [Provider.Transport] merges into the provider
// options of this Provider's requests: the Resolver's defaults with the call's over them,
// validated, with Models as gateway ids. It is the zero value on the vendor paths and
// when no options apply. The result is a copy: changing it changes nothing.
func (p Provider) GatewayOptions() GatewayOptions {
	if p.ID != providers.Gateway || p.gateway == nil || p.gateway.opts == nil {
		return GatewayOptions{}
	}
	return p.gateway.opts.o.clone()
}

// GatewayBYOK returns the gateway provider slug under which this Provider's requests
// carry the user's own key as per-request BYOK ("anthropic", ...), and whether they do:
// only a Provider of the gateway-byok path does. The key itself is never returned.
func (p Provider) GatewayBYOK() (slug string, ok bool) {
	if p.ID != providers.Gateway || p.gateway == nil || p.gateway.byokSlug == "" {
		return "", false
	}
	return p.gateway.byokSlug, true
}

// WithDefaultGatewayOptions sets the gateway options every gateway Provider of the
// Resolver carries (user-gateway, team-gateway and gateway-byok paths; never a vendor
// path). Models are mapped with the Resolver's model rules (WithVendorSlug, WithModelID),
// whatever the order of the options. Options that fail the checks described at
// [GatewayOptions] make the Resolver invalid: every Resolve fails with an error matching
// ErrInvalidConfig and ErrInvalidGatewayOptions. Repeated options: the last wins.
func WithDefaultGatewayOptions(o GatewayOptions) Option {
	o = o.clone()
	return option(func(c *config) {
		c.gatewayDefaults = o
	})
}

// WithGatewayOptions passes gateway options for one call, over the Resolver's defaults:
// a non-empty Order, Only or Models replaces the default list, a non-empty User the
// default user, Tags are added to the default tags, and ZeroDataRetention and
// DisallowPromptTraining set on either stay set. Several in one call apply in order.
// Options that fail the checks described at [GatewayOptions] fail the call with
// ErrInvalidGatewayOptions before any store is called. A call resolved to a vendor path
// carries no options.
func WithGatewayOptions(o GatewayOptions) CallOption {
	o = o.clone()
	return CallOption{gateway: &o}
}

// WithGatewayBYOK serves a user who has their own provider key (and no gateway key of
// their own) through the team gateway, carrying their key as the gateway's per-request
// BYOK credential for that provider: the path [GatewayBYOK]. The team's gateway key
// authenticates the request; the user's key goes only into the request body, written by
// [Provider.Transport]. It takes effect only when the team has a gateway key and the
// user consents to team fallback, because the gateway may retry a request whose BYOK
// credential fails on its own system credentials, which the team pays for. Otherwise,
// and for a provider the gateway has no BYOK slug for (OpenRouter), the user resolves to
// user-provider as without this option.
func WithGatewayBYOK() Option {
	return option(func(c *config) { c.gatewayBYOK = true })
}

// WithGatewayProviderSlug sets the gateway provider slug under which a user's key for
// id rides as per-request BYOK on the gateway-byok path (see [WithGatewayBYOK]). The
// defaults are "openai" and "anthropic", the slugs the gateway documents, and for xAI the
// gateway's current vendor slug ("spacexai" in npm @ai-sdk/gateway 4.0.146, the one
// [WithVendorSlug] changes); OpenRouter has none, since the gateway does not route to
// OpenRouter, and setting one enables it. id must be a vendor (not providers.Gateway) and
// slug a valid gateway provider slug (see [GatewayOptions]); otherwise the Resolver is
// invalid (ErrInvalidConfig).
func WithGatewayProviderSlug(id providers.ID, slug string) Option {
	return option(func(c *config) {
		slug = strings.ToLower(strings.TrimSpace(slug))
		if !id.Valid() || id == providers.Gateway || !validGatewaySlug(slug) {
			c.fail("gateway provider slug for an unknown provider, the gateway, or malformed")
			return
		}
		if c.byokSlugs == nil {
			c.byokSlugs = map[providers.ID]string{}
		}
		c.byokSlugs[id] = slug
	})
}

// gatewayBYOKSlugs returns the slug of each provider whose key can ride as per-request
// BYOK: the defaults under the overrides.
func gatewayBYOKSlugs(mm *modelMap, overrides map[providers.ID]string) map[providers.ID]string {
	out := map[providers.ID]string{}
	for _, v := range []struct {
		id     providers.ID
		vendor string
	}{{providers.OpenAI, vendorOpenAI}, {providers.Anthropic, vendorAnthropic}, {providers.XAI, vendorXAI}} {
		out[v.id] = model{vendor: v.vendor, rules: mm}.slug(providers.Gateway)
	}
	for id, slug := range overrides {
		out[id] = slug
	}
	return out
}
