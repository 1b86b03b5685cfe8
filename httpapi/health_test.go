package httpapi_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
)

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
