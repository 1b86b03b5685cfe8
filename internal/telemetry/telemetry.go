// Package telemetry builds OpenTelemetry instruments with the measurement options of
// their common attribute sets made ahead of time, so that recording allocates nothing.
package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Meter returns mp's meter named scope, or nil when mp is the no-op provider: then
// nothing is recorded. A nil mp means the global provider.
func Meter(mp metric.MeterProvider, scope string) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if _, isNoop := mp.(noop.MeterProvider); isNoop {
		return nil
	}
	return mp.Meter(scope)
}

// Tracer returns tp's tracer named scope, or nil when tp is the no-op provider: then no
// span is made. A nil tp means the global provider.
func Tracer(tp trace.TracerProvider, scope string) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if _, isNoop := tp.(tracenoop.TracerProvider); isNoop {
		return nil
	}
	return tp.Tracer(scope)
}

// Counter returns meter's Int64Counter name, or a no-op one when meter is nil or the
// instrument cannot be made (the OpenTelemetry API then returns a usable instrument
// with its error; this keeps a nil one from reaching a recording).
func Counter(meter metric.Meter, name, description, unit string) metric.Int64Counter {
	if meter == nil {
		return noop.Int64Counter{}
	}
	c, _ := meter.Int64Counter(name, metric.WithDescription(description), metric.WithUnit(unit))
	if c == nil {
		return noop.Int64Counter{}
	}
	return c
}

// Options returns, for each of values, the add options of the attribute set
// {key: value}.
func Options(key string, values ...string) [][]metric.AddOption {
	opts := make([][]metric.AddOption, len(values))
	for i, v := range values {
		opts[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(key, v)))}
	}
	return opts
}

// Counts is a counter of events, each with one attribute of a key of its own (a path,
// an error code) and, optionally, a mode attribute of a fixed key (whether a cache
// answered). The options of Known values of the first key are built ahead of time.
type Counts struct {
	c       metric.Int64Counter
	key     string   // the key of Known
	known   []string // values of key whose options are built ahead
	modeKey string
	modes   []string               // modes[0] == "" adds no mode attribute
	byKnown [][][]metric.AddOption // [known][mode]
}

// NewCounts returns Counts recording on c, with the options of every value of known
// (under key) crossed with every mode (under modeKey; the mode "" adds no attribute)
// built ahead of time.
func NewCounts(c metric.Int64Counter, key string, known []string, modeKey string, modes []string) *Counts {
	n := &Counts{c: c, key: key, known: known, modeKey: modeKey, modes: modes}
	n.byKnown = make([][][]metric.AddOption, len(known))
	for i, v := range known {
		n.byKnown[i] = make([][]metric.AddOption, len(modes))
		for m := range modes {
			n.byKnown[i][m] = []metric.AddOption{metric.WithAttributeSet(n.set(key, v, m))}
		}
	}
	return n
}

func (n *Counts) set(key, value string, mode int) attribute.Set {
	if n.modes[mode] == "" {
		return attribute.NewSet(attribute.String(key, value))
	}
	return attribute.NewSet(attribute.String(key, value), attribute.String(n.modeKey, n.modes[mode]))
}

// AddKnown counts one event of the known value i in mode; it allocates nothing.
func (n *Counts) AddKnown(ctx context.Context, i, mode int) {
	n.c.Add(ctx, 1, n.byKnown[i][mode]...)
}

// Add counts one event of key: value in mode. A known value of the Counts' key
// allocates nothing; any other builds its attribute set.
func (n *Counts) Add(ctx context.Context, key, value string, mode int) {
	if key == n.key {
		for i, v := range n.known {
			if v == value {
				n.AddKnown(ctx, i, mode)
				return
			}
		}
	}
	n.c.Add(ctx, 1, metric.WithAttributeSet(n.set(key, value, mode)))
}

// Durations is a histogram of the durations of operations, in seconds, with the
// attributes "operation" and "outcome" ("ok" or "error"), their options built ahead
// of time.
type Durations struct {
	h    metric.Float64Histogram
	byOp [][2][]metric.RecordOption // [op][0 ok, 1 error]
}

// NewDurations returns the histogram name of meter (a no-op one when it cannot be
// made) for the operations ops.
func NewDurations(meter metric.Meter, name, description string, ops []string) *Durations {
	d := &Durations{}
	d.h, _ = meter.Float64Histogram(name, metric.WithDescription(description), metric.WithUnit("s"))
	if d.h == nil {
		d.h = noop.Float64Histogram{}
	}
	d.byOp = make([][2][]metric.RecordOption, len(ops))
	for op, name := range ops {
		for j, outcome := range [2]string{"ok", "error"} {
			set := attribute.NewSet(attribute.String("operation", name), attribute.String("outcome", outcome))
			d.byOp[op][j] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	return d
}

// Start returns the start time of an operation, or the zero time when durations are
// not being recorded. A nil d records nothing.
func (d *Durations) Start(ctx context.Context) time.Time {
	if d == nil || !d.h.Enabled(ctx) {
		return time.Time{}
	}
	return time.Now()
}

// Done records operation op that began at start (see Start); failed picks the outcome.
func (d *Durations) Done(ctx context.Context, op int, start time.Time, failed bool) {
	if start.IsZero() {
		return
	}
	outcome := 0
	if failed {
		outcome = 1
	}
	d.h.Record(ctx, time.Since(start).Seconds(), d.byOp[op][outcome]...)
}
