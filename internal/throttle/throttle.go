// Package throttle bounds work done in the background: once an interval per key, and
// a number of goroutines at a time, in bounded memory and without ever waiting.
package throttle

import (
	"sync"
	"time"
)

// Claim is what [PerKey.Claim] answers.
type Claim uint8

const (
	Claimed   Claim = iota // the key's slot is taken: go ahead
	Throttled              // the key was claimed within the interval
	Full                   // the PerKey remembers as many keys as it may, none of them old enough to forget
)

// fullPruneEvery is the shortest interval between two walks of a full PerKey's keys.
const fullPruneEvery = time.Second

// PerKey lets each key through at most once an interval, remembering at most a fixed
// number of keys. It is safe for concurrent use.
type PerKey[K comparable] struct {
	every  int64        // the interval, in now's nanoseconds
	max    int          // bound on len(recent)
	now    func() int64 // monotonic nanoseconds
	mu     sync.Mutex   // guards recent and pruned
	recent map[K]int64  // key -> time of its last claim
	pruned int64        // time of the last pruning of recent
}

// NewPerKey returns a PerKey that lets a key through once every, remembering at most
// max keys, on the monotonic clock now (nanoseconds since some origin).
func NewPerKey[K comparable](every time.Duration, max int, now func() int64) *PerKey[K] {
	return &PerKey[K]{every: int64(every), max: max, now: now, recent: map[K]int64{}, pruned: now()}
}

// Claim takes k's slot for the interval: Claimed when it was free, Throttled when k was
// claimed within the interval, Full when the PerKey remembers max keys claimed within
// the interval. Forgetting the keys older than the interval walks the map: once an
// interval, or once a second while it is full, so that a flood of distinct keys costs a
// walk a second, not one per claim.
func (p *PerKey[K]) Claim(k K) Claim {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if at, ok := p.recent[k]; ok && now-at < p.every {
		return Throttled
	}
	if now-p.pruned >= p.every || len(p.recent) >= p.max && now-p.pruned >= int64(fullPruneEvery) {
		p.pruned = now
		for key, at := range p.recent {
			if now-at >= p.every {
				delete(p.recent, key)
			}
		}
	}
	if len(p.recent) >= p.max {
		return Full
	}
	p.recent[k] = now
	return Claimed
}

// Len returns the number of keys remembered.
func (p *PerKey[K]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recent)
}

// Limit bounds the goroutines running at a time. It is safe for concurrent use.
type Limit struct {
	slots chan struct{} // one token per goroutine running
	wg    sync.WaitGroup
}

// NewLimit returns a Limit of n goroutines.
func NewLimit(n int) *Limit { return &Limit{slots: make(chan struct{}, n)} }

// TryAcquire takes a slot without waiting and reports whether it did. The goroutine
// that holds it calls Release when it is done.
func (l *Limit) TryAcquire() bool {
	select {
	case l.slots <- struct{}{}:
		l.wg.Add(1)
		return true
	default:
		return false
	}
}

// Release gives back a slot taken by TryAcquire.
func (l *Limit) Release() {
	<-l.slots
	l.wg.Done()
}

// Wait returns once no slot is held.
func (l *Limit) Wait() { l.wg.Wait() }
