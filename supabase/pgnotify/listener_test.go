package pgnotify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase/pgnotify"
)

func TestNew_invalidConfig(t *testing.T) {
	const canary = "pw-canary-71c2"
	for name, l := range map[string]*pgnotify.Listener{
		"connection string": pgnotify.New("postgres://user:" + canary + "@[::1:5432/db?sslmode=%zz"),
		"keepalive":         pgnotify.New("postgres://localhost/db", pgnotify.WithKeepalive(0, time.Second)),
		"keepalive timeout": pgnotify.New("postgres://localhost/db", pgnotify.WithKeepalive(time.Second, -1)),
		"backoff":           pgnotify.New("postgres://localhost/db", pgnotify.WithBackoff(0, time.Second)),
		"backoff order":     pgnotify.New("postgres://localhost/db", pgnotify.WithBackoff(time.Second, time.Millisecond)),
		"stable period":     pgnotify.New("postgres://localhost/db", pgnotify.WithStablePeriod(0)),
		"negative stable":   pgnotify.New("postgres://localhost/db", pgnotify.WithStablePeriod(-time.Second)),
	} {
		t.Run(name, func(t *testing.T) {
			err := l.Run(t.Context())
			require.ErrorIs(t, err, pgnotify.ErrInvalidConfig)
			assert.NotContains(t, err.Error(), canary)
			assert.NotContains(t, err.Error(), "user")
			assert.False(t, l.Connected())
		})
	}
}

type counter struct {
	mu    sync.Mutex
	users []string
	all   int
}

func (c *counter) Invalidate(u string) { c.mu.Lock(); c.users = append(c.users, u); c.mu.Unlock() }
func (c *counter) InvalidateAll()      { c.mu.Lock(); c.all++; c.mu.Unlock() }
func (c *counter) snapshot() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.users...), c.all
}

// metricsOf collects the listener's metrics by name and attribute set.
func metricsOf(t *testing.T, reader sdkmetric.Reader) map[string]map[attribute.Distinct]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]map[attribute.Distinct]int64{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, "github.com/byok-go/byok/supabase/pgnotify", sm.Scope.Name)
		for _, m := range sm.Metrics {
			vals := map[attribute.Distinct]int64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					vals[dp.Attributes.Equivalent()] = dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					vals[dp.Attributes.Equivalent()] = dp.Value
				}
			}
			out[m.Name] = vals
		}
	}
	return out
}

func set(kv ...string) attribute.Distinct {
	var a []attribute.KeyValue
	for i := 0; i < len(kv); i += 2 {
		a = append(a, attribute.String(kv[i], kv[i+1]))
	}
	s := attribute.NewSet(a...)
	return s.Equivalent()
}

// A notification whose payload is not a user id is ignored and counted; the metrics
// show notifications, the connection and its losses.
func TestListener_payloadsAndMetrics(t *testing.T) {
	db := pgtest.New(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	g := newGate()
	g.closed.Store(true)
	l := pgnotify.New(db.DSN+"&application_name=byok-test-payloads", pgnotify.WithMeterProvider(mp),
		pgnotify.WithBackoff(time.Millisecond, 10*time.Millisecond), pgnotify.WithConnectHook(g.hook))
	c := &counter{}
	l.Add(nil) // ignored
	l.Add(c)
	_, all := c.snapshot()
	assert.Equal(t, 1, all, "Add invalidates everything at once")

	_, reported := metricsOf(t, reader)[pgnotify.MetricConnected]
	assert.False(t, reported, "the gauge is reported while Run runs")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	<-g.waiting // Run is about to connect
	assert.Equal(t, map[attribute.Distinct]int64{set(): 0}, metricsOf(t, reader)[pgnotify.MetricConnected], "not connected yet")
	g.closed.Store(false)
	g.release()
	require.Eventually(t, l.Connected, 30*time.Second, time.Millisecond)
	_, all = c.snapshot()
	assert.Equal(t, 2, all, "connecting invalidates everything")
	require.ErrorIs(t, l.Run(ctx), pgnotify.ErrRunning)

	user := db.CreateUser(t)
	for _, payload := range []string{"not-a-user", "", strings.ToUpper(user), user + " ", "'; drop table x; --", user} {
		_, err := db.Pool.Exec(ctx, `select pg_notify('byok_invalidate', $1)`, payload)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { u, _ := c.snapshot(); return len(u) == 1 }, 30*time.Second, time.Millisecond)
	users, _ := c.snapshot()
	assert.Equal(t, []string{user}, users, "only the canonical user id is passed on")

	got := metricsOf(t, reader)
	assert.Equal(t, map[attribute.Distinct]int64{set("result", "ignored"): 5, set("result", "invalidated"): 1},
		got[pgnotify.MetricNotifications])
	assert.Equal(t, map[attribute.Distinct]int64{set(): 1}, got[pgnotify.MetricConnected])

	var pid int
	require.NoError(t, db.Pool.QueryRow(ctx, `select pid from pg_stat_activity where application_name = 'byok-test-payloads'`).Scan(&pid))
	_, err := db.Pool.Exec(ctx, `select pg_terminate_backend($1)`, pid)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return metricsOf(t, reader)[pgnotify.MetricDisconnects][set("stage", "receive")] == 1 },
		30*time.Second, time.Millisecond)
	require.Eventually(t, l.Connected, 30*time.Second, time.Millisecond, "reconnected")

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.False(t, l.Connected())
	_, reported = metricsOf(t, reader)[pgnotify.MetricConnected]
	assert.False(t, reported, "the gauge is no longer reported after Run")
}

// Nothing the listener logs or records carries the connection string's password, its
// user, host or database, or a user id.
func TestListener_canary(t *testing.T) {
	db := pgtest.New(t)
	const password = "pw-canary-5d0e2a"
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	// One listener that can never connect (a closed port, a user and database that do
	// not exist), and one that works, receives a notification and is cut off.
	bad := pgnotify.New("postgres://canaryuser:"+password+"@127.0.0.1:1/canarydb?connect_timeout=1",
		pgnotify.WithLogger(logger), pgnotify.WithMeterProvider(mp), pgnotify.WithBackoff(time.Millisecond, 5*time.Millisecond))
	good := pgnotify.New(db.DSN+"&application_name=byok-test-canary",
		pgnotify.WithLogger(logger), pgnotify.WithMeterProvider(mp), pgnotify.WithBackoff(time.Millisecond, 5*time.Millisecond))
	c := &counter{}
	good.Add(c)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, l := range []*pgnotify.Listener{bad, good} {
		wg.Go(func() { _ = l.Run(ctx) })
	}
	require.Eventually(t, good.Connected, 30*time.Second, time.Millisecond)
	user := db.CreateUser(t)
	_, err := db.Pool.Exec(ctx, `select pg_notify('byok_invalidate', $1)`, user)
	require.NoError(t, err)
	require.Eventually(t, func() bool { u, _ := c.snapshot(); return len(u) == 1 }, 30*time.Second, time.Millisecond)
	_, err = db.Pool.Exec(ctx, `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'byok-test-canary'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), `"stage":"receive"`) && strings.Count(logs.String(), `"stage":"connect"`) >= 2
	}, 30*time.Second, time.Millisecond)
	cancel()
	wg.Wait()

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	b, err := json.Marshal(rm)
	require.NoError(t, err)
	mu.Lock()
	out := logs.String() + string(b) + fmt.Sprintf("%+v", rm)
	mu.Unlock()
	require.Contains(t, out, pgnotify.MetricNotifications)
	for _, secret := range []string{password, "canaryuser", "canarydb", "127.0.0.1", user, db.DSN} {
		assert.NotContains(t, out, secret)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
