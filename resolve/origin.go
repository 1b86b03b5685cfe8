package resolve

import (
	"net/http"

	"github.com/byok-go/byok/internal/keyhealth"
	"github.com/byok-go/byok/providers"
)

// origin is where a Provider came from: the Resolver that resolved it, for which user,
// on which path. A Resolver sets it on its results only when it watches what their
// Transports send (Resolver.watches); Provider.Transport then tells it of every request
// it sends and of each answer. It lives in the user's cache entry, so a cache hit costs
// nothing more. It is immutable.
type origin struct {
	r    *Resolver
	user string
	path Path
}

// sending is called for each request the Transport is about to hand to its base, after
// the egress checks and the body edits passed. It must not block.
func (o *origin) sending(id providers.ID) {
	o.r.countTeamUse(o, id)
}

// received is called with the base's answer to a request sending was called for. It
// returns the response the caller gets: resp itself, or resp with its body wrapped so
// that the caller still reads every byte. It must not block on anything but the body's
// own reads.
func (o *origin) received(id providers.ID, resp *http.Response, err error) *http.Response {
	// Key health (health.go) reads an answer of status 400 to 499 as the caller reads it
	// (keyhealth.Observer.Observe); any other answer costs a comparison.
	h := o.r.health
	if h == nil || err != nil || resp == nil || !keyhealth.Observed(resp.StatusCode) {
		return resp
	}
	return h.Observe(resp, o.subject(id))
}
