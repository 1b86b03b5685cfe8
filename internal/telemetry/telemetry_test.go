package telemetry_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/byok-go/byok/internal/telemetry"
)

func newReader(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return reader, mp
}

// points returns the data points of the metric name, keyed by their attribute sets.
func points(t *testing.T, reader *sdkmetric.ManualReader, name string) map[attribute.Distinct]metricdata.DataPoint[int64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[attribute.Distinct]metricdata.DataPoint[int64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				out[dp.Attributes.Equivalent()] = dp
			}
		}
	}
	return out
}

func set(kv ...string) attribute.Set {
	attrs := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(attrs...)
}

func TestMeter_noopRecordsNothing(t *testing.T) {
	if m := telemetry.Meter(noop.NewMeterProvider(), "x"); m != nil {
		t.Error("the no-op provider gave a meter")
	}
	if m := telemetry.Meter(nil, "x"); m == nil {
		t.Error("a nil provider (the global one) gave no meter")
	}
	c := telemetry.Counter(nil, "c", "", "1")
	c.Add(context.Background(), 1) // must not panic
}

func TestTracer_noopMakesNoSpans(t *testing.T) {
	if tr := telemetry.Tracer(tracenoop.NewTracerProvider(), "x"); tr != nil {
		t.Error("the no-op provider gave a tracer")
	}
	if tr := telemetry.Tracer(nil, "x"); tr == nil {
		t.Error("a nil provider (the global one) gave no tracer")
	}
}

func TestCounts(t *testing.T) {
	reader, mp := newReader(t)
	meter := telemetry.Meter(mp, "test")
	n := telemetry.NewCounts(telemetry.Counter(meter, "events", "", "{event}"),
		"path", []string{"a", "b"}, "cache", []string{"", "hit"})
	ctx := context.Background()
	n.AddKnown(ctx, 1, 1)            // path=b cache=hit
	n.Add(ctx, "path", "b", 1)       // the same, found among the known
	n.Add(ctx, "path", "a", 0)       // path=a, no mode attribute
	n.Add(ctx, "path", "z", 1)       // unknown value
	n.Add(ctx, "error.type", "b", 0) // another key, even with a known value

	got := points(t, reader, "events")
	for _, want := range []struct {
		set attribute.Set
		n   int64
	}{
		{set("path", "b", "cache", "hit"), 2},
		{set("path", "a"), 1},
		{set("path", "z", "cache", "hit"), 1},
		{set("error.type", "b"), 1},
	} {
		s := want.set
		if dp, ok := got[s.Equivalent()]; !ok || dp.Value != want.n {
			t.Errorf("%v: got %v (present %v), want %d", s.Encoded(attribute.DefaultEncoder()), dp.Value, ok, want.n)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d attribute sets recorded, want 4", len(got))
	}
	if a := testing.AllocsPerRun(100, func() { n.Add(ctx, "path", "a", 1) }); a != 0 {
		t.Errorf("counting a known value allocates %v times", a)
	}
}

func TestOptions(t *testing.T) {
	reader, mp := newReader(t)
	c := telemetry.Counter(telemetry.Meter(mp, "test"), "outcomes", "", "1")
	opts := telemetry.Options("outcome", "ok", "error")
	c.Add(context.Background(), 1, opts[1]...)
	c.Add(context.Background(), 2, opts[0]...)
	got := points(t, reader, "outcomes")
	errSet, okSet := set("outcome", "error"), set("outcome", "ok")
	if got[errSet.Equivalent()].Value != 1 || got[okSet.Equivalent()].Value != 2 {
		t.Errorf("options recorded under the wrong sets: %v", got)
	}
}

func TestDurations(t *testing.T) {
	reader, mp := newReader(t)
	d := telemetry.NewDurations(telemetry.Meter(mp, "test"), "dur", "", []string{"read", "write"})
	ctx := context.Background()
	start := d.Start(ctx)
	if start.IsZero() {
		t.Fatal("an enabled histogram gave no start time")
	}
	d.Done(ctx, 1, start, true)
	d.Done(ctx, 0, start, false)
	d.Done(ctx, 0, time.Time{}, false) // not started: not recorded

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[attribute.Distinct]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				counts[dp.Attributes.Equivalent()] = dp.Count
			}
		}
	}
	failed, ok := set("operation", "write", "outcome", "error"), set("operation", "read", "outcome", "ok")
	if counts[failed.Equivalent()] != 1 || counts[ok.Equivalent()] != 1 || len(counts) != 2 {
		t.Errorf("durations recorded as %v", counts)
	}

	var off *telemetry.Durations
	if !off.Start(ctx).IsZero() {
		t.Error("a nil Durations gave a start time")
	}
}
