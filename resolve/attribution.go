package resolve

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/byok-go/byok/gateway"
)

// MinAttributionSecret is the shortest secret [WithGatewayAttribution] accepts, in bytes.
const MinAttributionSecret = 32

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

// maxPseudonymTries bounds the derivations GatewayPseudonym tries; each has a chance of
// about 1 in 2 at worst (a one-character user id) to be accepted.
const maxPseudonymTries = 64

// GatewayPseudonym returns the pseudonym [WithGatewayAttribution] sends for userID: the
// HMAC-SHA256 of userID under secret, in unpadded base64url (43 characters). It is
// stable for a (secret, user id), differs between users and between secrets, and never
// equals or contains userID: should the digest happen to contain it (possible only for a
// very short id), the next of a fixed sequence of derivations (the HMAC of userID, a NUL
// byte and a counter) is used instead. ok is false, and the pseudonym "", only if none of
// 64 derivations passes, which for any id of 2 characters or more has a chance below
// 2^-500; Resolve then sends no attribution rather than the id. It returns "", false for
// a secret shorter than [MinAttributionSecret] bytes or an empty userID.
func GatewayPseudonym(secret []byte, userID string) (pseudonym string, ok bool) {
	if len(secret) < MinAttributionSecret || userID == "" {
		return "", false
	}
	mac := hmac.New(sha256.New, secret)
	var sum [sha256.Size]byte
	var text [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
	for n := range maxPseudonymTries {
		mac.Reset()
		mac.Write([]byte(userID))
		if n > 0 {
			mac.Write([]byte{0})
			mac.Write(strconv.AppendInt(nil, int64(n), 10))
		}
		base64.RawURLEncoding.Encode(text[:], mac.Sum(sum[:0]))
		if p := string(text[:]); !strings.Contains(p, userID) {
			return p, true
		}
	}
	return "", false
}

// attribute puts the user's pseudonym into the gateway options of p when the Resolver
// attributes team gateway requests and path is one of them; otherwise it returns p as
// it is.
func (r *Resolver) attribute(p Provider, userID string, path Path) (Provider, error) {
	if r.attribution == nil || (path != TeamGateway && path != GatewayBYOK) {
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
	if r.attribution == nil || (path != TeamGateway && path != GatewayBYOK) {
		return g, nil
	}
	return r.attributedOptions(o, userID)
}

// attributedOptions compiles o with the user's pseudonym as User and QuotaEntityID
// where o leaves them empty.
func (r *Resolver) attributedOptions(o gateway.Options, userID string) (*gateway.Compiled, error) {
	o.User, o.QuotaEntityID = strings.TrimSpace(o.User), strings.TrimSpace(o.QuotaEntityID)
	p, ok := GatewayPseudonym(r.attribution, userID)
	if !ok {
		return gateway.Compile(o, r.models)
	}
	// Over cannot refuse o: the pseudonym's options set no list o could loosen.
	merged, err := gateway.Options{User: p, QuotaEntityID: p}.Over(o)
	var g *gateway.Compiled
	if err == nil {
		g, err = gateway.Compile(merged, r.models)
	}
	if err != nil { // o compiled before; a pseudonym is 43 printable bytes
		return nil, &Error{Step: StepInput, Kind: ErrInvalidConfig, Reason: "gateway attribution", Cause: err}
	}
	return g, nil
}
