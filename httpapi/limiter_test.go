package httpapi_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter() (*httpapi.MemoryLimiter, *clock) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	m := httpapi.NewMemoryLimiter()
	httpapi.SetLimiterClock(m, c.now)
	return m, c
}

func TestMemoryLimiter_tokenBucket(t *testing.T) {
	m, c := newLimiter()
	l := httpapi.Limit{Name: "keys", Requests: 10, Window: time.Minute}
	for i := range 10 {
		d, err := m.Allow(t.Context(), "u1", l)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "request %d", i+1)
		assert.Equal(t, 10, d.Limit)
		assert.Equal(t, 9-i, d.Remaining)
	}
	d, err := m.Allow(t.Context(), "u1", l)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the 11th request within the minute")
	assert.Equal(t, 0, d.Remaining)
	assert.Equal(t, 6*time.Second, d.RetryAfter, "one token comes back every 6 s")
	assert.Equal(t, c.now().Add(time.Minute), d.Reset)

	// Another user, or another limit, has its own budget.
	d, _ = m.Allow(t.Context(), "u2", l)
	assert.True(t, d.Allowed)
	d, _ = m.Allow(t.Context(), "u1", httpapi.Limit{Name: "other", Requests: 1, Window: time.Minute})
	assert.True(t, d.Allowed)

	c.add(6 * time.Second)
	d, _ = m.Allow(t.Context(), "u1", l)
	assert.True(t, d.Allowed, "a token came back")
	d, _ = m.Allow(t.Context(), "u1", l)
	assert.False(t, d.Allowed)
}

func TestMemoryLimiter_evictsIdleBuckets(t *testing.T) {
	m, c := newLimiter()
	l := httpapi.Limit{Name: "keys", Requests: 10, Window: time.Minute}
	for i := range 1000 {
		_, err := m.Allow(t.Context(), fmt.Sprint("user-", i), l)
		require.NoError(t, err)
	}
	assert.Equal(t, 1000, httpapi.LimiterSize(m))
	c.add(2 * time.Minute) // every bucket has refilled
	// Each shard sweeps when a request reaches it; 50,000 users reach all 1024 (the chance
	// that one is missed is below 1e-18).
	for i := range 50_000 {
		_, err := m.Allow(t.Context(), fmt.Sprint("late-", i), l)
		require.NoError(t, err)
	}
	assert.Equal(t, 50_000, httpapi.LimiterSize(m), "idle users are forgotten")
}

// TestMemoryLimiter_oneRequestSweepsOneShard: the request that finds a sweep due drops
// the full buckets of its own shard only, so it never waits for a sweep of every bucket.
func TestMemoryLimiter_oneRequestSweepsOneShard(t *testing.T) {
	m, c := newLimiter()
	l := httpapi.Limit{Name: "keys", Requests: 10, Window: time.Minute}
	for i := range 20_000 {
		_, err := m.Allow(t.Context(), fmt.Sprint("user-", i), l)
		require.NoError(t, err)
	}
	c.add(2 * time.Minute) // every bucket has refilled and every shard is due for a sweep
	before := httpapi.LimiterShardSizes(m)
	_, err := m.Allow(t.Context(), "late", l)
	require.NoError(t, err)
	after := httpapi.LimiterShardSizes(m)

	var changed []int
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, i)
		}
	}
	require.Len(t, changed, 1, "one shard swept")
	assert.Equal(t, 1, after[changed[0]], "its full buckets dropped, the late user's added")
	assert.Equal(t, 20_000-before[changed[0]]+1, httpapi.LimiterSize(m))
	assert.Less(t, before[changed[0]], 20_000/1024*3, "a shard holds about 1/1024 of the buckets")
}

func TestMemoryLimiter_zeroValue(t *testing.T) {
	var m httpapi.MemoryLimiter
	d, err := m.Allow(t.Context(), "u", httpapi.Limit{Name: "keys", Requests: 1, Window: time.Minute})
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	d, err = m.Allow(t.Context(), "u", httpapi.Limit{Name: "keys", Requests: 1, Window: time.Minute})
	require.NoError(t, err)
	assert.False(t, d.Allowed)
}

func TestMemoryLimiter_concurrent(t *testing.T) {
	m, _ := newLimiter()
	l := httpapi.Limit{Name: "keys", Requests: 100, Window: time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				d, err := m.Allow(t.Context(), "u", l)
				if err == nil && d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 100, allowed, "exactly the budget, under contention")
}

func TestMemoryLimiter_canceledContext(t *testing.T) {
	m, _ := newLimiter()
	ctx, cancel := contextWithCancel(t)
	cancel()
	_, err := m.Allow(ctx, "u", httpapi.Limit{Name: "keys", Requests: 1, Window: time.Minute})
	assert.Error(t, err)
}
