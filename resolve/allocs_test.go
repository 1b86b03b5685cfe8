package resolve_test

import (
	"testing"
	"time"

	"github.com/byok-go/byok/resolve"
)

// A cache hit allocates nothing, on every path, with the no-op tracer (and the global
// MeterProvider, as BenchmarkResolveCached runs), with and without key health: the
// Provider's origin lives in the cache entry.
func TestResolveCached_allocatesNothing(t *testing.T) {
	for _, health := range []bool{false, true} {
		opts := []resolve.Option{resolve.WithCache(time.Hour)}
		if health {
			opts = append(opts, resolve.WithKeyHealth(), resolve.WithSkipBrokenKeys())
		}
		t.Run(map[bool]string{false: "plain", true: "key health"}[health], func(t *testing.T) {
			assertCachedAllocatesNothing(t, benchResolvers(opts...))
		})
	}
}

func assertCachedAllocatesNothing(t *testing.T, rs map[string]*resolve.Resolver) {
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
