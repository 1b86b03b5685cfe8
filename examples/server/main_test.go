package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// output collects what run prints, safely for the concurrent test.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) { o.mu.Lock(); defer o.mu.Unlock(); return o.b.Write(p) }
func (o *output) String() string              { o.mu.Lock(); defer o.mu.Unlock(); return o.b.String() }

// start runs the server with env until the test ends and returns its base URL and output.
func start(t *testing.T, env map[string]string) (string, *output) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out := &output{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, ln, out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run returns cleanly on shutdown")
		case <-time.After(30 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "listening on") }, 10*time.Second, 10*time.Millisecond)
	return "http://" + ln.Addr().String(), out
}

type client struct {
	t      *testing.T
	base   string
	token  string
	health string
}

func (c client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, strings.NewReader(body))
	require.NoError(c.t, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if path == "/api/health/byok" {
		req.Header.Set("X-Internal-Key", c.health)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(c.t, json.Unmarshal(b, &m), string(b))
	}
	return resp.StatusCode, m
}

// walkRunbook runs the runbook's four checks, the way the curl commands of docs/http-api.md do.
func walkRunbook(t *testing.T, c client) {
	t.Helper()
	status, _ := c.do("POST", "/api/keys", `{"service":"gateway","apiKey":"vck-example-user","baseUrl":"https://ai-gateway.vercel.sh/v1"}`)
	require.Equal(t, http.StatusNoContent, status)
	status, m := c.do("GET", "/api/providers/resolve", "")
	require.Equal(t, http.StatusOK, status, m)
	assert.Equal(t, "user-gateway", m["path"])
	assert.Equal(t, "gateway", m["provider"])
	assert.Equal(t, "user", m["baseUrlSource"])

	status, _ = c.do("DELETE", "/api/keys/gateway", "")
	require.Equal(t, http.StatusNoContent, status)
	status, _ = c.do("POST", "/api/keys", `{"service":"openai","apiKey":"sk-example-user"}`)
	require.Equal(t, http.StatusNoContent, status)
	_, m = c.do("GET", "/api/providers/resolve", "")
	assert.Equal(t, "user-provider", m["path"])
	assert.Equal(t, "openai", m["provider"])

	status, _ = c.do("DELETE", "/api/keys/openai", "")
	require.Equal(t, http.StatusNoContent, status)
	status, _ = c.do("POST", "/api/user-settings", `{"allowGatewayFallback":true}`)
	require.Equal(t, http.StatusOK, status)
	_, m = c.do("GET", "/api/providers/resolve", "")
	assert.Equal(t, "team-gateway", m["path"])
	assert.Equal(t, "gateway", m["provider"])

	status, _ = c.do("POST", "/api/user-settings", `{"allowGatewayFallback":false}`)
	require.Equal(t, http.StatusOK, status)
	status, m = c.do("GET", "/api/providers/resolve", "")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, map[string]any{"error": "provider_unavailable", "reason": "fallback_disabled"}, m)

	status, m = c.do("GET", "/api/health/byok", "")
	assert.Equal(t, http.StatusOK, status, m)

	// The user's own record of who paid: resolving sends nothing, so no team-paid request.
	status, m = c.do("GET", "/api/usage", "")
	require.Equal(t, http.StatusOK, status, m)
	assert.EqualValues(t, 30, m["days"])
	assert.EqualValues(t, 0, m["totalRequests"])
}

func TestDevelopmentMode(t *testing.T) {
	base, out := start(t, nil)
	text := out.String()
	token := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(text)
	health := regexp.MustCompile(`export BYOK_HEALTH_KEY=(\S+)`).FindStringSubmatch(text)
	require.Len(t, token, 2, text)
	require.Len(t, health, 2, text)
	assert.Contains(t, text, "mode: development")

	walkRunbook(t, client{t: t, base: base, token: token[1], health: health[1]})

	// A token is required, and a forged one is refused.
	status, m := client{t: t, base: base}.do("GET", "/api/keys", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "unauthorized", m["error"])
	status, _ = client{t: t, base: base, token: token[1] + "x"}.do("GET", "/api/keys", "")
	assert.Equal(t, http.StatusUnauthorized, status)
}

func TestSupabaseMode(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	base, out := start(t, map[string]string{
		"SUPABASE_URL":        srv.URL,
		"SUPABASE_SECRET_KEY": srv.SecretKey,
		"SUPABASE_JWT_SECRET": string(srv.JWTSecret),
		"BYOK_HEALTH_KEY":     "operator-test-key",
		"AI_GATEWAY_API_KEY":  "vck-team-example",
	})
	assert.Contains(t, out.String(), "mode: supabase")
	user := db.CreateUser(t)
	c := client{t: t, base: base, token: srv.UserToken(t, user), health: "operator-test-key"}
	walkRunbook(t, c)

	// The consent changes of the runbook were recorded by the database, whoever wrote them,
	// and the user reads them back.
	_, m := c.do("GET", "/api/usage", "")
	events, _ := m["consentEvents"].([]any)
	var values []any
	for _, e := range events {
		values = append(values, e.(map[string]any)["allowGatewayFallback"])
	}
	assert.Equal(t, []any{true, false}, values, "the runbook turned consent on, then off")

	// A token from another issuer that shares the secret is refused.
	now := time.Now().Unix()
	foreign := srv.Token(t, map[string]any{
		"iss": "https://other.supabase.co/auth/v1", "sub": user, "aud": "authenticated", "role": "authenticated",
		"iat": now, "exp": now + 3600, "aal": "aal1", "is_anonymous": false,
	})
	status, _ := client{t: t, base: base, token: foreign}.do("GET", "/api/keys", "")
	assert.Equal(t, http.StatusUnauthorized, status)

	// The keys go to Vault, not to memory: a key stored through the API is the Vault secret
	// its api_keys row names, encrypted there, and in plaintext nowhere but the decrypting
	// view; the runbook's keys, deleted through the API, left no secret behind.
	key := "sk-ant-vault-check-" + user
	status, _ = c.do("POST", "/api/keys", `{"service":"anthropic","apiKey":"`+key+`"}`)
	require.Equal(t, http.StatusNoContent, status)
	var secretName, decrypted string
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`select vault_secret_name from public.api_keys where user_id = $1 and service = 'anthropic'`, user).Scan(&secretName))
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`select decrypted_secret from vault.decrypted_secrets where name = $1`, secretName).Scan(&decrypted))
	assert.Equal(t, key, decrypted, "the key is the Vault secret its api_keys row names")
	for _, rel := range []string{"vault.secrets", "public.api_keys", "public.api_gateway_configs", "public.user_settings", "public.byok_rate_limits"} {
		var n int
		require.NoError(t, db.Pool.QueryRow(t.Context(),
			`select count(*) from `+rel+` r where strpos(r::text, $1) > 0`, key).Scan(&n), rel)
		assert.Zero(t, n, "plaintext key in %s", rel)
	}
	rows, err := db.Pool.Query(t.Context(), `select name from vault.secrets where strpos(name, $1) > 0 order by name`, user)
	require.NoError(t, err)
	secrets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{secretName}, secrets, "the user's only Vault secret is the key stored last")

	// The consent went to public.user_settings: the runbook turned it off last.
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from public.user_settings where user_id = $1 and not allow_gateway_fallback`, user).Scan(&n))
	assert.Equal(t, 1, n)
	// The rate limits are the database's, shared by every instance.
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from public.byok_rate_limits where subject = $1`, user).Scan(&n))
	assert.Positive(t, n, "the requests were counted in public.byok_rate_limits")
}

// A JWKS URL that answers 404 (bare GoTrue serves /.well-known/jwks.json without the
// /auth/v1 prefix) stops the server at start, with an error naming the URL's host and path.
func TestWrongJWKSURLFailsAtStart(t *testing.T) {
	gotrue := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(gotrue.Close)
	for name, env := range map[string]map[string]string{
		"explicit": {"SUPABASE_JWKS_URL": gotrue.URL + "/auth/v1/.well-known/jwks.json", "SUPABASE_JWT_SECRET": strings.Repeat("s", 40)},
		"default":  {},
	} {
		t.Run(name, func(t *testing.T) {
			env["SUPABASE_URL"], env["SUPABASE_SECRET_KEY"] = gotrue.URL, "sb_secret_x"
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			err = run(t.Context(), func(k string) string { return env[k] }, ln, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.ErrorIs(t, err, httpapi.ErrJWKSUnavailable)
			assert.Contains(t, err.Error(), strings.TrimPrefix(gotrue.URL, "http://")+"/auth/v1/.well-known/jwks.json")
			assert.Contains(t, err.Error(), "404")
			assert.NotContains(t, err.Error(), "sb_secret_x")
		})
	}
}

func TestConfigurationErrors(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"url without key": {"SUPABASE_URL": "https://x.supabase.co"},
		"key without url": {"SUPABASE_SECRET_KEY": "sb_secret_x"},
		"bad url":         {"SUPABASE_URL": "ftp://x", "SUPABASE_SECRET_KEY": "sb_secret_x"},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			err = run(t.Context(), func(k string) string { return env[k] }, ln, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "sb_secret_x")
		})
	}
}
