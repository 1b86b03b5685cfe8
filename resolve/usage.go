package resolve

import (
	"cmp"
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/byok-go/byok/internal/tally"
	"github.com/byok-go/byok/providers"
)

// TeamUse is a count of requests the team paid for: those [Provider.Transport] sent for
// one user, on one UTC day, on one team path, to one provider.
type TeamUse struct {
	UserID   string
	Day      time.Time    // UTC midnight of the day the requests were sent
	Path     Path         // TeamGateway, ServerProvider or GatewayBYOK
	Provider providers.ID // Provider.ID: the gateway on TeamGateway and GatewayBYOK
	Requests int64
}

// ConsentEvent is one change of a user's consent to team fallback, as a store recorded
// it (package usage reads them from public.byok_consent_events).
type ConsentEvent struct {
	Allow  bool      // the new value of allow_gateway_fallback
	At     time.Time // when it was written
	Source string    // who wrote it: "api" (the service role), "user" (the user's own token) or "sql"
}

// UsageSink stores counts of team-paid requests. RecordTeamUse adds each use's Requests
// to what is stored for its (user, day, path, provider); it must return when ctx is done.
// An error means nothing is assumed stored: the Resolver keeps the counts and sends them
// again. Implementations are safe for concurrent use. Package usage has the Supabase one;
// resolvetest.Usage is an in-memory one.
type UsageSink interface {
	RecordTeamUse(ctx context.Context, uses []TeamUse) error
}

// Metrics of team usage counting (see [WithTeamUsage]).
const (
	// MetricUsageDropped counts team-paid requests that were not counted
	// ("{request}"). Attribute "reason": "full" (the Resolver held as many counters as
	// it may) or "closed" (sent after [Resolver.Close]).
	MetricUsageDropped = "byok.resolve.usage.dropped"
	// MetricUsageFlushes counts calls to the UsageSink ("{call}"). Attribute
	// "outcome": "ok" or "error".
	MetricUsageFlushes = "byok.resolve.usage.flushes"
)

// MinUsageFlush is the shortest flush interval [WithTeamUsage] accepts.
const MinUsageFlush = time.Second

// Bounds of team usage counting.
const (
	// MaxUsageCounters bounds the (user, day, path, provider) counters a Resolver holds,
	// those not yet flushed included. Past it, requests of new counters are not counted
	// (MetricUsageDropped, reason "full"); existing counters keep counting.
	MaxUsageCounters = 100_000
	// MaxUsesPerFlush bounds the uses of one UsageSink call. A flush with more makes
	// several calls, in sequence.
	MaxUsesPerFlush = 10_000
)

// StepUsage is the [Error.Step] of a failed flush of team usage counts ([Resolver.Close]).
const StepUsage = "usage"

// usageConfig is WithTeamUsage's part of the config.
type usageConfig struct {
	sink     UsageSink
	every    time.Duration
	max      int              // MaxUsageCounters unless tests change it
	ticks    <-chan time.Time // tests: replaces the ticker
	now      func() time.Time // tests: replaces time.Now
	flushErr func(error)      // tests: told of each periodic flush's outcome
}

// WithTeamUsage counts the requests that [Provider.Transport] sends on team credentials
// (the paths team-gateway, server-provider and gateway-byok) per (user, UTC day, path,
// provider), and hands the counts to sink every flushEvery. User paths are not counted:
// the user paid.
//
// A request counts when the Transport hands it to its base transport, whatever comes
// back: one that gets no answer may still have been processed and billed upstream, so
// the record errs towards showing more team use, never less. Each HTTP request counts:
// an SDK's retries and followed redirects count once each. Providers from a Resolve call
// carry what they need; a Provider built by hand is never counted.
//
// Counting costs a lock of one of 64 shards and a map increment per request; it never
// calls the sink and never blocks on it. Every flushEvery a background goroutine (started
// by New, stopped by [Resolver.Close]) sends every counter in one sink call (in calls of
// [MaxUsesPerFlush] when there are more), bounded by the store timeout
// ([WithStoreTimeout]); flushes never overlap, and a flush that runs long delays the next
// instead of piling up. When the sink fails, the counts are kept and sent again with the
// next flush. A sink call that timed out after the store had committed is sent again
// too, and those requests are then counted twice: the record is at least once, not
// exactly once.
//
// The Resolver holds at most [MaxUsageCounters] counters, unsent ones included; past the
// bound, a request on a new counter is not counted, the drop is counted in
// [MetricUsageDropped], and the request goes on unhindered. At a crash, what was counted
// since the last successful flush is lost: one flushEvery while the sink works.
//
// Call [Resolver.Close] when the Resolver is done with, to stop the goroutine and flush
// the last counts; a Resolver that is never closed keeps its goroutine for the life of
// the process. A nil sink or a flushEvery below [MinUsageFlush] makes the Resolver
// invalid (ErrInvalidConfig).
func WithTeamUsage(sink UsageSink, flushEvery time.Duration) Option {
	return option(func(c *config) {
		switch {
		case sink == nil:
			c.fail("nil usage sink")
			return
		case flushEvery < MinUsageFlush:
			c.fail("usage flush interval below %v", MinUsageFlush)
			return
		}
		c.usage.sink, c.usage.every = sink, flushEvery
	})
}

// Close stops team usage counting: it stops the flush goroutine, waits for a flush in
// progress, and sends what is counted to the UsageSink. Requests sent after Close are
// not counted (MetricUsageDropped, reason "closed"). When the sink fails, or ctx ends
// first, Close returns an error and keeps the counts; calling Close again sends them
// again. Close does nothing else: Resolve keeps working. Without [WithTeamUsage] it does
// nothing and returns nil. It is safe to call concurrently and more than once.
func (r *Resolver) Close(ctx context.Context) error {
	if r.usage == nil {
		return nil
	}
	return r.usage.close(ctx)
}

// countTeamUse counts one request sent by a Transport of o's Provider to id.
func (r *Resolver) countTeamUse(o *origin, id providers.ID) {
	r.usage.add(o.user, o.path, id)
}

// usageKey identifies one counter.
type usageKey struct {
	user string
	day  int64 // days since the Unix epoch, UTC
	path Path
	id   providers.ID
}

// usage counts team-paid requests per usageKey and flushes them to a sink (package
// tally has the mechanism). A nil *usage counts nothing.
type usage struct {
	counts  *tally.Counter[usageKey]
	now     func() time.Time
	metrics *usageMetrics
}

// newUsage returns the counter of cfg and starts its flush goroutine (on cfg.ticks when
// set, a ticker of cfg.every otherwise), each periodic flush bounded by timeout.
func newUsage(cfg usageConfig, timeout time.Duration, mp metric.MeterProvider) *usage {
	u := &usage{now: cfg.now, metrics: newUsageMetrics(mp)}
	if u.now == nil {
		u.now = time.Now
	}
	max := MaxUsageCounters
	if cfg.max > 0 {
		max = cfg.max
	}
	u.counts = tally.New(tally.Config[usageKey]{
		Send:    u.sender(cfg.sink),
		Compare: compareUsageKeys,
		Every:   cfg.every,
		Ticks:   cfg.ticks,
		Timeout: timeout,
		Max:     max,
		Batch:   MaxUsesPerFlush,
		Flushed: cfg.flushErr,
	})
	return u
}

// sender returns the tally's Send: one sink call per batch, as TeamUses, counted in
// MetricUsageFlushes.
func (u *usage) sender(sink UsageSink) func(context.Context, []tally.Count[usageKey]) error {
	return func(ctx context.Context, counts []tally.Count[usageKey]) error {
		uses := make([]TeamUse, len(counts))
		for i, c := range counts {
			uses[i] = TeamUse{UserID: c.Key.user, Day: time.Unix(c.Key.day*secondsPerDay, 0).UTC(), Path: c.Key.path, Provider: c.Key.id, Requests: c.N}
		}
		err := sink.RecordTeamUse(ctx, uses)
		u.metrics.flushed(err)
		if err != nil {
			return &Error{Step: StepUsage, Kind: ErrStoreUnavailable, Cause: err}
		}
		return nil
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

// isTeamPath reports whether requests on path are paid by the team.
func isTeamPath(path Path) bool {
	return path == TeamGateway || path == ServerProvider || path == GatewayBYOK
}

// add counts one request on a team path, dated by the usage clock.
func (u *usage) add(user string, path Path, id providers.ID) {
	if u == nil || !isTeamPath(path) {
		return
	}
	switch u.counts.Add(user, usageKey{user: user, day: dayOf(u.now()), path: path, id: id}) {
	case tally.Full:
		u.metrics.drop(dropFull)
	case tally.Closed:
		u.metrics.drop(dropClosed)
	}
}

// compareUsageKeys orders counters by user, day, path and provider.
func compareUsageKeys(a, b usageKey) int {
	if c := strings.Compare(a.user, b.user); c != 0 {
		return c
	}
	if c := cmp.Compare(a.day, b.day); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.path), string(b.path)); c != 0 {
		return c
	}
	return strings.Compare(string(a.id), string(b.id))
}

// close stops counting, stops the goroutine and flushes with ctx.
func (u *usage) close(ctx context.Context) error {
	err := u.counts.Close(ctx)
	if err == nil || ctx.Err() == nil {
		return err // nil, or the sink's *Error
	}
	e := &Error{Step: StepUsage, Kind: ctx.Err()}
	if err != ctx.Err() { // the sink's error, after ctx ended
		e.Cause = err
	}
	return e
}

// Reasons for MetricUsageDropped.
const (
	dropFull = iota
	dropClosed
	numDropReasons
)

// usageMetrics holds the usage instruments and their measurement options, built once so
// that recording allocates nothing. A nil *usageMetrics records nothing.
type usageMetrics struct {
	dropped metric.Int64Counter
	flushes metric.Int64Counter
	byDrop  [numDropReasons][]metric.AddOption
	byFlush [2][]metric.AddOption // [0 ok, 1 error]
}

func newUsageMetrics(mp metric.MeterProvider) *usageMetrics {
	meter := meterOf(mp)
	if meter == nil {
		return nil
	}
	m := &usageMetrics{
		dropped: counter(meter, MetricUsageDropped, "Team-paid requests not counted: the counters were full, or the Resolver was closed.", "{request}"),
		flushes: counter(meter, MetricUsageFlushes, "Calls to the team usage sink, by outcome.", "{call}"),
	}
	for i, reason := range [numDropReasons]string{"full", "closed"} {
		m.byDrop[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason)))}
	}
	for i, outcome := range [2]string{"ok", "error"} {
		m.byFlush[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome)))}
	}
	return m
}

func (m *usageMetrics) drop(reason int) {
	if m != nil {
		m.dropped.Add(context.Background(), 1, m.byDrop[reason]...)
	}
}

func (m *usageMetrics) flushed(err error) {
	if m == nil {
		return
	}
	i := 0
	if err != nil {
		i = 1
	}
	m.flushes.Add(context.Background(), 1, m.byFlush[i]...)
}
