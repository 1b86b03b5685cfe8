package resolve

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/internal/keyhealth"
	"github.com/byok-go/byok/internal/teamusage"
	"github.com/byok-go/byok/internal/telemetry"
	"github.com/byok-go/byok/models"
	"github.com/byok-go/byok/providers"
)

// scopeName is the tracer name: this package's import path.
const scopeName = "github.com/byok-go/byok/resolve"

// SpanName is the name of the span each Resolve records.
const SpanName = "providers.resolve"

// Resolver chooses a user's credential. It is immutable after [New] and safe for
// concurrent use.
type Resolver struct {
	keys    KeyStore
	snap    Snapshotter // keys as a Snapshotter, or nil
	consent ConsentStore
	team    TeamConfig

	order     []providers.ID // paths 2 and 4
	snapOrder []providers.ID // gateway + order, for Snapshot without a hint
	urls      *urlPolicy     // gateway base-URL policy with the allowed hosts
	models    *models.Rules  // model id overrides; nil: none
	tracer    trace.Tracer   // nil: spans off
	metrics   *metrics       // nil: metrics off
	cache     *cache         // nil: no cache
	timeout   time.Duration  // bound on each resolution's store work
	err       error          // configuration error, reported by every Resolve

	gwRaw     gateway.Options         // WithDefaultGatewayOptions as given, under the calls' options
	gwDefault *gateway.Params         // the defaults every gateway Provider carries; nil: none
	byok      map[providers.ID]string // gateway-byok slug per provider; nil: WithGatewayBYOK off

	watches bool // the Transports of its Providers report to it (see origin)

	usage       *teamusage.Counter  // WithTeamUsage; nil: off
	attribution []byte              // WithGatewayAttribution's secret; nil: off
	health      *keyhealth.Observer // WithKeyHealth: classifies answers and marks keys; nil: off
	skipBroken  bool                // WithSkipBrokenKeys
}

// New returns a Resolver over the user's keys, the user's consent and the team's
// credentials. keys and consent are required; a nil team means the team has no
// credentials. A nil store or an invalid option does not panic: every Resolve then
// fails with an error matching ErrInvalidConfig.
func New(keys KeyStore, consent ConsentStore, team TeamConfig, opts ...Option) *Resolver {
	cfg := config{order: providers.DefaultOrder(), storeTimeout: DefaultStoreTimeout}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if keys == nil || consent == nil {
		cfg.fail("nil key or consent store")
	}
	if _, ok := keys.(KeyHealth); cfg.keyHealth && keys != nil && !ok {
		cfg.fail("WithKeyHealth needs a KeyStore that implements KeyHealth")
	}
	if team == nil {
		team = Team{}
	}
	r := &Resolver{
		keys:      keys,
		consent:   consent,
		team:      team,
		order:     cfg.order,
		snapOrder: append([]providers.ID{providers.Gateway}, cfg.order...),
		urls:      newURLPolicy(cfg.allowedHosts),
		models:    cfg.models,
		metrics:   newMetrics(cfg.meterProvider),
		timeout:   cfg.storeTimeout,
		err:       cfg.err,

		skipBroken: cfg.skipBroken,
	}
	r.snap, _ = keys.(Snapshotter)
	if !cfg.gatewayDefaults.IsZero() {
		r.gwRaw = cfg.gatewayDefaults
		g, err := gateway.Compile(cfg.gatewayDefaults, cfg.models)
		if err != nil && r.err == nil {
			var e *gateway.OptionsError
			errors.As(err, &e)
			r.err = &Error{Step: StepInput, Kind: ErrInvalidConfig, Reason: "gateway options: " + e.Reason, Cause: err}
			cfg.err = r.err
		}
		r.gwDefault = gateway.NewParams(g, "", providers.Secret{})
	}
	if cfg.gatewayBYOK {
		r.byok = gateway.BYOKSlugs(cfg.models, cfg.byokSlugs)
	}
	r.tracer = telemetry.Tracer(cfg.tracerProvider, scopeName)
	if cfg.err != nil {
		return r
	}
	if cfg.cacheTTL > 0 {
		r.cache = newCache(&cfg)
	}
	r.attribution = cfg.attribution
	if cfg.usage.Send != nil {
		r.usage = newUsage(cfg.usage, cfg.storeTimeout, cfg.meterProvider)
		r.watches = true
	}
	if cfg.keyHealth {
		r.health = newHealth(keys.(KeyHealth), &cfg, r)
		r.watches = true
	}
	for _, src := range cfg.sources {
		src.Add(r)
	}
	return r
}

// Resolve returns the credential for the user's next request and the path that
// produced it. The package documentation has the rules; in short:
// the user's gateway key, the user's provider keys, then (only with the user's consent)
// the team gateway and the server's keys. Every error is an *[Error].
func (r *Resolver) Resolve(ctx context.Context, userID string, opts ...CallOption) (p Provider, path Path, err error) {
	var hint string
	withGateway := false
	for _, o := range opts {
		if o.hasModel {
			hint = strings.TrimSpace(o.model)
		}
		withGateway = withGateway || o.gateway != nil
	}
	var e *cacheEntry
	var res cacheResult
	if !withGateway {
		if e, res = r.lookup(ctx, userID, hint); e != nil && r.tracer == nil {
			// The hot path, a cache hit without a span, returns at once.
			e.fill(&p, &path) // straight into the results: a Provider is 88 bytes
			r.metrics.hit(ctx, e, path)
			return p, path, nil
		}
	}
	var span trace.Span
	if r.tracer != nil {
		ctx, span = r.tracer.Start(ctx, SpanName, trace.WithSpanKind(trace.SpanKindInternal))
	}
	switch {
	case withGateway:
		e, res, err = r.resolveWithGateway(ctx, userID, hint, opts, &p, &path)
	case e != nil:
		e.fill(&p, &path)
	default:
		p, path, err = r.resolve(ctx, userID, hint, res)
	}
	if e != nil {
		r.metrics.hit(ctx, e, path)
	} else {
		r.metrics.count(ctx, path, err, res)
	}
	if span != nil {
		if span.IsRecording() {
			r.record(span, p, path, hint != "", e != nil, err)
		}
		span.End()
	}
	return p, path, err
}

// resolveWithGateway is Resolve for a call with gateway options: they are checked
// before anything else is done, and put on the result (cached or not) when it is a
// gateway Provider. The cache holds results without the calls' options.
func (r *Resolver) resolveWithGateway(ctx context.Context, userID, hint string, opts []CallOption, p *Provider, path *Path) (*cacheEntry, cacheResult, error) {
	res := cacheOff
	if r.cache != nil {
		res = cacheMiss
	}
	if r.err != nil {
		return nil, res, r.err
	}
	o := r.gwRaw
	var err error
	for _, c := range opts {
		if c.gateway == nil {
			continue
		}
		if o, err = o.Over(*c.gateway); err != nil {
			break
		}
	}
	var g *gateway.Compiled
	if err == nil {
		g, err = gateway.Compile(o, r.models)
	}
	if err != nil {
		var oe *gateway.OptionsError
		errors.As(err, &oe)
		return nil, res, &Error{Step: StepInput, Kind: gateway.ErrInvalidOptions, Reason: oe.Reason}
	}
	e, res := r.lookup(ctx, userID, hint)
	if e != nil {
		e.fill(p, path)
	} else if *p, *path, err = r.resolve(ctx, userID, hint, res); err != nil {
		return nil, res, err
	}
	if p.ID == providers.Gateway {
		if g, err = r.callAttribution(g, o, userID, *path); err != nil {
			return nil, res, err
		}
		p.gateway = p.gateway.WithOptions(g)
	}
	return e, res, nil
}

// Invalidate drops the user's cached results at once; a resolution that was in flight
// when it was called does not put its result back. Without a cache it does nothing.
func (r *Resolver) Invalidate(userID string) {
	if r.cache != nil {
		r.cache.Invalidate(userID)
	}
}

// InvalidateAll drops every cached result at once; no resolution that was in flight
// when it was called puts its result back. Without a cache it does nothing.
func (r *Resolver) InvalidateAll() {
	if r.cache != nil {
		r.cache.InvalidateAll()
	}
}

// record puts the outcome on the span: safe enum values only.
func (r *Resolver) record(span trace.Span, p Provider, path Path, hinted, hit bool, err error) {
	if err != nil {
		span.SetAttributes(attribute.String("error.type", errorCode(err)))
		span.SetStatus(codes.Error, err.Error()) // safe: Error never prints causes
		return
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		attribute.String("path", string(path)),
		attribute.String("provider", string(p.ID)),
		attribute.String("baseUrlHost", p.BaseURLHost()),
		attribute.String("baseUrlSource", p.BaseURLSource),
	)
	if hinted {
		attrs = append(attrs, attribute.String("model", p.Model))
	}
	if r.cache != nil {
		attrs = append(attrs, attribute.Bool("cache.hit", hit))
	}
	span.SetAttributes(attrs...)
}

// lookup returns the cached entry for (user, hint), or nil, and how the cache took
// part. It needs no input checks: only valid input is ever cached, and a Resolver with
// a configuration error has no cache. A done ctx is never answered from the cache.
func (r *Resolver) lookup(ctx context.Context, userID, hint string) (*cacheEntry, cacheResult) {
	switch {
	case r.cache == nil:
		return nil, cacheOff
	case !r.cache.Open():
		return nil, cacheBypass
	case ctx.Err() != nil:
		return nil, cacheMiss
	}
	if e := r.cache.get(userID, hint); e != nil {
		return e, cacheHit
	}
	return nil, cacheMiss
}

// resolve checks the input and resolves: through the cache's shared resolution after a
// miss, on its own otherwise.
func (r *Resolver) resolve(ctx context.Context, userID, hint string, res cacheResult) (Provider, Path, error) {
	if r.err != nil {
		return Provider{}, "", r.err
	}
	if strings.TrimSpace(userID) == "" {
		return Provider{}, "", &Error{Step: StepInput, Kind: ErrInvalidUserID}
	}
	if err := ctx.Err(); err != nil {
		return Provider{}, "", &Error{Step: StepInput, Kind: err}
	}
	if res == cacheMiss {
		return r.resolveShared(ctx, userID, hint)
	}
	return r.resolveBounded(ctx, userID, hint)
}

// errStoreTimeout is the cause of a store context ended by the Resolver's store timeout.
var errStoreTimeout = errors.New("resolve: store timeout")

// resolveBounded resolves under the caller's ctx and the store timeout. A caller
// deadline that comes first needs no timer of its own.
func (r *Resolver) resolveBounded(ctx context.Context, userID, hint string) (Provider, Path, error) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= r.timeout {
		return r.resolveUncached(ctx, userID, hint)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, r.timeout, errStoreTimeout)
	defer cancel()
	return r.resolveUncached(ctx, userID, hint)
}

// resolveUncached runs the four paths against the stores, attributes a team gateway
// result to its user (WithGatewayAttribution) and, when the Resolver watches what its
// Providers send, marks the result with its origin.
func (r *Resolver) resolveUncached(ctx context.Context, userID, hint string) (Provider, Path, error) {
	p, path, err := r.resolvePaths(ctx, userID, hint)
	if err == nil {
		if p, err = r.attribute(p, userID, path); err != nil {
			return Provider{}, "", err
		}
	}
	if err == nil && r.watches {
		p.origin = &origin{r: r, user: userID, path: path}
	}
	return p, path, err
}

// resolvePaths runs the four paths against the stores.
func (r *Resolver) resolvePaths(ctx context.Context, userID, hint string) (Provider, Path, error) {
	m, err := models.Parse(hint, r.models)
	if err != nil {
		return Provider{}, "", &Error{Step: StepInput, Kind: ErrInvalidModel}
	}
	eligible := r.order
	if !m.IsZero() {
		eligible = make([]providers.ID, 0, len(r.order))
		for _, id := range r.order {
			if _, ok := m.For(id); ok {
				eligible = append(eligible, id)
			}
		}
	}
	if r.snap != nil {
		return r.fromSnapshot(ctx, userID, m, eligible)
	}

	// Path 1: the user's own gateway key.
	key, err := r.key(ctx, userID, providers.Gateway)
	if errors.Is(err, ErrKeyBroken) {
		if err = r.brokenKey(StepUserGateway, providers.Gateway, err); err != nil {
			return Provider{}, "", err
		}
		key, err = providers.Secret{}, ErrNotFound // WithSkipBrokenKeys: absent
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Provider{}, "", storeError(ctx, StepUserGateway, err)
	}
	if err == nil && !key.IsZero() {
		base, err := r.gatewayBaseURL(ctx, userID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Provider{}, "", storeError(ctx, StepUserGateway, err)
		}
		return r.gateway(UserGateway, key, base, SourceUser, m)
	}

	// Path 2: the user's own provider keys.
	for _, id := range eligible {
		key, err := r.key(ctx, userID, id)
		if errors.Is(err, ErrKeyBroken) {
			if err = r.brokenKey(StepUserProvider, id, err); err != nil {
				return Provider{}, "", err
			}
			continue // WithSkipBrokenKeys: absent
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Provider{}, "", storeError(ctx, StepUserProvider, err)
		}
		if err == nil && !key.IsZero() {
			return r.userProvider(ctx, userID, id, key, m, nil)
		}
	}
	return r.teamPaths(ctx, userID, m, eligible, nil)
}

// userProvider serves the user's own key for id: on the gateway-byok path when the
// Resolver has WithGatewayBYOK, the gateway has a BYOK slug for id, the team has a
// gateway key and the user consents; on user-provider otherwise. known is the consent a
// Snapshotter already returned, or nil. A failing store stops resolution, as everywhere.
func (r *Resolver) userProvider(ctx context.Context, userID string, id providers.ID, key providers.Secret, m models.Hint, known *bool) (Provider, Path, error) {
	slug, ok := r.byok[id]
	if !ok {
		return r.provider(UserProvider, id, key, m)
	}
	gwKey, gwURL, err := r.teamGateway(ctx)
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return Provider{}, "", storeError(ctx, StepGatewayBYOK, err)
	case err != nil || gwKey.IsZero(): // no team gateway
		return r.provider(UserProvider, id, key, m)
	}
	allow, err := r.consents(ctx, userID, known)
	if err != nil {
		return Provider{}, "", err
	}
	if !allow {
		return r.provider(UserProvider, id, key, m)
	}
	p, path, err := r.gateway(GatewayBYOK, gwKey, gwURL, SourceTeam, m)
	if err != nil {
		return Provider{}, "", err
	}
	p.gateway = gateway.NewParams(r.gwDefault.Compiled(), slug, key)
	return p, path, nil
}

// fromSnapshot resolves with one Snapshot round trip (plus, at most, the team config
// and a consent read when the store did not know the consent).
func (r *Resolver) fromSnapshot(ctx context.Context, userID string, m models.Hint, eligible []providers.ID) (Provider, Path, error) {
	order := r.snapOrder
	if !m.IsZero() {
		order = append([]providers.ID{providers.Gateway}, eligible...)
	}
	s, err := r.snapshot(ctx, userID, order)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Provider{}, "", storeError(ctx, StepSnapshot, err)
	}
	if len(s.Broken) > 0 {
		if err := r.brokenInSnapshot(s, order); err != nil {
			return Provider{}, "", err
		}
	}
	switch {
	case s.ID == "":
		return r.teamPaths(ctx, userID, m, eligible, s.Consent)
	case s.Key.IsZero() || !slices.Contains(order, s.ID):
		// The store broke its contract; do not guess.
		return Provider{}, "", &Error{Step: StepSnapshot, Kind: ErrStoreUnavailable, Reason: "inconsistent snapshot"}
	case s.ID == providers.Gateway:
		return r.gateway(UserGateway, s.Key, s.GatewayBaseURL, SourceUser, m)
	default:
		return r.userProvider(ctx, userID, s.ID, s.Key, m, s.Consent)
	}
}

// teamPaths runs paths 3 and 4. Consent is read only when a team credential exists;
// known is the consent a Snapshotter already returned, or nil.
func (r *Resolver) teamPaths(ctx context.Context, userID string, m models.Hint, eligible []providers.ID, known *bool) (Provider, Path, error) {
	gwKey, gwURL, err := r.teamGateway(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Provider{}, "", storeError(ctx, StepTeamGateway, err)
	}
	useGateway := err == nil && !gwKey.IsZero()

	var serverID providers.ID
	var serverKey providers.Secret
	if !useGateway {
		for _, id := range eligible {
			key, err := r.serverKey(ctx, id)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return Provider{}, "", storeError(ctx, StepServerProvider, err)
			}
			if err == nil && !key.IsZero() {
				serverID, serverKey = id, key
				break
			}
		}
		if serverID == "" {
			return Provider{}, "", &Error{Step: StepServerProvider, Kind: ErrNoProvider}
		}
	}

	allow, err := r.consents(ctx, userID, known)
	if err != nil {
		return Provider{}, "", err
	}
	if !allow {
		return Provider{}, "", &Error{Step: StepConsent, Kind: ErrFallbackDisabled}
	}

	if useGateway {
		return r.gateway(TeamGateway, gwKey, gwURL, SourceTeam, m)
	}
	return r.provider(ServerProvider, serverID, serverKey, m)
}

// consents reports whether the user lets the team's credentials serve them: known, when
// a Snapshotter returned it, else the ConsentStore's answer, where ErrNotFound (no
// settings) is the database default, true. A failing store stops resolution.
func (r *Resolver) consents(ctx context.Context, userID string, known *bool) (bool, error) {
	if known != nil {
		return *known, nil
	}
	allow, err := r.allowFallback(ctx, userID)
	switch {
	case err == nil:
		return allow, nil
	case errors.Is(err, ErrNotFound):
		return true, nil
	default:
		return false, storeError(ctx, StepConsent, err)
	}
}

// The store calls, timed for MetricStoreDuration.

func (r *Resolver) key(ctx context.Context, userID string, id providers.ID) (providers.Secret, error) {
	start := r.metrics.storeStart(ctx)
	key, err := r.keys.Key(ctx, userID, id)
	r.metrics.storeDone(ctx, opKey, start, err)
	return key, err
}

func (r *Resolver) gatewayBaseURL(ctx context.Context, userID string) (string, error) {
	start := r.metrics.storeStart(ctx)
	u, err := r.keys.GatewayBaseURL(ctx, userID)
	r.metrics.storeDone(ctx, opGatewayBaseURL, start, err)
	return u, err
}

func (r *Resolver) snapshot(ctx context.Context, userID string, order []providers.ID) (Snapshot, error) {
	start := r.metrics.storeStart(ctx)
	s, err := r.snap.Snapshot(ctx, userID, order)
	r.metrics.storeDone(ctx, opSnapshot, start, err)
	return s, err
}

func (r *Resolver) teamGateway(ctx context.Context) (providers.Secret, string, error) {
	start := r.metrics.storeStart(ctx)
	key, u, err := r.team.TeamGateway(ctx)
	r.metrics.storeDone(ctx, opTeamGateway, start, err)
	return key, u, err
}

func (r *Resolver) serverKey(ctx context.Context, id providers.ID) (providers.Secret, error) {
	start := r.metrics.storeStart(ctx)
	key, err := r.team.ServerKey(ctx, id)
	r.metrics.storeDone(ctx, opServerKey, start, err)
	return key, err
}

func (r *Resolver) allowFallback(ctx context.Context, userID string) (bool, error) {
	start := r.metrics.storeStart(ctx)
	allow, err := r.consent.AllowGatewayFallback(ctx, userID)
	r.metrics.storeDone(ctx, opConsent, start, err)
	return allow, err
}

// gateway builds a gateway credential. A non-empty base URL must pass the URL policy;
// a failure stops resolution, so the key never goes to another host.
func (r *Resolver) gateway(path Path, key providers.Secret, baseURL, source string, m models.Hint) (Provider, Path, error) {
	p := Provider{ID: providers.Gateway, APIKey: key, BaseURLSource: source, gateway: r.gwDefault}
	p.Model, _ = m.For(providers.Gateway)
	if baseURL = strings.TrimSpace(baseURL); baseURL == "" {
		spec, _ := providers.Gateway.Spec()
		p.BaseURL, p.BaseURLSource = spec.BaseURL, SourceDefault
		return p, path, nil
	}
	u, err := r.urls.check(baseURL)
	if err != nil {
		return Provider{}, "", urlError(string(path), err)
	}
	p.BaseURL = u
	return p, path, nil
}

// provider builds a provider credential with the provider's default base URL.
func (r *Resolver) provider(path Path, id providers.ID, key providers.Secret, m models.Hint) (Provider, Path, error) {
	spec, _ := id.Spec()
	p := Provider{ID: id, APIKey: key, BaseURL: spec.BaseURL, BaseURLSource: SourceDefault}
	p.Model, _ = m.For(id)
	return p, path, nil
}
