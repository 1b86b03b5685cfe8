package httpapi

import (
	"context"
	"hash/maphash"
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
	limitUsageRead      = Limit{Name: "usage-read", Requests: 60, Window: time.Minute}
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
// It is safe for concurrent use, and its zero value is ready to use. Its budget is per
// process; [NewPostgresLimiter] shares one across processes.
//
// The buckets are split by user into 1024 shards, each with its own lock and its own
// sweep of full buckets every 30 s, done by the first request to reach the shard once it
// is due. A request therefore waits for at most one shard's sweep, about 1/1024 of the
// buckets, never for all of them.
type MemoryLimiter struct {
	now    func() time.Time // nil: time.Now
	once   sync.Once        // sets seed
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

// limiterShards is the number of shards of a MemoryLimiter.
const limiterShards = 1024

type limiterShard struct {
	mu        sync.Mutex           // guards the fields below
	buckets   map[bucketKey]bucket // by value: a sweep reads the map's own memory, no pointer per bucket
	lastSweep time.Time
	_         [64]byte // keeps neighbouring shards' locks off one cache line
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
	return &MemoryLimiter{}
}

// sweepEvery is how often each shard drops its full buckets.
const sweepEvery = 30 * time.Second

// Allow charges one request of userID against l.
func (m *MemoryLimiter) Allow(ctx context.Context, userID string, l Limit) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	if l.Requests <= 0 || l.Window <= 0 {
		return Decision{Allowed: true, Limit: l.Requests}, nil
	}
	now := time.Now()
	if m.now != nil {
		now = m.now()
	}
	capacity := float64(l.Requests)
	rate := capacity / l.Window.Seconds() // tokens per second

	sh := m.shard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.lastSweep) >= sweepEvery {
		sh.sweepLocked(now)
	}
	key := bucketKey{userID, l.Name}
	b, ok := sh.buckets[key]
	if !ok {
		if sh.buckets == nil {
			sh.buckets = map[bucketKey]bucket{}
		}
		b = bucket{tokens: capacity, at: now}
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
	sh.buckets[key] = b
	d.Remaining = int(math.Floor(b.tokens))
	d.Reset = b.full
	return d, nil
}

// shard returns the shard of userID's buckets.
func (m *MemoryLimiter) shard(userID string) *limiterShard {
	m.once.Do(func() { m.seed = maphash.MakeSeed() })
	return &m.shards[maphash.String(m.seed, userID)%limiterShards]
}

// sweepLocked drops every bucket of the shard that is full again.
func (sh *limiterShard) sweepLocked(now time.Time) {
	for k, b := range sh.buckets {
		if !now.Before(b.full) {
			delete(sh.buckets, k)
		}
	}
	sh.lastSweep = now
}

// shardSizes is the number of buckets each shard holds, for tests.
func (m *MemoryLimiter) shardSizes() []int {
	sizes := make([]int, limiterShards)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		sizes[i] = len(sh.buckets)
		sh.mu.Unlock()
	}
	return sizes
}

// size is the number of buckets held, for tests.
func (m *MemoryLimiter) size() int {
	n := 0
	for _, s := range m.shardSizes() {
		n += s
	}
	return n
}
