package pgnotify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/storetest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/supabase/pgnotify"
	"github.com/byok-go/byok/vault"
)

// A Resolver wired with the one call resolve.WithInvalidation(l), and nothing else
// (no Add), hears a change written by another process: its hour-long cache drops the
// user's answer, and the cache is bypassed until the listener is connected.
func TestWithInvalidation_oneCallWiring(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	calls := &storetest.Counting{Caller: pgcall.New(pool)}
	keys := vault.New(calls)

	l := pgnotify.New(db.DSN, pgnotify.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	r := resolve.New(keys, consent.New(calls), team, resolve.WithCache(time.Hour), resolve.WithInvalidation(l))
	user := db.CreateUser(t)

	// Not connected yet: the cache is bypassed, every Resolve goes to the database.
	require.False(t, l.Connected())
	for range 3 {
		require.Equal(t, teamGW, resolveNow(t, r, user))
	}
	assert.EqualValues(t, 3, calls.Take(), "one snapshot RPC per Resolve while the listener is down")

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	require.Eventually(t, l.Connected, 30*time.Second, 2*time.Millisecond)

	// Connected: the answer is cached.
	require.Equal(t, teamGW, resolveNow(t, r, user))
	require.Equal(t, teamGW, resolveNow(t, r, user))
	assert.EqualValues(t, 1, calls.Take(), "cached after the first Resolve")

	// Another process stores a key for the user. Only the notification can tell r.
	other := vault.New(pgcall.New(pool))
	require.NoError(t, other.PutKey(ctx, user, providers.OpenAI, providers.NewSecret("sk-wired-1")))
	want := outcome{path: resolve.UserProvider, id: providers.OpenAI, key: "sk-wired-1", baseURL: "https://api.openai.com/v1"}
	require.Eventually(t, func() bool { return resolveNow(t, r, user) == want }, 30*time.Second, 5*time.Millisecond,
		"the change never reached the Resolver's cache")
	calls.Take()
	assert.Equal(t, want, resolveNow(t, r, user))
	assert.Zero(t, calls.Take(), "the new answer is cached again")
}
