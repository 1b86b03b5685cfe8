package resolve

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/byok-go/byok/providers"
)

// Option configures a [Resolver] in [New].
type Option interface{ apply(*config) }

type option func(*config)

func (o option) apply(c *config) { o(c) }

type config struct {
	tracerProvider trace.TracerProvider
	allowedHosts   []string
	order          []providers.ID
	cacheTTL       time.Duration
	cacheGate      func() bool
	storeTimeout   time.Duration
	meterProvider  metric.MeterProvider
	clock          func() time.Duration // tests: replaces the cache's clocks
	err            error                // the first invalid option; every Resolve reports it
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = &Error{Step: StepInput, Kind: ErrInvalidConfig, Reason: fmt.Sprintf(format, args...)}
	}
}

// WithTracerProvider sets where spans go. Nil, or no option, means the global
// provider (otel.GetTracerProvider). The no-op provider (trace/noop) turns span
// creation off entirely.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return option(func(c *config) {
		if tp != nil {
			c.tracerProvider = tp
		}
	})
}

// WithAllowedGatewayHosts allows gateway base URLs on these hosts besides
// ai-gateway.vercel.sh (bare host names, compared case-insensitively; apps may read
// them from AI_GATEWAY_ALLOWED_HOSTS). A host that is not a plain host name, or that
// the URL policy would reject as private, makes the Resolver invalid (ErrInvalidConfig);
// empty entries are ignored. Repeated options add up.
func WithAllowedGatewayHosts(hosts ...string) Option {
	return option(func(c *config) {
		for _, h := range hosts {
			h = strings.ToLower(strings.TrimSpace(h))
			if h == "" {
				continue
			}
			if _, err := providers.CheckGatewayURL("https://"+h, h); err != nil || strings.ContainsAny(h, "/:@[]") {
				c.fail("allowed gateway host is not a public host name")
				continue
			}
			c.allowedHosts = append(c.allowedHosts, h)
		}
	})
}

// WithOrder sets the order in which the user's and then the server's provider keys are
// tried (paths 2 and 4); the default is providers.DefaultOrder(). Providers left out
// are never used on those paths. An empty order, a duplicate, the gateway or an unknown
// ID makes the Resolver invalid (ErrInvalidConfig).
func WithOrder(order ...providers.ID) Option {
	return option(func(c *config) {
		if len(order) == 0 {
			c.fail("empty provider order")
			return
		}
		seen := map[providers.ID]bool{}
		for _, id := range order {
			switch {
			case !id.Valid() || id == providers.Gateway:
				c.fail("provider order names an unknown provider or the gateway")
				return
			case seen[id]:
				c.fail("provider order names %s twice", id)
				return
			}
			seen[id] = true
		}
		c.order = append([]providers.ID(nil), order...)
	})
}

// WithCache caches successful resolutions per (user, model hint) for ttl. An entry is
// served until ttl after it was stored, give or take the cache's 100 ms clock, and then
// resolved again; no timer runs per entry, and a sweep removes expired entries.
// Concurrent misses for one entry share one resolution, and [Resolver.Invalidate]
// drops a user's entries at once. A user holds at most 16 entries (model hints);
// storing a 17th drops the oldest. A ttl of zero or less means no cache.
func WithCache(ttl time.Duration) Option {
	return option(func(c *config) { c.cacheTTL = ttl })
}

// DefaultStoreTimeout is the store timeout of a Resolver built without
// [WithStoreTimeout].
const DefaultStoreTimeout = 10 * time.Second

// WithCacheGate makes the cache depend on open: while open() returns false the cache is
// neither read nor written, and every Resolve goes to the stores on its own (no shared
// resolution). A resolution that ends while the gate is closed is not cached. Give it
// the Connected method of a pgnotify.Listener, so that the cache is used only while
// every change reaches it. open is called on every Resolve and must be fast and safe for
// concurrent use. A nil open makes the Resolver invalid (ErrInvalidConfig); without
// [WithCache] the gate has nothing to guard.
func WithCacheGate(open func() bool) Option {
	return option(func(c *config) {
		if open == nil {
			c.fail("nil cache gate")
			return
		}
		c.cacheGate = open
	})
}

// WithStoreTimeout bounds the store work of each resolution, [DefaultStoreTimeout]
// without this option. A shared resolution runs on when the caller that started it gives
// up, so that the others still get its result; d bounds it all the same. When d passes,
// Resolve fails with ErrStoreUnavailable (reason "timeout"). A caller's own earlier
// deadline still applies to its call. A d of zero or less makes the Resolver invalid
// (ErrInvalidConfig).
func WithStoreTimeout(d time.Duration) Option {
	return option(func(c *config) {
		if d <= 0 {
			c.fail("store timeout must be positive")
			return
		}
		c.storeTimeout = d
	})
}

// WithMeterProvider sets where metrics go (see [MetricResolutions] and
// [MetricStoreDuration]). Nil, or no option, means the global provider
// (otel.GetMeterProvider); the no-op provider (metric/noop) turns recording off
// entirely.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return option(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}

// withClock replaces the cache's clocks with now, the time elapsed since some origin
// (tests only, through export_test.go), so tests can expire entries without sleeping.
func withClock(now func() time.Duration) Option {
	return option(func(c *config) { c.clock = now })
}

// CallOption configures one [Resolver.Resolve] call. It is a small value, so passing
// one costs no allocation.
type CallOption struct {
	model    string
	hasModel bool
}

// WithModel passes a model hint: "vendor/model" (e.g. "anthropic/claude-sonnet-4.5")
// or a bare model id whose vendor is inferred from its prefix (gpt-, chatgpt-, o1, o3,
// o4: openai; claude-: anthropic; grok-: xai). Providers that cannot serve the model
// are skipped on the provider paths, and [Provider.Model] carries the model in the
// form the chosen provider expects. An empty hint means no hint; a malformed one
// (white space inside, an empty vendor or model, over 256 bytes) fails the call with
// ErrInvalidModel.
func WithModel(hint string) CallOption { return CallOption{model: hint, hasModel: true} }
