package pgnotify_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/supabase/pgnotify"
	"github.com/byok-go/byok/vault"
)

// checkFaultAndRecovery checks what must hold while a replica's listener is down: every Resolve
// goes to the database (one RPC each: the snapshot), none is answered from the cache,
// and a change nobody is told about is seen at once. Then, once the listener is back,
// the entries from before the fault are gone and caching resumes.
func checkFaultAndRecovery(t *testing.T, db *pgtest.DB, rp *replica, g *gate, fault func()) {
	t.Helper()
	ctx := t.Context()
	user := db.CreateUser(t)
	require.NoError(t, rp.keys.PutKey(ctx, user, providers.OpenAI, providers.NewSecret("sk-before")))
	rp.waitInvalidated(t, user)
	require.Equal(t, "sk-before", resolveNow(t, rp.r, user).key)
	rp.calls.Take()
	require.Equal(t, "sk-before", resolveNow(t, rp.r, user).key)
	require.Zero(t, rp.calls.Take(), "cached before the fault")

	g.closed.Store(true)
	fault()
	rp.waitConnected(t, false)
	select {
	case <-g.waiting: // the listener is trying to reconnect and is held
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not try to reconnect")
	}

	// While disconnected: a change the listener cannot hear about...
	_, err := db.Pool.Exec(ctx, `select set_config('role', 'service_role', true),
		set_config('request.jwt.claims', '{"role":"service_role"}', true),
		public.insert_user_api_key($1, 'openai', 'sk-while-down')`, user)
	require.NoError(t, err)
	// ... is seen at once, and every Resolve reaches the database.
	const resolves = 20
	rp.calls.Take()
	for range resolves {
		got := resolveNow(t, rp.r, user)
		require.Equal(t, "sk-while-down", got.key, "not answered from the cache")
	}
	assert.Equal(t, int64(resolves), rp.calls.Take(), "one RPC per Resolve while disconnected")

	// A change behind the listener's back that the cache would hold if it were written
	// while disconnected: it is not.
	_, err = db.Pool.Exec(ctx, `select set_config('role', 'service_role', true),
		set_config('request.jwt.claims', '{"role":"service_role"}', true),
		public.insert_user_api_key($1, 'openai', 'sk-after')`, user)
	require.NoError(t, err)

	g.release()
	rp.waitConnected(t, true)
	rp.calls.Take()
	assert.Equal(t, "sk-after", resolveNow(t, rp.r, user).key, "nothing from before or during the fault is served")
	assert.Equal(t, int64(1), rp.calls.Take())
	assert.Equal(t, "sk-after", resolveNow(t, rp.r, user).key)
	assert.Zero(t, rp.calls.Take(), "caching resumed")

	// And notifications flow again.
	require.NoError(t, rp.keys.PutKey(ctx, user, providers.OpenAI, providers.NewSecret("sk-notified")))
	rp.waitInvalidated(t, user)
	assert.Equal(t, "sk-notified", resolveNow(t, rp.r, user).key)
}

// The listener's backend is terminated (pg_terminate_backend).
func TestFault_backendTerminated(t *testing.T) {
	db := pgtest.New(t)
	g := newGate()
	rp := newReplica(t, db, pgnotify.WithConnectHook(g.hook))
	checkFaultAndRecovery(t, db, rp, g, func() {
		var ok bool
		require.NoError(t, db.Pool.QueryRow(t.Context(), `select pg_terminate_backend($1)`, rp.backendPID(t, db)).Scan(&ok))
		require.True(t, ok)
	})
}

// The whole database restarts, and freezes (SIGSTOP), on a cluster of the test's own.
func TestFault_ownDatabase(t *testing.T) {
	o := pgtest.Own(t)

	t.Run("restart", func(t *testing.T) {
		g := newGate()
		rp := newReplica(t, o.DB, pgnotify.WithConnectHook(g.hook))
		checkFaultAndRecovery(t, o.DB, rp, g, func() {
			o.Restart(t)
			// The pools lost their connections too: wait until they have new ones.
			require.Eventually(t, func() bool {
				_, err := o.Pool.Exec(t.Context(), `select 1`)
				return err == nil
			}, 30*time.Second, 20*time.Millisecond)
			require.Eventually(t, func() bool {
				err := rp.calls.Call(t.Context(), "check_vault_health", nil, nil)
				return err == nil
			}, 30*time.Second, 20*time.Millisecond)
		})
	})

	t.Run("frozen: the listener closes the gate within its keepalive", func(t *testing.T) {
		rp := newReplica(t, o.DB, pgnotify.WithKeepalive(100*time.Millisecond, 200*time.Millisecond))
		o.Stop(t)
		rp.waitConnected(t, false) // no error reaches the listener: only its probe tells
		o.Continue(t)
		rp.waitConnected(t, true)
	})

	t.Run("frozen: shared resolutions over pgcall end with the store timeout", func(t *testing.T) {
		testHangOverPgcall(t, o)
	})
}

// A database that answers nothing (SIGSTOP), with the cache on, under 300 calls with 20 ms
// deadlines, each with a model hint of its own: each call returns at its deadline,
// leaving behind the shared resolution of its (user, hint), which the database holds (at
// least 150 are asserted), and these end with the store timeout, so the goroutine count
// comes back to where it started.
func testHangOverPgcall(t *testing.T, o *pgtest.Owned) {
	const (
		calls = 300
		// The store timeout: long enough that no shared resolution ends before the
		// calls that started them have all returned, even on a slow machine.
		timeout = 2 * time.Second
	)
	ctx := t.Context()
	// pgx and its pool keep a few goroutines of their own per connection that a hung
	// server breaks: a connection attempt the pool makes in the background (bounded by
	// connect_timeout, as docs/supabase.md advises) and the closing connection's cancel
	// request (at most 15 s), so keep the pool at 4 connections whatever the CPUs.
	cfg, err := pgxpool.ParseConfig(o.AuthenticatorDSN + "&connect_timeout=1")
	require.NoError(t, err)
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	caller := pgcall.New(pool)
	keys, cons := vault.New(caller), consent.New(caller)
	r := resolve.New(keys, cons, team, resolve.WithCache(time.Hour), resolve.WithStoreTimeout(timeout))
	user := o.CreateUser(t)
	require.Equal(t, teamGW, resolveNow(t, r, user), "the pool is connected")

	runtime.GC()
	start := runtime.NumGoroutine()
	o.Stop(t)
	defer o.Continue(t)
	began := time.Now()
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, _, err := r.Resolve(ctx, user, resolve.WithModel(fmt.Sprintf("openai/gpt-hang-%d", i)))
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	wg.Wait()
	returned := time.Now()
	peak := runtime.NumGoroutine()
	// First, that the hang held many goroutines once the callers had gone: every call
	// started the shared resolution of its own (user, hint), which the frozen database
	// holds until the store timeout, and none has ended unless the calls took longer than
	// the store timeout. (Concurrent calls of one hint would share one, and how many do
	// depends on the scheduler.)
	t.Logf("goroutines: %d at start, %d when the callers had returned, %v after the first call",
		start, peak, returned.Sub(began).Round(time.Millisecond))
	require.GreaterOrEqual(t, peak-start, calls/2, "goroutines held by the hang")

	var now int
	for now = runtime.NumGoroutine(); now > start+10 && time.Since(returned) < 2*timeout; now = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond) // polling, not an assertion
	}
	stat := pool.Stat()
	t.Logf("goroutines: %d after %v; pool: %d acquires canceled, %d waited", now, time.Since(returned).Round(time.Millisecond),
		stat.CanceledAcquireCount(), stat.EmptyAcquireCount())
	require.LessOrEqual(t, now, start+10, "goroutines left after twice the store timeout")
	// And that they were waiting on the database: all but the pool's connections waited
	// for one until the store timeout gave up for them.
	assert.GreaterOrEqual(t, stat.CanceledAcquireCount(), int64(calls/2-int(cfg.MaxConns)), "calls the store timeout ended in the pool")
}
