package resolve

import (
	"github.com/byok-go/byok/gateway"
)

// MinAttributionSecret is the shortest secret [WithGatewayAttribution] accepts, in bytes.
const MinAttributionSecret = gateway.MinPseudonymSecret

// WithGatewayAttribution attributes team gateway requests to their user at the gateway:
// on the paths team-gateway and gateway-byok, the gateway options user and
// quotaEntityId are set to [GatewayPseudonym] of the user id under secret. The gateway's
// spend reports can then be grouped per user, and the operator can set a per-user quota
// for team spend at the gateway. The raw user id is never sent, and the user paths
// (user-gateway, the vendor paths) never carry the pseudonym.
//
// Options given with [WithDefaultGatewayOptions] or [WithGatewayOptions] win, field by
// field: a User set there is sent as user instead of the pseudonym, and a QuotaEntityID
// set there as quotaEntityId (so a call can count against another quota entity, an
// organization's say). A field they leave empty carries the pseudonym.
//
// The pseudonym is computed once per resolution and cached with the result; a cache hit
// costs nothing more. Keep secret stable: a new secret gives every user a new pseudonym,
// and the gateway's reports and quotas then start afresh. Use 32 random bytes or more,
// and keep them out of the code (an environment variable, a secret manager). A secret
// shorter than [MinAttributionSecret] bytes makes the Resolver invalid (ErrInvalidConfig).
// The Resolver keeps its own copy.
func WithGatewayAttribution(secret []byte) Option {
	secret = append([]byte(nil), secret...)
	return option(func(c *config) {
		if len(secret) < MinAttributionSecret {
			c.fail("gateway attribution secret shorter than %d bytes", MinAttributionSecret)
			return
		}
		c.attribution = secret
	})
}

// GatewayPseudonym returns the pseudonym [WithGatewayAttribution] sends for userID
// under secret: gateway.Pseudonym, which has the rules. When ok is false, Resolve sends
// no attribution rather than the id.
func GatewayPseudonym(secret []byte, userID string) (pseudonym string, ok bool) {
	return gateway.Pseudonym(secret, userID)
}

// attribute puts the user's pseudonym into the gateway options of p when the Resolver
// attributes team gateway requests and path is one of them; otherwise it returns p as
// it is.
func (r *Resolver) attribute(p Provider, userID string, path Path) (Provider, error) {
	if !r.attributes(path) {
		return p, nil
	}
	g, err := r.attributedOptions(r.gwRaw, userID)
	if err != nil {
		return Provider{}, err
	}
	p.gateway = p.gateway.WithOptions(g)
	return p, nil
}

// callAttribution returns the options of a call with gateway options o for a result on
// path: g, the call's compiled options, unless the Resolver attributes team gateway
// requests and path is one of them; then o compiled with the user's pseudonym under it.
func (r *Resolver) callAttribution(g *gateway.Compiled, o gateway.Options, userID string, path Path) (*gateway.Compiled, error) {
	if !r.attributes(path) {
		return g, nil
	}
	return r.attributedOptions(o, userID)
}

// attributes reports whether the Resolver attributes requests on path to their user:
// WithGatewayAttribution is on and path is a team gateway path.
func (r *Resolver) attributes(path Path) bool {
	return r.attribution != nil && (path == TeamGateway || path == GatewayBYOK)
}

// attributedOptions compiles o attributed to the user (gateway.Options.Attributed).
func (r *Resolver) attributedOptions(o gateway.Options, userID string) (*gateway.Compiled, error) {
	g, err := gateway.Compile(o.Attributed(r.attribution, userID), r.models)
	if err != nil { // o compiled before; a pseudonym is 43 printable bytes
		return nil, &Error{Step: StepInput, Kind: ErrInvalidConfig, Reason: "gateway attribution", Cause: err}
	}
	return g, nil
}
