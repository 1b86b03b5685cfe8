package pgnotify

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
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
	// MetricConnected is 1 while [Listener.Connected] is true and 0 otherwise.
	MetricConnected = "byok.pgnotify.connected"
	// MetricDisconnects counts lost connections and failed attempts ("{disconnect}").
	// Attribute "stage": "connect", "listen", "receive" or "keepalive".
	MetricDisconnects = "byok.pgnotify.disconnects"
)

type metrics struct {
	notifications metric.Int64Counter
	connected     metric.Int64Gauge
	disconnects   metric.Int64Counter

	invalidated, ignored []metric.AddOption
}

func newMetrics(mp metric.MeterProvider) *metrics {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(scopeName)
	m := &metrics{}
	// The API returns a usable (no-op) instrument with any error.
	m.notifications, _ = meter.Int64Counter(MetricNotifications,
		metric.WithDescription("Invalidation notifications received."), metric.WithUnit("{notification}"))
	m.connected, _ = meter.Int64Gauge(MetricConnected,
		metric.WithDescription("1 while the listener's connection is up and caches may be used, else 0."), metric.WithUnit("1"))
	m.disconnects, _ = meter.Int64Counter(MetricDisconnects,
		metric.WithDescription("Listener connections lost or failed."), metric.WithUnit("{disconnect}"))
	if m.notifications == nil {
		m.notifications = noop.Int64Counter{}
	}
	if m.connected == nil {
		m.connected = noop.Int64Gauge{}
	}
	if m.disconnects == nil {
		m.disconnects = noop.Int64Counter{}
	}
	m.invalidated = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "invalidated")))}
	m.ignored = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "ignored")))}
	return m
}

func (m *metrics) notification(ctx context.Context, valid bool) {
	if valid {
		m.notifications.Add(ctx, 1, m.invalidated...)
	} else {
		m.notifications.Add(ctx, 1, m.ignored...)
	}
}

func (m *metrics) connectedGauge(ctx context.Context, up bool) {
	var v int64
	if up {
		v = 1
	}
	m.connected.Record(ctx, v)
}

func (m *metrics) disconnected(ctx context.Context, stage string) {
	m.disconnects.Add(ctx, 1, metric.WithAttributes(attribute.String("stage", stage)))
}
