package resolve

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/byok-go/byok/providers"
)

type discardSink struct{}

func (discardSink) RecordTeamUse(context.Context, []TeamUse) error { return nil }

func benchUsage(b *testing.B) *usage {
	u := newUsage(usageConfig{sink: discardSink{}, every: time.Hour, ticks: make(chan time.Time)}, time.Second, noop.NewMeterProvider())
	b.Cleanup(func() { _ = u.close(context.Background()) })
	return u
}

// BenchmarkTeamUsageCount: what counting adds to one request a Transport sends on a team
// path: the clock, a shard's lock and a map increment.
func BenchmarkTeamUsageCount(b *testing.B) {
	u := benchUsage(b)
	const user = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"
	b.ReportAllocs()
	for b.Loop() {
		u.add(user, TeamGateway, providers.Gateway)
	}
}

// BenchmarkTeamUsageCountParallel: counting from every core at once, each goroutine for a
// user of its own.
func BenchmarkTeamUsageCountParallel(b *testing.B) {
	u := benchUsage(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("user-%d", next.Add(1))
		for pb.Next() {
			u.add(user, TeamGateway, providers.Gateway)
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
