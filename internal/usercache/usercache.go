// Package usercache holds per-user immutable values in a lock-free map, with shared
// flights per (user, key) that invalidation makes stale, and a lock-free sweep of users
// whose values have all expired.
package usercache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byok-go/byok/internal/monoclock"
)

// MinSweepEvery is the shortest interval between two sweeps of expired values.
const MinSweepEvery = time.Second

// ErrCallerDone is what [Cache.Shared] returns when its caller's ctx ends before the
// flight: the flight runs on without that caller.
var ErrCallerDone = errors.New("usercache: caller's context done before the flight")

// Config configures a [Cache]: a user's value V holds the results R of some keys, each
// until it expires. The clocks (Clock, or package monoclock) count nanoseconds from an
// origin; now and expires are their readings.
type Config[V comparable, R any] struct {
	// TTL is how long a stored result lives.
	TTL time.Duration
	// Gates: the cache is read and written only while every gate returns true (none:
	// always). They are called on every [Cache.Open] and must be fast and safe for
	// concurrent use.
	Gates []func() bool
	// Clock, when set, replaces both clocks with the time elapsed since some origin
	// (tests only), so tests can expire values without sleeping.
	Clock func() time.Duration
	// Timeout bounds each flight, which ends with TimeoutCause as its ctx's cause when
	// the timeout passes; it must be positive. A flight keeps the ctx values of the
	// caller that started it but not its cancellation, so one caller giving up does not
	// fail the others, and the timeout bounds it instead.
	Timeout      time.Duration
	TimeoutCause error
	// Users is the map of user id to V, which the Cache writes and the caller reads: a
	// hot path's Users.Load on a map of its own inlines, where a method wrapping it, or
	// a map inside this generic type, would not. Every write goes through the Cache.
	Users *sync.Map
	// Find returns the user's live result for key, read as a hit reads it (Users and the
	// coarse clock). It is called under the Cache's lock, on a miss, to find the result
	// of a flight that ended since the caller's read.
	Find func(user, key string) (R, bool)
	// Store returns the user's new value: r for key, expiring at expires, and what else
	// of old (the zero V for a user without a value) the value keeps at now. It is called
	// under the Cache's lock, so the stores of one user are serialized; the value it
	// returns is published as it is and never modified again.
	Store func(old V, key string, r R, now, expires int64) V
	// Live reports whether any result of v is live at now (the sweep).
	Live func(v V, now int64) bool
}

// Cache holds one immutable value per user and the flights that fill it, each giving
// the result of one (user, key). It is safe for concurrent use; it must be made with
// [Cache.Init] before any other method is called, and not copied after.
//
// A read is lock-free and allocation-free: one lookup by user in the caller's Config.Users, and a
// comparison of the expiries the caller finds in the value with the coarse clock
// (monoclock.Coarse, or [Cache.TestClock]), all in the caller's code. Nothing runs per
// value in the background: an expired value is simply not served, and a sweep, started
// at most once per max(ttl, MinSweepEvery) by a miss, walks the map without holding a
// lock and removes users whose values have all expired.
//
// Misses of one (user, key) share one flight. Flights are the only per-user state
// besides stored values, and a flight leaves the table when it ends, whatever its
// outcome, so a user whose flight fails leaves nothing behind. Invalidate marks the
// user's flights stale and removes them from the table: a caller arriving later starts
// a new flight instead of joining a stale one, and a stale flight does not store its
// result. Writes, flight bookkeeping and invalidation take mu.
type Cache[V comparable, R any] struct {
	ttl       int64         // result lifetime, in the clocks' nanoseconds
	timeout   time.Duration // bound on each flight
	cause     error         // the ctx cause of a flight that timeout ended
	testClock func() int64  // tests: replaces both clocks
	gate      func() bool   // the cache is read and written only while gate() is true; nil: always
	users     *sync.Map     // Config.Users
	find      func(user, key string) (R, bool)
	store     func(V, string, R, int64, int64) V
	live      func(V, int64) bool

	mu      sync.Mutex              // guards flights and the flights' stale flags; serializes writes to users
	flights map[string][]*flight[R] // user id -> the user's flights in progress

	sweepEvery int64
	lastSweep  atomic.Int64
	sweeping   atomic.Bool
}

// flight is one shared run in progress. Its result fields are written before done is
// closed.
type flight[R any] struct {
	key   string
	stale bool // guarded by Cache.mu: invalidated since it started
	done  chan struct{}
	r     R
	err   error
}

// Init readies a zero Cache with cfg. Timeout, Users, Find, Store and Live are required.
func (c *Cache[V, R]) Init(cfg Config[V, R]) {
	c.ttl = int64(cfg.TTL)
	c.timeout, c.cause = cfg.Timeout, cfg.TimeoutCause
	c.gate = allOpen(cfg.Gates)
	c.users, c.find, c.store, c.live = cfg.Users, cfg.Find, cfg.Store, cfg.Live
	c.flights = map[string][]*flight[R]{}
	if cfg.Clock != nil {
		clock := cfg.Clock
		c.testClock = func() int64 { return int64(clock()) }
	}
	c.sweepEvery = max(c.ttl, int64(MinSweepEvery))
	c.lastSweep.Store(c.stamp())
}

// allOpen returns a gate open when every one of gates is, or nil for none.
func allOpen(gates []func() bool) func() bool {
	switch len(gates) {
	case 0:
		return nil
	case 1:
		return gates[0]
	}
	return func() bool {
		for _, g := range gates {
			if !g() {
				return false
			}
		}
		return true
	}
}

// stamp reads the clock writes and sweeps use: the precise clock.
func (c *Cache[V, R]) stamp() int64 {
	if c.testClock != nil {
		return c.testClock()
	}
	return monoclock.Now()
}

// Open reports whether the cache may be read and written now.
func (c *Cache[V, R]) Open() bool { return c.gate == nil || c.gate() }

// TestClock returns the clock that replaces both clocks in tests, or nil: then a read
// compares expiries with monoclock.Coarse(). A hot path chooses the clock itself, as a
// method choosing it would not inline.
func (c *Cache[V, R]) TestClock() func() int64 { return c.testClock }

// Shared answers a miss: all concurrent misses of (user, key) share one run of run, and
// a success is stored while the gate is open. run runs on after every caller has gone,
// under a ctx with the first caller's values, bounded by Config.Timeout. Each caller
// waits on its own ctx, and gets ErrCallerDone when it ends first.
func (c *Cache[V, R]) Shared(ctx context.Context, user, key string,
	run func(context.Context, string, string) (R, error)) (R, error) {
	c.mu.Lock()
	// A flight that ended between this caller's miss and now has stored its result (or
	// failed, or was invalidated): look again, under the lock that the flight's end takes.
	if r, ok := c.find(user, key); ok {
		c.mu.Unlock()
		return r, nil
	}
	var f *flight[R]
	for _, x := range c.flights[user] {
		if x.key == key {
			f = x
			break
		}
	}
	if f == nil {
		f = &flight[R]{key: key, done: make(chan struct{})}
		c.flights[user] = append(c.flights[user], f)
		go c.fly(ctx, user, f, run)
	}
	c.mu.Unlock()
	c.maybeSweep()

	select {
	case <-f.done:
		return f.r, f.err
	case <-ctx.Done():
		var zero R
		return zero, ErrCallerDone
	}
}

// fly runs one flight, detached from its callers' cancellation, stores its success
// unless it went stale, and removes it from the table.
func (c *Cache[V, R]) fly(ctx context.Context, user string, f *flight[R],
	run func(context.Context, string, string) (R, error)) {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), c.timeout, c.cause)
	r, err := run(ctx, user, f.key)
	cancel()
	c.mu.Lock()
	if !f.stale {
		c.removeFlightLocked(user, f)
		if err == nil && c.Open() {
			c.storeLocked(user, f.key, r)
		}
	}
	f.r, f.err = r, err
	c.mu.Unlock()
	close(f.done)
}

// removeFlightLocked takes f out of the user's flights. Called with mu held.
func (c *Cache[V, R]) removeFlightLocked(user string, f *flight[R]) {
	fs := c.flights[user]
	if len(fs) == 1 {
		delete(c.flights, user)
		return
	}
	kept := make([]*flight[R], 0, len(fs)-1)
	for _, x := range fs {
		if x != f {
			kept = append(kept, x)
		}
	}
	c.flights[user] = kept
}

// storeLocked publishes the user's new value, built by Config.Store. Called with mu
// held.
func (c *Cache[V, R]) storeLocked(user, key string, r R) {
	now := c.stamp()
	var old V
	if v, ok := c.users.Load(user); ok {
		old = v.(V)
	}
	c.users.Store(user, c.store(old, key, r, now, now+c.ttl))
}

// Invalidate drops the user's value and makes the user's flights stale.
func (c *Cache[V, R]) Invalidate(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.flights[user] {
		f.stale = true
	}
	delete(c.flights, user)
	c.users.Delete(user)
}

// InvalidateAll drops every value and makes every flight stale.
func (c *Cache[V, R]) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, fs := range c.flights {
		for _, f := range fs {
			f.stale = true
		}
	}
	clear(c.flights)
	c.users.Clear()
}

// maybeSweep starts a sweep when the last one is at least sweepEvery ago and none is
// running.
func (c *Cache[V, R]) maybeSweep() {
	now := c.stamp()
	if now-c.lastSweep.Load() < c.sweepEvery || !c.sweeping.CompareAndSwap(false, true) {
		return
	}
	c.lastSweep.Store(now)
	go func() {
		defer c.sweeping.Store(false)
		c.Sweep()
	}()
}

// Sweep removes every user whose value is not live (Config.Live). It holds no lock: a
// user whose value changed meanwhile is left alone (CompareAndDelete). A miss starts it
// in the background; tests call it to sweep at once.
func (c *Cache[V, R]) Sweep() {
	now := c.stamp()
	c.users.Range(func(user, v any) bool {
		if !c.live(v.(V), now) {
			c.users.CompareAndDelete(user, v)
		}
		return true
	})
}

// Size returns the number of users with a value, live or expired (tests).
func (c *Cache[V, R]) Size() int {
	n := 0
	c.users.Range(func(any, any) bool { n++; return true })
	return n
}

// InFlight returns the number of users with a flight in progress (tests).
func (c *Cache[V, R]) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.flights)
}
