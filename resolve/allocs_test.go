package resolve_test

import (
	"testing"
	"time"

	"github.com/byok-go/byok/resolve"
)

// A cache hit allocates nothing, on every path, with the no-op tracer (and the global
// MeterProvider, as BenchmarkResolveCached runs).
func TestResolveCached_allocatesNothing(t *testing.T) {
	rs := benchResolvers(resolve.WithCache(time.Hour))
	for _, name := range benchPaths {
		r := rs[name]
		for _, opts := range [][]resolve.CallOption{nil, {resolve.WithModel("grok-4.3")}} {
			ctx := t.Context()
			if _, _, err := r.Resolve(ctx, user1, opts...); err != nil {
				t.Fatal(name, err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if _, _, err := r.Resolve(ctx, user1, opts...); err != nil {
					t.Fatal(name, err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s (%d call options): %v allocations per cached Resolve, want 0", name, len(opts), allocs)
			}
		}
	}
}
