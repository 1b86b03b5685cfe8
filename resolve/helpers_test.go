package resolve_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

const (
	user1 = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"
	user2 = "1b2c3d4e-5f60-4711-8a9b-0c1d2e3f4a5b"

	// canaryCause is a store error text that must never be printed.
	canaryCause = "sk-canary-cause-6b1e09d4"
)

// fixture is a Resolver over resolvetest fakes with a span recorder.
type fixture struct {
	keys    interface{ Calls() int }
	consent interface{ Calls() int }
	spans   *tracetest.SpanRecorder
	r       *resolve.Resolver
}

func newTracing(t testing.TB) (*tracetest.SpanRecorder, resolve.Option) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return sr, resolve.WithTracerProvider(tp)
}

// onlySpan returns the one ended span, failing unless there is exactly one.
func onlySpan(t testing.TB, sr *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	ended := sr.Ended()
	require.Len(t, ended, 1)
	return ended[0]
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// scripted is a KeyStore, ConsentStore and TeamConfig whose every method can be made
// to fail or to block until released; it counts calls.
type scripted struct {
	keyErr     map[providers.ID]error
	keys       map[providers.ID]string
	baseURL    string
	baseURLErr error
	consent    bool
	consentErr error

	teamKey    string
	teamURL    string
	teamErr    error
	serverKeys map[providers.ID]string
	serverErr  error

	block   chan struct{} // when set, every call waits for it to close or ctx
	entered chan struct{} // when set, receives one value per call entering
	calls   atomic.Int64
	inside  atomic.Int64 // calls in progress (waiting on block)
}

func (s *scripted) enter(ctx context.Context) error {
	s.calls.Add(1)
	s.inside.Add(1)
	defer s.inside.Add(-1)
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

func (s *scripted) Key(ctx context.Context, _ string, id providers.ID) (providers.Secret, error) {
	if err := s.enter(ctx); err != nil {
		return providers.Secret{}, err
	}
	if err := s.keyErr[id]; err != nil {
		return providers.Secret{}, err
	}
	if k, ok := s.keys[id]; ok {
		return providers.NewSecret(k), nil
	}
	return providers.Secret{}, resolve.ErrNotFound
}

func (s *scripted) GatewayBaseURL(ctx context.Context, _ string) (string, error) {
	if err := s.enter(ctx); err != nil {
		return "", err
	}
	return s.baseURL, s.baseURLErr
}

func (s *scripted) AllowGatewayFallback(ctx context.Context, _ string) (bool, error) {
	if err := s.enter(ctx); err != nil {
		return false, err
	}
	return s.consent, s.consentErr
}

func (s *scripted) TeamGateway(ctx context.Context) (providers.Secret, string, error) {
	if err := s.enter(ctx); err != nil {
		return providers.Secret{}, "", err
	}
	if s.teamErr != nil {
		return providers.Secret{}, "", s.teamErr
	}
	if s.teamKey == "" {
		return providers.Secret{}, "", resolve.ErrNotFound
	}
	return providers.NewSecret(s.teamKey), s.teamURL, nil
}

func (s *scripted) ServerKey(ctx context.Context, id providers.ID) (providers.Secret, error) {
	if err := s.enter(ctx); err != nil {
		return providers.Secret{}, err
	}
	if s.serverErr != nil {
		return providers.Secret{}, s.serverErr
	}
	if k, ok := s.serverKeys[id]; ok {
		return providers.NewSecret(k), nil
	}
	return providers.Secret{}, resolve.ErrNotFound
}

// gatedKeys wraps a KeyStore so that the first call blocks until release is closed,
// reporting on started when it begins. Later calls pass straight through.
type gatedKeys struct {
	resolve.KeyStore
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func newGatedKeys(k resolve.KeyStore) *gatedKeys {
	return &gatedKeys{KeyStore: k, started: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedKeys) Key(ctx context.Context, userID string, id providers.ID) (providers.Secret, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.started)
		select {
		case <-g.release:
		case <-ctx.Done():
			return providers.Secret{}, ctx.Err()
		}
	}
	return g.KeyStore.Key(ctx, userID, id)
}

var errCanary = errors.New(canaryCause)
