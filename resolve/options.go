package resolve

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/internal/teamusage"
	"github.com/byok-go/byok/models"
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
	cacheGates     []func() bool        // WithCacheGate, WithInvalidation: all must be open
	sources        []InvalidationSource // WithInvalidation: each gets the new Resolver
	storeTimeout   time.Duration
	meterProvider  metric.MeterProvider
	clock          func() time.Duration // tests (WithClock): replaces the cache's clocks
	err            error                // the first invalid option; every Resolve reports it

	models *models.Rules // WithVendorSlug, WithModelID; nil: none

	gatewayDefaults gateway.Options         // WithDefaultGatewayOptions
	gatewayBYOK     bool                    // WithGatewayBYOK
	byokSlugs       map[providers.ID]string // WithGatewayProviderSlug

	usage        teamusage.Config // WithTeamUsage; usage.Send nil: off
	attribution  []byte           // WithGatewayAttribution's secret; nil: off
	keyHealth    bool             // WithKeyHealth
	skipBroken   bool             // WithSkipBrokenKeys
	drainTimeout time.Duration    // tests: replaces the bound on reading a body closed early
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
// resolution). A resolution that ends while the gate is closed is not cached. open is
// called on every Resolve and must be fast and safe for concurrent use. Several gates
// (this option repeated, or with [WithInvalidation]) must all be open. A nil open makes
// the Resolver invalid (ErrInvalidConfig); without [WithCache] the gate has nothing to
// guard. For a pgnotify.Listener, use WithInvalidation instead: it sets the gate and
// registers the Resolver in one step.
func WithCacheGate(open func() bool) Option {
	return option(func(c *config) {
		if open == nil {
			c.fail("nil cache gate")
			return
		}
		c.cacheGates = append(c.cacheGates, open)
	})
}

// Invalidator drops cached results. [*Resolver] implements it; a source of
// invalidations (see [WithInvalidation]) calls it.
type Invalidator interface {
	// Invalidate drops one user's cached results.
	Invalidate(userID string)
	// InvalidateAll drops every cached result.
	InvalidateAll()
}

// InvalidationSource hears of changes to users' keys and settings wherever they are
// made, and tells its Invalidators. *pgnotify.Listener implements it over PostgreSQL
// LISTEN/NOTIFY.
type InvalidationSource interface {
	// Connected reports whether no change can have been missed: true only while the
	// source is connected and has invalidated everything since it (re)connected.
	Connected() bool
	// Add registers inv: from then on, every change reaches it.
	Add(inv Invalidator)
}

// WithInvalidation wires the Resolver into a fleet in one step: New registers the
// Resolver with src (src.Add), and the cache is read and written only while
// src.Connected() is true, as with [WithCacheGate]. A change made through any replica
// then reaches this Resolver's cache, and while src may have missed one the cache is
// bypassed. src keeps the Resolver for as long as src lives: build Resolvers once, not
// per request. A Resolver that New reports invalid is not registered. A nil src makes
// the Resolver invalid (ErrInvalidConfig).
//
//	l := pgnotify.New(os.Getenv("DATABASE_URL"))
//	r := resolve.New(keys, settings, team, resolve.WithCache(time.Minute), resolve.WithInvalidation(l))
//	go l.Run(ctx)
func WithInvalidation(src InvalidationSource) Option {
	return option(func(c *config) {
		if src == nil {
			c.fail("nil invalidation source")
			return
		}
		c.cacheGates = append(c.cacheGates, src.Connected)
		c.sources = append(c.sources, src)
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

// WithKeyHealth makes the Resolver learn from the providers' answers that a user's key
// is broken, and mark it in the KeyStore, which must implement [KeyHealth] (otherwise
// the Resolver is invalid: ErrInvalidConfig). The package documentation's "Key health"
// has the rules. In short: an answer of status 400 to 499 to a request sent through
// [Provider.Transport] on the user-gateway or user-provider path is read with
// providers.ClassifyFailure; a failure whose Breaks is true (invalid key, no credit, no
// permission) marks the key, off the request's path, at most once a minute per key and
// process, and drops the user's cached results at once. [Resolver.ReportOutcome] does the
// same for callers that send requests by other means. Resolution refuses a marked key
// with [ErrKeyBroken] whether or not this option is set.
func WithKeyHealth() Option {
	return option(func(c *config) { c.keyHealth = true })
}

// WithSkipBrokenKeys makes a user's key marked broken count as absent: resolution goes on
// with the user's next key, and then, exactly as for a user without keys, to the team's
// credentials only with the user's consent. Without it a marked key stops resolution with
// [ErrKeyBroken].
func WithSkipBrokenKeys() Option {
	return option(func(c *config) { c.skipBroken = true })
}

// CallOption configures one [Resolver.Resolve] call. It is a small value, so passing
// one costs no allocation ([WithGatewayOptions] allocates its copy of the options).
type CallOption struct {
	model    string
	hasModel bool
	gateway  *gateway.Options // WithGatewayOptions; nil: none
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
// the hint names it. Any other target, or an empty or malformed vendor or slug (see
// models.ValidSlug), makes the Resolver invalid (ErrInvalidConfig).
func WithVendorSlug(target providers.ID, vendor, slug string) Option {
	return option(func(c *config) {
		if err := c.modelRules().SetVendorSlug(target, vendor, slug); err != nil {
			c.fail("%v", err)
		}
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
		if err := c.modelRules().SetID(target, hint, id); err != nil {
			c.fail("%v", err)
		}
	})
}

// modelRules returns the config's model overrides, creating them on first use.
func (c *config) modelRules() *models.Rules {
	if c.models == nil {
		c.models = &models.Rules{}
	}
	return c.models
}
