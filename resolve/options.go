package resolve

import (
	"fmt"
	"strings"
	"time"
	"unicode"

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

	models *modelMap // WithVendorSlug, WithModelID; nil: none

	gatewayDefaults GatewayOptions          // WithDefaultGatewayOptions
	gatewayBYOK     bool                    // WithGatewayBYOK
	byokSlugs       map[providers.ID]string // WithGatewayProviderSlug
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
// one costs no allocation ([WithGatewayOptions] allocates its copy of the options).
type CallOption struct {
	model    string
	hasModel bool
	gateway  *GatewayOptions // WithGatewayOptions; nil: none
}

// WithModel passes a model hint: "vendor/model" (e.g. "anthropic/claude-sonnet-4.5") or
// a bare model id, in any common spelling. Providers that cannot serve the model are
// skipped on the provider paths, and [Provider.Model] carries an id the chosen provider
// accepts ("claude-sonnet-4-5" on Anthropic's API, "anthropic/claude-sonnet-4.5" on the
// gateway); the package documentation's "Model hints" has the rules. An empty hint
// means no hint; a malformed one (white space inside, an empty vendor or model, over
// 256 bytes) fails the call with ErrInvalidModel.
func WithModel(hint string) CallOption { return CallOption{model: hint, hasModel: true} }

// WithVendorSlug sets how a router names a vendor in the model ids it is sent. target is
// providers.Gateway or providers.OpenRouter; vendor is the vendor as hints name it
// ("xai", "x-ai", "google", ...); slug is the router's name for it, which hints may then
// use too. The defaults come from the catalogs: the gateway's current slug for xAI
// (spacexai in @ai-sdk/gateway 4.0.146), x-ai on OpenRouter, and every other vendor as
// the hint names it. Any other target, or an empty or malformed vendor or slug (white
// space, a '/', over 64 bytes), makes the Resolver invalid (ErrInvalidConfig).
func WithVendorSlug(target providers.ID, vendor, slug string) Option {
	return option(func(c *config) {
		vendor, slug = strings.ToLower(strings.TrimSpace(vendor)), strings.ToLower(strings.TrimSpace(slug))
		if target != providers.Gateway && target != providers.OpenRouter {
			c.fail("vendor slugs apply to the gateway and openrouter only")
			return
		}
		if !validSlug(vendor) || !validSlug(slug) {
			c.fail("malformed vendor or slug")
			return
		}
		mm := c.modelMap()
		vendor = mm.vendorOf(vendor)
		if mm.slugs[target] == nil {
			mm.slugs[target] = map[string]string{}
		}
		mm.slugs[target][vendor] = slug
		mm.alias[slug] = vendor
	})
}

// WithModelID sends id as the model to target whenever a hint names the same model as
// hint, in any spelling (vendor/model or bare, dotted or hyphenated versions, any case):
//
//	resolve.WithModelID(providers.Anthropic, "claude-sonnet-4.5", "claude-sonnet-4-5-20250929")
//
// id is sent as is; on the gateway and OpenRouter it includes the vendor
// ("anthropic/claude-sonnet-4.5"). It does not change which providers serve the hint.
// A hint is read with the vendor slugs of earlier WithVendorSlug options. An unknown
// target, a malformed hint, or an empty id or one with white space makes the Resolver
// invalid (ErrInvalidConfig).
func WithModelID(target providers.ID, hint, id string) Option {
	return option(func(c *config) {
		id = strings.TrimSpace(id)
		if !target.Valid() {
			c.fail("model id override for an unknown provider")
			return
		}
		mm := c.modelMap()
		m, err := mm.parse(hint)
		if err != nil || m.raw == "" || id == "" || len(id) > maxModelLen || strings.IndexFunc(id, unicode.IsSpace) >= 0 {
			c.fail("malformed model id override")
			return
		}
		if mm.ids[target] == nil {
			mm.ids[target] = map[string]string{}
		}
		mm.ids[target][m.key()] = id
	})
}

// modelMap returns the config's model overrides, creating them on first use.
func (c *config) modelMap() *modelMap {
	if c.models == nil {
		c.models = &modelMap{
			slugs: map[providers.ID]map[string]string{},
			ids:   map[providers.ID]map[string]string{},
			alias: map[string]string{},
		}
	}
	return c.models
}

// validSlug reports whether s can name a vendor: 1 to 64 bytes of printable ASCII
// without white space or '/'.
func validSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}
