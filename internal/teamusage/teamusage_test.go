package teamusage_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/byok-go/byok/internal/teamusage"
	"github.com/byok-go/byok/internal/testkit"
	"github.com/byok-go/byok/providers"
)

// sink is a Send that records every call and fails while err is set.
type sink struct {
	mu    sync.Mutex
	err   error
	calls [][]teamusage.Use
}

func (s *sink) send(_ context.Context, uses []teamusage.Use) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, slices.Clone(uses))
	return s.err
}

func (s *sink) failWith(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// last returns the uses of the last call.
func (s *sink) last(t *testing.T) []teamusage.Use {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.calls, "no call")
	return s.calls[len(s.calls)-1]
}

func (s *sink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// fixture is a Counter over a sink, dated by a clock the test sets, that flushes when
// the test says so and records its metrics in reader.
type fixture struct {
	c       *teamusage.Counter
	sink    *sink
	now     atomic.Pointer[time.Time]
	ticks   chan time.Time
	flushed chan error
	reader  *sdkmetric.ManualReader
}

func newFixture(t *testing.T, max int) *fixture {
	t.Helper()
	f := &fixture{sink: &sink{}, ticks: make(chan time.Time), flushed: make(chan error, 16), reader: sdkmetric.NewManualReader()}
	f.at("2026-12-03T15:04:05Z")
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	meter := mp.Meter("test")
	dropped, err := meter.Int64Counter("dropped")
	require.NoError(t, err)
	flushes, err := meter.Int64Counter("flushes")
	require.NoError(t, err)
	f.c = teamusage.New(teamusage.Config{
		Send:    f.sink.send,
		Every:   time.Hour,
		Ticks:   f.ticks,
		Now:     func() time.Time { return *f.now.Load() },
		Timeout: time.Minute,
		Max:     max,
		Flushed: func(err error) { f.flushed <- err },
		Dropped: dropped,
		Flushes: flushes,
	})
	t.Cleanup(func() { _ = f.c.Close(context.Background()) })
	return f
}

// at sets the clock to the RFC 3339 time s.
func (f *fixture) at(s string) {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	f.now.Store(&tm)
}

// flush makes the flush goroutine flush once and returns the outcome.
func (f *fixture) flush(t *testing.T) error {
	t.Helper()
	return testkit.Flush(t, f.ticks, f.flushed)
}

// metric returns the values of the instrument name by attribute key=value.
func (f *fixture) metric(t *testing.T, name, key string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, f.reader.Collect(t.Context(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key(key))
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// Each request is dated by the UTC day of the clock, whatever the clock's zone; a clock
// before 1970 still gives a whole day, the one before the epoch's.
func TestCounter_dayIsTheUTCDay(t *testing.T) {
	f := newFixture(t, 0)
	for _, at := range []string{
		"2026-12-03T23:59:59Z",
		"2026-12-04T09:59:59+10:00", // 23:59:59Z on the 3rd
		"2026-12-03T19:00:00-05:00", // 00:00:00Z on the 4th
		"2026-12-04T00:00:00Z",
		"1970-01-01T00:00:00Z",
		"1969-12-31T23:59:59Z", // one second before the epoch: the day before it
		"1969-12-31T00:00:00Z", // a whole day before: the same day
		"1969-12-30T23:59:59Z",
		"1970-01-01T00:59:59+01:00", // 23:59:59Z on 1969-12-31
	} {
		f.at(at)
		f.c.Add("u", "team-gateway", providers.Gateway)
	}
	require.NoError(t, f.c.Close(t.Context()))
	uses := f.sink.last(t)
	assert.Equal(t, []teamusage.Use{
		{UserID: "u", Day: day("1969-12-30"), Path: "team-gateway", Provider: providers.Gateway, Requests: 1},
		{UserID: "u", Day: day("1969-12-31"), Path: "team-gateway", Provider: providers.Gateway, Requests: 3},
		{UserID: "u", Day: day("1970-01-01"), Path: "team-gateway", Provider: providers.Gateway, Requests: 1},
		{UserID: "u", Day: day("2026-12-03"), Path: "team-gateway", Provider: providers.Gateway, Requests: 2},
		{UserID: "u", Day: day("2026-12-04"), Path: "team-gateway", Provider: providers.Gateway, Requests: 2},
	}, uses)
	for _, u := range uses {
		assert.Equal(t, time.UTC, u.Day.Location(), "the day is UTC midnight")
	}
}

// A flush sends its counters ordered by user, then day, then path, then provider, so
// that the same counts make the same calls.
func TestCounter_ordersByUserDayPathProvider(t *testing.T) {
	f := newFixture(t, 0)
	add := func(at, user, path string, id providers.ID) {
		f.at(at)
		f.c.Add(user, path, id)
	}
	// Added in an order that none of the four fields alone would sort.
	add("2026-12-04T10:00:00Z", "b", "a-path", providers.Anthropic)
	add("2026-12-03T10:00:00Z", "b", "z-path", providers.Anthropic)
	add("2026-12-04T10:00:00Z", "a", "b-path", providers.OpenAI)
	add("2026-12-04T10:00:00Z", "a", "b-path", providers.Anthropic)
	add("2026-12-04T10:00:00Z", "a", "a-path", providers.OpenAI)
	add("2026-12-05T10:00:00Z", "a", "a-path", providers.Anthropic)
	require.NoError(t, f.flush(t))

	type k struct {
		user string
		day  time.Time
		path string
		id   providers.ID
	}
	var got []k
	for _, u := range f.sink.last(t) {
		got = append(got, k{u.UserID, u.Day, u.Path, u.Provider})
	}
	assert.Equal(t, []k{
		{"a", day("2026-12-04"), "a-path", providers.OpenAI},
		{"a", day("2026-12-04"), "b-path", providers.Anthropic},
		{"a", day("2026-12-04"), "b-path", providers.OpenAI},
		{"a", day("2026-12-05"), "a-path", providers.Anthropic},
		{"b", day("2026-12-03"), "z-path", providers.Anthropic},
		{"b", day("2026-12-04"), "a-path", providers.Anthropic},
	}, got)
}

// Past Max counters, a request on a new counter is dropped (reason "full") while the
// counters held keep counting; a flush that succeeds makes room again.
func TestCounter_boundDropsNewCountersAsFull(t *testing.T) {
	f := newFixture(t, 2)
	f.c.Add("u-1", "team-gateway", providers.Gateway)
	f.c.Add("u-2", "team-gateway", providers.Gateway)
	f.c.Add("u-3", "team-gateway", providers.Gateway) // a third counter: dropped
	f.c.Add("u-1", "server-provider", providers.OpenAI)
	f.c.Add("u-1", "team-gateway", providers.Gateway) // held: counts
	counters, requests := f.c.Held()
	assert.Equal(t, [2]int64{2, 3}, [2]int64{counters, requests})
	assert.Equal(t, map[string]int64{"full": 2}, f.metric(t, "dropped", "reason"))

	require.NoError(t, f.flush(t))
	f.c.Add("u-3", "team-gateway", providers.Gateway)
	require.NoError(t, f.c.Close(t.Context()))
	assert.Equal(t, []teamusage.Use{
		{UserID: "u-3", Day: day("2026-12-03"), Path: "team-gateway", Provider: providers.Gateway, Requests: 1},
	}, f.sink.last(t))
	assert.Equal(t, map[string]int64{"full": 2}, f.metric(t, "dropped", "reason"))
}

// After Close, Add counts nothing, sends nothing and records the drop as "closed".
func TestCounter_addAfterCloseIsDroppedAsClosed(t *testing.T) {
	f := newFixture(t, 0)
	f.c.Add("u", "team-gateway", providers.Gateway)
	require.NoError(t, f.c.Close(t.Context()))
	require.Equal(t, 1, f.sink.callCount())

	f.c.Add("u", "team-gateway", providers.Gateway)
	f.c.Add("v", "gateway-byok", providers.Gateway)
	counters, requests := f.c.Held()
	assert.Equal(t, [2]int64{0, 0}, [2]int64{counters, requests})
	assert.Equal(t, map[string]int64{"closed": 2}, f.metric(t, "dropped", "reason"))
	require.NoError(t, f.c.Close(t.Context()), "a second Close")
	assert.Equal(t, 1, f.sink.callCount(), "nothing more to send")
	select {
	case <-f.c.Done():
	default:
		t.Error("the flush goroutine still runs after Close")
	}
}

// A Send that fails keeps the counts: they stay held and go with the next flush, added
// to what was counted since, each request once. Flushes counts each call by outcome, and
// the error reaches Flushed and Close as Send returned it.
func TestCounter_failingSendKeepsCounts(t *testing.T) {
	f := newFixture(t, 0)
	errSink := errors.New("sink down")
	f.c.Add("u", "team-gateway", providers.Gateway)
	f.c.Add("u", "team-gateway", providers.Gateway)
	f.sink.failWith(errSink)
	require.ErrorIs(t, f.flush(t), errSink)
	counters, requests := f.c.Held()
	assert.Equal(t, [2]int64{1, 2}, [2]int64{counters, requests}, "kept")

	f.c.Add("u", "team-gateway", providers.Gateway)
	require.ErrorIs(t, f.c.Close(t.Context()), errSink, "Close fails too, and keeps them")
	f.sink.failWith(nil)
	require.NoError(t, f.c.Close(t.Context()), "Close again sends them")
	assert.Equal(t, []teamusage.Use{
		{UserID: "u", Day: day("2026-12-03"), Path: "team-gateway", Provider: providers.Gateway, Requests: 3},
	}, f.sink.last(t))
	counters, requests = f.c.Held()
	assert.Equal(t, [2]int64{0, 0}, [2]int64{counters, requests})
	assert.Equal(t, map[string]int64{"ok": 1, "error": 2}, f.metric(t, "flushes", "outcome"))
}

// A Config without instruments records nothing and counts all the same; a nil *Counter
// counts nothing.
func TestCounter_withoutMetrics(t *testing.T) {
	s := &sink{}
	c := teamusage.New(teamusage.Config{Send: s.send, Every: time.Hour, Max: 1})
	before := time.Now().UTC().Truncate(24 * time.Hour)
	c.Add("u", "team-gateway", providers.Gateway)
	after := time.Now().UTC().Truncate(24 * time.Hour)
	c.Add("v", "team-gateway", providers.Gateway) // full: dropped, recorded nowhere
	require.NoError(t, c.Close(t.Context()))
	c.Add("u", "team-gateway", providers.Gateway) // closed
	uses := s.last(t)
	require.Len(t, uses, 1)
	assert.Equal(t, "u", uses[0].UserID)
	assert.Contains(t, []time.Time{before, after}, uses[0].Day, "dated by time.Now")

	var none *teamusage.Counter
	none.Add("u", "team-gateway", providers.Gateway)
}
