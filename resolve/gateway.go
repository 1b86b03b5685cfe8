package resolve

import (
	"strings"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/models"
	"github.com/byok-go/byok/providers"
)

// GatewayOptions returns the options [Provider.Transport] merges into the provider
// options of this Provider's requests: the Resolver's defaults with the call's over them,
// validated, with Models as gateway ids. It is the zero value on the vendor paths and
// when no options apply. The result is a copy: changing it changes nothing.
func (p Provider) GatewayOptions() gateway.Options {
	if p.ID != providers.Gateway {
		return gateway.Options{}
	}
	return p.gateway.Options()
}

// GatewayBYOK returns the gateway provider slug under which this Provider's requests
// carry the user's own key as per-request BYOK ("anthropic", ...), and whether they do:
// only a Provider of the gateway-byok path does. The key itself is never returned.
func (p Provider) GatewayBYOK() (slug string, ok bool) {
	if p.ID != providers.Gateway {
		return "", false
	}
	return p.gateway.BYOK()
}

// WithDefaultGatewayOptions sets the gateway options every gateway Provider of the
// Resolver carries (user-gateway, team-gateway and gateway-byok paths; never a vendor
// path). Models are mapped with the Resolver's model rules (WithVendorSlug, WithModelID),
// whatever the order of the options. Options that fail the checks described at
// [gateway.Options] make the Resolver invalid: every Resolve fails with an error
// matching ErrInvalidConfig and gateway.ErrInvalidOptions. Repeated options: the last
// wins.
func WithDefaultGatewayOptions(o gateway.Options) Option {
	o = o.Clone()
	return option(func(c *config) {
		c.gatewayDefaults = o
	})
}

// WithGatewayOptions passes gateway options for one call, over the Resolver's defaults
// (see [gateway.Options.Over]): a non-empty Order, Models, User, QuotaEntityID, Sort,
// ServiceTier or Caching replaces the default, Tags and Has are added to the defaults',
// BYOKTimeouts are merged by slug, and the compliance controls only tighten:
// ZeroDataRetention and DisallowPromptTraining set on either stay set, and an Only or
// Headquarters that would allow what the defaults' does not fails the call. Several in
// one call apply in order, each over the result of those before it. Options that fail
// the checks described at [gateway.Options] fail the call with an error matching
// gateway.ErrInvalidOptions before any store is called. A call resolved to a vendor
// path carries no options.
func WithGatewayOptions(o gateway.Options) CallOption {
	o = o.Clone()
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
// user-provider as without this option. A Snapshotter that returns the consent makes the
// decision cost no extra round trip.
func WithGatewayBYOK() Option {
	return option(func(c *config) { c.gatewayBYOK = true })
}

// WithGatewayProviderSlug sets the gateway provider slug under which a user's key for
// id rides as per-request BYOK on the gateway-byok path (see [WithGatewayBYOK]). The
// defaults are those of [gateway.BYOKSlugs]: "openai" and "anthropic", and for xAI the
// gateway's current vendor slug (the one [WithVendorSlug] changes); OpenRouter has none,
// and setting one enables it. id must be a vendor (not providers.Gateway) and slug a
// valid slug (models.ValidSlug); otherwise the Resolver is invalid (ErrInvalidConfig).
func WithGatewayProviderSlug(id providers.ID, slug string) Option {
	return option(func(c *config) {
		slug = strings.ToLower(strings.TrimSpace(slug))
		if !id.Valid() || id == providers.Gateway || !models.ValidSlug(slug) {
			c.fail("gateway provider slug for an unknown provider, the gateway, or malformed")
			return
		}
		if c.byokSlugs == nil {
			c.byokSlugs = map[providers.ID]string{}
		}
		c.byokSlugs[id] = slug
	})
}
