package resolve_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func TestCache_invalidateAll(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	keys.Put(user2, providers.OpenAI, "u2-oa")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour))
	for _, u := range []string{user1, user2} {
		for _, opts := range [][]resolve.CallOption{nil, {resolve.WithModel("gpt-4o")}} {
			_, _, err := r.Resolve(t.Context(), u, opts...)
			require.NoError(t, err)
		}
	}
	require.Equal(t, 2, resolve.CacheUsers(r))

	keys.Put(user1, providers.Gateway, "u-gw")
	keys.Put(user2, providers.Gateway, "u2-gw")
	r.InvalidateAll()
	assert.Equal(t, 0, resolve.CacheUsers(r))
	for _, u := range []string{user1, user2} {
		for _, opts := range [][]resolve.CallOption{nil, {resolve.WithModel("gpt-4o")}} {
			_, path, err := r.Resolve(t.Context(), u, opts...)
			require.NoError(t, err)
			assert.Equal(t, resolve.UserGateway, path, "every entry of every user was dropped")
		}
	}
	resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}).InvalidateAll() // no cache: a no-op
}

// A resolution in flight when InvalidateAll runs does not put its result back, and a
// caller arriving afterwards does not join it.
func TestCache_invalidateAllBeatsInFlightResolution(t *testing.T) {
	inner := resolvetest.NewKeys()
	inner.Put(user1, providers.OpenAI, "old-key")
	gated := newGatedKeys(inner)
	r := resolve.New(gated, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour))

	first := make(chan error, 1)
	go func() {
		_, _, err := r.Resolve(context.Background(), user1)
		first <- err
	}()
	<-gated.started
	inner.Put(user1, providers.OpenAI, "new-key")
	r.InvalidateAll()

	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "new-key", p.APIKey.Reveal(), "a caller after InvalidateAll does not join the stale flight")
	close(gated.release)
	require.NoError(t, <-first)

	p, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "new-key", p.APIKey.Reveal(), "the stale flight's result was not cached")
}

func TestCache_gate(t *testing.T) {
	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	keys.Put(user1, providers.OpenAI, "old-key")
	var open atomic.Bool
	open.Store(true)
	r := resolve.New(keys, consent, resolve.Team{}, resolve.WithCache(time.Hour), resolve.WithCacheGate(open.Load))

	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	one := keys.Calls()
	require.Positive(t, one)
	_, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	require.Equal(t, one, keys.Calls(), "cached while open")

	open.Store(false)
	keys.Put(user1, providers.OpenAI, "new-key") // a change nobody was told about
	for i := range 3 {
		p, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
		assert.Equal(t, "new-key", p.APIKey.Reveal(), "the cache is not read while closed")
		assert.Equal(t, (i+2)*one, keys.Calls(), "every Resolve goes to the store")
	}

	// Concurrent resolves do not share a resolution either while closed.
	before := keys.Calls()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, _, err := r.Resolve(t.Context(), user1)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, before+8*one, keys.Calls())

	// Nothing was written while closed: reopening without InvalidateAll shows the entry
	// from before, which is why the listener invalidates everything before it reopens.
	open.Store(true)
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "old-key", p.APIKey.Reveal())
	r.InvalidateAll()
	p, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "new-key", p.APIKey.Reveal())
	before = keys.Calls()
	_, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, before, keys.Calls(), "caching resumed")
}

// A shared resolution that ends while the gate is closed is not cached.
func TestCache_gateClosedDuringFlight(t *testing.T) {
	inner := resolvetest.NewKeys()
	inner.Put(user1, providers.OpenAI, "u-oa")
	gated := newGatedKeys(inner)
	var open atomic.Bool
	open.Store(true)
	r := resolve.New(gated, resolvetest.NewConsent(true), resolve.Team{},
		resolve.WithCache(time.Hour), resolve.WithCacheGate(open.Load))

	done := make(chan error, 1)
	go func() {
		_, _, err := r.Resolve(context.Background(), user1)
		done <- err
	}()
	<-gated.started
	open.Store(false)
	close(gated.release)
	require.NoError(t, <-done)
	open.Store(true)

	assert.Equal(t, 0, resolve.CacheUsers(r), "nothing was stored")
	before := inner.Calls()
	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Greater(t, inner.Calls(), before)
}

func TestOptions_fleetInvalid(t *testing.T) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "u-oa")
	for name, opt := range map[string]resolve.Option{
		"nil gate":         resolve.WithCacheGate(nil),
		"zero timeout":     resolve.WithStoreTimeout(0),
		"negative timeout": resolve.WithStoreTimeout(-time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour), opt)
			_, _, err := r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrInvalidConfig)
			r.Invalidate(user1)
			r.InvalidateAll()
		})
	}
	// A nil MeterProvider means the default, like a nil TracerProvider.
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithMeterProvider(nil))
	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
}

// The store timeout ends a resolution whose store hangs, shared or not, with
// ErrStoreUnavailable; a caller's earlier deadline is reported as the caller's.
func TestStoreTimeout(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run("cache="+strconv.FormatBool(cached), func(t *testing.T) {
			s := &scripted{block: make(chan struct{})} // blocks until its ctx ends
			opts := []resolve.Option{resolve.WithStoreTimeout(50 * time.Millisecond)}
			if cached {
				opts = append(opts, resolve.WithCache(time.Hour))
			}
			r := resolve.New(s, s, s, opts...)

			_, _, err := r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
			var re *resolve.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "store_unavailable", re.Code())
			assert.Equal(t, "timeout", re.Reason)

			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
			defer cancel()
			r = resolve.New(s, s, s, append(opts[:0:0], resolve.WithStoreTimeout(time.Hour))...)
			_, _, err = r.Resolve(ctx, user1)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, resolve.ErrStoreUnavailable, "the caller's own deadline, not a store failure")
		})
	}
}

// A store that hangs until its ctx ends, with the cache on: 300 Invalidate-plus-Resolve
// calls, each started once the one before has its shared resolution hanging in the
// store, and each cancelled by its caller then. Each call returns on its own ctx and
// leaves that resolution behind (the next Invalidate made it stale), so the hang holds
// 300 of them at its peak; they all end with the store timeout, and the goroutine count
// comes back to where it started.
func TestHang_sharedResolutionsAreBounded(t *testing.T) {
	const (
		calls   = 300
		timeout = 2 * time.Second
	)
	s := &scripted{block: make(chan struct{}), entered: make(chan struct{}, calls)}
	r := resolve.New(s, s, s, resolve.WithCache(time.Hour), resolve.WithStoreTimeout(timeout))

	start := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for range calls {
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() {
			r.Invalidate(user1)
			_, _, err := r.Resolve(ctx, user1)
			assert.ErrorIs(t, err, context.Canceled)
		})
		<-s.entered // this call's shared resolution is in the store
		cancel()
	}
	wg.Wait()
	returned := time.Now()
	// The peak first: the hang really held a resolution per call, in the store.
	hanging, peak := s.inside.Load(), runtime.NumGoroutine()
	require.Equal(t, int64(calls), hanging, "shared resolutions hanging in the store once every caller returned")
	require.GreaterOrEqual(t, peak, start+calls-10, "goroutines once every caller returned (start may count a goroutine of an earlier test that has ended since)")
	require.Positive(t, resolve.CacheFlights(r), "the latest shared resolution is still in the table")

	var now int
	for now = runtime.NumGoroutine(); now > start+10 && time.Since(returned) < 2*timeout; now = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond) // polling, not an assertion
	}
	t.Logf("goroutines: %d at start, %d when the callers had returned, %d after %v",
		start, peak, now, time.Since(returned).Round(time.Millisecond))
	require.LessOrEqual(t, now, start+10, "goroutines left after twice the store timeout")
	require.Eventually(t, func() bool { return s.inside.Load() == 0 && resolve.CacheFlights(r) == 0 }, timeout, 10*time.Millisecond,
		"store calls or shared resolutions left")
}

// failingKeys fails every third user with a store error and has no key for the others.
type failingKeys struct{}

func (failingKeys) Key(_ context.Context, userID string, _ providers.ID) (providers.Secret, error) {
	if userID[len(userID)-1]%3 == 0 {
		return providers.Secret{}, errCanary
	}
	return providers.Secret{}, resolve.ErrNotFound
}

func (failingKeys) GatewayBaseURL(context.Context, string) (string, error) { return "", nil }

// Users whose resolution fails (store error, fallback disabled, no provider) leave
// nothing behind.
func TestCache_failingUsersLeaveNothing(t *testing.T) {
	const users = 300_000
	consent := resolvetest.NewConsent(false)
	off := []resolve.Option{resolve.WithCache(time.Hour),
		resolve.WithTracerProvider(tracenoop.NewTracerProvider()), resolve.WithMeterProvider(metricnoop.NewMeterProvider())}
	rs := []*resolve.Resolver{
		resolve.New(failingKeys{}, consent, teamGateway("t-gw", ""), off...), // store error, fallback disabled
		resolve.New(failingKeys{}, consent, resolve.Team{}, off...),          // store error, no provider
	}
	resolveAll := func(from, to int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				buf := make([]byte, 0, 48)
				for i := from + w; i < to; i += 4 {
					buf = strconv.AppendInt(append(buf[:0], "user-"...), int64(i), 10)
					_, _, err := rs[i%2].Resolve(context.Background(), string(buf))
					if err == nil {
						t.Error("resolved")
						return
					}
				}
			})
		}
		wg.Wait()
	}
	resolveAll(0, 1000) // warm up: the tables and the goroutine stacks exist before measuring

	before := heapAlloc()
	resolveAll(1000, 1000+users)
	after := heapAlloc()
	growth := int64(after) - int64(before)
	t.Logf("heap: %d B before, %d B after %d failing users: growth %d B", before, after, users, growth)
	assert.Less(t, growth, int64(1<<20))
	for _, r := range rs {
		assert.Zero(t, resolve.CacheUsers(r))
		assert.Zero(t, resolve.CacheFlights(r))
	}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The sweep runs by itself: a miss after the ttl starts it.
func TestCache_sweepRunsByItself(t *testing.T) {
	keys := resolvetest.NewKeys()
	clk := &fakeClock{}
	r := resolve.New(keys, resolvetest.NewConsent(true), teamGateway("t-gw", ""),
		resolve.WithCache(time.Minute), resolve.WithClock(clk.elapsed))
	for i := range 100 {
		_, _, err := r.Resolve(t.Context(), "user-"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	require.Equal(t, 100, resolve.CacheUsers(r))
	clk.advance(2 * time.Minute)
	_, _, err := r.Resolve(t.Context(), "one-more")
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return resolve.CacheUsers(r) == 1 }, 10*time.Second, time.Millisecond,
		"only the newest user is left")
}

// metricValues collects rm's int sums and histogram counts by metric name and attribute set.
func metricValues(t *testing.T, reader sdkmetric.Reader) map[string]map[attribute.Distinct]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	out := map[string]map[attribute.Distinct]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			vals := map[attribute.Distinct]int64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					vals[dp.Attributes.Equivalent()] = dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					vals[dp.Attributes.Equivalent()] = int64(dp.Count)
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					vals[dp.Attributes.Equivalent()] = dp.Value
				}
			}
			out[sm.Scope.Name+" "+m.Name+" "+m.Unit] = vals
		}
	}
	return out
}

func attrs(kv ...string) attribute.Distinct {
	var a []attribute.KeyValue
	for i := 0; i < len(kv); i += 2 {
		a = append(a, attribute.String(kv[i], kv[i+1]))
	}
	set := attribute.NewSet(a...)
	return set.Equivalent()
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	keys.Put(user1, providers.OpenAI, "u-oa")
	consent.Set(user2, false)
	var open atomic.Bool
	open.Store(true)
	r := resolve.New(keys, consent, teamGateway("t-gw", ""), resolve.WithMeterProvider(mp),
		resolve.WithCache(time.Hour), resolve.WithCacheGate(open.Load))

	for range 3 { // a miss, then two hits
		_, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
	}
	open.Store(false)
	_, _, err := r.Resolve(t.Context(), user1) // bypass
	require.NoError(t, err)
	open.Store(true)
	_, _, err = r.Resolve(t.Context(), user2) // fallback disabled, a miss
	require.ErrorIs(t, err, resolve.ErrFallbackDisabled)
	keys.FailWith(errCanary)
	_, _, err = r.Resolve(t.Context(), "u3") // store error, a miss
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)

	// A Resolver without a cache records no cache attribute.
	keys.FailWith(nil)
	_, _, err = resolve.New(keys, consent, resolve.Team{}, resolve.WithMeterProvider(mp)).Resolve(t.Context(), user1)
	require.NoError(t, err)

	got := metricValues(t, reader)
	assert.Equal(t, map[attribute.Distinct]int64{
		attrs("path", "user-provider", "cache", "miss"):           1,
		attrs("path", "user-provider", "cache", "hit"):            2,
		attrs("path", "user-provider", "cache", "bypass"):         1,
		attrs("error.type", "fallback_disabled", "cache", "miss"): 1,
		attrs("error.type", "store_unavailable", "cache", "miss"): 1,
		attrs("path", "user-provider"):                            1,
	}, got["github.com/byok-go/byok/resolve byok.resolve.resolutions {resolution}"])

	// Store calls: user1 resolved from the store three times (miss, bypass, no cache),
	// each a gateway key (absent) then the OpenAI key; user2 looked up the gateway key
	// and the four provider keys (all absent), the team gateway and the consent; u3's
	// first key lookup failed.
	assert.Equal(t, map[attribute.Distinct]int64{
		attrs("operation", "key", "outcome", "ok"):          6 + 5,
		attrs("operation", "key", "outcome", "error"):       1,
		attrs("operation", "team_gateway", "outcome", "ok"): 1,
		attrs("operation", "consent", "outcome", "ok"):      1,
	}, got["github.com/byok-go/byok/resolve byok.resolve.store.duration s"])
}
