package resolvetest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func TestKeys(t *testing.T) {
	ctx := t.Context()
	k := resolvetest.NewKeys()
	_, err := k.Key(ctx, "u", providers.OpenAI)
	require.ErrorIs(t, err, resolve.ErrNotFound)

	require.NoError(t, k.PutKey(ctx, "u", providers.XAI, providers.NewSecret(" xai-1 ")))
	require.NoError(t, k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret("oa-1")))
	require.ErrorIs(t, k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret("  ")), resolvetest.ErrEmptyKey)
	require.ErrorIs(t, k.PutKey(ctx, "u", "google", providers.NewSecret("g")), providers.ErrUnknown)
	require.ErrorIs(t, k.PutKey(ctx, "", providers.OpenAI, providers.NewSecret("x")), resolve.ErrInvalidUserID)

	key, err := k.Key(ctx, "u", providers.XAI)
	require.NoError(t, err)
	assert.Equal(t, "xai-1", key.Reveal())

	infos, err := k.ListKeys(ctx, "u")
	require.NoError(t, err)
	require.Len(t, infos, 2)
	assert.Equal(t, providers.OpenAI, infos[0].Service, "sorted by service")
	assert.Nil(t, infos[0].LastUsed, "never read")
	require.NotNil(t, infos[1].LastUsed, "read above")
	assert.False(t, infos[1].CreatedAt.IsZero())

	require.NoError(t, k.DeleteKey(ctx, "u", providers.XAI))
	require.NoError(t, k.DeleteKey(ctx, "u", providers.XAI), "idempotent")
	_, err = k.Key(ctx, "u", providers.XAI)
	require.ErrorIs(t, err, resolve.ErrNotFound)

	empty, err := k.ListKeys(ctx, "nobody")
	require.NoError(t, err)
	assert.NotNil(t, empty)
	assert.Empty(t, empty)
}

func TestKeys_gatewayBaseURL(t *testing.T) {
	ctx := t.Context()
	k := resolvetest.NewKeys()
	require.NoError(t, k.PutGatewayBaseURL(ctx, "u", "https://AI-Gateway.vercel.sh:443/v1/"))
	u, err := k.GatewayBaseURL(ctx, "u")
	require.NoError(t, err)
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", u, "stored normalized")

	err = k.PutGatewayBaseURL(ctx, "u", "https://gw.example.com/v1")
	require.ErrorIs(t, err, providers.ErrGatewayURL)
	u, _ = k.GatewayBaseURL(ctx, "u")
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", u, "a rejected write stores nothing")

	k.AllowGatewayHosts("gw.example.com")
	require.NoError(t, k.PutGatewayBaseURL(ctx, "u", "https://gw.example.com/v1"))

	require.NoError(t, k.PutGatewayBaseURL(ctx, "u", " "))
	u, err = k.GatewayBaseURL(ctx, "u")
	require.NoError(t, err)
	assert.Empty(t, u, `"" deletes`)
}

func TestKeys_failuresAndCalls(t *testing.T) {
	k := resolvetest.NewKeys()
	k.Put("u", providers.OpenAI, "oa")
	boom := errors.New("boom")
	k.FailWith(boom)
	_, err := k.Key(t.Context(), "u", providers.OpenAI)
	require.ErrorIs(t, err, boom)
	_, err = k.GatewayBaseURL(t.Context(), "u")
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, k.PutKey(t.Context(), "u", providers.OpenAI, providers.NewSecret("x")), boom)
	k.FailWith(nil)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = k.Key(ctx, "u", providers.OpenAI)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 4, k.Calls(), "every ctx-taking call counts, failed or not")
	k.Put("u", providers.XAI, "x")
	assert.Equal(t, 4, k.Calls(), "set-up helpers do not count")
}

func TestConsent(t *testing.T) {
	ctx := t.Context()
	c := resolvetest.NewConsent(true)
	allow, err := c.AllowGatewayFallback(ctx, "u")
	require.NoError(t, err)
	assert.True(t, allow, "default")
	require.NoError(t, c.SetAllowGatewayFallback(ctx, "u", false))
	allow, err = c.AllowGatewayFallback(ctx, "u")
	require.NoError(t, err)
	assert.False(t, allow)
	allow, _ = c.AllowGatewayFallback(ctx, "v")
	assert.True(t, allow, "other users keep the default")

	off := resolvetest.NewConsent(false)
	allow, _ = off.AllowGatewayFallback(ctx, "u")
	assert.False(t, allow)

	boom := errors.New("boom")
	c.FailWith(boom)
	_, err = c.AllowGatewayFallback(ctx, "u")
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, c.SetAllowGatewayFallback(ctx, "u", true), boom)
	assert.Equal(t, 6, c.Calls())
}

func TestSnapshotKeys(t *testing.T) {
	k, c := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	k.Put("u", providers.XAI, "x")
	k.Put("u", providers.OpenAI, "o")
	k.SetGatewayBaseURL("u", "https://ai-gateway.vercel.sh/v1")
	c.Set("u", false)
	s := resolvetest.NewSnapshotKeys(k, c)

	snap, err := s.Snapshot(t.Context(), "u", []providers.ID{providers.Gateway, providers.XAI, providers.OpenAI})
	require.NoError(t, err)
	assert.Equal(t, providers.XAI, snap.ID, "first in the given order")
	assert.Equal(t, "x", snap.Key.Reveal())
	assert.Equal(t, "https://ai-gateway.vercel.sh/v1", snap.GatewayBaseURL)
	require.NotNil(t, snap.Consent)
	assert.False(t, *snap.Consent)
	assert.Equal(t, 1, s.Calls())
	assert.Equal(t, 0, k.Calls()+c.Calls())

	snap, err = resolvetest.NewSnapshotKeys(k, nil).Snapshot(t.Context(), "nobody", providers.All())
	require.NoError(t, err)
	assert.Empty(t, snap.ID)
	assert.Nil(t, snap.Consent)

	k.FailWith(errors.New("boom"))
	_, err = s.Snapshot(t.Context(), "u", providers.All())
	require.Error(t, err)
}

func TestFakes_concurrentUse(t *testing.T) {
	k, c := resolvetest.NewKeys(), resolvetest.NewConsent(true)
	s := resolvetest.NewSnapshotKeys(k, c)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				id := providers.DefaultOrder()[(i+j)%4]
				_ = k.PutKey(t.Context(), "u", id, providers.NewSecret("k"))
				_, _ = k.Key(t.Context(), "u", id)
				_, _ = k.ListKeys(t.Context(), "u")
				_ = c.SetAllowGatewayFallback(t.Context(), "u", j%2 == 0)
				_, _ = s.Snapshot(t.Context(), "u", providers.All())
				_ = k.DeleteKey(t.Context(), "u", id)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 8*100*4, k.Calls())
	assert.Equal(t, 8*100, c.Calls())
	assert.Equal(t, 8*100, s.Calls())
}

func TestKeys_keyRule(t *testing.T) {
	ctx := t.Context()
	k := resolvetest.NewKeys()
	for name, key := range map[string]string{
		"inner space":      "sk-a b",
		"inner tab":        "sk-a\tb",
		"control":          "sk-a\x01b",
		"DEL":              "sk-a\x7fb",
		"zero-width space": "sk-a\u200bb",
		"right-to-left":    "sk-a\u200fb",
		"accented":         "sk-caf\u00e9",
		"invalid UTF-8":    "sk-\xff",
		"1025 bytes":       strings.Repeat("k", 1025),
	} {
		assert.ErrorIs(t, k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret(key)), providers.ErrInvalidKey, name)
		assert.ErrorIs(t, k.PutGatewayKey(ctx, "u", providers.NewSecret(key), ""), providers.ErrInvalidKey, name)
	}
	err := k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret(" "))
	assert.ErrorIs(t, err, resolvetest.ErrEmptyKey)
	assert.ErrorIs(t, err, providers.ErrInvalidKey)
	assert.ErrorIs(t, k.PutGatewayKey(ctx, "u", providers.Secret{}, ""), resolvetest.ErrEmptyKey)
	infos, err := k.ListKeys(ctx, "u")
	require.NoError(t, err)
	assert.Empty(t, infos, "nothing stored")

	require.NoError(t, k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret(strings.Repeat("k", 1024))))
}

func TestKeys_gatewayKeyAndBaseURLTogether(t *testing.T) {
	ctx := t.Context()
	k := resolvetest.NewKeys()
	k.AllowGatewayHosts("gw.example.com")
	require.NoError(t, k.PutGatewayKey(ctx, "u", providers.NewSecret("vck-1"), "https://GW.example.com/v1/"))
	assertGateway := func(wantKey, wantURL string) {
		t.Helper()
		key, err := k.Key(ctx, "u", providers.Gateway)
		require.NoError(t, err)
		assert.Equal(t, wantKey, key.Reveal())
		u, err := k.GatewayBaseURL(ctx, "u")
		require.NoError(t, err)
		assert.Equal(t, wantURL, u)
	}
	assertGateway("vck-1", "https://gw.example.com/v1")

	// A refused URL or key changes neither.
	require.ErrorIs(t, k.PutGatewayKey(ctx, "u", providers.NewSecret("vck-2"), "https://evil.example.net/v1"), providers.ErrGatewayURL)
	require.ErrorIs(t, k.PutGatewayKey(ctx, "u", providers.NewSecret("vck 2"), "https://ai-gateway.vercel.sh/v1"), providers.ErrInvalidKey)
	boom := errors.New("boom")
	k.FailWith(boom)
	require.ErrorIs(t, k.PutGatewayKey(ctx, "u", providers.NewSecret("vck-2"), "https://ai-gateway.vercel.sh/v1"), boom)
	require.ErrorIs(t, k.DeleteGatewayKey(ctx, "u"), boom)
	k.FailWith(nil)
	assertGateway("vck-1", "https://gw.example.com/v1")

	require.NoError(t, k.PutGatewayKey(ctx, "u", providers.NewSecret("vck-3"), " "))
	assertGateway("vck-3", "")

	require.NoError(t, k.PutGatewayKey(ctx, "u", providers.NewSecret("vck-4"), "https://ai-gateway.vercel.sh/v1"))
	require.NoError(t, k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret("sk-stays")))
	require.NoError(t, k.DeleteGatewayKey(ctx, "u"))
	_, err := k.Key(ctx, "u", providers.Gateway)
	require.ErrorIs(t, err, resolve.ErrNotFound)
	u, err := k.GatewayBaseURL(ctx, "u")
	require.NoError(t, err)
	assert.Empty(t, u)
	_, err = k.Key(ctx, "u", providers.OpenAI)
	require.NoError(t, err, "other keys stay")
	require.NoError(t, k.DeleteGatewayKey(ctx, "u"), "idempotent")
}

func TestKeys_keyHealth(t *testing.T) {
	ctx := t.Context()
	k := resolvetest.NewKeys()
	var _ resolve.KeyHealth = k
	k.Put("u", providers.OpenAI, "oa-1")
	k.Put("u", providers.XAI, "xai-1")

	require.NoError(t, k.ReportKeyFailure(ctx, "u", providers.OpenAI, providers.FailureInvalidKey))
	require.NoError(t, k.ReportKeyFailure(ctx, "u", providers.OpenAI, providers.FailureInvalidKey))
	assert.Equal(t, 1, k.Marks(), "the same mark again writes nothing")
	require.NoError(t, k.ReportKeyFailure(ctx, "u", providers.OpenAI, providers.FailureNoCredit))
	assert.Equal(t, 2, k.Marks())
	require.NoError(t, k.ReportKeyFailure(ctx, "u", providers.Anthropic, providers.FailureInvalidKey), "no key: nothing to mark")
	assert.ErrorIs(t, k.ReportKeyFailure(ctx, "u", providers.XAI, providers.FailureRateLimited), resolvetest.ErrNotBreaking)
	assert.ErrorIs(t, k.ReportKeyFailure(ctx, "u", "google", providers.FailureInvalidKey), providers.ErrUnknown)
	assert.Equal(t, 2, k.Marks())
	assert.Equal(t, providers.FailureNoCredit, k.KeyFailure("u", providers.OpenAI))
	assert.Empty(t, k.KeyFailure("u", providers.XAI))

	_, err := k.Key(ctx, "u", providers.OpenAI)
	var bk *resolve.BrokenKey
	require.ErrorAs(t, err, &bk)
	assert.ErrorIs(t, err, resolve.ErrKeyBroken)
	assert.Equal(t, resolve.BrokenKey{ID: providers.OpenAI, Failure: providers.FailureNoCredit}, *bk)
	assert.Equal(t, "resolve: openai key marked broken (insufficient_credit)", err.Error())

	infos, err := k.ListKeys(ctx, "u")
	require.NoError(t, err)
	require.Len(t, infos, 2)
	assert.Equal(t, providers.FailureNoCredit, infos[0].Failure)
	assert.NotNil(t, infos[0].FailedAt)
	assert.Empty(t, infos[1].Failure)
	assert.Nil(t, infos[1].FailedAt)

	s := resolvetest.NewSnapshotKeys(k, nil)
	snap, err := s.Snapshot(ctx, "u", []providers.ID{providers.Gateway, providers.OpenAI, providers.XAI})
	require.NoError(t, err)
	assert.Equal(t, providers.XAI, snap.ID)
	assert.Equal(t, []resolve.BrokenKey{{ID: providers.OpenAI, Failure: providers.FailureNoCredit}}, snap.Broken)

	require.NoError(t, k.PutKey(ctx, "u", providers.OpenAI, providers.NewSecret("oa-2")))
	assert.Empty(t, k.KeyFailure("u", providers.OpenAI), "storing the key again clears the mark")
	key, err := k.Key(ctx, "u", providers.OpenAI)
	require.NoError(t, err)
	assert.Equal(t, "oa-2", key.Reveal())
}
