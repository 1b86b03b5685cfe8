package resolve_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
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

// A cache hit still allocates nothing when the Resolver counts team usage and attributes
// team gateway requests: the pseudonym and the origin live in the user's cache entry.
func TestResolveCached_allocatesNothingWithTeamUsageAndAttribution(t *testing.T) {
	rs := benchResolvers(resolve.WithCache(time.Hour), resolve.WithTeamUsage(resolvetest.NewUsage(), time.Hour),
		resolve.WithGatewayAttribution(attribSecret), resolve.WithKeyHealth())
	for _, r := range rs {
		t.Cleanup(func() { _ = r.Close(context.Background()) })
	}
	p, _, err := rs["team-gateway"].Resolve(t.Context(), user1)
	require.NoError(t, err)
	require.Equal(t, pseudonym(t, attribSecret, user1), p.GatewayOptions().User, "attribution is on")
	assertCachedAllocatesNothing(t, rs)
}

func assertCachedAllocatesNothing(t *testing.T, rs map[string]*resolve.Resolver) {
	t.Helper()
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
