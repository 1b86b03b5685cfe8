// Package tally counts occurrences per key in bounded, sharded in-memory counters and
// hands the counts to a sink in the background, keeping what the sink refused for the
// next flush.
package tally

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Count is the number of occurrences of one key since its last flush.
type Count[K comparable] struct {
	Key K
	N   int64
}

// Outcome says what became of one [Counter.Add].
type Outcome uint8

const (
	Counted Outcome = iota // counted
	Full                   // not counted: the Counter holds Config.Max keys and this one is new
	Closed                 // not counted: the Counter is closed
)

// Config configures a [Counter]. Send, Compare and Every (or Ticks) are required.
type Config[K comparable] struct {
	// Send stores counts: it adds each Count's N to what is stored for its Key, and
	// returns when ctx is done. On an error the Counter assumes nothing was stored,
	// keeps the counts and sends them again with the next flush; the error is returned
	// as it is.
	Send func(ctx context.Context, counts []Count[K]) error
	// Compare orders the counts of a flush: the same counts make the same calls, and a
	// store that locks rows in the order given cannot deadlock with another process's
	// flush.
	Compare func(a, b K) int
	// Every is the flush interval, unless Ticks is set: then every value received from
	// Ticks starts a flush.
	Every time.Duration
	Ticks <-chan time.Time
	// Timeout bounds each periodic flush.
	Timeout time.Duration
	// Max bounds the distinct keys held, those not yet sent included. 0: no bound.
	Max int
	// Batch bounds the counts of one Send call; a flush with more makes several calls,
	// in sequence. 0: no bound.
	Batch int
	// Flushed, when set, is told of the outcome of each periodic flush, after it ends.
	Flushed func(error)
}

// shards is the number of shards of a Counter.
const shards = 64

// Counter counts occurrences per key and flushes the counts to Config.Send, every
// Config.Every on a goroutine of its own, until [Counter.Close]. It is safe for
// concurrent use.
//
// Add locks one of 64 shards and increments a map entry; it never calls Send and never
// waits for it. A flush moves every shard's counts into pending, one shard at a time,
// then sends pending; what Send accepted leaves pending, what it refused stays for the
// next flush. Flushes never overlap, and a flush that runs long delays the next instead
// of piling up. The Config.Max bound applies to the distinct keys in the shards and in
// pending together.
type Counter[K comparable] struct {
	send    func(context.Context, []Count[K]) error
	compare func(a, b K) int
	timeout time.Duration
	max     int64
	batch   int
	seed    maphash.Seed

	shards  [shards]shard[K]
	entries atomic.Int64 // distinct keys in shards and pending
	closed  atomic.Bool  // set by Close; read under a shard's lock by Add

	flushMu sync.Mutex  // held by a flush; guards pending
	pending map[K]int64 // harvested, not yet accepted by Send

	stop      chan struct{} // closed by Close: the goroutine returns
	done      chan struct{} // closed when the goroutine has returned
	closeOnce sync.Once
	flushed   func(error)
}

type shard[K comparable] struct {
	mu sync.Mutex   // guards m and the counts it points to
	m  map[K]*int64 // counts since the last harvest
	_  [40]byte     // keeps neighbouring shards' locks off one cache line
}

// New returns a Counter and starts its flush goroutine, on cfg.Ticks when set and a
// ticker of cfg.Every otherwise.
func New[K comparable](cfg Config[K]) *Counter[K] {
	c := &Counter[K]{
		send:    cfg.Send,
		compare: cfg.Compare,
		timeout: cfg.Timeout,
		max:     int64(cfg.Max),
		batch:   cfg.Batch,
		seed:    maphash.MakeSeed(),
		pending: map[K]int64{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		flushed: cfg.Flushed,
	}
	if c.max <= 0 {
		c.max = 1<<63 - 1
	}
	ticks := cfg.Ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(cfg.Every)
		ticks = ticker.C
	}
	go c.run(ticks, ticker)
	return c
}

// run flushes on every tick until stop is closed. A tick that comes while a flush runs
// is dropped by the ticker, so flushes never pile up.
func (c *Counter[K]) run(ticks <-chan time.Time, ticker *time.Ticker) {
	defer close(c.done)
	if ticker != nil {
		defer ticker.Stop()
	}
	for {
		select {
		case <-c.stop:
			return
		case <-ticks:
			ctx, cancel := context.WithTimeoutCause(context.Background(), c.timeout, errFlushTimeout)
			err := c.Flush(ctx)
			cancel()
			if c.flushed != nil {
				c.flushed(err)
			}
		}
	}
}

// errFlushTimeout is the cause of a periodic flush's context ended by Config.Timeout.
var errFlushTimeout = errors.New("tally: periodic flush timeout")

// Add counts one occurrence of k. shard picks the lock it is counted under: keys added
// with the same shard (a user's, say) share one. It never blocks on anything but that
// lock, which a flush holds only while it moves the shard's counts. A key already held
// keeps counting past the bound.
func (c *Counter[K]) Add(shard string, k K) Outcome {
	sh := &c.shards[maphash.String(c.seed, shard)%shards]
	sh.mu.Lock()
	if c.closed.Load() {
		sh.mu.Unlock()
		return Closed
	}
	if n := sh.m[k]; n != nil { // one map lookup in the common case
		*n++
		sh.mu.Unlock()
		return Counted
	}
	if c.entries.Add(1) > c.max {
		c.entries.Add(-1)
		sh.mu.Unlock()
		return Full
	}
	if sh.m == nil {
		sh.m = map[K]*int64{}
	}
	n := int64(1)
	sh.m[k] = &n
	sh.mu.Unlock()
	return Counted
}

// harvestLocked moves every shard's counts into pending. Called with flushMu held.
func (c *Counter[K]) harvestLocked() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, n := range sh.m {
			if _, ok := c.pending[k]; ok {
				c.entries.Add(-1) // merged into a key already counted
			}
			c.pending[k] += *n
		}
		clear(sh.m)
		sh.mu.Unlock()
	}
}

// Flush sends what is counted, in calls of at most Config.Batch counts, in the order of
// Config.Compare, and returns the first error of Send as it is. What Send did not
// accept stays for the next flush. With nothing counted, Send is not called.
func (c *Counter[K]) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.harvestLocked()
	if len(c.pending) == 0 {
		return nil
	}
	counts := make([]Count[K], 0, len(c.pending))
	for k, n := range c.pending {
		counts = append(counts, Count[K]{Key: k, N: n})
	}
	slices.SortFunc(counts, func(a, b Count[K]) int { return c.compare(a.Key, b.Key) })
	for len(counts) > 0 {
		n := len(counts)
		if c.batch > 0 {
			n = min(n, c.batch)
		}
		batch := counts[:n]
		if err := c.send(ctx, batch); err != nil {
			return err
		}
		for _, b := range batch {
			delete(c.pending, b.Key)
		}
		c.entries.Add(-int64(len(batch)))
		counts = counts[n:]
	}
	return nil
}

// Close stops counting (Add returns Closed from then on), stops the flush goroutine,
// waits for a flush in progress and flushes with ctx. It returns ctx.Err() when ctx ends
// before the goroutine has stopped, and otherwise Flush's error; the counts are then
// kept, and calling Close again sends them again. It is safe to call concurrently and
// more than once.
func (c *Counter[K]) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.stop)
	})
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.Flush(ctx)
}

// Done returns a channel closed once the flush goroutine has returned.
func (c *Counter[K]) Done() <-chan struct{} { return c.done }

// Held returns the number of distinct keys held and the occurrences they count, sent or
// not.
func (c *Counter[K]) Held() (keys, occurrences int64) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	for _, n := range c.pending {
		occurrences += n
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, n := range sh.m {
			occurrences += *n
		}
		sh.mu.Unlock()
	}
	return c.entries.Load(), occurrences
}
