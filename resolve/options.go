package resolve

import (
	"fmt"
	"strings"
	"time"

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
	afterFunc      afterFunc
	err            error // the first invalid option; every Resolve reports it
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

// WithCache caches successful resolutions per (user, model hint) for ttl (a timer
// removes each entry ttl after it was stored). Concurrent misses for one entry share one
// resolution, and [Resolver.Invalidate] drops a user's entries at once. A user holds at
// most 16 entries (model hints); storing a 17th drops the oldest. A ttl of zero or less
// means no cache.
func WithCache(ttl time.Duration) Option {
	return option(func(c *config) { c.cacheTTL = ttl })
}

// withAfterFunc replaces time.AfterFunc in the cache (tests only, through
// export_test.go), so tests can expire entries without sleeping.
func withAfterFunc(f func(d time.Duration, fn func()) (stop func() bool)) Option {
	return option(func(c *config) { c.afterFunc = f })
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
