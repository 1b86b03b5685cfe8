package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

const (
	alice = "0b6d1f0e-4f5a-4c3b-9a2e-1d2c3b4a5f60"
	bob   = "1c7e2a1f-5a6b-4d4c-8b3f-2e3d4c5b6a71"
	opKey = "operator-key-for-tests"
)

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// fakeValidator answers a fixed Validation and counts calls.
type fakeValidator struct {
	mu     sync.Mutex
	calls  int
	result providers.Validation
	last   providers.ID
}

func (f *fakeValidator) Validate(_ context.Context, id providers.ID, _ providers.Secret) providers.Validation {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.last = id
	return f.result
}

// countingLimiter counts Allow calls on a MemoryLimiter.
type countingLimiter struct {
	*httpapi.MemoryLimiter
	mu    sync.Mutex
	calls int
}

func (c *countingLimiter) Allow(ctx context.Context, user string, l httpapi.Limit) (httpapi.Decision, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.MemoryLimiter.Allow(ctx, user, l)
}

func (c *countingLimiter) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

type fakeHealth struct{ err error }

func (f *fakeHealth) Health(context.Context) error { return f.err }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// env is a handler over in-memory stores, a real Resolver with a cache (so a missing
// Invalidate shows), a fake validator and captured logs.
type env struct {
	h         http.Handler
	keys      *resolvetest.Keys
	consent   *resolvetest.Consent
	validator *fakeValidator
	limiter   *countingLimiter
	health    *fakeHealth
	logs      *syncBuffer
	bodies    []string
}

// authenticate accepts "Bearer user:<id>" only.
func authenticate(r *http.Request) (string, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer user:")
	if !ok || token == "" {
		return "", errors.New("bad token")
	}
	return token, nil
}

func newEnv(t *testing.T, mods ...func(*httpapi.Config)) *env {
	t.Helper()
	e := &env{
		keys:      resolvetest.NewKeys(),
		consent:   resolvetest.NewConsent(true),
		validator: &fakeValidator{result: providers.Validation{Valid: true, Status: 200}},
		limiter:   &countingLimiter{MemoryLimiter: httpapi.NewMemoryLimiter()},
		health:    &fakeHealth{},
		logs:      &syncBuffer{},
	}
	e.keys.AllowGatewayHosts("gw.example.com")
	team := resolve.Team{GatewayKey: providers.NewSecret("vck-team-http")}
	r := resolve.New(e.keys, e.consent, team, resolve.WithCache(time.Hour), resolve.WithAllowedGatewayHosts("gw.example.com"))
	cfg := httpapi.Config{
		Keys:         e.keys,
		Consent:      e.consent,
		Resolver:     r,
		Validator:    e.validator,
		Health:       e.health,
		HealthKey:    opKey,
		Authenticate: authenticate,
		Limiter:      e.limiter,
		Logger:       slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&cfg)
	}
	e.h = httpapi.New(cfg)
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// do sends a request as user ("" = no Authorization header). A POST carries
// Content-Type: application/json unless header says otherwise; a header given an empty
// value is removed.
func (e *env) do(t *testing.T, method, path, user, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if user != "" {
		req.Header.Set("Authorization", "Bearer user:"+user)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	e.bodies = append(e.bodies, rec.Body.String())
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

// assertError checks an error answer's status, code and the common headers.
func assertError(t *testing.T, r response, status int, code string) {
	t.Helper()
	assert.Equal(t, status, r.status, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	m := r.json(t)
	assert.Equal(t, code, m["error"], r.body)
	assert.NotEmpty(t, m["reason"])
}

func (e *env) resolvePath(t *testing.T, user string) (map[string]any, int) {
	t.Helper()
	r := e.do(t, "GET", "/api/providers/resolve", user, "")
	return r.json(t), r.status
}

func TestKeys_postListDelete(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/keys", alice, `{"service":" OpenAI ","apiKey":"  sk-alice-1  "}`)
	assert.Equal(t, http.StatusNoContent, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	key, err := e.keys.Key(t.Context(), alice, providers.OpenAI)
	require.NoError(t, err)
	assert.Equal(t, "sk-alice-1", key.Reveal(), "trimmed")

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"xai","apiKey":"xai-alice"}`).status)
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"anthropic","apiKey":"sk-ant-alice"}`).status)

	r = e.do(t, "GET", "/api/keys", alice, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Len(t, list, 3)
	for i, want := range []string{"anthropic", "openai", "xai"} {
		assert.Equal(t, want, list[i]["service"])
		assert.NotEmpty(t, list[i]["createdAt"])
		assert.Contains(t, list[i], "lastUsed")
		assert.Len(t, list[i], 3, "service, createdAt, lastUsed; never a key")
	}
	assert.NotContains(t, r.body, "sk-")

	// Other users see nothing.
	r = e.do(t, "GET", "/api/keys", bob, "")
	assert.JSONEq(t, `[]`, r.body)

	for range 2 { // idempotent
		r = e.do(t, "DELETE", "/api/keys/openai", alice, "")
		assert.Equal(t, http.StatusNoContent, r.status)
	}
	_, err = e.keys.Key(t.Context(), alice, providers.OpenAI)
	assert.ErrorIs(t, err, resolve.ErrNotFound)
}

func TestKeys_gatewayBaseURL(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-alice","baseUrl":"https://GW.example.com/v1/"}`)
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	u, err := e.keys.GatewayBaseURL(t.Context(), alice)
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com/v1", u, "stored normalized")
	m, status := e.resolvePath(t, alice)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"path": "user-gateway", "provider": "gateway", "baseUrlHost": "gw.example.com", "baseUrlSource": "user", "model": nil}, m)

	// Deleting the gateway key deletes the base URL too.
	require.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/api/keys/gateway", alice, "").status)
	u, err = e.keys.GatewayBaseURL(t.Context(), alice)
	require.NoError(t, err)
	assert.Empty(t, u)
}

func TestKeys_rejectedRequestsStoreNothing(t *testing.T) {
	long := strings.Repeat("k", providers.MaxKeyLen+1)
	ct := func(v string) []string { return []string{"Content-Type", v} }
	tests := []struct {
		name, body, code string
		status           int
		header           []string
	}{
		// Content types: only JSON, optionally saying utf-8.
		{"text/plain", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("text/plain")},
		{"form", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/x-www-form-urlencoded")},
		{"multipart", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("multipart/form-data; boundary=x")},
		{"no content type", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("")},
		{"json lookalike", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json-patch+json")},
		{"another charset", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json; charset=latin1")},
		{"another parameter", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json; v=2")},
		{"malformed content type", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json; charset")},
		// What encoding/json lets through.
		{"duplicate service, last one valid", `{"service":"bogus","service":"openrouter","apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"duplicate apiKey", `{"service":"openai","apiKey":"sk-1","apiKey":"sk-2"}`, "invalid_request", 400, nil},
		{"duplicate through an escape", `{"service":"openai","apiKey":"sk-1","api\u004bey":"sk-2"}`, "invalid_request", 400, nil},
		{"APIKEY", `{"service":"openai","APIKEY":"sk-1"}`, "invalid_request", 400, nil},
		{"apikey", `{"service":"openai","apikey":"sk-1"}`, "invalid_request", 400, nil},
		{"Service", `{"Service":"openai","apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"baseURL", `{"service":"gateway","apiKey":"vck-1","baseURL":"https://ai-gateway.vercel.sh/v1"}`, "invalid_request", 400, nil},
		{"invalid UTF-8 in apiKey", "{\"service\":\"openai\",\"apiKey\":\"sk-\xff\xfe1\"}", "invalid_request", 400, nil},
		{"invalid UTF-8 in a name", "{\"service\":\"openai\",\"apiKey\":\"sk-1\",\"\xc3\":1}", "invalid_request", 400, nil},
		{"lone surrogate escape", `{"service":"openai","apiKey":"sk-\ud800x"}`, "invalid_request", 400, nil},
		{"lone surrogate escape in service", `{"service":"openai\udc00","apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"invalid UTF-8 in service", "{\"service\":\"openai\xff\",\"apiKey\":\"sk-1\"}", "invalid_request", 400, nil},
		{"escaped replacement character", `{"service":"openai","apiKey":"sk-\ufffdx"}`, "invalid_request", 400, nil},
		{"right-to-left override", `{"service":"openai","apiKey":"sk-\u202eabc"}`, "invalid_request", 400, nil},
		{"right-to-left override, raw", "{\"service\":\"openai\",\"apiKey\":\"sk-\u202eabc\"}", "invalid_request", 400, nil},
		{"zero-width space", `{"service":"openai","apiKey":"sk-\u200babc"}`, "invalid_request", 400, nil},
		{"zero-width joiner, raw", "{\"service\":\"openai\",\"apiKey\":\"sk-\u200dabc\"}", "invalid_request", 400, nil},
		{"non-ASCII letter", `{"service":"openai","apiKey":"sk-é"}`, "invalid_request", 400, nil},
		{"NUL", `{"service":"openai","apiKey":"sk-\u0000"}`, "invalid_request", 400, nil},
		{"service not a string", `{"service":1,"apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"apiKey an object", `{"service":"openai","apiKey":{"k":"sk-1"}}`, "invalid_request", 400, nil},
		{"apiKey an array", `{"service":"openai","apiKey":["sk-1"]}`, "invalid_request", 400, nil},
		{"baseUrl a number", `{"service":"gateway","apiKey":"vck-1","baseUrl":5}`, "invalid_request", 400, nil},
		{"baseUrl null", `{"service":"gateway","apiKey":"vck-1","baseUrl":null}`, "invalid_request", 400, nil},
		{"service null", `{"service":null,"apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"deep nesting", `{"service":"openai","apiKey":"sk-1","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "invalid_request", 400, nil},
		{"trailing garbage", `{"service":"openai","apiKey":"sk-1"} x`, "invalid_request", 400, nil},
		{"empty body", ``, "invalid_request", 400, nil},
		{"malformed json", `{"service":"openai",`, "invalid_request", 400, nil},
		{"not an object", `["openai"]`, "invalid_request", 400, nil},
		{"unknown field", `{"service":"openai","apiKey":"sk-1","extra":1}`, "invalid_request", 400, nil},
		{"two objects", `{"service":"openai","apiKey":"sk-1"}{}`, "invalid_request", 400, nil},
		{"missing service", `{"apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"missing apiKey", `{"service":"openai"}`, "invalid_request", 400, nil},
		{"empty apiKey", `{"service":"openai","apiKey":"   "}`, "invalid_request", 400, nil},
		{"apiKey with inner space", `{"service":"openai","apiKey":"sk-a b"}`, "invalid_request", 400, nil},
		{"apiKey with newline", `{"service":"openai","apiKey":"sk-a\nb"}`, "invalid_request", 400, nil},
		{"apiKey too long", `{"service":"openai","apiKey":"` + long + `"}`, "invalid_request", 400, nil},
		{"apiKey not a string", `{"service":"openai","apiKey":12}`, "invalid_request", 400, nil},
		{"unsupported service", `{"service":"mistral","apiKey":"sk-1"}`, "bad_request", 400, nil},
		{"baseUrl for a provider", `{"service":"openai","apiKey":"sk-1","baseUrl":"https://ai-gateway.vercel.sh/v1"}`, "bad_request", 400, nil},
		{"private base url", `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://169.254.169.254/v1"}`, "bad_request", 400, nil},
		{"http base url", `{"service":"gateway","apiKey":"vck-1","baseUrl":"http://ai-gateway.vercel.sh/v1"}`, "bad_request", 400, nil},
		{"foreign base url", `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://evil.example.net/v1"}`, "bad_request", 400, nil},
		{"oversize body", `{"service":"openai","apiKey":"sk-1","pad":"` + strings.Repeat("x", 70<<10) + `"}`, "payload_too_large", 413, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(t, "POST", "/api/keys", alice, tt.body, tt.header...)
			assertError(t, r, tt.status, tt.code)
			infos, err := e.keys.ListKeys(t.Context(), alice)
			require.NoError(t, err)
			assert.Empty(t, infos, "nothing stored")
			u, _ := e.keys.GatewayBaseURL(t.Context(), alice)
			assert.Empty(t, u, "no base URL stored")
		})
	}
	t.Run("unsupported base url reason", func(t *testing.T) {
		e := newEnv(t)
		r := e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://127.0.0.1/v1"}`)
		assert.Equal(t, "Gateway base URL is not allowed", r.json(t)["reason"])
		r = e.do(t, "POST", "/api/keys", alice, `{"service":"nope","apiKey":"vck-1"}`)
		assert.Equal(t, "Unsupported service", r.json(t)["reason"])
	})
}

func TestKeys_strictBodyAccepts(t *testing.T) {
	e := newEnv(t)
	longest := "sk-" + strings.Repeat("k", providers.MaxKeyLen-3)
	for i, tc := range []struct{ contentType, body string }{
		{"application/json", `{"service":"openai","apiKey":"` + longest + `"}`},
		{"application/json; charset=utf-8", `{"service":"xai","apiKey":"xai-1"}`},
		{"Application/JSON; Charset=UTF-8", ` {"apiKey":"sk-ant-1", "service":"anthropic"} ` + "\n"},
		{"application/json", `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://ai-gateway.vercel.sh/v1"}`},
		{"application/json", `{"service":"openrouter","apiKey":"sk-or-!#$%&'()*+,-./:;<=>?@[]^_{|}~"}`},
	} {
		r := e.do(t, "POST", "/api/keys", bob, tc.body, "Content-Type", tc.contentType)
		require.Equal(t, http.StatusNoContent, r.status, "%d: %s", i, r.body)
	}
	key, err := e.keys.Key(t.Context(), bob, providers.OpenAI)
	require.NoError(t, err)
	assert.Equal(t, longest, key.Reveal(), "a key of exactly MaxKeyLen bytes")
	key, err = e.keys.Key(t.Context(), bob, providers.OpenRouter)
	require.NoError(t, err)
	assert.Equal(t, "sk-or-!#$%&'()*+,-./:;<=>?@[]^_{|}~", key.Reveal(), "all printable ASCII")
}

// The other body routes decode the same strict way, and refuse before any store or
// provider call.
func TestStrictBodies_otherRoutes(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, http.StatusOK, e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":false}`).status)
	for _, tc := range []struct {
		path, body, contentType, code string
		status                        int
	}{
		{"/api/user-settings", `{"allowGatewayFallback":true}`, "text/plain", "unsupported_media_type", 415},
		{"/api/user-settings", `{"allowGatewayFallback":true}`, "", "unsupported_media_type", 415},
		{"/api/user-settings", `{"allowGatewayFallback":false,"allowGatewayFallback":true}`, "application/json", "invalid_request", 400},
		{"/api/user-settings", `{"AllowGatewayFallback":true}`, "application/json", "invalid_request", 400},
		{"/api/user-settings", `{"allowgatewayfallback":true}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", `{"service":"openai","apiKey":"sk-1"}`, "application/x-www-form-urlencoded", "unsupported_media_type", 415},
		{"/api/keys/validate", `{"service":"bogus","service":"openai","apiKey":"sk-1"}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", `{"service":"openai","APIKEY":"sk-1"}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", `{"service":"openai","apiKey":"sk-\u200b1"}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", "{\"service\":\"openai\",\"apiKey\":\"sk-\xff\"}", "application/json", "invalid_request", 400},
	} {
		assertError(t, e.do(t, "POST", tc.path, alice, tc.body, "Content-Type", tc.contentType), tc.status, tc.code)
	}
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, e.do(t, "GET", "/api/user-settings", alice, "").body, "unchanged")
	assert.Zero(t, e.validator.calls, "no key reached the validator")
}

// Unclean paths get a JSON 404 from the handler: http.ServeMux would answer a 307 with an
// HTML body, before authentication.
func TestRouting_uncleanPathsAreJSON404(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api//keys"},
		{"GET", "//api/keys"},
		{"GET", "/api/keys/"},
		{"GET", "/api/keys/../keys"},
		{"GET", "/api/./keys"},
		{"GET", "/api/keys/."},
		{"GET", "/api/keys/%2e%2e/keys"},
		{"GET", "/api/%2E/keys"},
		{"GET", "/api%2Fkeys"},
		{"GET", "/api%2fkeys"},
		{"GET", "/api/provider%73/resolve"},
		{"POST", "/api//keys"},
		{"POST", "/api/keys/../keys"},
		{"POST", "/api/keys/%2e%2e/keys"},
		{"DELETE", "/api/keys/openai/"},
		{"DELETE", "/api/keys//openai"},
		{"DELETE", "/api/keys/./openai"},
		{"DELETE", "/api/keys/x/../openai"},
		{"DELETE", "/api/keys/%2e%2e%2Fkeys%2Fopenai"},
		{"DELETE", "/api/keys%2Fopenai"},
		{"DELETE", "/api/keys/open%61i"},
		{"GET", "/api/user-settings/.."},
		{"GET", "/api/health/byok/../byok"},
		{"GET", "/api/unknown"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = `{"service":"openai","apiKey":"sk-1"}`
			}
			r := e.do(t, tc.method, tc.path, alice, body, "X-Internal-Key", opKey)
			assertError(t, r, http.StatusNotFound, "not_found")
			assert.Empty(t, r.header.Get("Location"), "no redirect")
		})
	}
	assert.Zero(t, e.keys.Calls(), "no store call")
	infos, _ := e.keys.ListKeys(t.Context(), alice)
	assert.Empty(t, infos)

	// The clean forms still work.
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-1"}`).status)
	require.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/api/keys/openai", alice, "").status)
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/api/keys?x=/../", alice, "").status, "the query is not the path")
}

func TestKeys_deleteUnsupportedService(t *testing.T) {
	e := newEnv(t)
	assertError(t, e.do(t, "DELETE", "/api/keys/mistral", alice, ""), 400, "bad_request")
}

func TestKeys_storeFailures(t *testing.T) {
	e := newEnv(t)
	e.keys.FailWith(errors.New("pq: connection refused to db.internal:5432 password=hunter2"))
	assertError(t, e.do(t, "GET", "/api/keys", alice, ""), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-1"}`), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"sk-1","baseUrl":"https://ai-gateway.vercel.sh/v1"}`), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "DELETE", "/api/keys/openai", alice, ""), 500, "VAULT_UNAVAILABLE")
	for _, b := range e.bodies {
		assert.NotContains(t, b, "hunter2")
		assert.NotContains(t, b, "db.internal")
	}
	assert.NotContains(t, e.logs.String(), "hunter2", "raw store errors are not logged")
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/keys/validate", alice, `{"service":"Anthropic","apiKey":"sk-ant-x"}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"isValid":true}`, r.body)
	assert.Equal(t, providers.Anthropic, e.validator.last)

	for _, reason := range []string{"INVALID_KEY", "RATE_LIMITED", "NETWORK_ERROR", "REQUEST_TIMEOUT"} {
		e.validator.result = providers.Validation{Reason: reason}
		r = e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":"sk-x"}`)
		require.Equal(t, http.StatusOK, r.status)
		assert.JSONEq(t, `{"isValid":false,"reason":"`+reason+`"}`, r.body)
	}
	calls := e.validator.calls
	assertError(t, e.do(t, "POST", "/api/keys/validate", alice, `{"service":"mistral","apiKey":"sk-x"}`), 400, "bad_request")
	assertError(t, e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":""}`), 400, "invalid_request")
	assertError(t, e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":"sk-x","baseUrl":"x"}`), 400, "invalid_request")
	assert.Equal(t, calls, e.validator.calls, "rejected requests never reach the provider")
	infos, _ := e.keys.ListKeys(t.Context(), alice)
	assert.Empty(t, infos, "validate stores nothing")
}

func TestSettings(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/api/user-settings", alice, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"allowGatewayFallback":true}`, r.body)

	r = e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":false}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"ok":true}`, r.body)
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, e.do(t, "GET", "/api/user-settings", alice, "").body)

	for _, bad := range []string{`{"allowGatewayFallback":"false"}`, `{"allowGatewayFallback":null}`, `{}`, `{"allowGatewayFallback":0}`, `{"allowGatewayFallback":true,"x":1}`, `true`, ``} {
		assertError(t, e.do(t, "POST", "/api/user-settings", alice, bad), 400, "invalid_request")
	}
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, e.do(t, "GET", "/api/user-settings", alice, "").body, "unchanged by rejected requests")

	e.consent.FailWith(errors.New("boom"))
	assertError(t, e.do(t, "GET", "/api/user-settings", alice, ""), 500, "SETTINGS_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":true}`), 500, "SETTINGS_UNAVAILABLE")
}

func TestResolve_pathsAndInvalidation(t *testing.T) {
	e := newEnv(t)
	m, status := e.resolvePath(t, alice)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "team-gateway", m["path"])

	// Each write invalidates the cached resolution.
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"xai","apiKey":"xai-1"}`).status)
	m, _ = e.resolvePath(t, alice)
	assert.Equal(t, map[string]any{"path": "user-provider", "provider": "xai", "baseUrlHost": "api.x.ai", "baseUrlSource": "default", "model": nil}, m)

	require.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/api/keys/xai", alice, "").status)
	m, _ = e.resolvePath(t, alice)
	assert.Equal(t, "team-gateway", m["path"])

	require.Equal(t, http.StatusOK, e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":false}`).status)
	r := e.do(t, "GET", "/api/providers/resolve", alice, "")
	assertError(t, r, 503, "provider_unavailable")
	assert.Equal(t, "fallback_disabled", r.json(t)["reason"])

	// A model hint.
	r = e.do(t, "GET", "/api/providers/resolve?model=claude-sonnet-4.5", bob, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "anthropic/claude-sonnet-4.5", r.json(t)["model"])
	assertError(t, e.do(t, "GET", "/api/providers/resolve?model=openai/", bob, ""), 400, "invalid_request")
}

func TestResolve_unavailableReasons(t *testing.T) {
	t.Run("no_provider", func(t *testing.T) {
		e := newEnv(t, func(c *httpapi.Config) {
			c.Resolver = resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{})
		})
		r := e.do(t, "GET", "/api/providers/resolve", alice, "")
		assertError(t, r, 503, "provider_unavailable")
		assert.Equal(t, "no_provider", r.json(t)["reason"])
	})
	t.Run("base_url_rejected", func(t *testing.T) {
		keys := resolvetest.NewKeys()
		keys.Put(alice, providers.Gateway, "vck-1")
		keys.SetGatewayBaseURL(alice, "https://10.0.0.1/v1")
		e := newEnv(t, func(c *httpapi.Config) {
			c.Resolver = resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{})
		})
		r := e.do(t, "GET", "/api/providers/resolve", alice, "")
		assertError(t, r, 503, "provider_unavailable")
		assert.Equal(t, "base_url_rejected", r.json(t)["reason"])
		assert.NotContains(t, r.body, "10.0.0.1")
	})
	t.Run("store_unavailable", func(t *testing.T) {
		keys := resolvetest.NewKeys()
		keys.FailWith(errors.New("dial tcp: refused"))
		e := newEnv(t, func(c *httpapi.Config) {
			c.Resolver = resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret("vck-team")})
		})
		r := e.do(t, "GET", "/api/providers/resolve", alice, "")
		assertError(t, r, 503, "provider_unavailable")
		assert.Equal(t, "store_unavailable", r.json(t)["reason"])
	})
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", opKey)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"status":"ok","checks":{"vault":"ok"}}`, r.body)
	r = e.do(t, "GET", "/api/health/byok", "", "", "Authorization", "Bearer "+opKey)
	require.Equal(t, http.StatusOK, r.status)

	assertError(t, e.do(t, "GET", "/api/health/byok", "", ""), 401, "unauthorized")
	assertError(t, e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", "wrong"), 403, "forbidden")
	assertError(t, e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", opKey+"x"), 403, "forbidden")
	assertError(t, e.do(t, "GET", "/api/health/byok", "", "", "Authorization", "Bearer "+opKey[:5]), 403, "forbidden")

	e.health.err = errors.New("vault: decrypt failed for secret sk-leak")
	r = e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", opKey)
	assertError(t, r, 503, "VAULT_UNAVAILABLE")
	assert.NotContains(t, r.body, "sk-leak")

	for name, mod := range map[string]func(*httpapi.Config){
		"no key":     func(c *httpapi.Config) { c.HealthKey = "" },
		"no checker": func(c *httpapi.Config) { c.Health = nil },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, mod)
			assertError(t, e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", opKey), 503, "byok_health_not_configured")
			assertError(t, e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", ""), 503, "byok_health_not_configured")
		})
	}
}

// authedRoutes are every route that needs a user.
var authedRoutes = []struct{ method, path, body string }{
	{"GET", "/api/keys", ""},
	{"POST", "/api/keys", `{"service":"openai","apiKey":"sk-1"}`},
	{"DELETE", "/api/keys/openai", ""},
	{"POST", "/api/keys/validate", `{"service":"openai","apiKey":"sk-1"}`},
	{"GET", "/api/user-settings", ""},
	{"POST", "/api/user-settings", `{"allowGatewayFallback":false}`},
	{"GET", "/api/providers/resolve", ""},
}

func TestAuth_refusedBeforeLimitOrStore(t *testing.T) {
	e := newEnv(t)
	for _, rt := range authedRoutes {
		for name, hdr := range map[string][]string{
			"missing":      nil,
			"wrong scheme": {"Authorization", "Basic dXNlcjpwYXNz"},
			"forged":       {"Authorization", "Bearer not-a-user-token"},
			"empty":        {"Authorization", "Bearer "},
		} {
			r := e.do(t, rt.method, rt.path, "", rt.body, hdr...)
			assertError(t, r, 401, "unauthorized")
			assert.NotEmpty(t, r.header.Get("WWW-Authenticate"), "%s %s %s", rt.method, rt.path, name)
			assert.Empty(t, r.header.Get("X-RateLimit-Limit"), "no rate-limit charge")
		}
	}
	assert.Zero(t, e.limiter.count(), "no rate-limit charge")
	assert.Zero(t, e.keys.Calls(), "no store call")
	assert.Zero(t, e.consent.Calls(), "no store call")
	assert.Zero(t, e.validator.calls)
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t)
	// GET and POST /api/keys share 10 a minute.
	for i := range 10 {
		method, body := "GET", ""
		if i%2 == 1 {
			method, body = "POST", `{"service":"openai","apiKey":"sk-1"}`
		}
		r := e.do(t, method, "/api/keys", alice, body)
		require.Less(t, r.status, 300, "request %d: %s", i+1, r.body)
		assert.Equal(t, "10", r.header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(9-i), r.header.Get("X-RateLimit-Remaining"))
		reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
		require.NoError(t, err)
		assert.InDelta(t, time.Now().Add(time.Minute).Unix(), reset, 90)
	}
	calls := e.keys.Calls()
	r := e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-2"}`)
	assertError(t, r, 429, "rate_limit_exceeded")
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, retry, 1)
	assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, calls, e.keys.Calls(), "a limited request never reaches the store")
	key, _ := e.keys.Key(t.Context(), alice, providers.OpenAI)
	assert.Equal(t, "sk-1", key.Reveal(), "the limited request stored nothing")
	assertError(t, e.do(t, "GET", "/api/keys", alice, ""), 429, "rate_limit_exceeded")

	// Other routes and other users have their own budgets.
	assert.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/api/keys/xai", alice, "").status)
	assert.Equal(t, http.StatusOK, e.do(t, "GET", "/api/keys", bob, "").status)

	// Per-route numbers.
	for _, tc := range []struct {
		method, path, body string
		limit              int
	}{
		{"DELETE", "/api/keys/openai", "", 20},
		{"POST", "/api/keys/validate", `{"service":"openai","apiKey":"sk-1"}`, 20},
		{"GET", "/api/user-settings", "", 60},
		{"POST", "/api/user-settings", `{"allowGatewayFallback":true}`, 10},
		{"GET", "/api/providers/resolve", "", 60},
	} {
		e := newEnv(t)
		for i := range tc.limit {
			r := e.do(t, tc.method, tc.path, alice, tc.body)
			require.NotEqual(t, 429, r.status, "%s %s request %d", tc.method, tc.path, i+1)
			assert.Equal(t, strconv.Itoa(tc.limit), r.header.Get("X-RateLimit-Limit"))
		}
		assertError(t, e.do(t, tc.method, tc.path, alice, tc.body), 429, "rate_limit_exceeded")
	}
}

// failingLimiter always errors.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, httpapi.Limit) (httpapi.Decision, error) {
	return httpapi.Decision{}, errors.New("redis down")
}

func TestRateLimiterFailureFailsClosed(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Limiter = failingLimiter{} })
	assertError(t, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-1"}`), 503, "rate_limiter_unavailable")
	assert.Zero(t, e.keys.Calls())
}

func TestRoutingAndHeaders(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "PUT", "/api/keys", alice, "")
	assertError(t, r, 405, "method_not_allowed")
	assert.Equal(t, "GET, POST", r.header.Get("Allow"))
	assertError(t, e.do(t, "GET", "/api/keys/validate", alice, ""), 405, "method_not_allowed")
	assertError(t, e.do(t, "POST", "/api/health/byok", "", ""), 405, "method_not_allowed")
	assertError(t, e.do(t, "GET", "/api/nope", alice, ""), 404, "not_found")
	r = e.do(t, "GET", "/api/keys", alice, "")
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
}

func TestMisconfiguration(t *testing.T) {
	assert.ErrorIs(t, httpapi.Config{}.Validate(), httpapi.ErrMissingConfig)
	e := newEnv(t, func(c *httpapi.Config) { c.Authenticate = nil; c.Keys = nil })
	assertError(t, e.do(t, "GET", "/api/keys", alice, ""), 500, "server_misconfigured")
	assert.Contains(t, e.logs.String(), "Authenticate, Keys")
	e = newEnv(t, func(c *httpapi.Config) { c.Keys = nil; c.Consent = nil; c.Resolver = nil })
	assertError(t, e.do(t, "GET", "/api/keys", alice, ""), 500, "server_misconfigured")
	assertError(t, e.do(t, "DELETE", "/api/keys/openai", alice, ""), 500, "server_misconfigured")
	assertError(t, e.do(t, "GET", "/api/user-settings", alice, ""), 500, "server_misconfigured")
	assertError(t, e.do(t, "GET", "/api/providers/resolve", alice, ""), 500, "server_misconfigured")
}

// panicking is a key store that panics with a key in the value.
type panicking struct{ *resolvetest.Keys }

func (panicking) ListKeys(context.Context, string) ([]resolve.KeyInfo, error) {
	panic("sk-panic-canary")
}

func TestPanicIsA500WithoutItsValue(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Keys = panicking{resolvetest.NewKeys()} })
	r := e.do(t, "GET", "/api/keys", alice, "")
	assertError(t, r, 500, "internal_error")
	assert.NotContains(t, r.body, "sk-panic-canary")
	assert.NotContains(t, e.logs.String(), "sk-panic-canary")
	assert.Contains(t, e.logs.String(), "handler panicked")
}

func TestLogs(t *testing.T) {
	e := newEnv(t)
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-log"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"mistral","apiKey":"sk-log"}`)
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	require.Len(t, lines, 2)
	var ok, bad map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ok))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &bad))
	assert.Equal(t, "/api/keys", ok["route"])
	assert.Equal(t, "POST", ok["method"])
	assert.EqualValues(t, 204, ok["status"])
	assert.Contains(t, ok, "duration")
	assert.NotContains(t, ok, "error")
	assert.EqualValues(t, 400, bad["status"])
	assert.Equal(t, "bad_request", bad["error"])
	assert.NotContains(t, e.logs.String(), alice, "no user id")
}

// TestCanary sends canary keys and tokens through every route, successes and
// failures, and searches every response body and log line for them.
func TestCanary(t *testing.T) {
	const canary = "CANARYx7Q9"
	e := newEnv(t)
	e.validator.result = providers.Validation{Reason: "INVALID_KEY", Status: 401}
	for _, svc := range []string{"gateway", "openai", "openrouter", "anthropic", "xai"} {
		e.do(t, "POST", "/api/keys", alice, `{"service":"`+svc+`","apiKey":"sk-`+canary+`"}`)
		e.do(t, "POST", "/api/keys/validate", alice, `{"service":"`+svc+`","apiKey":"sk-`+canary+`"}`)
	}
	e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"sk-`+canary+`","baseUrl":"https://`+canary+`.internal/v1"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"sk-`+canary+`","apiKey":"sk-`+canary+`"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk `+canary+`"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-`+canary+`","x":"`+canary+`"}`)
	e.do(t, "POST", "/api/keys/validate", alice, `{"service":"nope","apiKey":"sk-`+canary+`"}`)
	// Bodies the strict decoder refuses, and unclean paths.
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-`+canary+`"}`, "Content-Type", "text/plain; "+canary+"=1")
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-`+canary+`","apiKey":"sk-`+canary+`2"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","APIKEY":"sk-`+canary+`"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","`+canary+`":1}`)
	e.do(t, "POST", "/api/keys", alice, "{\"service\":\"openai\",\"apiKey\":\"sk-"+canary+"\xff\"}")
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-\u202e`+canary+`"}`)
	e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-`+canary+strings.Repeat("x", 1100)+`"}`)
	e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":["sk-`+canary+`"]}`)
	e.do(t, "DELETE", "/api/keys/../"+canary, alice, "")
	e.do(t, "GET", "/api//keys/"+canary, alice, "")
	e.do(t, "DELETE", "/api/keys/"+canary, alice, "")
	e.do(t, "GET", "/api/keys", alice, "")
	e.do(t, "GET", "/api/providers/resolve", alice, "")
	e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":"`+canary+`"}`)
	e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", canary)
	e.do(t, "GET", "/api/health/byok", "", "", "Authorization", "Bearer "+canary)
	e.do(t, "GET", "/api/keys", "", "", "Authorization", "Bearer "+canary)
	e.keys.FailWith(errors.New("store error quoting sk-" + canary))
	e.do(t, "GET", "/api/keys", bob, "")
	e.do(t, "POST", "/api/keys", bob, `{"service":"openai","apiKey":"sk-`+canary+`"}`)

	require.Greater(t, len(e.bodies), 20)
	for i, b := range e.bodies {
		assert.NotContains(t, b, canary, "response %d", i)
	}
	assert.NotContains(t, e.logs.String(), canary)
	assert.NotContains(t, e.logs.String(), "vck-team-http")
}
