package resolve_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func newRequest(url string) (*http.Request, error) { return http.NewRequest(http.MethodPost, url, nil) }

// benchResolvers builds, for each path, a Resolver over resolvetest fakes with the
// no-op tracer.
func benchResolvers(opts ...resolve.Option) map[string]*resolve.Resolver {
	opts = append(opts, resolve.WithTracerProvider(noop.NewTracerProvider()))
	userGW := resolvetest.NewKeys()
	userGW.Put(user1, providers.Gateway, "u-gw")
	userGW.SetGatewayBaseURL(user1, "https://ai-gateway.vercel.sh/v1")
	userXAI := resolvetest.NewKeys()
	userXAI.Put(user1, providers.XAI, "u-xa")
	server := resolve.Team{ServerKeys: map[providers.ID]providers.Secret{providers.XAI: providers.NewSecret("s-xa")}}
	return map[string]*resolve.Resolver{
		"user-gateway":    resolve.New(userGW, resolvetest.NewConsent(true), resolve.Team{}, opts...),
		"user-provider":   resolve.New(userXAI, resolvetest.NewConsent(true), resolve.Team{}, opts...),
		"team-gateway":    resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), teamGateway("t-gw", ""), opts...),
		"server-provider": resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), server, opts...),
	}
}

var benchPaths = []string{"user-gateway", "user-provider", "team-gateway", "server-provider"}

// BenchmarkResolveCold: a full resolution on in-memory fakes, no cache.
func BenchmarkResolveCold(b *testing.B) {
	rs := benchResolvers()
	for _, name := range benchPaths {
		r := rs[name]
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Resolve(ctx, user1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolveCached: a cache hit.
func BenchmarkResolveCached(b *testing.B) {
	rs := benchResolvers(resolve.WithCache(time.Hour))
	for _, name := range benchPaths {
		r := rs[name]
		b.Run(name, func(b *testing.B) {
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

// BenchmarkResolveCachedKeyHealth: a cache hit of a Resolver with WithKeyHealth: the
// Provider's origin lives in the entry, so a hit costs what it costs without.
func BenchmarkResolveCachedKeyHealth(b *testing.B) {
	rs := benchResolvers(resolve.WithCache(time.Hour), resolve.WithKeyHealth())
	for _, name := range benchPaths {
		r := rs[name]
		b.Run(name, func(b *testing.B) {
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

// BenchmarkResolveCachedParallel: cache hits from all cores at once.
func BenchmarkResolveCachedParallel(b *testing.B) {
	r := benchResolvers(resolve.WithCache(time.Hour))["user-provider"]
	ctx := b.Context()
	if _, _, err := r.Resolve(ctx, user1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := r.Resolve(ctx, user1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSyncMapLoad is the floor a cached Resolve is measured against: one
// sync.Map Load of a present key.
func BenchmarkSyncMapLoad(b *testing.B) {
	var m sync.Map
	m.Store(user1, &resolve.Provider{ID: providers.XAI})
	b.ReportAllocs()
	for b.Loop() {
		v, ok := m.Load(user1)
		if !ok || v == nil {
			b.Fatal("missing")
		}
	}
}
