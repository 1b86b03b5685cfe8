package httpapi_test

import (
	"context"
	"io"
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
	"github.com/byok-go/byok/usage"
	"github.com/byok-go/byok/vault"
)

var _ httpapi.UsageReader = (*usage.Store)(nil)

// TestEndToEnd_usage runs GET /api/usage over the Supabase stores on the throwaway
// PostgreSQL (supabase.Client and the PostgREST stand-in, tokens checked by the JWT
// verifier): a user's requests on the team gateway, counted by the Resolver and flushed
// into the database, show up for that user only; turning consent off through POST
// /api/user-settings and back on through SQL both show as consent events.
func TestEndToEnd_usage(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	verifier, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{Secret: srv.JWTSecret})
	require.NoError(t, err)
	t.Cleanup(func() { _ = verifier.Close() })

	keys, settings, record := vault.New(c), consent.New(c), usage.New(c)
	r := resolve.New(keys, settings, resolve.Team{GatewayKey: providers.NewSecret("vck-team-e2e")},
		resolve.WithTeamUsage(record, time.Hour))
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	e := &env{h: httpapi.New(httpapi.Config{
		Keys: keys, Consent: settings, Resolver: r, Usage: record, Verify: verifier.Verify,
	})}
	alice, bob := db.CreateUser(t), db.CreateUser(t)
	as := func(user, method, path, body string) response {
		return e.do(t, method, path, "", body, "Authorization", "Bearer "+srv.UserToken(t, user))
	}

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(upstream.Close)
	p, path, err := r.Resolve(t.Context(), alice)
	require.NoError(t, err)
	require.Equal(t, resolve.TeamGateway, path)
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(upstream))}
	for range 3 {
		resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", strings.NewReader(`{"model":"m"}`))
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	require.NoError(t, r.Close(t.Context()))

	require.Equal(t, http.StatusOK, as(alice, "POST", "/api/user-settings", `{"allowGatewayFallback":false}`).status)
	_, err = db.Pool.Exec(t.Context(), `update public.user_settings set allow_gateway_fallback = true where user_id = $1`, alice)
	require.NoError(t, err)

	a := decodeUsage(t, as(alice, "GET", "/api/usage?days=2", ""))
	assert.EqualValues(t, 3, a.TotalRequests)
	require.Len(t, a.TeamUsage, 1)
	assert.Equal(t, "team-gateway", a.TeamUsage[0].Path)
	assert.Equal(t, "gateway", a.TeamUsage[0].Provider)
	assert.EqualValues(t, 3, a.TeamUsage[0].Requests)
	require.Len(t, a.ConsentEvents, 2)
	assert.Equal(t, false, a.ConsentEvents[0].AllowGatewayFallback)
	assert.Equal(t, "api", a.ConsentEvents[0].Source, "through POST /api/user-settings")
	assert.Equal(t, true, a.ConsentEvents[1].AllowGatewayFallback)
	assert.Equal(t, "sql", a.ConsentEvents[1].Source, "through SQL")

	b := decodeUsage(t, as(bob, "GET", "/api/usage", ""))
	assert.Zero(t, b.TotalRequests)
	assert.Empty(t, b.TeamUsage)
	assert.Empty(t, b.ConsentEvents)
}
