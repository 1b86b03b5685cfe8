// Package pgnotify keeps the caches of byok Resolvers in many replicas right: it
// listens for the database's change notifications and invalidates the users they name.
//
// The migration 20261130030000_byok_invalidate_notify.sql makes every change to a user's
// keys, gateway base URL or consent send pg_notify('byok_invalidate', <user id>) when it
// commits. A [Listener] holds one dedicated connection that LISTENs on that channel and
// calls Invalidate on every [Invalidator] added to it (a *resolve.Resolver is one):
//
//	l := pgnotify.New(os.Getenv("DATABASE_URL"))
//	r := resolve.New(keys, settings, team, resolve.WithCache(time.Minute), resolve.WithInvalidation(l))
//	go l.Run(ctx)
//
// resolve.WithInvalidation registers the Resolver with the Listener ([Listener.Add]) and
// makes [Listener.Connected] its cache gate, in one step.
//
// # Fail safe
//
// A notification sent while the connection is down is lost. So [Listener.Connected],
// the cache gate above, is true only while no notification can have been missed. This
// is the Listener's invariant:
//
//   - the gate opens only after LISTEN succeeded on the current connection and
//     InvalidateAll then ran on every Invalidator;
//   - it closes as soon as that connection is in doubt: when it fails, or when the server
//     has been silent for the keepalive interval and then does not answer a probe within
//     the keepalive timeout ([WithKeepalive], 5 s and 5 s by default);
//   - it stays closed from then until the next connection has LISTENed and run
//     InvalidateAll, however long the Listener waits before reconnecting.
//
// While it is closed every Resolve goes to the database. A change can therefore be
// missed only by a connection that died silently, and only until its probe times out.
//
// InvalidateAll is never skipped on a reconnection. Skipping it would not be safe: the
// gate keeps a cache from being read or written while the connection is down, but the
// entries stored before the connection was lost, and the shared resolutions that began
// before it, may hold an answer that a change missed meanwhile has made stale.
//
// # Backoff
//
// A connection that keeps failing is retried after waits that double from the minimum to
// the maximum ([WithBackoff], 250 ms and 30 s by default), each drawn at random from the
// upper half of its range so that replicas do not reconnect in step. The waits start again
// from the minimum only after a connection has stayed up, with the gate open, for the
// stable period ([WithStablePeriod], 30 s by default). A connection that drops right after
// each LISTEN therefore backs off to the maximum like one that cannot connect at all.
//
// The Listener limits how often it reconnects, not how often it invalidates: each
// connection runs InvalidateAll once, before its gate opens. So the same backoff bounds
// how often every cache of the process is emptied, and how often the database then sees
// the misses that follow. The n-th wait in a row is at least half of min·2^(n-1), or half
// of max once that is smaller. With the defaults, a flapping connection causes at most 8
// reconnections, hence 8 InvalidateAll, in any 30 s (up to 240 if the waits started again
// from the minimum after every LISTEN), and a connection that each time lasts just over
// the stable period about one per stable period. The cost of a flapping connection is
// paid in cache hits, never in correctness: while the Listener waits, the gate is closed
// and Resolve reads the database.
//
// # Which connection
//
// LISTEN registers the server session that runs it, so the Listener needs a session of
// its own for as long as it listens: a direct connection to the database
// (db.<ref>.supabase.co:5432) or Supavisor in session mode (port 5432 of the pooler).
// Supavisor's transaction mode (port 6543) cannot do it: it lends a server connection
// to a client for one transaction at a time, so the session that ran LISTEN goes back to
// the pool, to serve other clients, and notifications never reach the Listener. The
// Listener runs no prepared statement and no transaction. It uses one connection per
// process, however many Resolvers it serves.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
)

// Channel is the notification channel; a payload is one user id, nothing else.
const Channel = "byok_invalidate"

// Invalidator is a cache the Listener keeps right; *resolve.Resolver implements it.
// Its methods must be safe for concurrent use and must not block.
type Invalidator = resolve.Invalidator

// A Listener is what resolve.WithInvalidation takes.
var _ resolve.InvalidationSource = (*Listener)(nil)

// Errors of [Listener.Run].
var (
	// ErrInvalidConfig: New was given a connection string that does not parse, or an
	// invalid option. Its text never holds the connection string.
	ErrInvalidConfig = errors.New("pgnotify: invalid listener configuration")
	// ErrRunning: Run was called while another Run of the same Listener was running.
	ErrRunning = errors.New("pgnotify: listener already running")
)

// Defaults of a Listener built without options.
const (
	DefaultKeepaliveInterval = 5 * time.Second
	DefaultKeepaliveTimeout  = 5 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultMinBackoff        = 250 * time.Millisecond
	DefaultMaxBackoff        = 30 * time.Second
	DefaultStablePeriod      = 30 * time.Second
)

// applicationName is the connection's application_name unless the connection string
// sets one, so operators can find the Listener's session in pg_stat_activity.
const applicationName = "byok-pgnotify"

// Listener listens for byok_invalidate notifications on one connection and passes them
// to its Invalidators. Its methods are safe for concurrent use.
type Listener struct {
	cfg *pgx.ConnConfig
	err error // configuration error, reported by Run

	interval, timeout, connectTimeout time.Duration
	minBackoff, maxBackoff            time.Duration
	stablePeriod                      time.Duration
	logger                            *slog.Logger
	metrics                           *metrics
	beforeConnect                     func(context.Context) // tests: runs before each connection attempt

	invs      atomic.Pointer[[]Invalidator] // replaced whole by Add
	connected atomic.Bool
	running   atomic.Bool
}

// New returns a Listener for the database at connString (a PostgreSQL URL or key=value
// string; see the package documentation for which endpoints can LISTEN). It does not
// connect: [Listener.Run] does. A connection string that does not parse or an invalid
// option does not panic: Run then fails at once with an error matching
// [ErrInvalidConfig].
func New(connString string, opts ...Option) *Listener {
	l := &Listener{
		interval:       DefaultKeepaliveInterval,
		timeout:        DefaultKeepaliveTimeout,
		connectTimeout: DefaultConnectTimeout,
		minBackoff:     DefaultMinBackoff,
		maxBackoff:     DefaultMaxBackoff,
		stablePeriod:   DefaultStablePeriod,
	}
	var mp meterProvider
	for _, o := range opts {
		if o != nil {
			o.apply(l, &mp)
		}
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.metrics = newMetrics(mp.mp)
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		l.fail("connection string does not parse") // pgx's error would quote it
	} else {
		if _, ok := cfg.RuntimeParams["application_name"]; !ok {
			cfg.RuntimeParams["application_name"] = applicationName
		}
		if cfg.ConnectTimeout > 0 {
			l.connectTimeout = cfg.ConnectTimeout
		}
		l.cfg = cfg
	}
	l.invs.Store(&[]Invalidator{})
	return l
}

func (l *Listener) fail(reason string) {
	if l.err == nil {
		l.err = fmt.Errorf("%w: %s", ErrInvalidConfig, reason)
	}
}

// Add makes the Listener invalidate inv too. It calls inv.InvalidateAll at once, since
// inv may hold entries that changes made before Add have made stale. Add inv before it
// serves; a nil inv is ignored.
func (l *Listener) Add(inv Invalidator) {
	if inv == nil {
		return
	}
	for {
		old := l.invs.Load()
		next := append(append(make([]Invalidator, 0, len(*old)+1), *old...), inv)
		if l.invs.CompareAndSwap(old, &next) {
			break
		}
	}
	inv.InvalidateAll()
}

// Connected reports whether no notification can have been missed: the connection is
// up, LISTEN succeeded on it, and InvalidateAll ran on every Invalidator since. Give it
// to resolve.WithCacheGate. It is one atomic load.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Run connects, LISTENs and passes notifications on until ctx ends, reconnecting with
// jittered exponential backoff whenever the connection fails or goes silent (see the
// package documentation). It returns ctx's error, or at once an error matching
// [ErrInvalidConfig] or [ErrRunning]. The [MetricConnected] gauge is reported while Run
// runs.
func (l *Listener) Run(ctx context.Context) error {
	if l.err != nil {
		return l.err
	}
	if !l.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer l.running.Store(false)
	l.connected.Store(false)
	defer l.metrics.observeConnected(l.Connected)()
	for attempt := 0; ; {
		up, stage, err := l.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if up >= l.stablePeriod {
			attempt = 0
		}
		attempt++
		wait := l.backoff(attempt)
		l.metrics.disconnected(ctx, stage)
		l.logger.LogAttrs(ctx, slog.LevelWarn, "pgnotify: connection to the database failed; caches bypassed until it is back",
			slog.String("stage", stage), slog.String("reason", reason(err)), slog.Duration("up", up),
			slog.Int("attempt", attempt), slog.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// session runs one connection: it connects and LISTENs, invalidates everything, opens
// the gate, then passes notifications on and probes a silent connection until something
// fails. The gate is closed when it returns. It reports how long the gate was open (zero
// if it never opened), and the stage that failed.
func (l *Listener) session(ctx context.Context) (up time.Duration, stage string, err error) {
	if l.beforeConnect != nil {
		l.beforeConnect(ctx)
	}
	cctx, cancel := context.WithTimeout(ctx, l.connectTimeout)
	conn, err := pgx.ConnectConfig(cctx, l.cfg.Copy())
	cancel()
	if err != nil {
		return 0, "connect", err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()

	lctx, cancel := context.WithTimeout(ctx, l.connectTimeout)
	_, err = conn.Exec(lctx, "listen "+pgx.Identifier{Channel}.Sanitize())
	cancel()
	if err != nil {
		return 0, "listen", err
	}
	// From here on every committed change is notified to this session. Changes before
	// it, while nobody listened, may have been missed: drop everything, then open.
	for _, inv := range *l.invs.Load() {
		inv.InvalidateAll()
	}
	l.connected.Store(true)
	opened := time.Now()
	defer l.connected.Store(false) // before the connection is closed: the gate closes first
	l.logger.LogAttrs(ctx, slog.LevelInfo, "pgnotify: listening; caches enabled")

	for {
		wctx, cancel := context.WithTimeout(ctx, l.interval)
		n, err := conn.WaitForNotification(wctx)
		silent := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			l.deliver(ctx, n)
			continue
		case ctx.Err() != nil:
			return time.Since(opened), "", ctx.Err()
		case !silent || conn.IsClosed():
			return time.Since(opened), "receive", err
		}
		// Silent for the whole interval: make sure the server is still there. The gate
		// stays open during the probe; its timeout bounds how long a connection that died
		// silently is trusted.
		pctx, cancel := context.WithTimeout(ctx, l.timeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return time.Since(opened), "keepalive", err
		}
	}
}

// deliver invalidates the user a notification names; any other payload is ignored and
// counted.
func (l *Listener) deliver(ctx context.Context, n *pgconn.Notification) {
	if n.Channel != Channel || !supabase.ValidUserID(n.Payload) {
		l.metrics.notification(ctx, false)
		return
	}
	for _, inv := range *l.invs.Load() {
		inv.Invalidate(n.Payload)
	}
	l.metrics.notification(ctx, true)
}

// backoff returns the wait before the attempt-th reconnection in a row: exponential from
// the minimum, capped, with the upper half jittered so replicas do not reconnect in step.
func (l *Listener) backoff(attempt int) time.Duration {
	d := l.minBackoff
	for i := 1; i < attempt && d < l.maxBackoff; i++ {
		if d > l.maxBackoff/2 {
			d = l.maxBackoff
			break
		}
		d *= 2
	}
	d = min(d, l.maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// reason classifies a connection error for the log without its text, which may name
// hosts, users or databases: an SQLSTATE, "timeout" or "network".
func reason(err error) string {
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pgErr):
		return "sqlstate " + pgErr.Code
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return "timeout"
	}
	return "network"
}
