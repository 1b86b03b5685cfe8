package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

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

	// Claims without a user id are refused too, though Verify returned no error.
	e = newEnv(t, func(c *httpapi.Config) {
		c.Verify = func(*http.Request) (httpapi.Claims, error) { return httpapi.Claims{AAL: "aal2"}, nil }
	})
	for _, rt := range authedRoutes {
		assertError(t, e.do(t, rt.method, rt.path, alice, rt.body), http.StatusUnauthorized, "unauthorized")
	}
	assert.Zero(t, e.limiter.count(), "no rate-limit charge")
	assert.Zero(t, e.keys.Calls()+e.consent.Calls(), "no store call")
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t)
	// GET and POST /api/keys share 10 a minute: one token comes back every 6 s, so after
	// the n-th request the budget is whole again n × 6 s after the first one.
	const perToken = 6 * time.Second
	var first span
	for i := range 10 {
		method, body := "GET", ""
		if i%2 == 1 {
			method, body = "POST", `{"service":"openai","apiKey":"sk-1"}`
		}
		from := time.Now()
		r := e.do(t, method, "/api/keys", alice, body)
		if i == 0 {
			first = span{from, time.Now()}
		}
		require.Less(t, r.status, 300, "request %d: %s", i+1, r.body)
		assert.Equal(t, "10", r.header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(9-i), r.header.Get("X-RateLimit-Remaining"))
		assertUnixAfter(t, r.header.Get("X-RateLimit-Reset"), first, time.Duration(i+1)*perToken)
	}
	calls := e.keys.Calls()
	r := e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-2"}`)
	assertError(t, r, 429, "rate_limit_exceeded")
	assertSecondsLeft(t, r.header.Get("Retry-After"), first, perToken)
	assertUnixAfter(t, r.header.Get("X-RateLimit-Reset"), first, time.Minute)
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
	err := httpapi.Config{}.Validate()
	assert.ErrorIs(t, err, httpapi.ErrMissingConfig)
	assert.EqualError(t, err, "httpapi: missing configuration: Verify, Keys, Consent, Resolver")
	e := newEnv(t, func(c *httpapi.Config) { c.Verify = nil; c.Keys = nil })
	assertError(t, e.do(t, "GET", "/api/keys", alice, ""), 500, "server_misconfigured")
	assert.Contains(t, e.logs.String(), "Verify, Keys")
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

// TestCanary sends canary keys and tokens through every route, successes and refusals,
// checks that each got the answer its probe is for, and searches every response body and
// log line for them. Each probe is its own user, so no rate limit answers in place of the
// code a probe is aimed at; only the probes that read back a stored key share its user.
func TestCanary(t *testing.T) {
	const canary = "CANARYx7Q9"
	const key = "sk-" + canary
	e := newEnv(t)
	e.validator.result = providers.Validation{Reason: "INVALID_KEY", Status: 401}
	type probe struct {
		user               string // "": a user of its own; noUser: no Authorization from do
		method, path, body string
		header             []string
		status             int
		code               string // the error code; "" for a success
	}
	var probes []probe
	for _, svc := range providers.All() {
		probes = append(probes,
			probe{"", "POST", "/api/keys", `{"service":"` + string(svc) + `","apiKey":"` + key + `"}`, nil, 204, ""},
			probe{"", "POST", "/api/keys/validate", `{"service":"` + string(svc) + `","apiKey":"` + key + `"}`, nil, 200, ""})
	}
	const (
		keeper = "canary-keeper" // stores a gateway key, then reads it back every way
		noUser = "-"
	)
	probes = append(probes, []probe{
		{keeper, "POST", "/api/keys", `{"service":"gateway","apiKey":"` + key + `","baseUrl":"https://gw.example.com/v1"}`, nil, 204, ""},
		{keeper, "GET", "/api/keys", "", nil, 200, ""},
		{keeper, "GET", "/api/providers/resolve", "", nil, 200, ""},
		{"", "POST", "/api/keys", `{"service":"gateway","apiKey":"` + key + `","baseUrl":"https://` + canary + `.internal/v1"}`, nil, 400, "bad_request"},
		{"", "POST", "/api/keys", `{"service":"` + key + `","apiKey":"` + key + `"}`, nil, 400, "bad_request"},
		{"", "POST", "/api/keys", `{"service":"openai","apiKey":"sk ` + canary + `"}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys", `{"service":"openai","apiKey":"` + key + `","x":"` + canary + `"}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys/validate", `{"service":"nope","apiKey":"` + key + `"}`, nil, 400, "bad_request"},
		// Bodies the strict decoder refuses, and unclean paths.
		{"", "POST", "/api/keys", `{"service":"openai","apiKey":"` + key + `"}`, []string{"Content-Type", "text/plain; " + canary + "=1"}, 415, "unsupported_media_type"},
		{"", "POST", "/api/keys", `{"service":"openai","apiKey":"` + key + `","apiKey":"` + key + `2"}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys", `{"service":"openai","APIKEY":"` + key + `"}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys", `{"service":"openai","` + canary + `":1}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys", "{\"service\":\"openai\",\"apiKey\":\"" + key + "\xff\"}", nil, 400, "invalid_request"},
		{"", "POST", "/api/keys", `{"service":"openai","apiKey":"sk-\u202e` + canary + `"}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys", `{"service":"openai","apiKey":"` + key + strings.Repeat("x", 1100) + `"}`, nil, 400, "invalid_request"},
		{"", "POST", "/api/keys/validate", `{"service":"openai","apiKey":["` + key + `"]}`, nil, 400, "invalid_request"},
		{"", "DELETE", "/api/keys/../" + canary, "", nil, 404, "not_found"},
		{"", "GET", "/api//keys/" + canary, "", nil, 404, "not_found"},
		{"", "DELETE", "/api/keys/" + canary, "", nil, 400, "bad_request"},
		{"", "POST", "/api/user-settings", `{"allowGatewayFallback":"` + canary + `"}`, nil, 400, "invalid_request"},
		// Tokens and operator keys.
		{noUser, "GET", "/api/health/byok", "", []string{"X-Internal-Key", canary}, 403, "forbidden"},
		{noUser, "GET", "/api/health/byok", "", []string{"Authorization", "Bearer " + canary}, 403, "forbidden"},
		{noUser, "GET", "/api/keys", "", []string{"Authorization", "Bearer " + canary}, 401, "unauthorized"},
	}...)
	for i, p := range probes {
		user := p.user
		switch user {
		case "":
			user = fmt.Sprintf("canary-user-%02d", i)
		case noUser:
			user = ""
		}
		r := e.do(t, p.method, p.path, user, p.body, p.header...)
		if p.code == "" {
			assert.Equal(t, p.status, r.status, "probe %d %s %s: %s", i, p.method, p.path, r.body)
		} else {
			assertError(t, r, p.status, p.code)
		}
	}
	got, err := e.keys.Key(t.Context(), keeper, providers.Gateway)
	require.NoError(t, err)
	assert.Equal(t, key, got.Reveal(), "the canary key went through to the store")

	// A failing store whose error quotes the key.
	e.keys.FailWith(errors.New("store error quoting " + key))
	assertError(t, e.do(t, "GET", "/api/keys", "canary-failing-1", ""), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/keys", "canary-failing-2", `{"service":"openai","apiKey":"`+key+`"}`), 500, "VAULT_UNAVAILABLE")

	require.Len(t, e.bodies, len(probes)+2)
	for i, b := range e.bodies {
		assert.NotContains(t, b, canary, "response %d", i)
	}
	assert.NotContains(t, e.logs.String(), canary)
	assert.NotContains(t, e.logs.String(), "vck-team-http")
}
