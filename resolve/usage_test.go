package resolve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/byok-go/byok/internal/testkit"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// usageNow is the fixed time the usage tests' requests are sent at, and usageDay its UTC
// day.
var (
	usageNow = time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC)
	usageDay = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
)

// usageFixture is a Resolver with WithTeamUsage over a resolvetest.Usage that flushes
// when the test says so, and a fake upstream that counts the requests it gets.
type usageFixture struct {
	keys    *resolvetest.Keys
	consent *resolvetest.Consent
	sink    *resolvetest.Usage
	ticks   chan time.Time
	flushed chan error
	r       *resolve.Resolver
	base    http.RoundTripper
	hits    atomic.Int64
}

func newUsageFixture(t *testing.T, team resolve.Team, opts ...resolve.Option) *usageFixture {
	t.Helper()
	return newUsageFixtureWith(t, nil, team, opts...)
}

// newUsageFixtureWith is newUsageFixture with sink in front of the resolvetest.Usage
// when it is not nil.
func newUsageFixtureWith(t *testing.T, sink resolve.UsageSink, team resolve.Team, opts ...resolve.Option) *usageFixture {
	t.Helper()
	f := &usageFixture{
		keys:    resolvetest.NewKeys(),
		consent: resolvetest.NewConsent(true),
		sink:    resolvetest.NewUsage(),
		ticks:   make(chan time.Time),
		flushed: make(chan error, 16),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		f.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1"}`)
	}))
	t.Cleanup(srv.Close)
	f.base = resolvetest.NewUpstream(srv)
	if sink == nil {
		sink = f.sink
	}
	opts = append([]resolve.Option{
		resolve.WithTeamUsage(sink, time.Hour),
		resolve.WithUsageTicks(f.ticks),
		resolve.WithUsageClock(func() time.Time { return usageNow }),
		resolve.WithUsageFlushHook(func(err error) { f.flushed <- err }),
		resolve.WithAllowedGatewayHosts("gw.example.com"),
	}, opts...)
	f.r = resolve.New(f.keys, f.consent, team, opts...)
	t.Cleanup(func() { _ = f.r.Close(context.Background()) })
	return f
}

// flush makes the flush goroutine flush once and returns the outcome.
func (f *usageFixture) flush(t *testing.T) error {
	t.Helper()
	return testkit.Flush(t, f.ticks, f.flushed)
}

// send resolves user and sends n requests through the Provider's Transport to the fake
// upstream, each read to the end; it returns the path.
func (f *usageFixture) send(t *testing.T, user string, n int) resolve.Path {
	t.Helper()
	p, path, err := f.r.Resolve(t.Context(), user)
	require.NoError(t, err)
	sendThrough(t, p, f.base, n)
	return path
}

func sendThrough(t *testing.T, p resolve.Provider, base http.RoundTripper, n int) {
	t.Helper()
	client := &http.Client{Transport: p.Transport(base)}
	for range n {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.BaseURL+"/chat/completions",
			strings.NewReader(`{"model":"m","messages":[]}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
}

func teamUse(user string, path resolve.Path, id providers.ID, n int64) resolve.TeamUse {
	return resolve.TeamUse{UserID: user, Day: usageDay, Path: path, Provider: id, Requests: n}
}

func TestTeamUsage_countsTeamGatewayRequests(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""))
	const n = 25
	require.Equal(t, resolve.TeamGateway, f.send(t, user1, n))
	assert.EqualValues(t, n, f.hits.Load(), "the upstream got every request")
	assert.Zero(t, f.sink.Calls(), "counting never calls the sink")

	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, []resolve.TeamUse{teamUse(user1, resolve.TeamGateway, providers.Gateway, n)}, f.sink.All())
	assert.Equal(t, 1, f.sink.Calls(), "one sink call")
}

func TestTeamUsage_serverProviderCounts(t *testing.T) {
	f := newUsageFixture(t, resolve.Team{ServerKeys: map[providers.ID]providers.Secret{providers.Anthropic: secret("sk-ant-server")}})
	require.Equal(t, resolve.ServerProvider, f.send(t, user1, 4))
	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, []resolve.TeamUse{teamUse(user1, resolve.ServerProvider, providers.Anthropic, 4)}, f.sink.All())
}

func TestTeamUsage_userPathsCountNothing(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""))
	f.keys.Put(user1, providers.OpenAI, "sk-user-own")
	f.keys.Put(user2, providers.Gateway, "vck-user-own")
	require.Equal(t, resolve.UserProvider, f.send(t, user1, 5))
	require.Equal(t, resolve.UserGateway, f.send(t, user2, 5))
	assert.EqualValues(t, 10, f.hits.Load())

	require.NoError(t, f.r.Close(t.Context()))
	assert.Empty(t, f.sink.All(), "the user paid")
	assert.Zero(t, f.sink.Calls(), "nothing to flush, no call")
}

func TestTeamUsage_gatewayBYOKCountsOnItsOwnPath(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""), resolve.WithGatewayBYOK())
	f.keys.Put(user1, providers.Anthropic, "sk-ant-user-own")
	require.Equal(t, resolve.GatewayBYOK, f.send(t, user1, 3))
	require.Equal(t, resolve.TeamGateway, f.send(t, user2, 2))

	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, []resolve.TeamUse{
		teamUse(user2, resolve.TeamGateway, providers.Gateway, 2),
		teamUse(user1, resolve.GatewayBYOK, providers.Gateway, 3),
	}, f.sink.All())
}

func TestTeamUsage_cachedProvidersCount(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""), resolve.WithCache(time.Hour))
	f.send(t, user1, 2) // a miss
	f.send(t, user1, 3) // a hit
	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, []resolve.TeamUse{teamUse(user1, resolve.TeamGateway, providers.Gateway, 5)}, f.sink.All())
}

func TestTeamUsage_handBuiltProviderIsNotCounted(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""))
	spec, _ := providers.Gateway.Spec()
	sendThrough(t, resolve.Provider{ID: providers.Gateway, APIKey: secret("vck-by-hand"), BaseURL: spec.BaseURL}, f.base, 3)
	require.NoError(t, f.r.Close(t.Context()))
	assert.Empty(t, f.sink.All())
}

func TestTeamUsage_dayIsTheUTCDayOfEachRequest(t *testing.T) {
	var now atomic.Pointer[time.Time]
	at := func(s string) {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		now.Store(&tm)
	}
	f := newUsageFixture(t, teamGateway("t-gw", ""), resolve.WithUsageClock(func() time.Time { return *now.Load() }))
	p, _, err := f.r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	at("2026-12-03T23:59:59Z")
	sendThrough(t, p, f.base, 1)
	at("2026-12-04T09:59:59+10:00") // 23:59:59Z on the 3rd
	sendThrough(t, p, f.base, 1)
	at("2026-12-04T00:00:00Z")
	sendThrough(t, p, f.base, 2)
	at("1969-12-31T23:00:00Z") // a broken clock still gives a whole day
	sendThrough(t, p, f.base, 1)

	require.NoError(t, f.r.Close(t.Context()))
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	assert.Equal(t, []resolve.TeamUse{
		{UserID: user1, Day: day("1969-12-31"), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 1},
		{UserID: user1, Day: day("2026-12-03"), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 2},
		{UserID: user1, Day: day("2026-12-04"), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 2},
	}, f.sink.All())
	for _, u := range f.sink.All() {
		assert.Equal(t, time.UTC, u.Day.Location())
	}
}

func TestTeamUsage_failingSinkKeepsAndRetries(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""))
	f.send(t, user1, 3)
	f.sink.FailWith(errCanary)

	err := f.flush(t)
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	require.ErrorIs(t, err, errCanary, "the cause stays reachable")
	assert.NotContains(t, err.Error(), canaryCause, "but is never printed")
	counters, requests := resolve.UsageHeld(f.r)
	assert.Equal(t, [2]int64{1, 3}, [2]int64{counters, requests}, "kept")

	f.send(t, user1, 2)
	f.send(t, user2, 1)
	require.Error(t, f.flush(t))
	assert.Empty(t, f.sink.All())

	f.sink.FailWith(nil)
	require.NoError(t, f.flush(t))
	assert.Equal(t, []resolve.TeamUse{
		teamUse(user2, resolve.TeamGateway, providers.Gateway, 1),
		teamUse(user1, resolve.TeamGateway, providers.Gateway, 5),
	}, f.sink.All(), "the retry carries everything kept, each request once")
	counters, requests = resolve.UsageHeld(f.r)
	assert.Equal(t, [2]int64{0, 0}, [2]int64{counters, requests})
	assert.Equal(t, 3, f.sink.Calls())

	// Close with a failing sink fails and keeps the counts; Close again sends them.
	f.send(t, user1, 1)
	f.sink.FailWith(errCanary)
	err = f.r.Close(t.Context())
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	assert.NotContains(t, err.Error(), canaryCause)
	f.sink.FailWith(nil)
	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, int64(6), f.sink.Requests(user1, resolve.TeamGateway))
}

func TestTeamUsage_boundDropsAndCounts(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	f := newUsageFixture(t, teamGateway("t-gw", ""), resolve.WithUsageMax(3), resolve.WithMeterProvider(mp))
	users := []string{"u-1", "u-2", "u-3", "u-4", "u-5"}
	for _, u := range users {
		f.send(t, u, 1)
	}
	f.send(t, "u-1", 2) // an existing counter keeps counting past the bound
	assert.EqualValues(t, 7, f.hits.Load(), "no request was held back")
	counters, requests := resolve.UsageHeld(f.r)
	assert.Equal(t, [2]int64{3, 5}, [2]int64{counters, requests})

	dropped := func() map[attribute.Distinct]int64 {
		return metricValues(t, reader)["github.com/byok-go/byok/resolve byok.resolve.usage.dropped {request}"]
	}
	assert.Equal(t, map[attribute.Distinct]int64{attrs("reason", "full"): 2}, dropped())

	// A failed flush keeps its counters, and they still take room.
	f.sink.FailWith(errCanary)
	require.Error(t, f.flush(t))
	f.send(t, "u-6", 1)
	assert.Equal(t, map[attribute.Distinct]int64{attrs("reason", "full"): 3}, dropped())

	// A flush that succeeds makes room again.
	f.sink.FailWith(nil)
	require.NoError(t, f.flush(t))
	f.send(t, "u-7", 1)
	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, int64(3), f.sink.Requests("u-1", resolve.TeamGateway))
	assert.Equal(t, int64(1), f.sink.Requests("u-7", resolve.TeamGateway))
	assert.Zero(t, f.sink.Requests("u-4", resolve.TeamGateway)+f.sink.Requests("u-5", resolve.TeamGateway)+
		f.sink.Requests("u-6", resolve.TeamGateway))

	// After Close, requests still go out; they are dropped and counted.
	f.send(t, "u-1", 2)
	assert.EqualValues(t, 11, f.hits.Load())
	assert.Equal(t, map[attribute.Distinct]int64{attrs("reason", "full"): 3, attrs("reason", "closed"): 2}, dropped())
	assert.Equal(t, int64(3), f.sink.Requests("u-1", resolve.TeamGateway))
	assert.Equal(t, map[attribute.Distinct]int64{attrs("outcome", "ok"): 2, attrs("outcome", "error"): 1},
		metricValues(t, reader)["github.com/byok-go/byok/resolve byok.resolve.usage.flushes {call}"])
}

// batchSink passes calls on to a resolvetest.Usage and records each call's size.
type batchSink struct {
	*resolvetest.Usage
	mu    sync.Mutex
	sizes []int
}

func (s *batchSink) RecordTeamUse(ctx context.Context, uses []resolve.TeamUse) error {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(uses))
	s.mu.Unlock()
	return s.Usage.RecordTeamUse(ctx, uses)
}

func TestTeamUsage_largeFlushesGoInBoundedCalls(t *testing.T) {
	sink := &batchSink{Usage: resolvetest.NewUsage()}
	f := newUsageFixtureWith(t, sink, teamGateway("t-gw", ""))
	users := resolve.MaxUsesPerFlush + 5
	for i := range users {
		p, _, err := f.r.Resolve(t.Context(), fmt.Sprintf("user-%05d", i))
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodGet, p.BaseURL+"/models", nil)
		require.NoError(t, err)
		_, err = p.Transport(okBase{}).RoundTrip(req)
		require.NoError(t, err)
	}
	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, []int{resolve.MaxUsesPerFlush, 5}, sink.sizes)
	assert.Len(t, sink.All(), users)
}

// okBase answers every request 200 without a network.
type okBase struct{}

func (okBase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func TestTeamUsage_concurrent(t *testing.T) {
	f := newUsageFixture(t, teamGateway("t-gw", ""), resolve.WithCache(time.Hour), resolve.WithGatewayBYOK())
	f.keys.Put(user2, providers.OpenAI, "sk-user2")
	users := []string{user1, user2, "u-3", "u-4"}
	const workers, perWorker = 8, 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var flushes sync.WaitGroup
	flushes.Go(func() {
		for {
			select {
			case <-stop:
				return
			case f.ticks <- time.Now():
				<-f.flushed
			}
		}
	})
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				p, _, err := f.r.Resolve(context.Background(), users[(w+i)%len(users)])
				if err != nil {
					t.Error(err)
					return
				}
				req, _ := http.NewRequest(http.MethodGet, p.BaseURL+"/models", nil)
				if _, err := p.Transport(okBase{}).RoundTrip(req); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	flushes.Wait()
	require.NoError(t, f.r.Close(t.Context()))
	per := int64(workers * perWorker / len(users))
	assert.Equal(t, []resolve.TeamUse{
		teamUse(user2, resolve.GatewayBYOK, providers.Gateway, per),
		teamUse(user1, resolve.TeamGateway, providers.Gateway, per),
		teamUse("u-3", resolve.TeamGateway, providers.Gateway, per),
		teamUse("u-4", resolve.TeamGateway, providers.Gateway, per),
	}, f.sink.All())
}

// hangingSink blocks every call until release is closed; with honorCtx, it returns
// early when ctx ends.
type hangingSink struct {
	honorCtx bool
	entered  chan struct{}
	release  chan struct{}
	inner    *resolvetest.Usage
}

func (s *hangingSink) RecordTeamUse(ctx context.Context, uses []resolve.TeamUse) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	if s.honorCtx {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		<-s.release
	}
	return s.inner.RecordTeamUse(context.WithoutCancel(ctx), uses)
}

func TestTeamUsage_hangingSinkIsBoundedByTheStoreTimeout(t *testing.T) {
	sink := &hangingSink{honorCtx: true, entered: make(chan struct{}, 1), release: make(chan struct{}), inner: resolvetest.NewUsage()}
	f := newUsageFixtureWith(t, sink, teamGateway("t-gw", ""), resolve.WithStoreTimeout(10*time.Millisecond))
	f.send(t, user1, 2)
	err := f.flush(t) // returns: the store timeout ended the sink's context
	require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, requests := resolve.UsageHeld(f.r)
	assert.EqualValues(t, 2, requests, "kept")

	close(sink.release)
	require.NoError(t, f.r.Close(t.Context()))
	assert.Equal(t, []resolve.TeamUse{teamUse(user1, resolve.TeamGateway, providers.Gateway, 2)}, sink.inner.All())
}

func TestTeamUsage_closeHonorsItsContextWhileASinkIgnoresIts(t *testing.T) {
	sink := &hangingSink{entered: make(chan struct{}, 1), release: make(chan struct{}), inner: resolvetest.NewUsage()}
	f := newUsageFixtureWith(t, sink, teamGateway("t-gw", ""))
	f.send(t, user1, 2)
	f.ticks <- time.Now()
	select {
	case <-sink.entered: // the periodic flush is stuck in the sink
	case <-time.After(30 * time.Second):
		t.Fatal("the flush never reached the sink")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := f.r.Close(ctx)
	require.ErrorIs(t, err, context.Canceled)
	f.send(t, user1, 1) // counting stopped at the first Close: dropped
	assert.True(t, resolve.UsageRunning(f.r), "the goroutine is still in the sink")

	close(sink.release)
	require.NoError(t, <-f.flushed)
	require.NoError(t, f.r.Close(t.Context()))
	assert.False(t, resolve.UsageRunning(f.r))
	assert.Equal(t, []resolve.TeamUse{teamUse(user1, resolve.TeamGateway, providers.Gateway, 2)}, sink.inner.All())
}

func TestTeamUsage_goroutineLifetime(t *testing.T) {
	sink := resolvetest.NewUsage()
	r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), teamGateway("t-gw", ""), resolve.WithTeamUsage(sink, time.Hour))
	assert.True(t, resolve.UsageRunning(r), "New starts it")
	require.NoError(t, r.Close(t.Context()))
	assert.False(t, resolve.UsageRunning(r), "Close stops it")
	require.NoError(t, r.Close(t.Context()), "a second Close is fine")
	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err, "Resolve works after Close")

	plain := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), teamGateway("t-gw", ""))
	assert.False(t, resolve.UsageRunning(plain))
	require.NoError(t, plain.Close(t.Context()), "nothing to close")
}

func TestTeamUsage_invalidOptions(t *testing.T) {
	for name, opt := range map[string]resolve.Option{
		"nil sink":       resolve.WithTeamUsage(nil, time.Minute),
		"zero interval":  resolve.WithTeamUsage(resolvetest.NewUsage(), 0),
		"below a second": resolve.WithTeamUsage(resolvetest.NewUsage(), 999*time.Millisecond),
		"negative":       resolve.WithTeamUsage(resolvetest.NewUsage(), -time.Minute),
		"empty secret":   resolve.WithGatewayAttribution(nil),
		"31-byte secret": resolve.WithGatewayAttribution([]byte(strings.Repeat("s", 31))),
	} {
		t.Run(name, func(t *testing.T) {
			r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), teamGateway("t-gw", ""), opt,
				resolve.WithTeamUsage(resolvetest.NewUsage(), time.Hour))
			_, _, err := r.Resolve(t.Context(), user1)
			require.ErrorIs(t, err, resolve.ErrInvalidConfig)
			assert.False(t, resolve.UsageRunning(r), "an invalid Resolver starts no goroutine")
			require.NoError(t, r.Close(t.Context()))
		})
	}
}
