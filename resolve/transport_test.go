package resolve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

const (
	userKeyCanary   = "sk-user-canary-4b1f9e07"
	serverKeyCanary = "sk-server-canary-d3a85c12"
)

// recordingBase is a RoundTripper that answers 200 and keeps a copy of each request's
// URL and headers.
type recordingBase struct {
	mu   sync.Mutex
	reqs []*http.Request // guarded by mu
}

func (b *recordingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, req.Clone(context.Background()))
	b.mu.Unlock()
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: req, Header: http.Header{}}, nil
}

func (b *recordingBase) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

func (b *recordingBase) last() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reqs[len(b.reqs)-1]
}

// trackedBody reports whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func openAIProvider(key string) resolve.Provider {
	return resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret(key), BaseURL: "https://api.openai.com/v1", BaseURLSource: resolve.SourceDefault}
}

func TestTransport_refusesAnotherHost(t *testing.T) {
	p := openAIProvider(userKeyCanary)
	cases := map[string]func(r *http.Request){
		"other host":            func(r *http.Request) { r.URL.Host = "evil.example.com" },
		"sub-domain":            func(r *http.Request) { r.URL.Host = "api.openai.com.evil.example.com" },
		"parent domain":         func(r *http.Request) { r.URL.Host = "openai.com" },
		"other port":            func(r *http.Request) { r.URL.Host = "api.openai.com:8443" },
		"http":                  func(r *http.Request) { r.URL.Scheme = "http" },
		"loopback":              func(r *http.Request) { r.URL.Host = "127.0.0.1" },
		"Host header elsewhere": func(r *http.Request) { r.Host = "evil.example.com" },
		"Host header port":      func(r *http.Request) { r.Host = "api.openai.com:444" },
		"trailing dot":          func(r *http.Request) { r.URL.Host = "api.openai.com." },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			base := &recordingBase{}
			body := &trackedBody{Reader: strings.NewReader(`{"model":"gpt-4o"}`)}
			req, err := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions", body)
			require.NoError(t, err)
			change(req)

			resp, err := p.Transport(base).RoundTrip(req)
			require.ErrorIs(t, err, providers.ErrEgressDenied)
			assert.Nil(t, resp)
			var ee *providers.EgressError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, providers.EgressOtherHost, ee.Reason)
			assert.Zero(t, base.calls(), "base is never called")
			assert.True(t, body.closed.Load(), "the body is closed, as a RoundTripper must")
			assert.NotContains(t, err.Error(), "evil")
			assert.NotContains(t, err.Error(), userKeyCanary)
		})
	}

	// The same host, however spelled, with any path, is allowed.
	for _, u := range []string{
		"https://api.openai.com/v1/chat/completions",
		"https://API.OpenAI.com/v1/models",
		"https://api.openai.com:443/v1/responses",
		"https://api.openai.com/other/path?x=1",
	} {
		base := &recordingBase{}
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		resp, err := p.Transport(base).RoundTrip(req)
		require.NoError(t, err, u)
		_ = resp.Body.Close()
		assert.Equal(t, 1, base.calls(), u)
	}
}

func TestTransport_refusesUnusableProvider(t *testing.T) {
	cases := map[string]struct {
		p      resolve.Provider
		reason string
	}{
		"zero provider":      {resolve.Provider{}, providers.EgressInvalidBaseURL},
		"no key":             {resolve.Provider{ID: providers.OpenAI, BaseURL: "https://api.openai.com/v1"}, providers.EgressNoKey},
		"relative base URL":  {resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("k"), BaseURL: "/v1"}, providers.EgressInvalidBaseURL},
		"ftp base URL":       {resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("k"), BaseURL: "ftp://api.openai.com/v1"}, providers.EgressInvalidBaseURL},
		"credentials in URL": {resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("k"), BaseURL: "https://u:p@api.openai.com/v1"}, providers.EgressInvalidBaseURL},
		"unparsable":         {resolve.Provider{ID: providers.OpenAI, APIKey: providers.NewSecret("k"), BaseURL: "https://api openai.com/v1\n"}, providers.EgressInvalidBaseURL},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			base := &recordingBase{}
			req, err := http.NewRequest(http.MethodGet, "https://api.openai.com/v1/models", nil)
			require.NoError(t, err)
			_, err = c.p.Transport(base).RoundTrip(req)
			var ee *providers.EgressError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, c.reason, ee.Reason)
			assert.Zero(t, base.calls())
		})
	}
}

// serverHeaders is what an SDK configured from the server's environment, a proxy
// setting or a cookie jar put on a request: every value a server canary.
func serverHeaders() map[string]string {
	return map[string]string{
		"Authorization":          "Bearer " + serverKeyCanary,
		"X-Api-Key":              serverKeyCanary,
		"Api-Key":                serverKeyCanary,
		"X-Goog-Api-Key":         serverKeyCanary,
		"OpenAI-Organization":    "org-" + serverKeyCanary,
		"OpenAI-Project":         "proj-" + serverKeyCanary,
		"Proxy-Authorization":    "Basic " + serverKeyCanary,
		"Anthropic-Workspace-Id": "ws-" + serverKeyCanary,
		"Cookie":                 "session=" + serverKeyCanary,
	}
}

func TestTransport_replacesEveryCredentialHeader(t *testing.T) {
	for _, id := range []providers.ID{providers.OpenAI, providers.Gateway, providers.Anthropic} {
		t.Run(string(id), func(t *testing.T) {
			spec, _ := id.Spec()
			p := resolve.Provider{ID: id, APIKey: providers.NewSecret(userKeyCanary), BaseURL: spec.BaseURL}
			req, err := http.NewRequest(http.MethodPost, spec.BaseURL+"/chat/completions", strings.NewReader("{}"))
			require.NoError(t, err)
			for name, v := range serverHeaders() {
				req.Header.Set(name, v)
				req.Header[strings.ToLower(name)] = []string{v} // set through the map: not canonical
				req.Header[strings.ToUpper(name)] = []string{v}
			}
			req.Header.Set("X-Stainless-Lang", "go") // not a credential: kept
			req.Trailer = http.Header{"Authorization": {"Bearer " + serverKeyCanary}}

			base := &recordingBase{}
			resp, err := p.Transport(base).RoundTrip(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			sent := base.last()

			assert.NotContains(t, fmt.Sprint(sent.Header, sent.Trailer), serverKeyCanary)
			assert.Equal(t, "go", sent.Header.Get("X-Stainless-Lang"))
			if id == providers.Anthropic {
				assert.Equal(t, []string{userKeyCanary}, sent.Header.Values("X-Api-Key"))
				assert.Equal(t, []string{providers.AnthropicVersion}, sent.Header.Values("Anthropic-Version"))
				assert.Empty(t, sent.Header.Values("Authorization"))
			} else {
				assert.Equal(t, []string{"Bearer " + userKeyCanary}, sent.Header.Values("Authorization"))
				assert.Empty(t, sent.Header.Values("X-Api-Key"))
			}
			var creds []string
			for name := range sent.Header {
				if n := http.CanonicalHeaderKey(name); n == "Authorization" || n == "X-Api-Key" {
					creds = append(creds, name)
				}
			}
			assert.Len(t, creds, 1, "exactly one credential header: %v", creds)
		})
	}
}

func TestTransport_neverChangesTheCallersRequest(t *testing.T) {
	p := openAIProvider(userKeyCanary)
	req, err := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+serverKeyCanary)
	req.Header.Set("OpenAI-Organization", "org-x")
	wantHeader := req.Header.Clone()
	wantURL, wantHost := *req.URL, req.Host
	body := req.Body

	base := &recordingBase{}
	resp, err := p.Transport(base).RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()

	assert.Equal(t, wantHeader, req.Header)
	assert.Equal(t, wantURL, *req.URL)
	assert.Equal(t, wantHost, req.Host)
	assert.True(t, body == req.Body, "the body is not replaced")
	assert.NotSame(t, req, base.last())
}

// A redirect to another host is refused before any byte reaches it; a redirect on the
// same host is followed with the key.
func TestHTTPClient_redirectNeverCarriesTheKeyElsewhere(t *testing.T) {
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		_, _ = fmt.Fprint(w, r.Header)
	}))
	t.Cleanup(evil.Close)
	var (
		mu   sync.Mutex
		seen []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/moved":
			http.Redirect(w, r, "https://api.openai.com/v1/models", http.StatusFound)
		case "/v1/away":
			http.Redirect(w, r, "https://evil.example.com/collect", http.StatusTemporaryRedirect)
		case "/v1/downgrade":
			http.Redirect(w, r, "http://api.openai.com/v1/models", http.StatusMovedPermanently)
		default:
			_, _ = io.WriteString(w, "{}")
		}
	}))
	t.Cleanup(api.Close)
	up := resolvetest.NewUpstream(nil).Route("api.openai.com", api).Route("evil.example.com", evil)
	client := resolve.HTTPClientOver(openAIProvider(userKeyCanary), up)

	resp, err := client.Get("https://api.openai.com/v1/moved")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	for _, path := range []string{"/v1/away", "/v1/downgrade"} {
		req, err := http.NewRequest(http.MethodPost, "https://api.openai.com"+path, strings.NewReader("{}"))
		require.NoError(t, err)
		req.Header.Set("X-Api-Key", userKeyCanary) // as an SDK given the key would set it
		_, err = client.Do(req)
		require.ErrorIs(t, err, providers.ErrEgressDenied, path)
	}
	assert.Zero(t, evilHits.Load(), "the other host received nothing")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"/v1/moved Bearer " + userKeyCanary, "/v1/models Bearer " + userKeyCanary,
		"/v1/away Bearer " + userKeyCanary, "/v1/downgrade Bearer " + userKeyCanary,
	}, seen)
}

// listenTLS starts a TLS test server on network/address, or skips when the machine has
// no such address.
func listenTLS(t *testing.T, network, address string, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Skipf("no %s listener here: %v", network, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
	}))
	srv.Listener = l
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPClient_refusesLoopback(t *testing.T) {
	var hits atomic.Int64
	v4 := listenTLS(t, "tcp4", "127.0.0.1:0", &hits)
	_, port4, _ := net.SplitHostPort(v4.Listener.Addr().String())
	bases := map[string]string{
		"127.0.0.1": "https://127.0.0.1:" + port4 + "/v1",
		"localhost": "https://localhost:" + port4 + "/v1",
	}
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		_ = l.Close()
		v6 := listenTLS(t, "tcp6", "[::1]:0", &hits)
		_, port6, _ := net.SplitHostPort(v6.Listener.Addr().String())
		bases["[::1]"] = "https://[::1]:" + port6 + "/v1"
	}
	for name, base := range bases {
		t.Run(name, func(t *testing.T) {
			p := resolve.Provider{ID: providers.Gateway, APIKey: providers.NewSecret(userKeyCanary), BaseURL: base}
			resp, err := p.HTTPClient().Get(base + "/models")
			if resp != nil {
				_ = resp.Body.Close()
			}
			require.ErrorIs(t, err, providers.ErrEgressDenied)
			var ee *providers.EgressError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, providers.EgressNonPublicAddress, ee.Reason)
			assert.NotContains(t, err.Error(), userKeyCanary)
		})
	}
	assert.Zero(t, hits.Load(), "no request reached a loopback server")
}

// Nothing a user can print or log shows the key: not the Transport, not the client.
func TestTransport_neverPrintsTheKey(t *testing.T) {
	p := openAIProvider(userKeyCanary)
	tr := p.Transport(nil)
	client := p.HTTPClient()
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&out, verb+" "+verb+"\n", tr, client)
	}
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	logger.Info("call", "transport", tr, "client", client, "provider", p)
	slog.New(slog.NewTextHandler(&out, nil)).Info("call", "transport", tr, "client", client)
	js, _ := json.Marshal(map[string]any{"provider": p})
	out.Write(js)

	assert.NotContains(t, out.String(), userKeyCanary)
	assert.NotContains(t, out.String(), "canary")
	assert.Contains(t, out.String(), "resolve.Transport{openai api.openai.com}")
}

func TestTransport_concurrentUse(t *testing.T) {
	base := &recordingBase{}
	tr := openAIProvider(userKeyCanary).Transport(base)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions", strings.NewReader("{}"))
			req.Header.Set("Authorization", fmt.Sprintf("Bearer %s-%d", serverKeyCanary, i))
			resp, err := tr.RoundTrip(req)
			if assert.NoError(t, err) {
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 64, base.calls())
	for _, r := range base.reqs {
		assert.Equal(t, "Bearer "+userKeyCanary, r.Header.Get("Authorization"))
	}
}

// The resolved Provider of every path goes out through its Transport with exactly its
// key, and the Resolve span records no key, header or URL.
func TestTransport_afterResolveEveryPath(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put("u-gw", providers.Gateway, userKeyCanary+"-gw")
	keys.SetGatewayBaseURL("u-gw", "https://gw.example.com/v1")
	keys.Put("u-an", providers.Anthropic, userKeyCanary+"-an")
	team := resolve.Team{GatewayKey: providers.NewSecret(serverKeyCanary + "-gw")}
	sr, tracing := newTracing(t)
	r := resolve.New(keys, resolvetest.NewConsent(true), team, tracing, resolve.WithAllowedGatewayHosts("gw.example.com"))

	for user, want := range map[string]struct{ url, header, value string }{
		"u-gw":   {"https://gw.example.com/v1/chat/completions", "Authorization", "Bearer " + userKeyCanary + "-gw"},
		"u-an":   {"https://api.anthropic.com/v1/messages", "X-Api-Key", userKeyCanary + "-an"},
		"u-team": {"https://ai-gateway.vercel.sh/v1/chat/completions", "Authorization", "Bearer " + serverKeyCanary + "-gw"},
	} {
		p, _, err := r.Resolve(t.Context(), user, resolve.WithModel("anthropic/claude-sonnet-4.5"))
		require.NoError(t, err)
		path := "/chat/completions"
		if p.ID == providers.Anthropic {
			path = "/v1/messages"
		}
		base := &recordingBase{}
		req, err := http.NewRequest(http.MethodPost, p.BaseURL+path, strings.NewReader("{}"))
		require.NoError(t, err)
		resp, err := p.Transport(base).RoundTrip(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, want.url, base.last().URL.String(), user)
		assert.Equal(t, want.value, base.last().Header.Get(want.header), user)
	}
	var spans bytes.Buffer
	for _, s := range sr.Ended() {
		for _, kv := range s.Attributes() {
			fmt.Fprintln(&spans, kv.Key, kv.Value.Emit())
		}
		fmt.Fprintln(&spans, s.Status().Description)
	}
	assert.NotContains(t, spans.String(), "canary")
	assert.Contains(t, spans.String(), string(attribute.Key("model"))+" anthropic/claude-sonnet-4.5")
}
