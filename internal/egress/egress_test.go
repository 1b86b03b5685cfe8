package egress_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/byok-go/byok/internal/egress"
	"github.com/byok-go/byok/providers"
)

func TestParse(t *testing.T) {
	ok := map[string]egress.Target{
		"https://api.openai.com/v1":       {Scheme: "https", Host: "api.openai.com", Port: "443"},
		"HTTPS://API.OpenAI.com/v1":       {Scheme: "https", Host: "api.openai.com", Port: "443"},
		"http://gateway.internal":         {Scheme: "http", Host: "gateway.internal", Port: "80"},
		"https://gw.example.com:8443/":    {Scheme: "https", Host: "gw.example.com", Port: "8443"},
		"http://gw.example.com:443":       {Scheme: "http", Host: "gw.example.com", Port: "443"},
		"https://[2001:DB8::1]:9443/v1":   {Scheme: "https", Host: "2001:db8::1", Port: "9443"},
		"https://[2001:db8::1]/v1":        {Scheme: "https", Host: "2001:db8::1", Port: "443"},
		"https://203.0.113.7/v1?x=1#frag": {Scheme: "https", Host: "203.0.113.7", Port: "443"},
	}
	for base, want := range ok {
		got, reason := egress.Parse(base)
		if reason != "" || got != want {
			t.Errorf("Parse(%q) = %+v, %q; want %+v", base, got, reason, want)
		}
	}
	for _, base := range []string{
		"",
		"/v1",
		"api.openai.com/v1",
		"ftp://api.openai.com/v1",
		"https://u:p@api.openai.com/v1",
		"https://u@api.openai.com/v1",
		"https://:443/v1",
		"https://api openai.com/v1\n",
		"https:///v1",
		"mailto:a@example.com",
	} {
		got, reason := egress.Parse(base)
		if reason != providers.EgressInvalidBaseURL || got != (egress.Target{}) {
			t.Errorf("Parse(%q) = %+v, %q; want the zero Target, %q", base, got, reason, providers.EgressInvalidBaseURL)
		}
	}
}

func TestTarget_Check(t *testing.T) {
	cases := []struct {
		name, base, url, host string // host: the Host override, "" for none
		allowed               bool
	}{
		{"same origin", "https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions", "", true},
		{"any path", "https://api.openai.com/v1", "https://api.openai.com/other?x=1", "", true},
		{"other host", "https://api.openai.com/v1", "https://evil.example.com/v1", "", false},
		{"sub-domain", "https://api.openai.com/v1", "https://api.openai.com.evil.example.com/v1", "", false},
		{"parent domain", "https://api.openai.com/v1", "https://openai.com/v1", "", false},
		{"trailing dot", "https://api.openai.com/v1", "https://api.openai.com./v1", "", false},
		{"other scheme", "https://api.openai.com/v1", "http://api.openai.com/v1", "", false},

		// Letter case: host names match in any case; the base's scheme is lower-cased.
		{"host in upper case", "https://api.openai.com/v1", "https://API.OPENAI.COM/v1", "", true},
		{"base in mixed case", "HTTPS://Api.OpenAI.com/v1", "https://api.openai.com/v1", "", true},
		{"Host override in mixed case", "https://api.openai.com/v1", "https://api.openai.com/v1", "Api.OpenAI.Com", true},

		// Default ports, written or not, on either side.
		{"https default port written", "https://api.openai.com/v1", "https://api.openai.com:443/v1", "", true},
		{"https base with its default port", "https://api.openai.com:443/v1", "https://api.openai.com/v1", "", true},
		{"http default port written", "http://gw.example.com/v1", "http://gw.example.com:80/v1", "", true},
		{"http base with its default port", "http://gw.example.com:80/v1", "http://gw.example.com/v1", "", true},
		{"other port", "https://api.openai.com/v1", "https://api.openai.com:8443/v1", "", false},
		{"https port on http", "http://gw.example.com/v1", "http://gw.example.com:443/v1", "", false},
		{"explicit port", "https://gw.example.com:8443/v1", "https://gw.example.com:8443/v1", "", true},
		{"explicit port left out", "https://gw.example.com:8443/v1", "https://gw.example.com/v1", "", false},

		// IPv6 literals, with brackets, in any case, with or without the port.
		{"IPv6", "https://[2001:db8::1]/v1", "https://[2001:db8::1]/v1", "", true},
		{"IPv6 upper case", "https://[2001:db8::1]/v1", "https://[2001:DB8::1]/v1", "", true},
		{"IPv6 default port written", "https://[2001:db8::1]/v1", "https://[2001:db8::1]:443/v1", "", true},
		{"IPv6 explicit port", "https://[2001:db8::1]:9443/v1", "https://[2001:db8::1]:9443/v1", "", true},
		{"IPv6 explicit port left out", "https://[2001:db8::1]:9443/v1", "https://[2001:db8::1]/v1", "", false},
		{"IPv6 other address", "https://[2001:db8::1]/v1", "https://[2001:db8::2]/v1", "", false},
		{"IPv6 Host override", "https://[2001:db8::1]/v1", "https://[2001:db8::1]/v1", "[2001:db8::1]:443", true},

		// A Host override is checked as the URL is.
		{"Host override elsewhere", "https://api.openai.com/v1", "https://api.openai.com/v1", "evil.example.com", false},
		{"Host override other port", "https://api.openai.com/v1", "https://api.openai.com/v1", "api.openai.com:444", false},
		{"Host override default port", "https://api.openai.com/v1", "https://api.openai.com/v1", "api.openai.com:443", true},
		{"Host override here, URL elsewhere", "https://api.openai.com/v1", "https://evil.example.com/v1", "api.openai.com", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, reason := egress.Parse(c.base)
			if reason != "" {
				t.Fatalf("Parse(%q): %q", c.base, reason)
			}
			req, err := http.NewRequest(http.MethodGet, c.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = c.host
			want := providers.EgressOtherHost
			if c.allowed {
				want = ""
			}
			if got := target.Check(req); got != want {
				t.Errorf("Check(%s, Host %q) on %s = %q, want %q", c.url, c.host, c.base, got, want)
			}
		})
	}
}

// A request without a URL, a hand-built scheme net/http would not send either, and any
// request to the zero Target are refused.
func TestTarget_CheckRefusesWhatItCannotMatch(t *testing.T) {
	target, _ := egress.Parse("https://api.openai.com/v1")
	for name, req := range map[string]*http.Request{
		"no URL":            {Method: http.MethodGet},
		"upper-case scheme": {Method: http.MethodGet, URL: &url.URL{Scheme: "HTTPS", Host: "api.openai.com"}},
		"no scheme":         {Method: http.MethodGet, URL: &url.URL{Host: "api.openai.com"}},
		"no host":           {Method: http.MethodGet, URL: &url.URL{Scheme: "https", Path: "/v1"}},
	} {
		if got := target.Check(req); got != providers.EgressOtherHost {
			t.Errorf("%s: Check = %q, want %q", name, got, providers.EgressOtherHost)
		}
	}
	var zero egress.Target
	for _, u := range []string{"https://api.openai.com/v1", "http://localhost/", "https://[::1]/"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if got := zero.Check(req); got != providers.EgressOtherHost {
			t.Errorf("zero Target, %s: Check = %q, want %q", u, got, providers.EgressOtherHost)
		}
	}
	if got := zero.Check(&http.Request{URL: &url.URL{}}); got != providers.EgressOtherHost {
		t.Errorf("zero Target, empty URL: Check = %q, want %q", got, providers.EgressOtherHost)
	}
}

// Checking a request, with or without a port, allocates nothing: it runs on every
// request a guarded Transport sends.
func TestTarget_CheckAllocatesNothing(t *testing.T) {
	target, _ := egress.Parse("https://api.openai.com/v1")
	for _, u := range []string{"https://api.openai.com/v1/chat/completions", "https://api.openai.com:443/v1/chat/completions"} {
		req, err := http.NewRequest(http.MethodPost, u, http.NoBody) // sets req.Host too
		if err != nil {
			t.Fatal(err)
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = target.Check(req) }); allocs != 0 {
			t.Errorf("Check(%s) allocates %v times", u, allocs)
		}
	}
}

// credentials are the header names WithoutCredentials removes, as the SDKs and net/http
// spell them.
var credentials = []string{
	"Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key",
	"OpenAI-Organization", "OpenAI-Project", "Anthropic-Workspace-Id", "Cookie",
}

// spellings returns name canonical, lower-case, upper-case and in alternating case.
func spellings(name string) []string {
	alt := []byte(strings.ToLower(name))
	for i := 0; i < len(alt); i += 2 {
		alt[i] = strings.ToUpper(string(alt[i]))[0]
	}
	return []string{http.CanonicalHeaderKey(name), strings.ToLower(name), strings.ToUpper(name), string(alt), name}
}

func TestWithoutCredentials(t *testing.T) {
	h := http.Header{
		"Content-Type":     {"application/json"},
		"X-Stainless-Lang": {"go"},
		"Accept":           {"text/event-stream", "application/json"},
		"x-lower-case":     {"kept as written"},
		"X-Nil":            nil,
		"X-Empty":          {},
		"Authorizations":   {"not a credential header: a longer name"},
		"X-Api-Key-Id":     {"not a credential header either"},
	}
	kept := h.Clone()
	for _, name := range credentials {
		for _, spelled := range spellings(name) {
			h[spelled] = []string{"secret-" + spelled}
		}
	}
	before := h.Clone()

	out := egress.WithoutCredentials(h, 2)
	for name, vv := range out {
		for _, cred := range credentials {
			if strings.EqualFold(name, cred) {
				t.Errorf("%q kept: %q", name, vv)
			}
		}
	}
	if len(out) != len(kept) {
		t.Errorf("kept %d headers, want %d: %v", len(out), len(kept), out)
	}
	for name, want := range kept {
		got, ok := out[name]
		if !ok || !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%s = %#v (present %v), want %#v", name, got, ok, want)
		}
	}

	// The copy shares nothing with h, and no value's capacity reaches into the next
	// one's: appending to or writing into one value leaves h, and every other value, as
	// they were.
	for name, vv := range out {
		if cap(vv) != len(vv) {
			t.Errorf("%s has room for %d more values, in its neighbour's", name, cap(vv)-len(vv))
		}
	}
	out["Accept"][0] = "changed"
	out["Content-Type"] = append(out["Content-Type"], "appended")
	out.Set("Authorization", "Bearer user")
	if !equalHeaders(h, before) {
		t.Errorf("h changed: %v, was %v", h, before)
	}
	if got := out["Accept"]; !slices.Equal(got, []string{"changed", "application/json"}) {
		t.Errorf("Accept = %q after appending to Content-Type", got)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestWithoutCredentials_nilAndEmpty(t *testing.T) {
	if got := egress.WithoutCredentials(nil, 0); got != nil {
		t.Errorf("nil, 0 = %#v, want nil", got)
	}
	if got := egress.WithoutCredentials(nil, 2); got == nil || len(got) != 0 {
		t.Errorf("nil, 2 = %#v, want an empty header to set into", got)
	}
	if got := egress.WithoutCredentials(http.Header{}, 0); got == nil || len(got) != 0 {
		t.Errorf("empty, 0 = %#v, want an empty header", got)
	}
	if got := egress.WithoutCredentials(http.Header{"Cookie": {"a=b"}}, 0); got == nil || len(got) != 0 {
		t.Errorf("only a credential = %#v, want an empty header", got)
	}
}

// sink keeps what the allocation tests and benchmarks make on the heap, as a request's
// headers are.
var sink http.Header

// Stripping costs no allocation beyond http.Header.Clone's on the same header.
func TestWithoutCredentials_allocatesAsCloneDoes(t *testing.T) {
	h := sdkHeader()
	clone := testing.AllocsPerRun(100, func() { sink = h.Clone() })
	strip := testing.AllocsPerRun(100, func() { sink = egress.WithoutCredentials(h, 0) })
	if strip > clone {
		t.Errorf("WithoutCredentials allocates %v times, Clone %v", strip, clone)
	}
}

// sdkHeader is what openai-go sets on a request, the server's key among it.
func sdkHeader() http.Header {
	h := http.Header{}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "OpenAI/Go 3.99.0",
		"X-Stainless-Lang": "go", "X-Stainless-Package-Version": "3.99.0", "X-Stainless-Os": "Linux",
		"X-Stainless-Arch": "x64", "X-Stainless-Runtime": "go", "X-Stainless-Retry-Count": "0",
		"Authorization": "Bearer sk-server", "Openai-Organization": "org-server",
	} {
		h.Set(k, v)
	}
	return h
}

// closeTracker reports whether it was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (b *closeTracker) Close() error { b.closed = true; return nil }

func TestCloseBody(t *testing.T) {
	body := &closeTracker{Reader: strings.NewReader("{}")}
	req, _ := http.NewRequest(http.MethodPost, "https://api.openai.com/v1", body)
	egress.CloseBody(req)
	if !body.closed {
		t.Error("the body is open")
	}
	egress.CloseBody(&http.Request{}) // no body: nothing to do, no panic
}

// The guarded transport is shared, uses no proxy whatever the environment says, and
// connects to no loopback address.
func TestGuardedTransport(t *testing.T) {
	tr := egress.GuardedTransport()
	if tr == nil || tr != egress.GuardedTransport() {
		t.Fatal("GuardedTransport is not one shared transport")
	}
	if tr.Proxy != nil {
		t.Error("the guarded transport reads proxy settings")
	}
	if tr.DialContext == nil || tr.DialTLSContext != nil || tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 {
		t.Errorf("the guarded transport lacks its dialer or its bounds: %+v", tr)
	}

	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	var ee *providers.EgressError
	if !errors.Is(err, providers.ErrEgressDenied) || !errors.As(err, &ee) || ee.Reason != providers.EgressNonPublicAddress {
		t.Errorf("RoundTrip to %s: %v, want a non-public address refused", srv.URL, err)
	}
	if hits.Load() != 0 {
		t.Error("a request reached the loopback server")
	}
}

// BenchmarkWithoutCredentials strips an SDK's request headers, with room for the key:
// compare with BenchmarkHeaderClone.
func BenchmarkWithoutCredentials(b *testing.B) {
	h := sdkHeader()
	b.ReportAllocs()
	for b.Loop() {
		sink = egress.WithoutCredentials(h, 2)
	}
}

// BenchmarkHeaderClone is the floor WithoutCredentials is compared with.
func BenchmarkHeaderClone(b *testing.B) {
	h := sdkHeader()
	b.ReportAllocs()
	for b.Loop() {
		sink = h.Clone()
	}
}

// BenchmarkCheck checks a request to the target's origin, as every request through a
// guarded Transport is.
func BenchmarkCheck(b *testing.B) {
	target, _ := egress.Parse("https://api.openai.com/v1")
	req, _ := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions", http.NoBody)
	req.Host = "api.openai.com"
	b.ReportAllocs()
	for b.Loop() {
		if target.Check(req) != "" {
			b.Fatal("refused")
		}
	}
}

func TestHostOf(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://api.openai.com/v1", "api.openai.com"},
		{"https://api.anthropic.com", "api.anthropic.com"},
		{"https://gw.example.com:8443/v1/x", "gw.example.com"},
		{"http://[2001:db8::1]:8080/v1", "2001:db8::1"},
		{"https://[2001:db8::1]/v1", "2001:db8::1"},
		{"https://[2001:db8::1", "[2001:db8::1"},
		{"api.example.com/v1", "api.example.com"},
		{"", ""},
	} {
		if got := egress.HostOf(c.in); got != c.want {
			t.Errorf("HostOf(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = egress.HostOf("https://gw.example.com:8443/v1") }); n != 0 {
		t.Errorf("HostOf allocates %v times", n)
	}
}
