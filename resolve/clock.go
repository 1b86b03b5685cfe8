package resolve

import (
	"sync"
	"sync/atomic"
	"time"
)

// clockTick is the coarse clock's resolution: a cache hit may serve an entry up to this
// much past its ttl.
const clockTick = 100 * time.Millisecond

// epoch is the origin of the cache's clocks; time.Since(epoch) reads the monotonic clock.
var epoch = time.Now()

// preciseNow returns the monotonic time since epoch in nanoseconds.
func preciseNow() int64 { return int64(time.Since(epoch)) }

// coarse is the process's coarse clock, shared by every cache.
var coarse coarseClock

// coarseClock is a clock a cache hit can read with three atomic loads and no system
// call. A timer refreshes it every clockTick while it is being read; after a tick in
// which nobody read it, the timer stops, so an idle process has no timer running. The
// first read after that refreshes it and starts the timer again.
type coarseClock struct {
	now     atomic.Int64 // preciseNow() as of the last refresh
	running atomic.Bool  // the refresh timer is armed
	used    atomic.Bool  // read since the last tick
	mu      sync.Mutex   // serializes start and tick
}

// Now returns the time in preciseNow's units, at most about clockTick behind it.
func (c *coarseClock) Now() int64 {
	if !c.used.Load() {
		c.used.Store(true)
	}
	if c.running.Load() {
		return c.now.Load()
	}
	return c.start()
}

// start refreshes the clock and arms the timer if it is not armed.
func (c *coarseClock) start() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := preciseNow()
	c.now.Store(n)
	if !c.running.Load() {
		c.running.Store(true)
		time.AfterFunc(clockTick, c.tick)
	}
	return n
}

// tick refreshes the clock and re-arms the timer if the clock was read since the last
// tick; otherwise it lets the timer stop.
func (c *coarseClock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now.Store(preciseNow())
	if c.used.Swap(false) {
		time.AfterFunc(clockTick, c.tick)
		return
	}
	c.running.Store(false)
}
