package pgnotify_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase/pgnotify"
)

// failure is one "connection failed" record of the listener's log.
type failure struct {
	stage   string
	attempt int
	up      time.Duration
	retryIn time.Duration
}

// failureLog is a slog.Handler that keeps the listener's failure records, in order.
type failureLog struct {
	n   atomic.Int64 // records so far; counted after the listener closed its gate
	mu  sync.Mutex
	all []failure
}

func (*failureLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *failureLog) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *failureLog) WithGroup(string) slog.Handler          { return h }

func (h *failureLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "connection to the database failed") {
		return nil
	}
	var f failure
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "stage":
			f.stage = a.Value.String()
		case "attempt":
			f.attempt = int(a.Value.Int64())
		case "up":
			f.up = a.Value.Duration()
		case "retry_in":
			f.retryIn = a.Value.Duration()
		}
		return true
	})
	h.mu.Lock()
	h.all = append(h.all, f)
	h.mu.Unlock()
	h.n.Add(1)
	return nil
}

func (h *failureLog) records() []failure {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]failure(nil), h.all...)
}

func (h *failureLog) lastAttempt() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.all) == 0 {
		return 0
	}
	return h.all[len(h.all)-1].attempt
}

// ceiling returns the upper end of the n-th wait in a row (from 1): min doubled n-1
// times, capped at max. Each wait is drawn from [ceiling/2, ceiling].
func ceiling(minWait, maxWait time.Duration, n int) time.Duration {
	d := minWait
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// maxReconnections is the most connections that can start within any window of the
// given length while the connection flaps: the n-th wait in a row is at least
// ceiling(n)/2, and the densest run is the one that starts at the first wait.
func maxReconnections(minWait, maxWait, window time.Duration) int {
	n, spent := 1, time.Duration(0)
	for k := 1; ; k++ {
		spent += ceiling(minWait, maxWait, k) / 2
		if spent > window {
			return n
		}
		n++
	}
}

// The figure in the package documentation.
func TestMaxReconnections_defaults(t *testing.T) {
	assert.Equal(t, 8, maxReconnections(pgnotify.DefaultMinBackoff, pgnotify.DefaultMaxBackoff, 30*time.Second))
	assert.Equal(t, 240, int(30*time.Second/(pgnotify.DefaultMinBackoff/2)), "without the stable period")
}

// gateWatch is an Invalidator that checks, at each InvalidateAll, that the gate is
// closed and that the current connection has LISTENed, and records when it ran.
type gateWatch struct {
	l   *pgnotify.Listener
	cut *cutter

	lastListened atomic.Int64 // the cutter's listened count at the latest InvalidateAll
	mu           sync.Mutex
	at           []time.Time // each InvalidateAll after Add's
	added        bool
	whileOpen    int // InvalidateAll calls while the gate was open
	beforeListen int // InvalidateAll calls before the current connection had LISTENed
}

func (*gateWatch) Invalidate(string) {}

func (w *gateWatch) InvalidateAll() {
	accepted, listened, open := w.cut.accepted.Load(), w.cut.listened.Load(), w.l.Connected()
	w.lastListened.Store(listened)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.added { // the one Add runs
		w.added = true
		return
	}
	w.at = append(w.at, time.Now())
	if open {
		w.whileOpen++
	}
	if listened < accepted {
		w.beforeListen++
	}
}

func (w *gateWatch) times() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.at...)
}

// sampler reads the gate over and over, and checks each time it is open that it may be:
// the latest connection attempt has LISTENed, InvalidateAll ran since, and its failure
// has not been logged (the listener logs a failure after closing the gate).
type sampler struct {
	open, closed int
	violations   map[string]int // samples by what was wrong
}

func (s *sampler) run(ctx context.Context, l *pgnotify.Listener, cut *cutter, w *gateWatch, log *failureLog) {
	s.violations = map[string]int{}
	for ctx.Err() == nil {
		a1 := cut.accepted.Load()
		failed := log.n.Load()
		open := l.Connected()
		a2, listened, invalidated := cut.accepted.Load(), cut.listened.Load(), w.lastListened.Load()
		if !open {
			s.closed++
		} else {
			s.open++
			switch {
			case a1 != a2: // a new attempt began meanwhile: this sample proves nothing
			case listened < a1:
				s.violations["open before the connection LISTENed"]++
			case invalidated < a1:
				s.violations["open before InvalidateAll ran on this connection"]++
			case failed >= a1:
				s.violations["open after its failure was logged, before the next connection"]++
			}
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// flapping runs a listener through a cutter that drops every connection cutAfter after
// its LISTEN, with the given backoff and stable period.
type flapping struct {
	l       *pgnotify.Listener
	cut     *cutter
	log     *failureLog
	watch   *gateWatch
	reader  *sdkmetric.ManualReader
	sampler sampler

	hookOpen atomic.Int64 // connection attempts that began with the gate open
	cancel   context.CancelFunc
	done     chan error
	sampled  chan struct{}
	started  time.Time
}

func startFlapping(t *testing.T, cutAfter, minWait, maxWait, stable time.Duration) *flapping {
	t.Helper()
	db := pgtest.New(t)
	f := &flapping{log: &failureLog{}, reader: sdkmetric.NewManualReader(), done: make(chan error, 1), sampled: make(chan struct{})}
	var dsn string
	f.cut, dsn = newCutter(t, db.DSN, cutAfter)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	f.l = pgnotify.New(dsn, pgnotify.WithBackoff(minWait, maxWait), pgnotify.WithStablePeriod(stable),
		pgnotify.WithLogger(slog.New(f.log)), pgnotify.WithMeterProvider(mp),
		pgnotify.WithConnectHook(func(context.Context) {
			if f.l.Connected() {
				f.hookOpen.Add(1)
			}
		}))
	f.watch = &gateWatch{l: f.l, cut: f.cut}
	f.l.Add(f.watch)

	ctx, cancel := context.WithCancel(t.Context())
	f.cancel = cancel
	f.started = time.Now()
	go func() { f.done <- f.l.Run(ctx) }()
	go func() {
		defer close(f.sampled)
		f.sampler.run(ctx, f.l, f.cut, f.watch, f.log)
	}()
	t.Cleanup(f.stop)
	return f
}

// stop ends Run and the sampler, once.
func (f *flapping) stop() {
	f.cancel()
	if f.done != nil {
		<-f.done
		f.done = nil
		<-f.sampled
	}
}

// checkGate asserts what the sampler, the connect hook and the InvalidateAll checks saw.
func (f *flapping) checkGate(t *testing.T) {
	t.Helper()
	t.Logf("gate sampled %d times open, %d times closed", f.sampler.open, f.sampler.closed)
	assert.Empty(t, f.sampler.violations, "the gate was open when it must not be")
	assert.Positive(t, f.sampler.open, "the sampler saw the gate open: its checks ran")
	assert.Positive(t, f.sampler.closed)
	assert.Zero(t, f.hookOpen.Load(), "connection attempts that began with the gate open")
	f.watch.mu.Lock()
	defer f.watch.mu.Unlock()
	assert.Zero(t, f.watch.whileOpen, "InvalidateAll calls while the gate was open")
	assert.Zero(t, f.watch.beforeListen, "InvalidateAll calls before the connection LISTENed")
}

// A server that drops every connection right after its LISTEN: the waits between
// connections double up to the maximum and stay there (the connection never stays up
// for the stable period); InvalidateAll runs once per connection, so its count in any
// window is bounded by the backoff; and the gate is never open unless the current
// connection has LISTENed, InvalidateAll ran since, and its loss has not been noticed.
// Only lower bounds on times, which a slow machine cannot break, are asserted.
func TestBackoff_flappingConnection(t *testing.T) {
	const (
		minWait  = 20 * time.Millisecond
		maxWait  = 320 * time.Millisecond // the 5th wait in a row reaches it
		cutAfter = 10 * time.Millisecond
		attempts = 12 // 8 waits at the maximum
		window   = time.Second
	)
	f := startFlapping(t, cutAfter, minWait, maxWait, time.Minute)
	// Until the attempt count gets there, or there were far more failures than it takes
	// (a backoff that starts over would never get there).
	require.Eventually(t, func() bool { return f.log.lastAttempt() >= attempts || f.log.n.Load() >= 4*attempts },
		2*time.Minute, time.Millisecond, "the listener never reached attempt %d", attempts)
	f.stop()
	elapsed := time.Since(f.started)
	f.checkGate(t)

	// The backoff: one failure per connection, after its LISTEN, attempts counting up
	// without a reset, each wait within its range.
	fails := f.log.records()
	accepts := f.cut.acceptTimes()
	require.GreaterOrEqual(t, len(fails), attempts)
	// One connection per failure, and perhaps one more that the end of Run interrupted.
	require.Contains(t, []int{len(fails), len(fails) + 1}, len(accepts))
	assert.GreaterOrEqual(t, f.cut.listened.Load(), int64(len(fails)), "every connection LISTENed")
	var waits, gaps []time.Duration
	for i, fl := range fails[:len(accepts)-1] {
		n := i + 1
		c := ceiling(minWait, maxWait, n)
		assert.Equal(t, "receive", fl.stage, "failure %d", n)
		assert.Equal(t, n, fl.attempt, "failure %d: the backoff never starts again", n)
		assert.Less(t, fl.up, time.Minute, "failure %d", n)
		assert.GreaterOrEqual(t, fl.retryIn, c/2, "wait %d", n)
		assert.LessOrEqual(t, fl.retryIn, c, "wait %d", n)
		gap := accepts[n].Sub(accepts[n-1])
		assert.GreaterOrEqual(t, gap, fl.retryIn, "connection %d came after its wait", n+1)
		waits, gaps = append(waits, fl.retryIn), append(gaps, gap)
	}
	require.GreaterOrEqual(t, len(gaps), attempts-1)
	atMax := 0
	for _, g := range gaps {
		if g >= maxWait/2 {
			atMax++
		}
	}
	assert.GreaterOrEqual(t, atMax, len(gaps)-4, "gaps from the 5th on are in the maximum's range")
	t.Logf("waits chosen (ms): %v", millis(waits))
	t.Logf("time between connections (ms): %v", millis(gaps))

	// InvalidateAll: once per connection, never more often than the backoff allows.
	invs := f.watch.times()
	listened := int(f.cut.listened.Load())
	assert.GreaterOrEqual(t, len(invs), listened-1, "InvalidateAll after each LISTEN (the last may race the end of Run)")
	assert.LessOrEqual(t, len(invs), listened, "at most one InvalidateAll per LISTEN")
	assert.LessOrEqual(t, len(invs), maxReconnections(minWait, maxWait, elapsed), "over the whole run of %v", elapsed)
	worst := 0
	for i := range invs {
		n := 0
		for j := i; j < len(invs) && invs[j].Sub(invs[i]) <= window; j++ {
			n++
		}
		worst = max(worst, n)
	}
	bound := maxReconnections(minWait, maxWait, window)
	assert.LessOrEqual(t, worst, bound, "InvalidateAll calls in any %v", window)
	t.Logf("InvalidateAll: %d over %v (bound %d); at most %d in any %v (bound %d; %d in any 30 s; without the backoff "+
		"growing, up to %d in %v)", len(invs), elapsed.Round(time.Millisecond), maxReconnections(minWait, maxWait, elapsed),
		worst, window, bound, maxReconnections(minWait, maxWait, 30*time.Second), int(window/(minWait/2)), window)

	// The metrics agree: one disconnect per failure.
	got := metricsOf(t, f.reader)
	assert.Equal(t, int64(len(fails)), got[pgnotify.MetricDisconnects][set("stage", "receive")])
}

// A connection that stays up for the stable period ends the row: the next wait is
// drawn from the minimum's range again, and the row starts over from there.
func TestBackoff_stableConnectionResets(t *testing.T) {
	const (
		minWait = 20 * time.Millisecond
		maxWait = 320 * time.Millisecond
		stable  = 250 * time.Millisecond
	)
	f := startFlapping(t, 0, minWait, maxWait, stable)
	require.Eventually(t, func() bool { return f.log.lastAttempt() >= 4 || f.log.n.Load() >= 40 }, 2*time.Minute, time.Millisecond)
	grown := f.log.lastAttempt()
	require.GreaterOrEqual(t, grown, 4, "the backoff grows while the connection flaps")

	// Keep the next connection, until it has been up three stable periods.
	f.cut.cutting.Store(false)
	require.Eventually(t, func() bool {
		f.cut.mu.Lock()
		defer f.cut.mu.Unlock()
		return len(f.cut.held) == 1 && f.l.Connected()
	}, time.Minute, time.Millisecond)
	time.Sleep(3 * stable) // the gate has been open at least this long: not an assertion
	before := len(f.log.records())
	f.cut.cutting.Store(true)
	f.cut.cutAll()
	require.Eventually(t, func() bool { return len(f.log.records()) >= before+2 }, time.Minute, time.Millisecond)
	f.stop()
	f.checkGate(t)

	fails := f.log.records()
	held, next := fails[before], fails[before+1]
	t.Logf("attempt %d before the stable connection; then %+v, then %+v", grown, held, next)
	assert.GreaterOrEqual(t, held.up, 3*stable)
	assert.Equal(t, 1, held.attempt, "the row starts over after a stable connection")
	assert.LessOrEqual(t, held.retryIn, minWait)
	assert.Equal(t, 2, next.attempt, "a connection cut right after LISTEN continues the new row")
	assert.Less(t, next.up, stable)
}

func millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d.Microseconds()) / 1000
	}
	return out
}
