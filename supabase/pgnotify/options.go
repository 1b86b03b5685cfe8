package pgnotify

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Option configures a [Listener] in [New].
type Option interface {
	apply(*Listener, *meterProvider)
}

type option func(*Listener, *meterProvider)

func (o option) apply(l *Listener, mp *meterProvider) { o(l, mp) }

type meterProvider struct{ mp metric.MeterProvider }

// WithKeepalive sets how long the connection may stay silent before the Listener probes
// it, and how long the probe may take before the connection is in doubt (the cache gate
// closes and the Listener reconnects). The defaults are [DefaultKeepaliveInterval] and
// [DefaultKeepaliveTimeout]. Together they bound how long a connection that died
// without an error (a network partition, a frozen server) is trusted. A value of zero
// or less makes the Listener invalid (ErrInvalidConfig).
func WithKeepalive(interval, timeout time.Duration) Option {
	return option(func(l *Listener, _ *meterProvider) {
		if interval <= 0 || timeout <= 0 {
			l.fail("keepalive interval and timeout must be positive")
			return
		}
		l.interval, l.timeout = interval, timeout
	})
}

// WithBackoff sets the wait before reconnecting: min after the first failure, doubling
// with each failure in a row up to max, each wait drawn at random from its upper half. A
// connection that stays up for the stable period ([WithStablePeriod]) ends the row.
// The defaults are [DefaultMinBackoff] and [DefaultMaxBackoff]. min <= 0 or max < min
// makes the Listener invalid (ErrInvalidConfig).
func WithBackoff(min, max time.Duration) Option {
	return option(func(l *Listener, _ *meterProvider) {
		if min <= 0 || max < min {
			l.fail("backoff must be positive, with max at least min")
			return
		}
		l.minBackoff, l.maxBackoff = min, max
	})
}

// WithStablePeriod sets how long a connection must stay up, with the cache gate open,
// before the backoff starts again from its minimum; until then each failure in a row
// doubles the wait (see [WithBackoff]). The default is [DefaultStablePeriod]. Together
// with the backoff it bounds how often a flapping connection makes the Listener
// reconnect and run InvalidateAll. A value of zero or less makes the Listener invalid
// (ErrInvalidConfig).
func WithStablePeriod(d time.Duration) Option {
	return option(func(l *Listener, _ *meterProvider) {
		if d <= 0 {
			l.fail("stable period must be positive")
			return
		}
		l.stablePeriod = d
	})
}

// WithLogger sets where the Listener logs losing and regaining its connection (never a
// connection string, host, error text or user id). Nil, or no option, means
// slog.Default().
func WithLogger(logger *slog.Logger) Option {
	return option(func(l *Listener, _ *meterProvider) {
		if logger != nil {
			l.logger = logger
		}
	})
}

// WithMeterProvider sets where metrics go (see [MetricNotifications], [MetricConnected]
// and [MetricDisconnects]). Nil, or no option, means the global provider
// (otel.GetMeterProvider).
func WithMeterProvider(provider metric.MeterProvider) Option {
	return option(func(_ *Listener, mp *meterProvider) {
		if provider != nil {
			mp.mp = provider
		}
	})
}
