package httpapi

import "time"

// SetLimiterClock replaces a MemoryLimiter's clock.
func SetLimiterClock(m *MemoryLimiter, now func() time.Time) { m.now = now }

// LimiterSize is the number of buckets a MemoryLimiter holds.
func LimiterSize(m *MemoryLimiter) int { return m.size() }

// LimiterShardSizes is the number of buckets each shard of a MemoryLimiter holds.
func LimiterShardSizes(m *MemoryLimiter) []int { return m.shardSizes() }
