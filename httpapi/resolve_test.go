package httpapi_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

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
