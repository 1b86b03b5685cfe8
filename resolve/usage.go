package resolve

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/byok-go/byok/internal/teamusage"
	"github.com/byok-go/byok/internal/telemetry"
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
		c.usage.Send, c.usage.Every = sendTo(sink), flushEvery
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
	err := r.usage.Close(ctx)
	if err == nil || ctx.Err() == nil {
		return err // nil, or the sink's *Error
	}
	e := &Error{Step: StepUsage, Kind: ctx.Err()}
	if err != ctx.Err() { // the sink's error, after ctx ended
		e.Cause = err
	}
	return e
}

// countTeamUse counts one request sent by a Transport of o's Provider to id, when the
// team pays for it.
func (r *Resolver) countTeamUse(o *origin, id providers.ID) {
	if isTeamPath(o.path) {
		r.usage.Add(o.user, string(o.path), id)
	}
}

// isTeamPath reports whether requests on path are paid by the team.
func isTeamPath(path Path) bool {
	return path == TeamGateway || path == ServerProvider || path == GatewayBYOK
}

// newUsage returns the team usage counter of cfg, each periodic flush bounded by
// timeout, and starts its flush goroutine (package teamusage has the mechanism).
func newUsage(cfg teamusage.Config, timeout time.Duration, mp metric.MeterProvider) *teamusage.Counter {
	cfg.Timeout, cfg.Batch = timeout, MaxUsesPerFlush
	if cfg.Max <= 0 {
		cfg.Max = MaxUsageCounters
	}
	if meter := meterOf(mp); meter != nil {
		cfg.Dropped = telemetry.Counter(meter, MetricUsageDropped, "Team-paid requests not counted: the counters were full, or the Resolver was closed.", "{request}")
		cfg.Flushes = telemetry.Counter(meter, MetricUsageFlushes, "Calls to the team usage sink, by outcome.", "{call}")
	}
	return teamusage.New(cfg)
}

// sendTo returns the counter's Send: one sink call per batch, as TeamUses.
func sendTo(sink UsageSink) func(context.Context, []teamusage.Use) error {
	return func(ctx context.Context, uses []teamusage.Use) error {
		out := make([]TeamUse, len(uses))
		for i, u := range uses {
			out[i] = TeamUse{UserID: u.UserID, Day: u.Day, Path: Path(u.Path), Provider: u.Provider, Requests: u.Requests}
		}
		if err := sink.RecordTeamUse(ctx, out); err != nil {
			return &Error{Step: StepUsage, Kind: ErrStoreUnavailable, Cause: err}
		}
		return nil
	}
}
