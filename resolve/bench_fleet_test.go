package resolve_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// BenchmarkCacheBytesPerUser reports the heap each cached user costs, at 100,000 users
// with one entry each. The user id strings are made per call, as request handlers make
// them, so the cache's copy counts; the key strings are shared with the fake store, as
// they are not with a real one (add the key's length, rounded up to a size class).
func BenchmarkCacheBytesPerUser(b *testing.B) {
	const users = 100_000
	for _, tc := range []struct {
		name  string
		setup func(*resolvetest.Keys, string)
		team  resolve.Team
		opts  []resolve.Option
	}{
		{"user-provider", func(k *resolvetest.Keys, u string) { k.Put(u, providers.XAI, "xai-"+u) }, resolve.Team{}, nil},
		{"team-gateway", func(*resolvetest.Keys, string) {}, teamGateway("t-gw", ""), nil},
		// The Provider's origin, kept in the entry, for the Transport to report to.
		{"user-provider-key-health", func(k *resolvetest.Keys, u string) { k.Put(u, providers.XAI, "xai-"+u) }, resolve.Team{},
			[]resolve.Option{resolve.WithKeyHealth()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			keys := resolvetest.NewKeys()
			for i := range users {
				tc.setup(keys, benchUserID(i))
			}
			var perUser float64
			for b.Loop() {
				r := resolve.New(keys, resolvetest.NewConsent(true), tc.team, append([]resolve.Option{resolve.WithCache(time.Hour),
					resolve.WithTracerProvider(tracenoop.NewTracerProvider()), resolve.WithMeterProvider(metricnoop.NewMeterProvider())},
					tc.opts...)...)
				before := heapAlloc()
				for i := range users {
					if _, _, err := r.Resolve(context.Background(), benchUserID(i)); err != nil {
						b.Fatal(err)
					}
				}
				after := heapAlloc()
				if n := resolve.CacheUsers(r); n != users {
					b.Fatalf("%d users cached, want %d", n, users)
				}
				perUser = float64(int64(after)-int64(before)) / users
				runtime.KeepAlive(r)
			}
			b.ReportMetric(perUser, "B/user")
		})
	}
}

// benchUserID returns a distinct user id of the length of a Supabase user id (a UUID),
// in a new string.
func benchUserID(i int) string {
	const prefix = "8d0f6b8e-2f6e-4a57-9d1c-"
	s := strconv.Itoa(i)
	return prefix + "000000000000"[len(s):] + s
}

// BenchmarkResolveCachedTelemetry: a cache hit with telemetry off (no-op tracer and
// meter), with the default global providers and no SDK installed (what a Resolver built
// without options gets until the application installs one), and with an SDK meter.
func BenchmarkResolveCachedTelemetry(b *testing.B) {
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.XAI, "u-xa")
	sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name string
		opts []resolve.Option
	}{
		{"noop-tracer-noop-meter", []resolve.Option{
			resolve.WithTracerProvider(tracenoop.NewTracerProvider()), resolve.WithMeterProvider(metricnoop.NewMeterProvider())}},
		{"noop-tracer-global-meter", []resolve.Option{resolve.WithTracerProvider(tracenoop.NewTracerProvider())}},
		{"global-tracer-global-meter", nil},
		{"noop-tracer-sdk-meter", []resolve.Option{
			resolve.WithTracerProvider(tracenoop.NewTracerProvider()), resolve.WithMeterProvider(sdk)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.opts == nil {
				// The default global providers, as a process gets them: nothing installed.
				if _, isSDK := otel.GetTracerProvider().(interface{ ForceFlush(context.Context) error }); isSDK {
					b.Skip("a global SDK tracer provider is installed")
				}
			}
			opts := append([]resolve.Option{resolve.WithCache(time.Hour)}, tc.opts...)
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, opts...)
			ctx := b.Context()
			if _, _, err := r.Resolve(ctx, user1); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Resolve(ctx, user1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
