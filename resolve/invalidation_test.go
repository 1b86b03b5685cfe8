package resolve_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// source is an InvalidationSource whose connection a test sets.
type source struct {
	connected atomic.Bool
	mu        sync.Mutex
	invs      []resolve.Invalidator // guarded by mu
}

func (s *source) Connected() bool { return s.connected.Load() }

func (s *source) Add(inv resolve.Invalidator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invs = append(s.invs, inv)
}

func (s *source) notify(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inv := range s.invs {
		inv.Invalidate(user)
	}
}

// WithInvalidation registers the Resolver with the source and gates its cache on the
// source's connection, in one option.
func TestWithInvalidation_registersAndGates(t *testing.T) {
	src := &source{}
	keys := resolvetest.NewKeys()
	keys.Put(user1, providers.OpenAI, "sk-1")
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour), resolve.WithInvalidation(src))
	require.Len(t, src.invs, 1, "New registered the Resolver")
	assert.Same(t, r, src.invs[0])

	// Disconnected: every Resolve reads the store.
	_, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	cold := keys.Calls() // store calls of one cold resolve
	require.Positive(t, cold)
	for range 2 {
		_, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
	}
	assert.Equal(t, 3*cold, keys.Calls(), "no cache while the source is disconnected")

	// Connected: cached, and a notification drops the entry.
	src.connected.Store(true)
	for range 3 {
		_, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
	}
	assert.Equal(t, 4*cold, keys.Calls(), "cached while connected")
	keys.Put(user1, providers.OpenAI, "sk-2")
	src.notify(user1)
	p, _, err := r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, "sk-2", p.APIKey.Reveal(), "the notification reached the cache")

	// Combined with a gate of its own: both must be open.
	var own atomic.Bool
	r = resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithCache(time.Hour),
		resolve.WithInvalidation(src), resolve.WithCacheGate(own.Load))
	before := keys.Calls()
	for range 2 {
		_, _, err := r.Resolve(t.Context(), user1)
		require.NoError(t, err)
	}
	assert.Equal(t, before+2*cold, keys.Calls(), "the other gate is closed")
}

func TestWithInvalidation_invalid(t *testing.T) {
	keys := resolvetest.NewKeys()
	_, _, err := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithInvalidation(nil)).Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrInvalidConfig)

	// An invalid Resolver is not registered: the source would keep it for nothing.
	src := &source{}
	_ = resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithInvalidation(src), resolve.WithOrder())
	assert.Empty(t, src.invs)
}
