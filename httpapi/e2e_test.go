package httpapi_test

import (
	"log/slog"
	"net/http"
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

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestEndToEnd_supabase runs the handler over the Supabase stores on the throwaway
// PostgreSQL (through supabase.Client and the PostgREST stand-in), with access tokens
// verified by the JWT verifier: a stored key shows as user-provider, deleting it shows
// the next tier, and consent OFF gives 503 fallback_disabled.
func TestEndToEnd_supabase(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	verifier, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{Secret: srv.JWTSecret})
	require.NoError(t, err)
	t.Cleanup(func() { _ = verifier.Close() })

	keys, settings := vault.New(c), consent.New(c)
	team := resolve.Team{GatewayKey: providers.NewSecret("vck-team-e2e")}
	logs := &syncBuffer{}
	e := &env{h: httpapi.New(httpapi.Config{
		Keys:      keys,
		Consent:   settings,
		Resolver:  resolve.New(keys, settings, team, resolve.WithCache(time.Hour)),
		Health:    keys,
		HealthKey: opKey,
		Verify:    verifier.Verify,
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
	})}
	user := db.CreateUser(t)
	token := srv.UserToken(t, user)
	as := func(method, path, body string) response {
		return e.do(t, method, path, "", body, "Authorization", "Bearer "+token)
	}

	require.Equal(t, http.StatusNoContent, as("POST", "/api/keys", `{"service":"anthropic","apiKey":"sk-ant-e2e-CANARY"}`).status)
	r := as("GET", "/api/providers/resolve", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, map[string]any{"path": "user-provider", "provider": "anthropic", "baseUrlHost": "api.anthropic.com", "baseUrlSource": "default", "model": nil}, r.json(t))

	r = as("GET", "/api/keys", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `"service":"anthropic"`)
	assert.Regexp(t, `"lastUsed":"20`, r.body, "the resolve marked the key as used")

	require.Equal(t, http.StatusNoContent, as("DELETE", "/api/keys/anthropic", "").status)
	r = as("GET", "/api/providers/resolve", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "team-gateway", r.json(t)["path"], "the next tier")

	require.Equal(t, http.StatusOK, as("POST", "/api/user-settings", `{"allowGatewayFallback":false}`).status)
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, as("GET", "/api/user-settings", "").body)
	r = as("GET", "/api/providers/resolve", "")
	assertError(t, r, http.StatusServiceUnavailable, "provider_unavailable")
	assert.Equal(t, "fallback_disabled", r.json(t)["reason"])

	r = e.do(t, "GET", "/api/health/byok", "", "", "X-Internal-Key", opKey)
	assert.Equal(t, http.StatusOK, r.status, r.body)

	// Another user's token cannot see or change this user's data; a forged token is 401.
	other := srv.UserToken(t, db.CreateUser(t))
	r = e.do(t, "GET", "/api/user-settings", "", "", "Authorization", "Bearer "+other)
	assert.JSONEq(t, `{"allowGatewayFallback":true}`, r.body)
	forged, err := postgrest.SignJWT([]byte("a-different-secret-of-thirty-two-bytes!"), map[string]any{
		"sub": user, "role": "authenticated", "aud": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
	})
	require.NoError(t, err)
	assertError(t, e.do(t, "GET", "/api/keys", "", "", "Authorization", "Bearer "+forged), http.StatusUnauthorized, "unauthorized")

	for _, b := range e.bodies {
		assert.NotContains(t, b, "CANARY")
	}
	assert.NotContains(t, logs.String(), "CANARY")
	assert.NotContains(t, logs.String(), token)
}

// The stores, the Resolver, the Validator and the fakes satisfy the interfaces.
var (
	_ httpapi.KeyStore      = (*vault.Store)(nil)
	_ httpapi.HealthChecker = (*vault.Store)(nil)
	_ httpapi.ConsentStore  = (*consent.Store)(nil)
	_ httpapi.Resolver      = (*resolve.Resolver)(nil)
	_ httpapi.Validator     = (*providers.Validator)(nil)
	_ httpapi.KeyStore      = (*resolvetest.Keys)(nil)
	_ httpapi.ConsentStore  = (*resolvetest.Consent)(nil)
	_ httpapi.Limiter       = (*httpapi.MemoryLimiter)(nil)
)
