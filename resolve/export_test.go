package resolve

import (
	"net/http"
	"time"
)

// WithClock replaces the cache's clocks with now, the time elapsed since some origin,
// so tests can expire entries without sleeping. It is also the clock of the
// once-a-minute bound on key health reports.
func WithClock(now func() time.Duration) Option {
	return option(func(c *config) { c.clock = now })
}

// CacheUsers returns the number of users holding cache entries, live or expired.
func CacheUsers(r *Resolver) int { return r.cache.Size() }

// CacheFlights returns the number of users with a shared resolution in progress.
func CacheFlights(r *Resolver) int { return r.cache.InFlight() }

// SweepCache removes expired entries at once, as the background sweep does.
func SweepCache(r *Resolver) { r.cache.Sweep() }

// HTTPClientOver is Provider.HTTPClient over base instead of the guarded transport, so
// tests can reach local servers through everything else HTTPClient sets up.
func HTTPClientOver(p Provider, base http.RoundTripper) *http.Client { return p.client(base) }

// WithDrainTimeout replaces how long key health reads on an error body its caller closed
// before its end.
func WithDrainTimeout(d time.Duration) Option {
	return option(func(c *config) { c.drainTimeout = d })
}

// WaitKeyReports returns once the Resolver's key health has no report in progress.
func WaitKeyReports(r *Resolver) {
	if r.health != nil {
		r.health.Wait()
	}
}
