package resolve_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// fakeClock is the cache's clock in tests: time moves only when advance is called.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) elapsed() time.Duration  { return time.Duration(c.now.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }

func TestCache_hitsCostNoStoreCall(t *testing.T) {
	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	keys.Put(user1, providers.XAI, "u-xa")
	sr, tracing := newTracing(t)
	r := resolve.New(keys, consent, teamGateway("t-gw", ""), resolve.WithCache(time.Minute), tracing)

	p1, path1, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	cold := keys.Calls()
	require.Positive(t, cold)
	for range 10 {
		p, path, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, path1, path)
		assert.Equal(t, p1.ID, p.ID)
		assert.Equal(t, "u-xa", p.APIKey.Reveal())
	}
	assert.Equal(t, cold, keys.Calls(), "cached resolves make no store call")

	ended := sr.Ended()
	require.Len(t, ended, 11, "one span per Resolve, hit or miss")
	assert.Equal(t, false, spanAttrs(ended[0])["cache.hit"])
	assert.Equal(t, true, spanAttrs(ended[10])["cache.hit"])
}

func TestCache_perModelHint(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	keys.Put(user1, providers.Anthropic, "u-an")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Minute))

	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, providers.OpenAI, p.ID)
	p, _, err = r.Resolve(t.Context(), user1, resolve.WithModel("claude-opus-4"))
	require.NoError(t, err)
	assert.Equal(t, providers.Anthropic, p.ID, "a cached no-hint result does not answer a hinted call")
	p, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, providers.OpenAI, p.ID)
}

func TestCache_expires(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	clk := &fakeClock{}
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{},
		resolve.WithCache(time.Minute), resolve.WithClock(clk.elapsed))

	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	calls := keys.Calls()

	clk.advance(59 * time.Second)
	_, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, calls, keys.Calls(), "still fresh")

	keys.Delete(user1, providers.OpenAI)
	keys.Put(user1, providers.XAI, "u-xa")
	clk.advance(time.Second)
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Greater(t, keys.Calls(), calls, "expired entries are resolved again")
	assert.Equal(t, providers.XAI, p.ID)
}

// A user holds at most 16 entries; Invalidate and the sweep remove a user's entries,
// so memory does not wait for users to come back.
func TestCache_entriesAreBounded(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.Gateway, "u-gw") // the gateway serves model ids of unknown vendors
	keys.Put(user2, providers.OpenRouter, "u2-or")
	clk := &fakeClock{}
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{},
		resolve.WithCache(time.Minute), resolve.WithClock(clk.elapsed))

	for i := range 20 {
		_, _, err := r.Resolve(t.Context(), user1, resolve.WithModel(fmt.Sprintf("model-%d", i)))
		require.NoError(t, err)
	}
	calls := keys.Calls()
	for i := 4; i < 20; i++ {
		_, _, err := r.Resolve(t.Context(), user1, resolve.WithModel(fmt.Sprintf("model-%d", i)))
		require.NoError(t, err)
	}
	assert.Equal(t, calls, keys.Calls(), "the newest 16 entries are kept")
	_, _, err := r.Resolve(t.Context(), user1, resolve.WithModel("model-0"))
	require.NoError(t, err)
	assert.Greater(t, keys.Calls(), calls, "the oldest was dropped")

	_, _, err = r.Resolve(t.Context(), user2)
	require.NoError(t, err)
	assert.Equal(t, 2, resolve.CacheUsers(r))
	r.Invalidate(user1)
	assert.Equal(t, 1, resolve.CacheUsers(r))

	clk.advance(59 * time.Second)
	resolve.SweepCache(r)
	assert.Equal(t, 1, resolve.CacheUsers(r), "a live entry is kept")
	clk.advance(time.Second)
	resolve.SweepCache(r)
	assert.Equal(t, 0, resolve.CacheUsers(r), "expired")
	calls = keys.Calls()
	_, _, err = r.Resolve(t.Context(), user2)
	require.NoError(t, err)
	assert.Greater(t, keys.Calls(), calls, "resolved again after expiry")
}

func TestCache_errorsAreNotCached(t *testing.T) {
	keys := resolvetest.NewKeys()
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Minute))
	keys.FailWith(errCanary)
	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)

	keys.FailWith(nil)
	keys.Put(user1, providers.OpenAI, "u-oa")
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, providers.OpenAI, p.ID)
}

func TestCache_invalidate(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	keys.Put(user2, providers.OpenAI, "u2-oa")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour))

	for _, u := range []string{user1, user2} {
		_, _, err := r.Resolve(t.Context(), u)
		require.NoError(t, err)
		_, _, err = r.Resolve(t.Context(), u, resolve.WithModel("gpt-4o"))
		require.NoError(t, err)
	}
	keys.Put(user1, providers.Gateway, "u-gw")
	r.Invalidate(user1)
	r.Invalidate("never-seen") // harmless

	for _, opts := range [][]resolve.CallOption{nil, {resolve.WithModel("gpt-4o")}} {
		p, path, err := r.Resolve(t.Context(), user1, opts...)
		require.NoError(t, err)
		assert.Equal(t, resolve.UserGateway, path, "every entry of the user was dropped")
		assert.Equal(t, providers.Gateway, p.ID)
	}
	before := keys.Calls()
	_, path, err := r.Resolve(t.Context(), user2)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserProvider, path)
	assert.Equal(t, before, keys.Calls(), "other users stay cached")
}

// A resolution in flight when Invalidate runs must not put its stale result back, and
// a caller arriving after Invalidate must not join it.
func TestCache_invalidateBeatsInFlightResolution(t *testing.T) {
	inner := resolvetest.NewKeys()
	inner.Put(user1, providers.OpenAI, "old-key")
	gated := newGatedKeys(inner)
	r := resolve.New(gated, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour))

	type result struct {
		p   resolve.Provider
		err error
	}
	first := make(chan result, 1)
	go func() {
		p, _, err := r.Resolve(context.Background(), user1)
		first <- result{p, err}
	}()
	<-gated.started // the first resolution is in flight, before reading the key

	// The user rotates their key; the write path invalidates.
	inner.Put(user1, providers.OpenAI, "new-key")
	r.Invalidate(user1)

	// A caller arriving now resolves afresh instead of joining the stale flight.
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "new-key", p.APIKey.Reveal())

	close(gated.release)
	res := <-first
	require.NoError(t, res.err)

	p, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "new-key", p.APIKey.Reveal(), "the in-flight result was not cached")
}

func TestCache_concurrentMissesShareOneResolution(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys func() *resolvetest.Keys
	}{
		{"user-provider", func() *resolvetest.Keys {
			k := resolvetest.NewKeys()
			k.Put(user1, providers.XAI, "u-xa")
			return k
		}},
		{"team-gateway", resolvetest.NewKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One uncached resolution's store calls, as the baseline.
			baseKeys, baseConsent := tc.keys(), resolvetest.NewConsent(true)
			_, wantPath, err := resolve.New(baseKeys, baseConsent, teamGateway("t-gw", "")).Resolve(t.Context(), user1)
			require.NoError(t, err)
			want := baseKeys.Calls() + baseConsent.Calls()
			require.Positive(t, want)

			inner, consent := tc.keys(), resolvetest.NewConsent(true)
			gated := newGatedKeys(inner)
			r := resolve.New(gated, consent, teamGateway("t-gw", ""), resolve.WithCache(time.Minute))

			const n = 64
			var wg sync.WaitGroup
			var ready sync.WaitGroup
			ready.Add(n)
			errs := make(chan error, n)
			for range n {
				wg.Go(func() {
					ready.Done()
					_, path, err := r.Resolve(t.Context(), user1)
					if err == nil && path != wantPath {
						err = assert.AnError
					}
					errs <- err
				})
			}
			ready.Wait()
			<-gated.started
			time.Sleep(10 * time.Millisecond) // let the others pile up on the flight (not a timing assertion)
			close(gated.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			assert.Equal(t, want, inner.Calls()+consent.Calls(), "64 callers cost one resolution's store calls")
		})
	}
}

func TestCache_oneCallerCancellingDoesNotFailOthers(t *testing.T) {
	inner := resolvetest.NewKeys()
	inner.Put(user1, providers.OpenAI, "u-oa")
	gated := newGatedKeys(inner)
	r := resolve.New(gated, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Minute))

	ctx, cancel := context.WithCancel(t.Context())
	cancelled := make(chan error, 1)
	go func() {
		_, _, err := r.Resolve(ctx, user1)
		cancelled <- err
	}()
	<-gated.started

	other := make(chan error, 1)
	go func() {
		_, _, err := r.Resolve(t.Context(), user1)
		other <- err
	}()

	cancel()
	err := <-cancelled
	require.ErrorIs(t, err, context.Canceled, "the cancelling caller returns at once, while the store is still blocked")

	close(gated.release)
	require.NoError(t, <-other)
	calls := inner.Calls()
	_, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, calls, inner.Calls(), "the shared result was cached despite the first caller's cancel")
}

func TestCache_noCacheMeansNoCaching(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	for _, r := range []*resolve.Resolver{
		resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}),
		resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(0)),
	} {
		before := keys.Calls()
		_, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		one := keys.Calls() - before
		require.Positive(t, one)
		_, _, err = r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, before+2*one, keys.Calls(), "the second resolve went to the store again")
		r.Invalidate(user1) // no-op
	}
}

// Many users and invalidations racing with resolves: for -race, and to show that
// after the last write + Invalidate every user sees their newest key.
func TestCache_raceStress(t *testing.T) {
	keys := resolvetest.NewKeys()
	users := []string{user1, user2, "u3", "u4"}
	for _, u := range users {
		keys.Put(u, providers.OpenAI, "v0")
	}
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Minute))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				u := users[(i+j)%len(users)]
				if j%17 == 0 {
					keys.Put(u, providers.OpenAI, "v1")
					r.Invalidate(u)
					continue
				}
				opts := []resolve.CallOption{}
				if j%3 == 0 {
					opts = append(opts, resolve.WithModel("gpt-4o"))
				}
				if _, _, err := r.Resolve(t.Context(), u, opts...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, u := range users {
		keys.Put(u, providers.OpenAI, "final")
		r.Invalidate(u)
		p, _, err := r.Resolve(t.Context(), u)
		require.NoError(t, err)
		assert.Equal(t, "final", p.APIKey.Reveal())
	}
}
