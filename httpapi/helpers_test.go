package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

const (
	alice = "0b6d1f0e-4f5a-4c3b-9a2e-1d2c3b4a5f60"
	bob   = "1c7e2a1f-5a6b-4d4c-8b3f-2e3d4c5b6a71"
	opKey = "operator-key-for-tests"
)

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// fakeValidator answers a fixed Validation and counts calls.
type fakeValidator struct {
	mu     sync.Mutex
	calls  int
	result providers.Validation
	last   providers.ID
}

func (f *fakeValidator) Validate(_ context.Context, id providers.ID, _ providers.Secret) providers.Validation {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.last = id
	return f.result
}

// countingLimiter counts Allow calls on a MemoryLimiter.
type countingLimiter struct {
	*httpapi.MemoryLimiter
	mu    sync.Mutex
	calls int
}

func (c *countingLimiter) Allow(ctx context.Context, user string, l httpapi.Limit) (httpapi.Decision, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.MemoryLimiter.Allow(ctx, user, l)
}

func (c *countingLimiter) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

type fakeHealth struct{ err error }

func (f *fakeHealth) Health(context.Context) error { return f.err }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// env is a handler over in-memory stores, a real Resolver with a cache (so a missing
// Invalidate shows), a fake validator and captured logs.
type env struct {
	h         http.Handler
	keys      *resolvetest.Keys
	consent   *resolvetest.Consent
	validator *fakeValidator
	limiter   *countingLimiter
	health    *fakeHealth
	logs      *syncBuffer
	bodies    []string
}

// verify accepts "Bearer user:<id>" only, and returns claims with nothing but the user id.
func verify(r *http.Request) (httpapi.Claims, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer user:")
	if !ok || token == "" {
		return httpapi.Claims{}, errors.New("bad token")
	}
	return httpapi.Claims{UserID: token}, nil
}

func newEnv(t *testing.T, mods ...func(*httpapi.Config)) *env {
	t.Helper()
	e := &env{
		keys:      resolvetest.NewKeys(),
		consent:   resolvetest.NewConsent(true),
		validator: &fakeValidator{result: providers.Validation{Valid: true, Status: 200}},
		limiter:   &countingLimiter{MemoryLimiter: httpapi.NewMemoryLimiter()},
		health:    &fakeHealth{},
		logs:      &syncBuffer{},
	}
	e.keys.AllowGatewayHosts("gw.example.com")
	team := resolve.Team{GatewayKey: providers.NewSecret("vck-team-http")}
	r := resolve.New(e.keys, e.consent, team, resolve.WithCache(time.Hour), resolve.WithAllowedGatewayHosts("gw.example.com"))
	cfg := httpapi.Config{
		Keys:      e.keys,
		Consent:   e.consent,
		Resolver:  r,
		Validator: e.validator,
		Health:    e.health,
		HealthKey: opKey,
		Verify:    verify,
		Limiter:   e.limiter,
		Logger:    slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&cfg)
	}
	e.h = httpapi.New(cfg)
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// do sends a request as user ("" = no Authorization header). A POST carries
// Content-Type: application/json unless header says otherwise; a header given an empty
// value is removed.
func (e *env) do(t *testing.T, method, path, user, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if user != "" {
		req.Header.Set("Authorization", "Bearer user:"+user)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	e.bodies = append(e.bodies, rec.Body.String())
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

// assertError checks an error answer's status, code and the common headers.
func assertError(t *testing.T, r response, status int, code string) {
	t.Helper()
	assert.Equal(t, status, r.status, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	m := r.json(t)
	assert.Equal(t, code, m["error"], r.body)
	assert.NotEmpty(t, m["reason"])
}

func (e *env) resolvePath(t *testing.T, user string) (map[string]any, int) {
	t.Helper()
	r := e.do(t, "GET", "/api/providers/resolve", user, "")
	return r.json(t), r.status
}

// span is an interval in which something happened at an instant the test cannot see, such
// as the limiter's reading of its clock during one request.
type span struct{ from, to time.Time }

// assertUnixAfter asserts that header, a Unix time in whole seconds, is d after an instant
// of s, truncated to the second; a millisecond of slack below allows for the limiter's
// floating-point arithmetic. The clocks are one: the test's database runs on this machine.
func assertUnixAfter(t *testing.T, header string, s span, d time.Duration) {
	t.Helper()
	got, err := strconv.ParseInt(header, 10, 64)
	require.NoError(t, err, "%q", header)
	lo, hi := s.from.Add(d-time.Millisecond).Unix(), s.to.Add(d).Unix()
	assert.True(t, lo <= got && got <= hi, "Unix time %d: want %d..%d", got, lo, hi)
}

// assertSecondsLeft asserts that header, a Retry-After in whole seconds, is what was left,
// when the limiter decided, of d after an instant of s: between d less the time since
// s.from and d, rounded up to whole seconds, and at least 1.
func assertSecondsLeft(t *testing.T, header string, s span, d time.Duration) {
	t.Helper()
	got, err := strconv.Atoi(header)
	require.NoError(t, err, "%q", header)
	ceil := func(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }
	lo, hi := ceil(d-time.Since(s.from)), ceil(d)
	assert.True(t, lo <= got && got <= hi, "Retry-After %d: want %d..%d", got, lo, hi)
}

// assertTimeAfter asserts that got is d after an instant of s, truncated to the
// millisecond (as take_user_rate_limit answers), with a millisecond of slack below for
// floating-point arithmetic.
func assertTimeAfter(t *testing.T, got time.Time, s span, d time.Duration) {
	t.Helper()
	lo, hi := s.from.Add(d-time.Millisecond), s.to.Add(d)
	assert.True(t, !got.Before(lo) && !got.After(hi), "%v: want %v..%v", got, lo, hi)
}
