package resolvetest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// ErrNoRoute is returned by [Upstream.RoundTrip] for a host it has no server for.
var ErrNoRoute = errors.New("resolvetest: no test server for this host")

// Upstream is an [http.RoundTripper] for tests that sends each request to a local test
// server instead of the host in its URL. It rewrites only the URL's scheme and host:
// the path, query, headers and body go as they are, and the Host header keeps the
// host the request was meant for, so the server sees it. Give it as the base of
// resolve.Provider.Transport to call a fake provider through the real guards:
//
//	srv := httptest.NewServer(handler)
//	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(srv))}
//
// It is safe for concurrent use.
type Upstream struct {
	mu     sync.Mutex       // guards routes and def
	routes map[string]route // lower-case host (as in URL.Host) -> server
	def    *route           // for every other host; nil: ErrNoRoute
}

type route struct {
	target *url.URL
	rt     http.RoundTripper
}

// NewUpstream returns an Upstream that sends requests for every host to srv (nil: only
// to the hosts given to Route).
func NewUpstream(srv *httptest.Server) *Upstream {
	u := &Upstream{routes: map[string]route{}}
	if srv != nil {
		r := routeTo(srv)
		u.def = &r
	}
	return u
}

// Route sends requests for host ("api.openai.com", or "host:port" as in a URL) to srv.
func (u *Upstream) Route(host string, srv *httptest.Server) *Upstream {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.routes[strings.ToLower(host)] = routeTo(srv)
	return u
}

func routeTo(srv *httptest.Server) route {
	target, err := url.Parse(srv.URL)
	if err != nil || target.Host == "" { // not started
		return route{}
	}
	return route{target: target, rt: srv.Client().Transport}
}

// RoundTrip implements [http.RoundTripper]. It never changes req.
func (u *Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	u.mu.Lock()
	r, ok := u.routes[strings.ToLower(req.URL.Host)]
	if !ok && u.def != nil {
		r, ok = *u.def, true
	}
	u.mu.Unlock()
	if !ok || r.target == nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, ErrNoRoute
	}
	out := req.Clone(req.Context())
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	return r.rt.RoundTrip(out)
}
