package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// The resolve route reports the gateway-byok path and never the user's key or the
// team's; a consent change through the API takes the user back to their own provider.
func TestResolve_gatewayBYOK(t *testing.T) {
	const (
		userCanary = "sk-ant-http-byok-canary-2f8e61"
		teamCanary = "vck-team-http-byok-canary-93c4"
	)
	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	e := newEnv(t, func(c *httpapi.Config) {
		c.Keys, c.Consent = keys, consent
		c.Resolver = resolve.New(keys, consent, resolve.Team{GatewayKey: providers.NewSecret(teamCanary)},
			resolve.WithGatewayBYOK(), resolve.WithCache(time.Hour),
			resolve.WithDefaultGatewayOptions(gateway.Options{Tags: []string{"http"}}))
	})
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"anthropic","apiKey":"`+userCanary+`"}`).status)

	r := e.do(t, "GET", "/api/providers/resolve?model=claude-sonnet-4-5", alice, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, map[string]any{
		"path": "gateway-byok", "provider": "gateway", "baseUrlHost": "ai-gateway.vercel.sh", "baseUrlSource": "default",
		"model": "anthropic/claude-sonnet-4.5",
	}, r.json(t))

	require.Equal(t, http.StatusOK, e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":false}`).status)
	m, status := e.resolvePath(t, alice)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "user-provider", m["path"], "the settings write invalidated the cached gateway-byok result")
	assert.Equal(t, "anthropic", m["provider"])

	all := strings.Join(e.bodies, "\n") + e.logs.String()
	assert.NotContains(t, all, userCanary)
	assert.NotContains(t, all, teamCanary)
	assert.Contains(t, e.logs.String(), "/api/providers/resolve", "the requests were logged")
}
