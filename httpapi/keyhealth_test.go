package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/vault"
)

const healthCanary = "sk-canary-http-health-4f1d"

// refuse sends one request with p through its Transport to a provider that refuses the
// key, echoing it as providers do, and reads the answer.
func refuse(t *testing.T, p resolve.Provider) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+healthCanary+`.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(srv))}
	resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

// The owner sees the mark in GET /api/keys, the resolve route answers 409 key_broken
// naming the service and the reason, and storing the key again makes both ok again. No
// key in any answer or log line.
func TestKeyHealth_ownerSeesTheMark(t *testing.T) {
	keys := resolvetest.NewKeys()
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret("vck-team-http")},
		resolve.WithCache(time.Hour), resolve.WithKeyHealth())
	e := newEnv(t, func(c *httpapi.Config) { c.Keys, c.Resolver = keys, r })
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"`+healthCanary+`"}`).status)
	require.Equal(t, http.StatusOK, e.do(t, "GET", "/api/providers/resolve", alice, "").status)

	p, _, err := r.Resolve(t.Context(), alice)
	require.NoError(t, err)
	refuse(t, p)
	require.Eventually(t, func() bool { return keys.KeyFailure(alice, providers.OpenAI) != "" }, 10*time.Second, time.Millisecond)

	got := e.do(t, "GET", "/api/keys", alice, "")
	require.Equal(t, http.StatusOK, got.status)
	list := []map[string]any{}
	require.NoError(t, json.Unmarshal([]byte(got.body), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "openai", list[0]["service"])
	assert.Equal(t, "broken", list[0]["status"])
	assert.Equal(t, "invalid_key", list[0]["reason"])
	failedAt, err := time.Parse(time.RFC3339Nano, list[0]["failedAt"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), failedAt, time.Minute)

	res := e.do(t, "GET", "/api/providers/resolve", alice, "")
	assertError(t, res, http.StatusConflict, "key_broken")
	assert.Equal(t, map[string]any{"error": "key_broken", "service": "openai", "reason": "invalid_key"}, res.json(t))

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-stored-again"}`).status)
	res = e.do(t, "GET", "/api/providers/resolve", alice, "")
	require.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "user-provider", res.json(t)["path"])
	got = e.do(t, "GET", "/api/keys", alice, "")
	assert.Contains(t, got.body, `"status":"ok","reason":null,"failedAt":null`)

	assert.Contains(t, e.logs.String(), "key_broken", "the refusal is logged by its code")
	for _, out := range []string{e.logs.String(), got.body, res.body} {
		assert.NotContains(t, out, "canary")
		assert.NotContains(t, out, alice)
	}
}

// oddStore answers ListKeys with a mark that is not one of the failures.
type oddStore struct{ *resolvetest.Keys }

func (oddStore) ListKeys(context.Context, string) ([]resolve.KeyInfo, error) {
	at := time.Now()
	return []resolve.KeyInfo{{Service: providers.OpenAI, Failure: "<script>" + healthCanary, FailedAt: &at}}, nil
}

// A store's own word is never echoed to the owner: only the fixed failures are.
func TestKeyHealth_unknownMarkIsAStoreFailure(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Keys = oddStore{resolvetest.NewKeys()} })
	r := e.do(t, "GET", "/api/keys", alice, "")
	assertError(t, r, http.StatusInternalServerError, "VAULT_UNAVAILABLE")
	assert.NotContains(t, r.body, "canary")
}

// The same over the Supabase stores (PostgREST stand-in, real migrations, both stacks):
// the mark is in the database, GET /api/keys shows it, the resolve route refuses it.
func TestKeyHealth_endToEndSupabase(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	keys, settings := vault.New(c), consent.New(c)
	r := resolve.New(keys, settings, resolve.Team{GatewayKey: providers.NewSecret("vck-team-e2e")},
		resolve.WithCache(time.Hour), resolve.WithKeyHealth())
	logs := &syncBuffer{}
	e := &env{h: httpapi.New(httpapi.Config{Keys: keys, Consent: settings, Resolver: r, Verify: verify,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})}
	user := db.CreateUser(t)

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", user, `{"service":"openai","apiKey":"`+healthCanary+`"}`).status)
	p, path, err := r.Resolve(t.Context(), user)
	require.NoError(t, err)
	require.Equal(t, resolve.UserProvider, path)
	refuse(t, p)
	require.Eventually(t, func() bool {
		infos, err := keys.ListKeys(t.Context(), user)
		return err == nil && len(infos) == 1 && infos[0].Failure == providers.FailureInvalidKey
	}, 30*time.Second, 5*time.Millisecond)

	got := e.do(t, "GET", "/api/keys", user, "")
	require.Equal(t, http.StatusOK, got.status)
	assert.Regexp(t, `"status":"broken","reason":"invalid_key","failedAt":"20`, got.body)
	res := e.do(t, "GET", "/api/providers/resolve", user, "")
	assertError(t, res, http.StatusConflict, "key_broken")
	assert.Equal(t, "openai", res.json(t)["service"])

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", user, `{"service":"openai","apiKey":"sk-e2e-again"}`).status)
	assert.Equal(t, http.StatusOK, e.do(t, "GET", "/api/providers/resolve", user, "").status)
	assert.Contains(t, e.do(t, "GET", "/api/keys", user, "").body, `"status":"ok"`)
	for _, out := range []string{logs.String(), got.body, res.body} {
		assert.NotContains(t, out, "canary")
	}
}
