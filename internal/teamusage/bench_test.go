package teamusage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byok-go/byok/internal/teamusage"
	"github.com/byok-go/byok/providers"
)

func benchCounter(b *testing.B) *teamusage.Counter {
	c := teamusage.New(teamusage.Config{
		Send:    func(context.Context, []teamusage.Use) error { return nil },
		Every:   time.Hour,
		Ticks:   make(chan time.Time),
		Timeout: time.Second,
		Max:     100_000,
	})
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// BenchmarkTeamUsageCount: what counting adds to one request a Transport sends on a team
// path: the clock, a shard's lock and a map increment.
func BenchmarkTeamUsageCount(b *testing.B) {
	c := benchCounter(b)
	const user = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"
	b.ReportAllocs()
	for b.Loop() {
		c.Add(user, "team-gateway", providers.Gateway)
	}
}

// BenchmarkTeamUsageCountParallel: counting from every core at once, each goroutine for a
// user of its own.
func BenchmarkTeamUsageCountParallel(b *testing.B) {
	c := benchCounter(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("user-%d", next.Add(1))
		for pb.Next() {
			c.Add(user, "team-gateway", providers.Gateway)
		}
	})
}

// BenchmarkTimeNow is a floor of BenchmarkTeamUsageCount: reading the clock that dates
// each request.
func BenchmarkTimeNow(b *testing.B) {
	b.ReportAllocs()
	var last int64
	for b.Loop() {
		last = time.Now().Unix()
	}
	if last == 0 {
		b.Fatal("no time")
	}
}
