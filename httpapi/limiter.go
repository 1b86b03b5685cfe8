package httpapi

import (
	"context"
	"math"
	"sync"
	"time"
)

// Limit is one rate limit: at most Requests per Window for each user.
type Limit struct {
	Name     string // identifies the bucket; routes that share a Name share a budget
	Requests int
	Window   time.Duration
}

// The limits the routes apply, per user.
var (
	limitKeys           = Limit{Name: "keys", Requests: 10, Window: time.Minute} // GET and POST /api/keys
	limitKeysDelete     = Limit{Name: "keys-delete", Requests: 20, Window: time.Minute}
	limitValidate       = Limit{Name: "keys-validate", Requests: 20, Window: time.Minute}
	limitSettingsRead   = Limit{Name: "settings-read", Requests: 60, Window: time.Minute}
	limitSettingsUpdate = Limit{Name: "settings-update", Requests: 10, Window: time.Minute}
	limitResolve        = Limit{Name: "resolve", Requests: 60, Window: time.Minute}
)

// Decision is a [Limiter]'s answer for one request.
type Decision struct {
	Allowed    bool
	Limit      int           // the limit's Requests, for X-RateLimit-Limit
	Remaining  int           // requests left now, for X-RateLimit-Remaining
	Reset      time.Time     // when the budget is whole again, for X-RateLimit-Reset
	RetryAfter time.Duration // when not allowed: how long until one request is allowed
}

// Limiter rate-limits requests per user. The handler calls Allow once per
// authenticated request, before reading its body. An error refuses the request with
// 503 rate_limiter_unavailable (fail closed). Implementations are safe for concurrent
// use; one backed by a shared store (Redis, the database) lets several instances of a
// service share the budget.
type Limiter interface {
	Allow(ctx context.Context, userID string, l Limit) (Decision, error)
}

// MemoryLimiter is the in-memory [Limiter] used when Config.Limiter is nil: a token
// bucket per (user, limit) holding Requests tokens, refilled continuously at
// Requests per Window. Buckets that have refilled completely are indistinguishable from
// new ones and are dropped, so memory holds only users active within the last window.
// It is safe for concurrent use. Its budget is per process.
type MemoryLimiter struct {
	now func() time.Time

	mu        sync.Mutex // guards the fields below
	buckets   map[bucketKey]*bucket
	lastSweep time.Time
}

type bucketKey struct {
	user, limit string
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
	full   time.Time // when the bucket is full again if untouched
}

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{now: time.Now, buckets: map[bucketKey]*bucket{}}
}

// sweepEvery is how often Allow drops full buckets.
const sweepEvery = 30 * time.Second

// Allow charges one request of userID against l.
func (m *MemoryLimiter) Allow(ctx context.Context, userID string, l Limit) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	if l.Requests <= 0 || l.Window <= 0 {
		return Decision{Allowed: true, Limit: l.Requests}, nil
	}
	now := m.now()
	capacity := float64(l.Requests)
	rate := capacity / l.Window.Seconds() // tokens per second

	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.sweepLocked(now)
	}
	key := bucketKey{userID, l.Name}
	b := m.buckets[key]
	if b == nil {
		b = &bucket{tokens: capacity, at: now}
		m.buckets[key] = b
	} else if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = math.Min(capacity, b.tokens+elapsed*rate)
		b.at = now
	}
	d := Decision{Limit: l.Requests}
	if b.tokens >= 1 {
		b.tokens--
		d.Allowed = true
	} else {
		d.RetryAfter = time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.full = now.Add(time.Duration((capacity - b.tokens) / rate * float64(time.Second)))
	d.Remaining = int(math.Floor(b.tokens))
	d.Reset = b.full
	return d, nil
}

// sweepLocked drops every bucket that is full again.
func (m *MemoryLimiter) sweepLocked(now time.Time) {
	for k, b := range m.buckets {
		if !now.Before(b.full) {
			delete(m.buckets, k)
		}
	}
	m.lastSweep = now
}

// size is the number of buckets held, for tests.
func (m *MemoryLimiter) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}
