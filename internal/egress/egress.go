// Package egress keeps an HTTP request that carries a key on one origin, strips the
// credentials an SDK or its environment put on it, and dials public addresses only.
package egress

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/byok-go/byok/providers"
)

// Target is the one origin a key may be sent to: the scheme, host and port of its base
// URL, as [Parse] builds it. The zero Target matches no request.
type Target struct {
	Scheme string // the base URL's scheme, lower-case
	Host   string // the base URL's host name, lower-case, without brackets
	Port   string // the base URL's port, or the scheme's default
}

// Parse returns the Target of baseURL, or the Egress reason for which no request may be
// sent there (providers.EgressInvalidBaseURL): baseURL is not an absolute http(s) URL
// with a host, or it holds user info. baseURL's path is not kept: the host is the trust
// boundary.
func Parse(baseURL string) (Target, string) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return Target{}, providers.EgressInvalidBaseURL
	}
	return Target{
		Scheme: u.Scheme, // url.Parse lower-cases it
		Host:   strings.ToLower(u.Hostname()),
		Port:   effectivePort(u.Scheme, u.Port()),
	}, ""
}

// Check returns the Egress reason to refuse req for (providers.EgressOtherHost), or ""
// when req's URL, and its Host header if overridden, name t's scheme, host and port.
func (t *Target) Check(req *http.Request) string {
	if req.URL == nil || req.URL.Scheme != t.Scheme || !t.sameHost(req.URL.Host) {
		return providers.EgressOtherHost
	}
	if req.Host != "" && !t.sameHost(req.Host) { // the Host header, if overridden
		return providers.EgressOtherHost
	}
	return ""
}

// sameHost reports whether hostport ("host", "host:port", "[v6]:port") names the base
// URL's host and port.
func (t *Target) sameHost(hostport string) bool {
	// Without a colon there is no port: say so before net.SplitHostPort, whose error
	// for it costs an allocation, twice a request (its URL's host and its Host).
	host, port := hostport, ""
	if strings.IndexByte(hostport, ':') >= 0 {
		var err error
		if host, port, err = net.SplitHostPort(hostport); err != nil { // no port
			host, port = hostport, ""
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, t.Host) && effectivePort(t.Scheme, port) == t.Port
}

// effectivePort returns port, or the scheme's default when it is empty.
func effectivePort(scheme, port string) string {
	if port != "" {
		return port
	}
	if scheme == "http" {
		return "80"
	}
	return "443"
}

// credentialHeaders are removed from every request before the resolved key is set: the
// headers the official SDKs (openai-go, anthropic-sdk-go, Azure and Google clients) send
// a key or an account in, and those a proxy or a cookie jar may add. The SDKs fill
// several of them from the server's environment (OPENAI_API_KEY, OPENAI_ORG_ID,
// OPENAI_PROJECT_ID, ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, ...).
var credentialHeaders = [...]string{
	"Authorization",
	"Proxy-Authorization",
	"X-Api-Key",
	"Api-Key",
	"X-Goog-Api-Key",
	"Openai-Organization",
	"Openai-Project",
	"Anthropic-Workspace-Id",
	"Cookie",
}

// isCredentialHeader reports whether name (in any letter case) is a credential header.
func isCredentialHeader(name string) bool {
	for _, h := range credentialHeaders {
		if len(name) == len(h) && strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// WithoutCredentials returns a copy of h without its credential headers, however their
// names are cased (a header set through the map keeps its case, and net/http sends it
// so), with room for extra more. Like http.Header.Clone, it allocates the values in one
// block. A nil h gives nil when extra is 0.
func WithoutCredentials(h http.Header, extra int) http.Header {
	if h == nil && extra == 0 {
		return nil
	}
	n := 0
	for _, vv := range h {
		n += len(vv)
	}
	block := make([]string, n)
	out := make(http.Header, len(h)+extra)
	for name, vv := range h {
		if isCredentialHeader(name) {
			continue
		}
		if vv == nil {
			out[name] = nil
			continue
		}
		k := copy(block, vv)
		out[name], block = block[:k:k], block[k:]
	}
	return out
}

// CloseBody closes req's body, if it has one, as a RoundTripper must even when it
// refuses the request.
func CloseBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// guarded is the transport [GuardedTransport] returns.
var guarded = newGuardedTransport()

// GuardedTransport returns the base transport shared by every guarded client:
// http.DefaultTransport's settings with a dialer that refuses non-public addresses (it
// runs providers.CheckDialAddr on every address a name resolves to) and no proxy (a
// proxy would resolve names where the dialer cannot check them). Callers must not
// change it.
func GuardedTransport() *http.Transport { return guarded }

func newGuardedTransport() *http.Transport {
	d := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			return providers.CheckDialAddr(address)
		},
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 10 * time.Minute,
	}
}

// HostOf returns the host of an absolute URL without allocating: the text between
// "://" and the next '/', without a port.
func HostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	if strings.HasPrefix(u, "[") { // IPv6 literal
		if i := strings.IndexByte(u, ']'); i >= 0 {
			return u[1:i]
		}
		return u
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return u
}
