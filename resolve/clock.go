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

// coarseClock is a clock a cache hit can read with two atomic loads and no system call.
// A timer refreshes it every clockTick while it is being read; after a tick in which
// nobody read it, the timer stops, so an idle process has no timer running. The first
// read after that refreshes it and starts the timer again.
type coarseClock struct {
	now   atomic.Int64  // preciseNow() as of the last refresh
	state atomic.Uint32 // clockRunning | clockUsed
	mu    sync.Mutex    // serializes start and tick
}

const (
	clockRunning = 1 << iota // the refresh timer is armed
	clockUsed                // read since the last tick
)

// Now returns the time in preciseNow's units, at most about clockTick behind it. The
// common case, a running clock already marked as read, is inlined.
func (c *coarseClock) Now() int64 {
	if c.state.Load() == clockRunning|clockUsed {
		return c.now.Load()
	}
	return c.slowNow()
}

func (c *coarseClock) slowNow() int64 {
	if c.state.Or(clockUsed)&clockRunning != 0 {
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
	if c.state.Load()&clockRunning == 0 {
		c.state.Or(clockRunning)
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
	if c.state.And(^uint32(clockUsed))&clockUsed != 0 {
		time.AfterFunc(clockTick, c.tick)
		return
	}
	c.state.And(^uint32(clockRunning))
}
