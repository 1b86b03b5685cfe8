package pgnotify_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

// A provider's refusal seen by replica A marks the key in the database; replica B, which
// has the key cached for an hour, drops it when the notification arrives and refuses it
// from then on; the mark persists for a replica started later; storing the key again
// through A serves it on B again.
func TestFleet_keyHealthReachesTheOtherReplica(t *testing.T) {
	db := pgtest.New(t)
	health := []resolve.Option{resolve.WithKeyHealth()}
	a, b := newReplicaWith(t, db, health), newReplicaWith(t, db, health)
	ctx := t.Context()
	user := db.CreateUser(t)
	require.NoError(t, a.keys.PutKey(ctx, user, providers.OpenAI, providers.NewSecret("sk-fleet-health-1")))
	b.waitInvalidated(t, user)
	userOpenAI := outcome{path: resolve.UserProvider, id: providers.OpenAI, key: "sk-fleet-health-1", baseURL: "https://api.openai.com/v1"}

	require.Equal(t, userOpenAI, resolveNow(t, b.r, user))
	b.calls.Take()
	require.Equal(t, userOpenAI, resolveNow(t, b.r, user))
	require.Zero(t, b.calls.Take(), "B answers from its cache")
	b.drain()

	// A request through A's Provider is refused: the key is invalid.
	p, _, err := a.r.Resolve(ctx, user)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: sk-fleet*******th-1.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(srv))}
	resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Contains(t, string(body), "invalid_api_key", "the caller gets the provider's answer")
	answered := time.Now()

	at := b.waitInvalidated(t, user) // the mark's notification
	t.Logf("from the answer to B's invalidation: %v", at.Sub(answered))
	broken := outcome{code: "key_broken"}
	assert.Equal(t, broken, resolveNow(t, b.r, user), "replica B after the notification")
	assert.Equal(t, broken, resolveNow(t, a.r, user), "replica A")

	// The mark persists: a replica started now, over its own connections, refuses the key,
	// and the owner sees it.
	pool, err := pgxpool.New(ctx, db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	later := resolve.New(vault.New(pgcall.New(pool)), consent.New(pgcall.New(pool)), team)
	assert.Equal(t, broken, resolveNow(t, later, user))
	infos, err := vault.New(pgcall.New(pool)).ListKeys(ctx, user)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, providers.FailureInvalidKey, infos[0].Failure)
	require.NotNil(t, infos[0].FailedAt)
	assert.WithinDuration(t, time.Now(), *infos[0].FailedAt, 10*time.Minute)

	// Storing the key again, through A, serves it on B once the notification arrives.
	b.drain()
	require.NoError(t, a.keys.PutKey(ctx, user, providers.OpenAI, providers.NewSecret("sk-fleet-health-2")))
	a.r.Invalidate(user)
	b.waitInvalidated(t, user)
	want := userOpenAI
	want.key = "sk-fleet-health-2"
	assert.Equal(t, want, resolveNow(t, b.r, user))
	assert.Equal(t, want, resolveNow(t, later, user))
}
