// Package teamusage counts team-paid requests per (user, UTC day, path, provider) in
// bounded counters and hands the counts to a sink in the background (package tally has
// the mechanism), recording what it drops and each call to the sink.
package teamusage

import (
	"cmp"
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/byok-go/byok/internal/tally"
	"github.com/byok-go/byok/internal/telemetry"
	"github.com/byok-go/byok/providers"
)

// Use is a count of requests sent for one user, on one UTC day, on one path, to one
// provider.
type Use struct {
	UserID   string
	Day      time.Time // UTC midnight of the day the requests were sent
	Path     string    // the label Add was given
	Provider providers.ID
	Requests int64
}

// Config configures a [Counter]. Send and Every (or Ticks) are required.
type Config struct {
	// Send stores uses: it adds each Use's Requests to what is stored for its (user,
	// day, path, provider), and returns when ctx is done. On an error the Counter
	// assumes nothing was stored, keeps the counts and sends them again with the next
	// flush; the error is returned as it is.
	Send func(ctx context.Context, uses []Use) error
	// Every is the flush interval, unless Ticks is set (tests): then every value
	// received from Ticks starts a flush.
	Every time.Duration
	Ticks <-chan time.Time
	// Now dates each request (tests replace it); nil: time.Now.
	Now func() time.Time
	// Timeout bounds each periodic flush.
	Timeout time.Duration
	// Max bounds the counters held, those not yet sent included. 0: no bound.
	Max int
	// Batch bounds the uses of one Send call; a flush with more makes several calls, in
	// sequence. 0: no bound.
	Batch int
	// Flushed, when set, is told of the outcome of each periodic flush, after it ends
	// (tests).
	Flushed func(error)
	// Dropped, when set, counts the requests not counted, with attribute "reason":
	// "full" (Max counters held) or "closed" (added after Close). Flushes, when set,
	// counts the Send calls, with attribute "outcome": "ok" or "error".
	Dropped, Flushes metric.Int64Counter
}

// Counter counts requests per (user, UTC day, path, provider) and flushes the counts to
// Config.Send, every Config.Every on a goroutine of its own, until [Counter.Close]. Add
// on a nil *Counter counts nothing. It is safe for concurrent use.
type Counter struct {
	counts  *tally.Counter[key]
	now     func() time.Time
	metrics *metrics
}

// key identifies one counter.
type key struct {
	user string
	day  int64 // days since the Unix epoch, UTC
	path string
	id   providers.ID
}

// New returns the Counter of cfg and starts its flush goroutine (on cfg.Ticks when set,
// a ticker of cfg.Every otherwise).
func New(cfg Config) *Counter {
	c := &Counter{now: cfg.Now, metrics: newMetrics(cfg.Dropped, cfg.Flushes)}
	if c.now == nil {
		c.now = time.Now
	}
	c.counts = tally.New(tally.Config[key]{
		Send:    c.sender(cfg.Send),
		Compare: compareKeys,
		Every:   cfg.Every,
		Ticks:   cfg.Ticks,
		Timeout: cfg.Timeout,
		Max:     cfg.Max,
		Batch:   cfg.Batch,
		Flushed: cfg.Flushed,
	})
	return c
}

// sender returns the tally's Send: one call of send per batch, as Uses, counted in
// Flushes.
func (c *Counter) sender(send func(context.Context, []Use) error) func(context.Context, []tally.Count[key]) error {
	return func(ctx context.Context, counts []tally.Count[key]) error {
		uses := make([]Use, len(counts))
		for i, n := range counts {
			uses[i] = Use{UserID: n.Key.user, Day: time.Unix(n.Key.day*secondsPerDay, 0).UTC(), Path: n.Key.path, Provider: n.Key.id, Requests: n.N}
		}
		err := send(ctx, uses)
		c.metrics.flushed(err)
		return err
	}
}

const secondsPerDay = 24 * 60 * 60

// dayOf returns the UTC day of t, in days since the Unix epoch.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 { // before 1970 (a broken clock): round down all the same
		d--
	}
	return d
}

// Add counts one request for user on path to id, dated by Config.Now. Past Config.Max
// counters, or after Close, the request is not counted and the drop is recorded.
func (c *Counter) Add(user, path string, id providers.ID) {
	if c == nil {
		return
	}
	switch c.counts.Add(user, key{user: user, day: dayOf(c.now()), path: path, id: id}) {
	case tally.Full:
		c.metrics.drop(dropFull)
	case tally.Closed:
		c.metrics.drop(dropClosed)
	}
}

// compareKeys orders counters by user, day, path and provider.
func compareKeys(a, b key) int {
	if c := strings.Compare(a.user, b.user); c != 0 {
		return c
	}
	if c := cmp.Compare(a.day, b.day); c != 0 {
		return c
	}
	if c := strings.Compare(a.path, b.path); c != 0 {
		return c
	}
	return strings.Compare(string(a.id), string(b.id))
}

// Close stops counting (Add drops from then on), stops the flush goroutine, waits for a
// flush in progress and flushes with ctx. It returns ctx.Err() when ctx ends before the
// goroutine has stopped, and otherwise the first error of Send as it is; the counts are
// then kept, and calling Close again sends them again. It is safe to call concurrently
// and more than once.
func (c *Counter) Close(ctx context.Context) error { return c.counts.Close(ctx) }

// Done returns a channel closed once the flush goroutine has returned.
func (c *Counter) Done() <-chan struct{} { return c.counts.Done() }

// Held returns the counters held (counted, or flushed without success) and the requests
// they count.
func (c *Counter) Held() (counters, requests int64) { return c.counts.Held() }

// Reasons for Config.Dropped.
const (
	dropFull = iota
	dropClosed
)

// metrics holds the instruments and their measurement options, built once so that
// recording allocates nothing. A nil *metrics records nothing.
type metrics struct {
	dropped metric.Int64Counter
	flushes metric.Int64Counter
	byDrop  [][]metric.AddOption // by drop reason
	byFlush [][]metric.AddOption // [0 ok, 1 error]
}

// newMetrics returns the metrics of dropped and flushes, or nil when both are nil; a
// nil one of the two records nothing.
func newMetrics(dropped, flushes metric.Int64Counter) *metrics {
	if dropped == nil && flushes == nil {
		return nil
	}
	if dropped == nil {
		dropped = noop.Int64Counter{}
	}
	if flushes == nil {
		flushes = noop.Int64Counter{}
	}
	return &metrics{
		dropped: dropped,
		flushes: flushes,
		byDrop:  telemetry.Options("reason", "full", "closed"), // dropFull, dropClosed
		byFlush: telemetry.Options("outcome", "ok", "error"),
	}
}

func (m *metrics) drop(reason int) {
	if m != nil {
		m.dropped.Add(context.Background(), 1, m.byDrop[reason]...)
	}
}

func (m *metrics) flushed(err error) {
	if m == nil {
		return
	}
	i := 0
	if err != nil {
		i = 1
	}
	m.flushes.Add(context.Background(), 1, m.byFlush[i]...)
}
