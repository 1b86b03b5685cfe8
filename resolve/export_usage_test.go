package resolve

import "time"

// WithUsageTicks makes the usage flush goroutine flush on every value of ticks instead of
// every flushEvery, so tests flush when they choose.
func WithUsageTicks(ticks <-chan time.Time) Option {
	return option(func(c *config) { c.usage.Ticks = ticks })
}

// WithUsageClock replaces the clock that dates counted requests.
func WithUsageClock(now func() time.Time) Option {
	return option(func(c *config) { c.usage.Now = now })
}

// WithUsageMax replaces MaxUsageCounters.
func WithUsageMax(n int) Option {
	return option(func(c *config) { c.usage.Max = n })
}

// WithUsageFlushHook has fn told of the outcome of each periodic flush, after it ends.
func WithUsageFlushHook(fn func(error)) Option {
	return option(func(c *config) { c.usage.Flushed = fn })
}

// UsageHeld returns the distinct counters a Resolver holds (counted, or flushed without
// success) and the requests they count.
func UsageHeld(r *Resolver) (counters, requests int64) { return r.usage.Held() }

// UsageRunning reports whether the Resolver's usage flush goroutine is running.
func UsageRunning(r *Resolver) bool {
	if r.usage == nil {
		return false
	}
	select {
	case <-r.usage.Done():
		return false
	default:
		return true
	}
}
