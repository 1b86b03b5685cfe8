package resolve

import (
	"fmt"
	"io"
	"net/http"

	"github.com/byok-go/byok/internal/egress"
	"github.com/byok-go/byok/providers"
)

// requestEdit changes the copy of a request before it is sent, after its credential
// headers were replaced. The copy is shallow but for its headers and trailer: an edit
// may set its fields (Header, Body, GetBody, ContentLength, URL to a new *url.URL) but
// never writes into what it shares with the caller's request (the URL, the body): a new
// body is a new reader, with a matching GetBody so redirects and retries resend it.
type requestEdit func(r *http.Request) error

// transport is the RoundTripper [Provider.Transport] returns.
type transport struct {
	base   http.RoundTripper
	id     providers.ID
	key    providers.Secret
	target egress.Target // the only origin requests go to
	edits  []requestEdit // run in order on every request's copy after Authorize
	deny   string        // when set, every request is refused with this Egress reason
	origin *origin       // told of each request sent and of its answer; nil: none
}

// Transport returns an [http.RoundTripper] that sends requests with this credential, and
// only to this credential's host. For every request it:
//
//   - refuses a request whose scheme or host (the URL's, or a Host override) differs
//     from BaseURL's, with an error matching providers.ErrEgressDenied, before base is
//     called. BaseURL's path is not enforced: the host is the trust boundary;
//   - removes every credential header an SDK, its environment or the caller may have
//     set (Authorization, X-Api-Key, Api-Key, OpenAI-Organization, OpenAI-Project,
//     Proxy-Authorization, Cookie, ..., in any letter case);
//   - then sets the key with [Provider.Authorize] and hands the request to base.
//
// It never changes the caller's request: it works on a copy with headers of its own. A
// Provider without a key or without an absolute http(s) BaseURL gives a Transport that
// refuses every request.
//
// On a gateway Provider that carries gateway options or per-request BYOK (see
// [Provider.GatewayOptions], [Provider.GatewayBYOK]), it also merges them into
// providerOptions.gateway of every JSON POST body, as gateway.Params.Apply describes: the
// body's own members are kept (but for compliance controls a body may only tighten, and
// the user's per-request BYOK key, which a body cannot drop), every other byte is kept as
// written. A request refused there (a body the options cannot be merged into, a body
// that would loosen the compliance controls or drop the user's key, or a request with a
// body that cannot carry options that must ride) fails with an error matching
// gateway.ErrBody, before base is called.
//
// A nil base means the guarded transport of [Provider.HTTPClient], shared by all
// Providers: its dialer refuses non-public addresses after name resolution. With a
// base of your own, you own dialing (proxies, DNS, address checks); wrap your dialer's
// Control with providers.CheckDialAddr to keep that guarantee.
func (p Provider) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = egress.GuardedTransport()
	}
	t := &transport{base: base, id: p.ID, key: p.APIKey, origin: p.origin}
	target, deny := egress.Parse(p.BaseURL)
	switch {
	case deny != "":
		t.deny = deny
	case p.APIKey.IsZero():
		t.deny = providers.EgressNoKey
	default:
		t.target = target
		if p.ID == providers.Gateway && p.gateway != nil {
			t.edits = append(t.edits, p.gateway.Apply)
		}
	}
	return t
}

// HTTPClient returns an [http.Client] that sends requests with this credential through
// [Provider.Transport] over a guarded transport shared by all Providers:
//
//   - its dialer runs providers.CheckDialAddr on every address a name resolves to, so a
//     host that resolves to loopback, private, link-local, CGNAT or cloud metadata
//     space gets no connection (the error matches providers.ErrEgressDenied);
//   - a redirect is followed only to the same scheme and host: the Transport refuses
//     any other, so no redirect carries the key elsewhere;
//   - connections are kept alive and reused; dialing, the TLS handshake and waiting for
//     response headers are bounded (10s, 10s, 10 min). There is no overall timeout, so
//     streams can run long: bound each call with its context;
//   - proxy settings from the environment are not used (a proxy would resolve names
//     where the dialer cannot check them). To use one, pass your own base to Transport.
//
// Calling it per request is cheap: the connection pool is shared.
func (p Provider) HTTPClient() *http.Client { return p.client(nil) }

// client is HTTPClient over base (nil: the guarded transport).
func (p Provider) client(base http.RoundTripper) *http.Client {
	return &http.Client{Transport: p.Transport(base)}
}

// RoundTrip implements [http.RoundTripper]. It never changes req.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if reason := t.check(req); reason != "" {
		egress.CloseBody(req) // a RoundTripper closes the body, even on error
		return nil, &providers.EgressError{Reason: reason}
	}
	// A shallow copy with its own headers, as x/oauth2's Transport makes: nothing below
	// writes into what it shares with req (URL, body, context).
	r := new(http.Request)
	*r = *req
	r.Header = egress.WithoutCredentials(req.Header, 2)
	r.Trailer = egress.WithoutCredentials(req.Trailer, 0)
	Provider{ID: t.id, APIKey: t.key}.Authorize(r.Header)
	for _, edit := range t.edits {
		if err := edit(r); err != nil {
			egress.CloseBody(req)
			return nil, err
		}
	}
	if t.origin == nil {
		return t.base.RoundTrip(r)
	}
	t.origin.sending(t.id)
	resp, err := t.base.RoundTrip(r)
	return t.origin.received(t.id, resp, err), err
}

// check returns the Egress reason to refuse req for, or "".
func (t *transport) check(req *http.Request) string {
	if t.deny != "" {
		return t.deny
	}
	return t.target.Check(req)
}

// CloseIdleConnections closes the base's idle connections, if it has any.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Format implements [fmt.Formatter]: every verb prints the provider and host only.
func (t *transport) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, t.String())
}

// String names the provider and host; never the key.
func (t *transport) String() string {
	return "resolve.Transport{" + string(t.id) + " " + t.target.Host + "}"
}
