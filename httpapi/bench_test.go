package httpapi_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/internal/pgtest"
)

// plenty is a limit no benchmark exhausts, so every decision charges a token.
var plenty = httpapi.Limit{Name: "bench", Requests: 1_000_000, Window: time.Hour}

// BenchmarkLimiterAllow is the cost of one decision: in memory, and in the database
// (one RPC) over pgcall and over the PostgREST stand-in.
func BenchmarkLimiterAllow(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchmarkAllow(b, httpapi.NewMemoryLimiter())
	})
	db := pgtest.New(b)
	b.Run("postgres/pgcall", func(b *testing.B) {
		benchmarkAllow(b, httpapi.NewPostgresLimiter(pgcallCaller(b, db)))
	})
	b.Run("postgres/postgrest", func(b *testing.B) {
		c, _ := postgrestCaller(b, db)
		benchmarkAllow(b, httpapi.NewPostgresLimiter(c))
	})
}

func benchmarkAllow(b *testing.B, lim httpapi.Limiter) {
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	i := 0
	for b.Loop() {
		d, err := lim.Allow(b.Context(), users[i%len(users)], plenty)
		if err != nil || !d.Allowed {
			b.Fatalf("allowed %v, error %v", d.Allowed, err)
		}
		i++
	}
}

// BenchmarkMemoryLimiterSweep measures the longest single Allow among the requests
// made right after a sweep of 100,000 full buckets has become due: a request that finds
// a sweep due waits for it (and holds the lock others wait for). Each run makes 32,768
// requests from new users, enough to reach every shard, and notes its longest Allow.
// Reported, as medians over the runs so that one run disturbed by the machine does not
// stand for the limiter:
//   - worst-cpu-µs: in CPU time (Linux: the thread's CPU clock, which leaves out the time
//     the OS had the process preempted on a busy machine);
//   - worst-µs: in wall time;
//   - max-µs: the longest wall time of all runs.
func BenchmarkMemoryLimiterSweep(b *testing.B) {
	const buckets = 100_000
	l := httpapi.Limit{Name: "keys", Requests: 10, Window: time.Minute}
	users := make([]string, buckets)
	for i := range users {
		users[i] = fmt.Sprintf("user-%06d", i)
	}
	late := make([]string, 32_768)
	for i := range late {
		late[i] = fmt.Sprintf("late-%05d", i)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var worsts, worstsCPU []time.Duration
	for range b.N {
		b.StopTimer()
		m, c := newLimiter()
		for _, u := range users {
			if _, err := m.Allow(b.Context(), u, l); err != nil {
				b.Fatal(err)
			}
		}
		c.add(2 * time.Minute) // every bucket is full again and a sweep is due
		runtime.GC()
		b.StartTimer()
		var worst, worstCPU time.Duration
		for _, u := range late {
			start, startCPU := time.Now(), threadCPU()
			if _, err := m.Allow(b.Context(), u, l); err != nil {
				b.Fatal(err)
			}
			worstCPU = max(worstCPU, threadCPU()-startCPU)
			worst = max(worst, time.Since(start))
		}
		b.StopTimer()
		worsts, worstsCPU = append(worsts, worst), append(worstsCPU, worstCPU)
		if n := httpapi.LimiterSize(m); n != len(late) {
			b.Fatalf("%d buckets held after the sweep, want %d", n, len(late))
		}
		b.StartTimer()
	}
	slices.Sort(worsts)
	slices.Sort(worstsCPU)
	µs := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	if haveThreadCPU {
		b.ReportMetric(µs(worstsCPU[len(worstsCPU)/2]), "worst-cpu-µs")
	}
	b.ReportMetric(µs(worsts[len(worsts)/2]), "worst-µs")
	b.ReportMetric(µs(worsts[len(worsts)-1]), "max-µs")
}
