package resolve

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
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

// metrics holds a Resolver's instruments and the measurement options of every common
// attribute combination, built once so that recording allocates nothing.
type metrics struct {
	resolutions metric.Int64Counter
	storeDur    metric.Float64Histogram

	byPath  [len(knownPaths)][numCacheResults][]metric.AddOption
	byStore [numStoreOps][2][]metric.RecordOption // [op][0 ok, 1 error]
}

// meterOf returns the package's meter from mp, or nil when mp is the no-op provider:
// then nothing is recorded. A nil mp means the global provider.
func meterOf(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if _, isNoop := mp.(noop.MeterProvider); isNoop {
		return nil
	}
	return mp.Meter(scopeName)
}

// counter returns meter's Int64Counter name, or a no-op one when meter is nil or the
// instrument cannot be made (the OpenTelemetry API then returns a usable instrument
// with its error; this keeps a nil one from reaching a recording).
func counter(meter metric.Meter, name, description, unit string) metric.Int64Counter {
	if meter == nil {
		return noop.Int64Counter{}
	}
	c, _ := meter.Int64Counter(name, metric.WithDescription(description), metric.WithUnit(unit))
	if c == nil {
		return noop.Int64Counter{}
	}
	return c
}

// newMetrics returns the metrics of mp, or nil when mp is the no-op provider. A nil mp
// means the global provider. Instrument errors leave that instrument a no-op.
func newMetrics(mp metric.MeterProvider) *metrics {
	meter := meterOf(mp)
	if meter == nil {
		return nil
	}
	m := &metrics{}
	m.resolutions = counter(meter, MetricResolutions, "Resolve calls by path or error code and by cache result.", "{resolution}")
	m.storeDur, _ = meter.Float64Histogram(MetricStoreDuration,
		metric.WithDescription("Duration of each store call made by a resolution."),
		metric.WithUnit("s"))
	if m.storeDur == nil {
		m.storeDur = noop.Float64Histogram{}
	}
	for i, p := range knownPaths {
		for c := range numCacheResults {
			m.byPath[i][c] = []metric.AddOption{metric.WithAttributeSet(resolutionAttrs("path", string(p), c))}
		}
	}
	for op := range numStoreOps {
		for j, outcome := range []string{"ok", "error"} {
			set := attribute.NewSet(attribute.String("operation", storeOpNames[op]), attribute.String("outcome", outcome))
			m.byStore[op][j] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	return m
}

func resolutionAttrs(key, value string, c cacheResult) attribute.Set {
	if c == cacheOff {
		return attribute.NewSet(attribute.String(key, value))
	}
	return attribute.NewSet(attribute.String(key, value), attribute.String("cache", cacheResultNames[c]))
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
		m.resolutions.Add(ctx, 1, m.byPath[e.tmpl.pathIdx][cacheHit]...)
		return
	}
	m.add(ctx, path, nil, cacheHit)
}

func (m *metrics) add(ctx context.Context, path Path, err error, c cacheResult) {
	if err != nil {
		m.resolutions.Add(ctx, 1, metric.WithAttributeSet(resolutionAttrs("error.type", errorCode(err), c)))
		return
	}
	for i, p := range knownPaths {
		if p == path {
			m.resolutions.Add(ctx, 1, m.byPath[i][c]...)
			return
		}
	}
	m.resolutions.Add(ctx, 1, metric.WithAttributeSet(resolutionAttrs("path", string(path), c)))
}

// storeStart returns the start time of a store call, or the zero time when store
// durations are not being recorded.
func (m *metrics) storeStart(ctx context.Context) time.Time {
	if m == nil || !m.storeDur.Enabled(ctx) {
		return time.Time{}
	}
	return time.Now()
}

// storeDone records a store call that began at start (see storeStart).
func (m *metrics) storeDone(ctx context.Context, op storeOp, start time.Time, err error) {
	if start.IsZero() {
		return
	}
	outcome := 0
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrKeyBroken) {
		outcome = 1
	}
	m.storeDur.Record(ctx, time.Since(start).Seconds(), m.byStore[op][outcome]...)
}
