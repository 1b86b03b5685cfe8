package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

// endpoints lists each provider's check as the fakes serve it: the base path the test
// passes in BaseURLs, and the path the Validator must append to it.
var endpoints = []struct {
	id         providers.ID
	base, path string
}{
	{providers.Gateway, "/v1", "/credits"},
	{providers.OpenAI, "/v1", "/models"},
	{providers.OpenRouter, "/api/v1", "/key"},
	{providers.Anthropic, "", "/v1/models"},
	{providers.XAI, "/v1", "/models"},
}

// fake stands in for one provider: 200 to GET on its check path with the right key in
// the provider's auth scheme, 401 to any other key, 404 to anything else. It records
// every request as "METHOD /path".
type fake struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // guarded by mu
}

func newFake(t *testing.T, id providers.ID, path, goodKey string) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		switch {
		case r.Method != http.MethodGet || r.URL.Path != path:
			http.NotFound(w, r)
		case !authorized(id, r.Header, goodKey):
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid key"}`)
		default:
			_, _ = io.WriteString(w, `{"data":[]}`)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// authorized reports whether h carries exactly key in id's scheme and no other scheme's
// header.
func authorized(id providers.ID, h http.Header, key string) bool {
	one := func(name, want string) bool { v := h.Values(name); return len(v) == 1 && v[0] == want }
	if id == providers.Anthropic {
		return one("X-Api-Key", key) && one("Anthropic-Version", "2023-06-01") && h.Values("Authorization") == nil
	}
	return one("Authorization", "Bearer "+key) && h.Values("X-Api-Key") == nil && h.Values("Anthropic-Version") == nil
}

func validatorFor(id providers.ID, base string) *providers.Validator {
	return &providers.Validator{BaseURLs: map[providers.ID]string{id: base}}
}

func TestValidator_keysAgainstEachProvider(t *testing.T) {
	for _, e := range endpoints {
		t.Run(string(e.id), func(t *testing.T) {
			f := newFake(t, e.id, e.base+e.path, "sk-good-"+string(e.id))
			v := validatorFor(e.id, f.srv.URL+e.base)

			got := v.Validate(t.Context(), e.id, providers.NewSecret("sk-good-"+string(e.id)))
			assert.Equal(t, providers.Validation{Valid: true, Status: 200}, got)

			got = v.Validate(t.Context(), e.id, providers.NewSecret("sk-wrong"))
			assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey, Status: 401}, got)

			want := "GET " + e.base + e.path
			assert.Equal(t, []string{want, want}, f.requests())
		})
	}
}

func TestValidator_openRouterNeverAsksModels(t *testing.T) {
	// OpenRouter's /models answers anyone, so a check there would call every key valid.
	var models atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/models", func(w http.ResponseWriter, _ *http.Request) {
		models.Add(1)
		_, _ = io.WriteString(w, `{"data":[]}`)
	})
	mux.HandleFunc("/api/v1/key", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	got := validatorFor(providers.OpenRouter, srv.URL+"/api/v1").
		Validate(t.Context(), providers.OpenRouter, providers.NewSecret("sk-or-anything"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey, Status: 401}, got)
	assert.Zero(t, models.Load())
}

// recorder is a RoundTripper that answers 200 and keeps the requests it saw.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request // guarded by mu
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func TestValidator_defaultEndpoints(t *testing.T) {
	// With no override the check goes to the Spec's BaseURL; the caller's Client is used.
	want := map[providers.ID]string{
		providers.Gateway:    "https://ai-gateway.vercel.sh/v1/credits",
		providers.OpenAI:     "https://api.openai.com/v1/models",
		providers.OpenRouter: "https://openrouter.ai/api/v1/key",
		providers.Anthropic:  "https://api.anthropic.com/v1/models",
		providers.XAI:        "https://api.x.ai/v1/models",
	}
	for _, id := range providers.All() {
		t.Run(string(id), func(t *testing.T) {
			rec := &recorder{}
			v := &providers.Validator{Client: &http.Client{Transport: rec}}
			got := v.Validate(t.Context(), id, providers.NewSecret("sk-abc"))
			assert.Equal(t, providers.Validation{Valid: true, Status: 200}, got)
			require.Equal(t, 1, rec.count())
			req := rec.reqs[0]
			assert.Equal(t, http.MethodGet, req.Method)
			assert.Equal(t, want[id], req.URL.String())
			assert.True(t, authorized(id, req.Header, "sk-abc"), "%v", req.Header)
		})
	}
}

// statusServer answers every request with code and counts them.
func statusServer(t *testing.T, code int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestValidator_statusCodes(t *testing.T) {
	for code, reason := range map[int]string{
		200: "",
		204: "",
		400: providers.ReasonInvalidKey,
		401: providers.ReasonInvalidKey,
		402: providers.ReasonInvalidKey, // OpenAI gives 402 no meaning
		403: providers.ReasonInvalidKey,
		404: providers.ReasonInvalidKey,
		429: providers.ReasonRateLimited,
		500: providers.ReasonNetworkError,
		502: providers.ReasonNetworkError,
		503: providers.ReasonNetworkError,
		529: providers.ReasonNetworkError, // Anthropic's "overloaded"
		304: providers.ReasonNetworkError,
	} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv, n := statusServer(t, code)
			got := validatorFor(providers.OpenAI, srv.URL).Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-x"))
			assert.Equal(t, providers.Validation{Valid: reason == "", Reason: reason, Status: code}, got)
			assert.Equal(t, int64(1), n.Load())
		})
	}
}

// answerServer answers every request with status and body.
func answerServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// findFailureCase returns the named case of TestClassifyFailure.
func findFailureCase(t *testing.T, name string) failureCase {
	t.Helper()
	for _, c := range failureCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no failure case %q", name)
	return failureCase{}
}

func TestValidator_readsTheProvidersAnswer(t *testing.T) {
	for _, c := range []struct {
		answer string // a failureCases name: its provider, status and body
		reason string
	}{
		{"openai 401 invalid_api_key", providers.ReasonInvalidKey},
		{"openai 429 insufficient_quota type and code", providers.ReasonInsufficientCredit},
		{"openai 429 billing_not_active", providers.ReasonInsufficientCredit},
		{"openai 401 restricted key missing scope", providers.ReasonPermissionDenied},
		{"openai 403 restricted key missing scope", providers.ReasonPermissionDenied},
		{"openai 429 rate_limit_exceeded", providers.ReasonRateLimited},
		{"openai 429 truncated: rate limited, never a mark", providers.ReasonRateLimited},
		{"openai 403 unsupported region", providers.ReasonInvalidKey},
		{"openai 403 HTML from an edge", providers.ReasonInvalidKey},
		{"anthropic 401 authentication_error", providers.ReasonInvalidKey},
		{"anthropic 402 billing_error", providers.ReasonInsufficientCredit},
		{"anthropic 400 credit balance too low", providers.ReasonInsufficientCredit},
		{"anthropic 403 permission_error", providers.ReasonPermissionDenied},
		{"anthropic 429 rate_limit_error", providers.ReasonRateLimited},
		{"anthropic 404 wrong path", providers.ReasonInvalidKey},
		{"xai 400 incorrect API key", providers.ReasonInvalidKey},
		{"xai 403 credits used up", providers.ReasonInsufficientCredit},
		{"xai 429 credits used up", providers.ReasonInsufficientCredit},
		{"xai 403 team blocked", providers.ReasonPermissionDenied},
		{"xai 429 at capacity", providers.ReasonRateLimited},
		{"openrouter 401", providers.ReasonInvalidKey},
		{"openrouter 402 insufficient credits", providers.ReasonInsufficientCredit},
		{"openrouter 402 in-flight budget", providers.ReasonRateLimited},
		{"openrouter 403 moderation", providers.ReasonInvalidKey},
		{"gateway 401 authentication_error", providers.ReasonInvalidKey},
		{"gateway 402", providers.ReasonInsufficientCredit},
		{"gateway 403 customer_verification_required", providers.ReasonInsufficientCredit},
		{"gateway 429 rate_limit_exceeded", providers.ReasonRateLimited},
		{"gateway 403 forbidden by a routing rule", providers.ReasonInvalidKey},
		// The checks name no model: a model refusal did not accept the key.
		{"gateway 404 model_not_found", providers.ReasonInvalidKey},
		{"xai 404 model", providers.ReasonInvalidKey},
		// A 5xx says nothing about the key, whatever its body.
		{"openai 503 never marks, whatever the body says", providers.ReasonNetworkError},
		{"anthropic 529 overloaded", providers.ReasonNetworkError},
	} {
		t.Run(c.answer, func(t *testing.T) {
			a := findFailureCase(t, c.answer)
			srv := answerServer(t, a.status, a.body)
			got := validatorFor(a.id, srv.URL).Validate(t.Context(), a.id, providers.NewSecret("sk-x"))
			assert.Equal(t, providers.Validation{Reason: c.reason, Status: a.status}, got)
		})
	}
}

func TestValidator_errorStatusDecidesWhenBodyStalls(t *testing.T) {
	for _, c := range []struct {
		id     providers.ID
		status int
		reason string
	}{
		{providers.OpenAI, 429, providers.ReasonRateLimited},
		{providers.OpenRouter, 402, providers.ReasonInsufficientCredit},
		{providers.Anthropic, 401, providers.ReasonInvalidKey},
		{providers.XAI, 403, providers.ReasonInvalidKey}, // xAI's 403 needs its body
	} {
		t.Run(fmt.Sprintf("%s/%d", c.id, c.status), func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, `{"error":{"message":"You exceeded`)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })
			v := validatorFor(c.id, srv.URL)
			v.Timeout = 100 * time.Millisecond

			got := v.Validate(t.Context(), c.id, providers.NewSecret("sk-x"))
			assert.Equal(t, providers.Validation{Reason: c.reason, Status: c.status}, got)
		})
	}
}

func TestValidator_errorBodyNotReadToTheEnd(t *testing.T) {
	// An endless 401 body: the Validator reads its first 64 KiB, then closes.
	stopped := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		chunk := []byte(strings.Repeat("x", 64<<10))
		var written int64
		for written < 8<<30 { // a bound, so a broken test cannot write forever
			n, err := w.Write(chunk)
			written += int64(n)
			if err != nil {
				break
			}
		}
		stopped <- written
	}))
	t.Cleanup(srv.Close)
	v := validatorFor(providers.Gateway, srv.URL)
	v.Timeout = time.Minute

	got := v.Validate(t.Context(), providers.Gateway, providers.NewSecret("vck-x"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey, Status: 401}, got)
	select {
	case written := <-stopped:
		assert.Less(t, written, int64(1<<30))
	case <-time.After(30 * time.Second):
		t.Fatal("the server is still writing: the body was not closed")
	}
}

func TestValidator_refusedWithoutRequest(t *testing.T) {
	srv, n := statusServer(t, 200)
	v := &providers.Validator{BaseURLs: map[providers.ID]string{}}
	for _, id := range providers.All() {
		v.BaseURLs[id] = srv.URL
	}
	cases := []struct {
		name string
		id   providers.ID
		key  string
	}{
		{"unknown service", "google", "sk-good"},
		{"empty service", "", "sk-good"},
		{"upper-case service", "OpenAI", "sk-good"},
		{"empty key", providers.OpenAI, ""},
		{"blank key", providers.OpenAI, " \t\n"},
		{"newline", providers.OpenAI, "sk-a\nX-Injected: 1"},
		{"carriage return", providers.Anthropic, "sk-a\r\nX-Injected: 1"},
		{"space", providers.XAI, "sk-a b"},
		{"tab", providers.Gateway, "sk-a\tb"},
		{"nul", providers.OpenRouter, "sk-a\x00b"},
		{"del", providers.OpenAI, "sk-a\x7fb"},
		{"non-ascii", providers.OpenAI, "sk-ä"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := v.Validate(t.Context(), c.id, providers.NewSecret(c.key))
			assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey}, got)
		})
	}
	assert.Zero(t, n.Load())

	// The zero Secret, not built with NewSecret, is refused the same way.
	got := v.Validate(t.Context(), providers.OpenAI, providers.Secret{})
	assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey}, got)
	assert.Zero(t, n.Load())
}

func TestValidator_baseURLOverride(t *testing.T) {
	f := newFake(t, providers.OpenAI, "/v1/models", "sk-good")
	got := validatorFor(providers.OpenAI, f.srv.URL+"/v1/").Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-good"))
	assert.Equal(t, providers.Validation{Valid: true, Status: 200}, got)
	assert.Equal(t, []string{"GET /v1/models"}, f.requests())

	// An empty override is no override: the default base URL is used.
	rec := &recorder{}
	v := &providers.Validator{Client: &http.Client{Transport: rec}, BaseURLs: map[providers.ID]string{providers.XAI: ""}}
	v.Validate(t.Context(), providers.XAI, providers.NewSecret("sk-good"))
	require.Equal(t, 1, rec.count())
	assert.Equal(t, "https://api.x.ai/v1/models", rec.reqs[0].URL.String())
}

func TestValidator_malformedBaseURL(t *testing.T) {
	for _, base := range []string{
		"api.openai.com/v1",
		"/v1",
		"ftp://api.openai.com/v1",
		"https://",
		"https://:443/v1",
		"https://user:pass@api.openai.com/v1",
		"https://api.openai.com/v1?x=1",
		"https://api.openai.com/v1?",
		"https://api.openai.com/v1#frag",
		"https://api.openai.com/v1\n",
		" https://api.openai.com/v1",
		"https://api openai.com/v1",
	} {
		t.Run(base, func(t *testing.T) {
			rec := &recorder{}
			v := &providers.Validator{Client: &http.Client{Transport: rec}, BaseURLs: map[providers.ID]string{providers.OpenAI: base}}
			got := v.Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-good"))
			assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError}, got)
			assert.Zero(t, rec.count())
		})
	}
}

// hangingServer accepts requests and answers none until the test ends or the client
// goes away. arrived receives one value per request.
func hangingServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	arrived = make(chan struct{}, 16)
	srv = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close does not wait
	return srv, arrived
}

func TestValidator_timeout(t *testing.T) {
	srv, _ := hangingServer(t)
	v := validatorFor(providers.Anthropic, srv.URL)
	v.Timeout = 100 * time.Millisecond

	start := time.Now()
	got := v.Validate(t.Context(), providers.Anthropic, providers.NewSecret("sk-ant"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonRequestTimeout}, got)
	assert.Less(t, time.Since(start), 4*time.Second) // far below the 5s default
}

func TestValidator_callerDeadline(t *testing.T) {
	srv, _ := hangingServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()

	got := validatorFor(providers.OpenAI, srv.URL).Validate(ctx, providers.OpenAI, providers.NewSecret("sk-x"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonRequestTimeout}, got)
}

func TestValidator_callerCancel(t *testing.T) {
	srv, arrived := hangingServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()

	got := validatorFor(providers.OpenAI, srv.URL).Validate(ctx, providers.OpenAI, providers.NewSecret("sk-x"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError}, got)
}

func TestValidator_contextAlreadyDone(t *testing.T) {
	srv, n := statusServer(t, 200)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()

	v := validatorFor(providers.OpenAI, srv.URL)
	assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError},
		v.Validate(cancelled, providers.OpenAI, providers.NewSecret("sk-x")))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonRequestTimeout},
		v.Validate(expired, providers.OpenAI, providers.NewSecret("sk-x")))
	assert.Zero(t, n.Load())
}

// blocker is a RoundTripper that waits for the request's context.
type blocker struct{}

func (blocker) RoundTrip(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, req.Context().Err()
}

func TestValidator_ownClientStillTimesOut(t *testing.T) {
	v := &providers.Validator{Client: &http.Client{Transport: blocker{}}, Timeout: 50 * time.Millisecond}
	got := v.Validate(t.Context(), providers.Gateway, providers.NewSecret("vck-x"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonRequestTimeout}, got)

	// The client's own Timeout, when shorter, counts as a timeout too.
	v = &providers.Validator{Client: &http.Client{Transport: blocker{}, Timeout: 50 * time.Millisecond}}
	got = v.Validate(t.Context(), providers.Gateway, providers.NewSecret("vck-x"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonRequestTimeout}, got)
}

func TestValidator_connectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()

	got := validatorFor(providers.XAI, base).Validate(t.Context(), providers.XAI, providers.NewSecret("xai-x"))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError}, got)
}

func TestValidator_bodyNotReadToTheEnd(t *testing.T) {
	// The server streams without end; a Validator reading it all would never return
	// before its (long) timeout. Closing early breaks the server's writes instead.
	stopped := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		var written int64
		for written < 8<<30 { // a bound, so a broken test cannot write forever
			n, err := w.Write(chunk)
			written += int64(n)
			if err != nil {
				break
			}
		}
		stopped <- written
	}))
	t.Cleanup(srv.Close)
	v := validatorFor(providers.OpenAI, srv.URL)
	v.Timeout = time.Minute

	got := v.Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-x"))
	assert.Equal(t, providers.Validation{Valid: true, Status: 200}, got)
	select {
	case written := <-stopped:
		assert.Less(t, written, int64(1<<30))
	case <-time.After(30 * time.Second):
		t.Fatal("the server is still writing: the body was not closed")
	}
}

func TestValidator_statusDecidesWhenBodyStalls(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"data":[`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	v := validatorFor(providers.OpenAI, srv.URL)
	v.Timeout = 100 * time.Millisecond

	got := v.Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-x"))
	assert.Equal(t, providers.Validation{Valid: true, Status: 200}, got)
}

func TestValidator_redirectNotFollowed(t *testing.T) {
	for _, code := range []int{301, 302, 307, 308} {
		for _, id := range []providers.ID{providers.OpenAI, providers.Anthropic} {
			t.Run(fmt.Sprintf("%d/%s", code, id), func(t *testing.T) {
				target, n := statusServer(t, 200)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.URL+r.URL.Path, code)
				}))
				t.Cleanup(srv.Close)

				got := validatorFor(id, srv.URL).Validate(t.Context(), id, providers.NewSecret("sk-x"))
				assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError, Status: code}, got)
				assert.Zero(t, n.Load())
			})
		}
	}
}

// An operator's client may follow redirects; the key still never reaches another host.
// The target records every credential header it receives.
func TestValidator_callerClientNeverCarriesKeyToAnotherHost(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string // credential headers the other host received; guarded by mu
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			got = append(got, r.Header.Values(h)...)
		}
		mu.Unlock()
	}))
	t.Cleanup(target.Close)
	// The same listener under another name is another host too.
	sameAddrOtherName := strings.Replace(target.URL, "127.0.0.1", "localhost", 1)

	clients := map[string]*http.Client{
		"default policy":   {},
		"follows anything": {CheckRedirect: func(*http.Request, []*http.Request) error { return nil }},
	}
	for name, client := range clients {
		for _, e := range endpoints {
			for where, to := range map[string]string{"other port": target.URL, "other name": sameAddrOtherName} {
				t.Run(name+"/"+string(e.id)+"/"+where, func(t *testing.T) {
					var hops atomic.Int64
					srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if hops.Add(1) == 1 { // one same-host hop first, then away
							http.Redirect(w, r, "/again", http.StatusTemporaryRedirect)
							return
						}
						http.Redirect(w, r, to+"/stolen", http.StatusFound)
					}))
					t.Cleanup(srv.Close)
					v := &providers.Validator{Client: client, BaseURLs: map[providers.ID]string{e.id: srv.URL + e.base}}

					res := v.Validate(t.Context(), e.id, providers.NewSecret("sk-redirect-canary"))
					assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError, Status: http.StatusFound}, res)
					assert.Equal(t, int64(2), hops.Load(), "the same-host redirect was followed")
				})
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, got, "no credential reached the other host")
}

func TestValidator_callerClientPolicyStillApplies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			http.Redirect(w, r, "/v2/models", http.StatusMovedPermanently)
			return
		}
		if r.Header.Get("Authorization") != "Bearer sk-x" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)

	follow := &providers.Validator{Client: &http.Client{}, BaseURLs: map[providers.ID]string{providers.OpenAI: srv.URL + "/v1"}}
	assert.Equal(t, providers.Validation{Valid: true, Status: 200}, follow.Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-x")))

	var asked atomic.Int64
	refuse := &providers.Validator{
		Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			asked.Add(1)
			return http.ErrUseLastResponse
		}},
		BaseURLs: map[providers.ID]string{providers.OpenAI: srv.URL + "/v1"},
	}
	assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError, Status: 301}, refuse.Validate(t.Context(), providers.OpenAI, providers.NewSecret("sk-x")))
	assert.Equal(t, int64(1), asked.Load(), "the caller's policy decides same-host redirects")
}

func TestValidator_nilReceiver(t *testing.T) {
	var v *providers.Validator
	assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey},
		v.Validate(t.Context(), "google", providers.NewSecret("sk-x")))
	assert.Equal(t, providers.Validation{Reason: providers.ReasonInvalidKey},
		v.Validate(t.Context(), providers.OpenAI, providers.NewSecret("")))

	// Past the key checks, a done ctx stops it before the network.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.Equal(t, providers.Validation{Reason: providers.ReasonNetworkError},
		v.Validate(ctx, providers.OpenAI, providers.NewSecret("sk-x")))
}

func TestValidator_concurrent(t *testing.T) {
	v := &providers.Validator{BaseURLs: map[providers.ID]string{}}
	fakes := map[providers.ID]*fake{}
	for _, e := range endpoints {
		fakes[e.id] = newFake(t, e.id, e.base+e.path, "sk-good")
		v.BaseURLs[e.id] = fakes[e.id].srv.URL + e.base
	}

	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			id := endpoints[i%len(endpoints)].id
			key, want := "sk-good", providers.Validation{Valid: true, Status: 200}
			if i%2 == 1 {
				key, want = "sk-bad", providers.Validation{Reason: providers.ReasonInvalidKey, Status: 401}
			}
			assert.Equal(t, want, v.Validate(t.Context(), id, providers.NewSecret(key)))
		})
	}
	wg.Wait()
	total := 0
	for _, f := range fakes {
		total += len(f.requests())
	}
	assert.Equal(t, 100, total)
}

func TestValidation_neverHoldsKey(t *testing.T) {
	const canary = "sk-canary-7f3a9c1e"
	// The server echoes the key everywhere it can: body, headers, a redirect.
	for _, code := range []int{200, 401, 402, 403, 429, 500, 302} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth := r.Header.Get("Authorization")
				w.Header().Set("X-Echo", auth)
				if code == 302 {
					w.Header().Set("Location", "/"+strings.TrimPrefix(auth, "Bearer "))
				}
				w.WriteHeader(code)
				_, _ = io.WriteString(w, `{"error":"bad key `+auth+`"}`)
			}))
			t.Cleanup(srv.Close)

			got := validatorFor(providers.OpenAI, srv.URL).Validate(t.Context(), providers.OpenAI, providers.NewSecret(canary))
			require.Equal(t, code, got.Status)
			js, err := json.Marshal(got)
			require.NoError(t, err)
			out := fmt.Sprintf("%v %+v %#v", got, got, got) + string(js)
			assert.NotContains(t, out, "canary")
		})
	}
}

func TestAuthorize(t *testing.T) {
	for _, id := range providers.All() {
		h := http.Header{"Authorization": {"Bearer stale"}, "X-Api-Key": {"stale"}}
		providers.Authorize(h, id, providers.NewSecret("k-"+string(id)))
		if id == providers.Anthropic {
			if h.Get("X-Api-Key") != "k-anthropic" || h.Get("Anthropic-Version") != providers.AnthropicVersion || len(h.Values("Authorization")) != 0 {
				t.Errorf("anthropic headers: %v", h)
			}
			continue
		}
		if h.Get("Authorization") != "Bearer k-"+string(id) || len(h.Values("X-Api-Key")) != 0 {
			t.Errorf("%s headers: %v", id, h)
		}
	}
	h := http.Header{"Authorization": {"Bearer stale"}, "X-Api-Key": {"stale"}}
	providers.Authorize(h, providers.OpenAI, providers.Secret{})
	if len(h) != 0 {
		t.Errorf("a zero key left headers: %v", h)
	}
}
