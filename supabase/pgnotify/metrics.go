package pgnotify

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/byok-go/byok/internal/telemetry"
)

// scopeName is the meter name: this package's import path.
const scopeName = "github.com/byok-go/byok/supabase/pgnotify"

// Metrics a Listener records (meter "github.com/byok-go/byok/supabase/pgnotify"). No
// attribute carries a user id, a payload or a connection detail.
const (
	// MetricNotifications counts notifications received ("{notification}"). Attribute
	// "result": "invalidated" (a user id, passed to every Invalidator) or "ignored" (a
	// payload that is not a user id).
	MetricNotifications = "byok.pgnotify.notifications"
	// MetricConnected is an observable gauge: 1 while [Listener.Connected] is true and 0
	// otherwise, read when the metrics are collected, while [Listener.Run] runs. A
	// process should run one Listener per MeterProvider: the gauge has no attribute that
	// would tell two apart.
	MetricConnected = "byok.pgnotify.connected"
	// MetricDisconnects counts lost connections and failed attempts ("{disconnect}").
	// Attribute "stage": "connect", "listen", "receive" or "keepalive".
	MetricDisconnects = "byok.pgnotify.disconnects"
)

type metrics struct {
	meter         metric.Meter
	notifications metric.Int64Counter
	connected     metric.Int64ObservableGauge
	disconnects   metric.Int64Counter

	invalidated, ignored []metric.AddOption
}

func newMetrics(mp metric.MeterProvider) *metrics {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(scopeName)
	m := &metrics{
		meter: meter,
		notifications: telemetry.Counter(meter, MetricNotifications,
			"Invalidation notifications received.", "{notification}"),
		disconnects: telemetry.Counter(meter, MetricDisconnects,
			"Listener connections lost or failed.", "{disconnect}"),
	}
	// The API returns a usable (no-op) instrument with any error.
	m.connected, _ = meter.Int64ObservableGauge(MetricConnected,
		metric.WithDescription("1 while the listener's connection is up and caches may be used, else 0."), metric.WithUnit("1"))
	if m.connected == nil {
		m.connected = noop.Int64ObservableGauge{}
	}
	results := telemetry.Options("result", "invalidated", "ignored")
	m.invalidated, m.ignored = results[0], results[1]
	return m
}

func (m *metrics) notification(ctx context.Context, valid bool) {
	if valid {
		m.notifications.Add(ctx, 1, m.invalidated...)
	} else {
		m.notifications.Add(ctx, 1, m.ignored...)
	}
}

// observeConnected reports connected() as the [MetricConnected] gauge at each
// collection until the returned function is called. The callback holds the Listener
// only while Run runs, so a Listener that stopped can be collected.
func (m *metrics) observeConnected(connected func() bool) (unregister func()) {
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var v int64
		if connected() {
			v = 1
		}
		o.ObserveInt64(m.connected, v)
		return nil
	}, m.connected)
	if err != nil || reg == nil {
		return func() {}
	}
	return func() { _ = reg.Unregister() }
}

func (m *metrics) disconnected(ctx context.Context, stage string) {
	m.disconnects.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", stage)))
}
