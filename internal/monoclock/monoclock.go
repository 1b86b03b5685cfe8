// Package monoclock reads the monotonic clock as nanoseconds since the process started:
// precisely, or coarsely, without a system call, for hot paths.
package monoclock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Tick is the coarse clock's resolution: [Coarse] is at most about this much behind
// [Now].
const Tick = 100 * time.Millisecond

// epoch is the origin of the clocks; time.Since(epoch) reads the monotonic clock.
var epoch = time.Now()

// Now returns the monotonic time since the process started, in nanoseconds.
func Now() int64 { return int64(time.Since(epoch)) }

// coarse is the process's coarse clock.
var coarse coarseClock

// Coarse returns the time in Now's units, at most about Tick behind it, with two atomic
// loads and no system call in the common case (a running clock already marked as
// read), which is inlined.
//
// A timer refreshes it every Tick while it is being read; after a tick in which nobody
// read it, the timer stops, so an idle process has no timer running. The first read
// after that refreshes it and starts the timer again.
func Coarse() int64 {
	if coarse.state.Load() == clockRunning|clockUsed {
		return coarse.now.Load()
	}
	return coarse.slowNow()
}

// coarseClock is the clock behind Coarse.
type coarseClock struct {
	now   atomic.Int64  // Now() as of the last refresh
	state atomic.Uint32 // clockRunning | clockUsed
	mu    sync.Mutex    // serializes start and tick
}

const (
	clockRunning = 1 << iota // the refresh timer is armed
	clockUsed                // read since the last tick
)

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
	n := Now()
	c.now.Store(n)
	if c.state.Load()&clockRunning == 0 {
		c.state.Or(clockRunning)
		time.AfterFunc(Tick, c.tick)
	}
	return n
}

// tick refreshes the clock and re-arms the timer if the clock was read since the last
// tick; otherwise it lets the timer stop.
func (c *coarseClock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now.Store(Now())
	if c.state.And(^uint32(clockUsed))&clockUsed != 0 {
		time.AfterFunc(Tick, c.tick)
		return
	}
	c.state.And(^uint32(clockRunning))
}
