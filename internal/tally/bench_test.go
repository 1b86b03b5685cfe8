package tally_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byok-go/byok/internal/tally"
)

func benchCounter(b *testing.B) *tally.Counter[key] {
	c := tally.New(tally.Config[key]{
		Send:    func(context.Context, []tally.Count[key]) error { return nil },
		Compare: compareKeys,
		Ticks:   make(chan time.Time),
		Timeout: time.Second,
	})
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// BenchmarkAdd: one occurrence of a key already held: a shard's lock and a map
// increment.
func BenchmarkAdd(b *testing.B) {
	c := benchCounter(b)
	k := key{"8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11", "team-gateway"}
	b.ReportAllocs()
	for b.Loop() {
		c.Add(k.user, k)
	}
}

// BenchmarkAddParallel: counting from every core at once, each goroutine for a key of
// its own.
func BenchmarkAddParallel(b *testing.B) {
	c := benchCounter(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := key{fmt.Sprintf("user-%d", next.Add(1)), "team-gateway"}
		for pb.Next() {
			c.Add(k.user, k)
		}
	})
}
