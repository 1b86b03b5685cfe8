package resolve_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// With a Snapshotter a cold resolution is one store call on every path, consent included.
func TestSnapshot_oneRoundTripPerPath(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(k *resolvetest.Keys, c *resolvetest.Consent)
		team     resolve.Team
		wantPath resolve.Path
		wantID   providers.ID
		wantErr  error
	}{
		{"user-gateway", func(k *resolvetest.Keys, _ *resolvetest.Consent) {
			k.Put(user1, providers.Gateway, "u-gw")
			k.SetGatewayBaseURL(user1, "https://ai-gateway.vercel.sh/v1")
		}, resolve.Team{}, resolve.UserGateway, providers.Gateway, nil},
		{"user-provider", func(k *resolvetest.Keys, _ *resolvetest.Consent) {
			k.Put(user1, providers.XAI, "u-xa")
		}, resolve.Team{}, resolve.UserProvider, providers.XAI, nil},
		{"team-gateway", func(*resolvetest.Keys, *resolvetest.Consent) {}, teamGateway("t-gw", ""), resolve.TeamGateway, providers.Gateway, nil},
		{"server-provider", func(*resolvetest.Keys, *resolvetest.Consent) {},
			resolve.Team{ServerKeys: map[providers.ID]providers.Secret{providers.OpenRouter: secret("s-or")}},
			resolve.ServerProvider, providers.OpenRouter, nil},
		{"consent off", func(_ *resolvetest.Keys, c *resolvetest.Consent) { c.Set(user1, false) },
			teamGateway("t-gw", ""), "", "", resolve.ErrFallbackDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
			tt.setup(keys, consent)
			snap := resolvetest.NewSnapshotKeys(keys, consent)
			r := resolve.New(snap, consent, tt.team)

			p, path, err := r.Resolve(t.Context(), user1)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantPath, path)
				assert.Equal(t, tt.wantID, p.ID)
			}
			assert.Equal(t, 1, snap.Calls(), "one Snapshot")
			assert.Equal(t, 0, keys.Calls(), "no per-key lookups")
			assert.Equal(t, 0, consent.Calls(), "consent came with the snapshot")
		})
	}
}

// orderRecorder is a Snapshotter that records the order it was asked with.
type orderRecorder struct {
	resolve.KeyStore
	got  []providers.ID
	snap resolve.Snapshot
	err  error
}

func (o *orderRecorder) Snapshot(_ context.Context, _ string, order []providers.ID) (resolve.Snapshot, error) {
	o.got = append([]providers.ID(nil), order...)
	return o.snap, o.err
}

func TestSnapshot_orderAndHint(t *testing.T) {
	o := &orderRecorder{KeyStore: resolvetest.NewKeys()}
	r := resolve.New(o, resolvetest.NewConsent(true), resolve.Team{}, resolve.WithOrder(providers.XAI, providers.OpenAI))
	_, _, _ = r.Resolve(t.Context(), user1)
	assert.Equal(t, []providers.ID{providers.Gateway, providers.XAI, providers.OpenAI}, o.got)

	_, _, _ = r.Resolve(t.Context(), user1, resolve.WithModel("gpt-4o"))
	assert.Equal(t, []providers.ID{providers.Gateway, providers.OpenAI}, o.got, "providers that cannot serve the model are left out")
}

func TestSnapshot_unknownConsentIsReadLazily(t *testing.T) {
	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	consent.Set(user1, false)
	snap := resolvetest.NewSnapshotKeys(keys, nil) // does not know consent
	r := resolve.New(snap, consent, teamGateway("t-gw", ""))

	_, _, err := r.Resolve(t.Context(), user1)
	require.ErrorIs(t, err, resolve.ErrFallbackDisabled)
	assert.Equal(t, 1, consent.Calls())

	keys.Put(user1, providers.OpenAI, "u-oa")
	_, _, err = r.Resolve(t.Context(), user1)
	require.NoError(t, err)
	assert.Equal(t, 1, consent.Calls(), "not read when a user key applies")
}

func TestSnapshot_failuresAndInconsistency(t *testing.T) {
	yes := true
	tests := []struct {
		name    string
		snap    resolve.Snapshot
		err     error
		wantErr error
	}{
		{"store error", resolve.Snapshot{}, errCanary, resolve.ErrStoreUnavailable},
		{"not found reads as empty", resolve.Snapshot{}, resolve.ErrNotFound, nil},
		{"key missing for named service", resolve.Snapshot{ID: providers.OpenAI}, nil, resolve.ErrStoreUnavailable},
		{"service outside the order", resolve.Snapshot{ID: providers.Anthropic, Key: secret("k"), Consent: &yes}, nil, resolve.ErrStoreUnavailable},
		{"unsafe base URL", resolve.Snapshot{ID: providers.Gateway, Key: secret("k"), GatewayBaseURL: "https://127.0.0.1/v1"}, nil, resolve.ErrBaseURLRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &orderRecorder{KeyStore: resolvetest.NewKeys(), snap: tt.snap, err: tt.err}
			r := resolve.New(o, resolvetest.NewConsent(true), teamGateway("t-gw", ""),
				resolve.WithOrder(providers.OpenAI, providers.XAI))
			p, path, err := r.Resolve(t.Context(), user1)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, resolve.TeamGateway, path)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, resolve.Provider{}, p)
			assert.NotContains(t, err.Error(), canaryCause)
		})
	}
}

// A cold resolve costs one Snapshot call and nothing else, even for a user whom only
// the team serves (the consent comes with the snapshot); a cached one costs no call at
// all: no Snapshot, no Key, no consent read.
func TestSnapshot_cachedResolveMakesNoCall(t *testing.T) {
	keys, consent := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	keys.Put(user1, providers.Anthropic, "u-an")
	snap := resolvetest.NewSnapshotKeys(keys, consent)
	r := resolve.New(snap, consent, teamGateway("t-gw", ""), resolve.WithCache(time.Minute))
	want := map[string]resolve.Path{user1: resolve.UserProvider, user2: resolve.TeamGateway}
	for i := range 5 {
		for user, path := range want {
			_, got, err := r.Resolve(t.Context(), user)
			require.NoError(t, err)
			assert.Equal(t, path, got, user)
		}
		if i == 0 {
			assert.Equal(t, 2, snap.Calls(), "one snapshot per cold resolve")
		}
	}
	assert.Equal(t, 2, snap.Calls(), "cached resolves make no snapshot")
	assert.Zero(t, keys.Calls(), "no Key or GatewayBaseURL call, cold or cached")
	assert.Zero(t, consent.Calls(), "no consent read: it came with the snapshot")
}
