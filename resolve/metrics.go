package resolve

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/byok-go/byok/internal/telemetry"
)

// Metrics a Resolver records through its MeterProvider ([WithMeterProvider]; meter name
// "github.com/byok-go/byok/resolve"). Attribute values are small enums: never a user id,
// a key or a URL.
const (
	// MetricResolutions counts Resolve calls ("{resolution}"). Attributes: "path" on
	// success or "error.type" (the [Error.Code]) on failure, and "cache" ("hit", "miss"
	// or "bypass": the cache gate was closed) when the Resolver has a cache.
	MetricResolutions = "byok.resolve.resolutions"
	// MetricStoreDuration is the duration of each store call, in seconds. Attributes:
	// "operation" ("snapshot", "key", "gateway_base_url", "consent", "team_gateway",
	// "server_key") and "outcome" ("ok", including an answer of not found or of a key
	// marked broken, or "error").
	MetricStoreDuration = "byok.resolve.store.duration"
)

// cacheResult is how the cache took part in one Resolve.
type cacheResult uint8

const (
	cacheOff    cacheResult = iota // no cache
	cacheHit                       // answered from the cache
	cacheMiss                      // not cached: resolved through a shared flight
	cacheBypass                    // the gate was closed: resolved without the cache
	numCacheResults
)

var cacheResultNames = [numCacheResults]string{"", "hit", "miss", "bypass"}

// storeOp names a store call in MetricStoreDuration.
type storeOp uint8

const (
	opSnapshot storeOp = iota
	opKey
	opGatewayBaseURL
	opConsent
	opTeamGateway
	opServerKey
	numStoreOps
)

var storeOpNames = [numStoreOps]string{"snapshot", "key", "gateway_base_url", "consent", "team_gateway", "server_key"}

// knownPaths have their attribute sets built once; others are built per call.
var knownPaths = [...]Path{UserGateway, UserProvider, GatewayBYOK, TeamGateway, ServerProvider}

// metrics holds a Resolver's instruments, with the measurement options of every common
// attribute combination built once (package telemetry), so that recording allocates
// nothing.
type metrics struct {
	resolutions *telemetry.Counts    // MetricResolutions
	store       *telemetry.Durations // MetricStoreDuration
}

// meterOf returns the package's meter from mp, or nil when mp is the no-op provider:
// then nothing is recorded. A nil mp means the global provider.
func meterOf(mp metric.MeterProvider) metric.Meter { return telemetry.Meter(mp, scopeName) }

// newMetrics returns the metrics of mp, or nil when mp is the no-op provider. A nil mp
// means the global provider. Instrument errors leave that instrument a no-op.
func newMetrics(mp metric.MeterProvider) *metrics {
	meter := meterOf(mp)
	if meter == nil {
		return nil
	}
	paths := make([]string, len(knownPaths))
	for i, p := range knownPaths {
		paths[i] = string(p)
	}
	return &metrics{
		resolutions: telemetry.NewCounts(telemetry.Counter(meter, MetricResolutions,
			"Resolve calls by path or error code and by cache result.", "{resolution}"),
			"path", paths, "cache", cacheResultNames[:]),
		store: telemetry.NewDurations(meter, MetricStoreDuration,
			"Duration of each store call made by a resolution.", storeOpNames[:]),
	}
}

// count records one Resolve. A nil m records nothing.
func (m *metrics) count(ctx context.Context, path Path, err error, c cacheResult) {
	if m != nil {
		m.add(ctx, path, err, c)
	}
}

// hit records a Resolve answered by e. A nil m records nothing.
func (m *metrics) hit(ctx context.Context, e *cacheEntry, path Path) {
	if m != nil {
		m.addHit(ctx, e, path)
	}
}

func (m *metrics) addHit(ctx context.Context, e *cacheEntry, path Path) {
	if e.x == nil || e.x.full == nil { // a template knows its path's index
		m.resolutions.AddKnown(ctx, e.tmpl.pathIdx, int(cacheHit))
		return
	}
	m.add(ctx, path, nil, cacheHit)
}

func (m *metrics) add(ctx context.Context, path Path, err error, c cacheResult) {
	if err != nil {
		m.resolutions.Add(ctx, "error.type", errorCode(err), int(c))
		return
	}
	m.resolutions.Add(ctx, "path", string(path), int(c))
}

// storeStart returns the start time of a store call, or the zero time when store
// durations are not being recorded.
func (m *metrics) storeStart(ctx context.Context) time.Time {
	if m == nil {
		return time.Time{}
	}
	return m.store.Start(ctx)
}

// storeDone records a store call that began at start (see storeStart). An answer of not
// found or of a key marked broken is an "ok" outcome.
func (m *metrics) storeDone(ctx context.Context, op storeOp, start time.Time, err error) {
	if !start.IsZero() {
		m.store.Done(ctx, int(op), start, err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrKeyBroken))
	}
}
