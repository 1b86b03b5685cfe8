// Package storetest is the suite of store tests this module runs against every way of
// reaching Supabase: pgcall and the PostgREST stand-in on the throwaway PostgreSQL, and,
// when configured, a live project. Test-only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/vault"
)

// Backend is a Supabase the suite runs against: a Caller with the service role and a way
// to make a throwaway user (a row in auth.users).
type Backend struct {
	Name    string
	Caller  supabase.Caller
	NewUser func(t *testing.T) string // a throwaway user (a row in auth.users)
}

// Counting is a Caller that counts the calls passing through it.
type Counting struct {
	supabase.Caller
	n atomic.Int64
}

func (c *Counting) Call(ctx context.Context, fn string, args, out any) error {
	c.n.Add(1)
	return c.Caller.Call(ctx, fn, args, out)
}

// Take returns the count and resets it.
func (c *Counting) Take() int64 { return c.n.Swap(0) }

// Secret is providers.NewSecret, shorter.
func Secret(s string) providers.Secret { return providers.NewSecret(s) }

// Team is the team configuration of the suite: a team gateway key and one server key.
var Team = resolve.Team{
	GatewayKey: Secret("vck-team-suite"),
	ServerKeys: map[providers.ID]providers.Secret{providers.Anthropic: Secret("sk-ant-server-suite")},
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Run runs every store test against b as subtests of t.
func Run(t *testing.T, b Backend) {
	t.Run("runbook", func(t *testing.T) { testRunbook(t, b) })
	t.Run("one RPC per cold resolve", func(t *testing.T) { testOneRPCPerColdResolve(t, b) })
	t.Run("rotation", func(t *testing.T) { testRotation(t, b) })
	t.Run("delete", func(t *testing.T) { testDelete(t, b) })
	t.Run("list", func(t *testing.T) { testList(t, b) })
	t.Run("gateway base url", func(t *testing.T) { testGatewayBaseURL(t, b) })
	t.Run("gateway key", func(t *testing.T) { testGatewayKey(t, b) })
	t.Run("key rule", func(t *testing.T) { testKeyRule(t, b) })
	t.Run("consent", func(t *testing.T) { testConsent(t, b) })
	t.Run("health", func(t *testing.T) { require.NoError(t, vault.New(b.Caller).Health(ctxFor(t))) })
	t.Run("bad user ids", func(t *testing.T) { testBadUserIDs(t, b) })
	t.Run("unknown user", func(t *testing.T) { testUnknownUser(t, b) })
	t.Run("concurrent resolves and writes", func(t *testing.T) { testConcurrent(t, b) })
	t.Run("no secret in errors", func(t *testing.T) { testNoSecretInErrors(t, b) })
	t.Run("key health", func(t *testing.T) { testKeyHealth(t, b) })
}

// testRunbook walks the operator runbook's verification checklist through
// resolve + vault + consent, with and without the Snapshotter.
func testRunbook(t *testing.T, b Backend) {
	for _, snapshots := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshots), func(t *testing.T) {
			ctx := ctxFor(t)
			store, cons := vault.New(b.Caller), consent.New(b.Caller)
			var keys resolve.KeyStore = store
			if !snapshots {
				keys = PerTier{KeyStore: store}
			}
			r := resolve.New(keys, cons, Team)

			t.Run("1 user gateway BYOK", func(t *testing.T) {
				user := b.NewUser(t)
				require.NoError(t, store.PutKey(ctx, user, providers.Gateway, Secret("vck-user-gw")))
				require.NoError(t, store.PutGatewayBaseURL(ctx, user, "https://AI-Gateway.vercel.sh/v1/"))
				require.NoError(t, store.PutKey(ctx, user, providers.OpenAI, Secret("sk-user-oa")))
				p, path, err := r.Resolve(ctx, user)
				require.NoError(t, err)
				assert.Equal(t, resolve.UserGateway, path)
				assert.Equal(t, providers.Gateway, p.ID)
				assert.Equal(t, "vck-user-gw", p.APIKey.Reveal())
				assert.Equal(t, "https://ai-gateway.vercel.sh/v1", p.BaseURL)
				assert.Equal(t, resolve.SourceUser, p.BaseURLSource)
			})
			t.Run("2 provider BYOK", func(t *testing.T) {
				for _, id := range providers.DefaultOrder() {
					user := b.NewUser(t)
					require.NoError(t, store.PutKey(ctx, user, id, Secret("user-"+string(id))))
					p, path, err := r.Resolve(ctx, user)
					require.NoError(t, err)
					spec, _ := id.Spec()
					assert.Equal(t, resolve.UserProvider, path)
					assert.Equal(t, id, p.ID)
					assert.Equal(t, "user-"+string(id), p.APIKey.Reveal())
					assert.Equal(t, spec.BaseURL, p.BaseURL)
				}
			})
			t.Run("3 team gateway fallback", func(t *testing.T) {
				user := b.NewUser(t)
				require.NoError(t, store.PutKey(ctx, user, providers.Gateway, Secret("vck-user")))
				require.NoError(t, store.PutKey(ctx, user, providers.XAI, Secret("xai-user")))
				require.NoError(t, cons.SetAllowGatewayFallback(ctx, user, false))
				require.NoError(t, store.DeleteKey(ctx, user, providers.Gateway))
				require.NoError(t, store.DeleteKey(ctx, user, providers.XAI))
				require.NoError(t, cons.SetAllowGatewayFallback(ctx, user, true))
				p, path, err := r.Resolve(ctx, user)
				require.NoError(t, err)
				assert.Equal(t, resolve.TeamGateway, path)
				assert.Equal(t, providers.Gateway, p.ID)
				assert.Equal(t, "vck-team-suite", p.APIKey.Reveal())
				assert.Equal(t, resolve.SourceDefault, p.BaseURLSource)
			})
			t.Run("4 consent enforcement", func(t *testing.T) {
				user := b.NewUser(t)
				require.NoError(t, cons.SetAllowGatewayFallback(ctx, user, false))
				p, path, err := r.Resolve(ctx, user)
				require.ErrorIs(t, err, resolve.ErrFallbackDisabled)
				var re *resolve.Error
				require.ErrorAs(t, err, &re)
				assert.Equal(t, "fallback_disabled", re.Code())
				assert.Empty(t, path)
				assert.True(t, p.APIKey.IsZero())
			})
		})
	}
}

// PerTier hides the Store's Snapshot method: the Resolver then makes one RPC per lookup.
type PerTier struct{ resolve.KeyStore }

func testOneRPCPerColdResolve(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cc := &Counting{Caller: b.Caller}
	store, cons := vault.New(cc), consent.New(cc)
	cases := []struct {
		name string
		team resolve.Team
		set  func(user string)
		path resolve.Path
		err  error
		opts []resolve.Option
	}{
		{"user-gateway", Team, func(u string) {
			require.NoError(t, store.PutKey(ctx, u, providers.Gateway, Secret("vck-u")))
			require.NoError(t, store.PutGatewayBaseURL(ctx, u, "https://ai-gateway.vercel.sh/v1"))
		}, resolve.UserGateway, nil, nil},
		{"user-provider xai only", Team, func(u string) {
			require.NoError(t, store.PutKey(ctx, u, providers.XAI, Secret("xai-u")))
		}, resolve.UserProvider, nil, nil},
		{"team-gateway", Team, func(string) {}, resolve.TeamGateway, nil, nil},
		{"server-provider", resolve.Team{ServerKeys: Team.ServerKeys}, func(string) {}, resolve.ServerProvider, nil, nil},
		{"fallback disabled", Team, func(u string) {
			require.NoError(t, cons.SetAllowGatewayFallback(ctx, u, false))
		}, "", resolve.ErrFallbackDisabled, nil},
		{"no provider", resolve.Team{}, func(string) {}, "", resolve.ErrNoProvider, nil},
		// The snapshot carries the consent, so the gateway-byok decision costs no RPC more.
		{"gateway-byok", Team, func(u string) {
			require.NoError(t, store.PutKey(ctx, u, providers.Anthropic, Secret("sk-ant-u")))
		}, resolve.GatewayBYOK, nil, []resolve.Option{resolve.WithGatewayBYOK()}},
		{"gateway-byok consent off", Team, func(u string) {
			require.NoError(t, store.PutKey(ctx, u, providers.Anthropic, Secret("sk-ant-u")))
			require.NoError(t, cons.SetAllowGatewayFallback(ctx, u, false))
		}, resolve.UserProvider, nil, []resolve.Option{resolve.WithGatewayBYOK()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := b.NewUser(t)
			tc.set(user)
			r := resolve.New(store, cons, tc.team, append([]resolve.Option{resolve.WithCache(time.Minute)}, tc.opts...)...)
			cc.Take()
			_, path, err := r.Resolve(ctx, user)
			require.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.path, path)
			assert.EqualValues(t, 1, cc.Take(), "RPCs for a cold resolve")
			for range 3 {
				_, path, err = r.Resolve(ctx, user)
				require.ErrorIs(t, err, tc.err)
				assert.Equal(t, tc.path, path)
			}
			if tc.err == nil {
				assert.EqualValues(t, 0, cc.Take(), "RPCs for cached resolves")
			}
		})
	}
}

func testRotation(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	store := vault.New(b.Caller)
	user := b.NewUser(t)
	require.NoError(t, store.PutKey(ctx, user, providers.OpenRouter, Secret("sk-or-v1-old")))
	r := resolve.New(store, consent.New(b.Caller), resolve.Team{})
	p, _, err := r.Resolve(ctx, user) // sets last_used
	require.NoError(t, err)
	assert.Equal(t, "sk-or-v1-old", p.APIKey.Reveal())
	before, err := store.ListKeys(ctx, user)
	require.NoError(t, err)
	require.Len(t, before, 1)
	require.NotNil(t, before[0].LastUsed)

	require.NoError(t, store.PutKey(ctx, user, providers.OpenRouter, Secret("  sk-or-v1-new\n")))
	key, err := store.Key(ctx, user, providers.OpenRouter)
	require.NoError(t, err)
	assert.Equal(t, "sk-or-v1-new", key.Reveal(), "rotated and trimmed")
	after, err := store.ListKeys(ctx, user)
	require.NoError(t, err)
	require.Len(t, after, 1, "rotation replaces, never adds")
	assert.Nil(t, after[0].LastUsed, "the new key has not been used")
	assert.False(t, after[0].CreatedAt.Before(before[0].CreatedAt))
}

func testDelete(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	store := vault.New(b.Caller)
	user := b.NewUser(t)
	require.NoError(t, store.PutKey(ctx, user, providers.Anthropic, Secret("sk-ant-del")))
	require.NoError(t, store.DeleteKey(ctx, user, providers.Anthropic))
	_, err := store.Key(ctx, user, providers.Anthropic)
	require.ErrorIs(t, err, resolve.ErrNotFound)
	require.NoError(t, store.DeleteKey(ctx, user, providers.Anthropic), "deleting again succeeds")
	infos, err := store.ListKeys(ctx, user)
	require.NoError(t, err)
	assert.Empty(t, infos)
	assert.NotNil(t, infos, "an empty list, not nil")

	// Deleting the user's key sends resolution to the next tier.
	require.NoError(t, store.PutKey(ctx, user, providers.OpenAI, Secret("sk-oa-del")))
	r := resolve.New(store, consent.New(b.Caller), Team)
	_, path, err := r.Resolve(ctx, user)
	require.NoError(t, err)
	assert.Equal(t, resolve.UserProvider, path)
	require.NoError(t, store.DeleteKey(ctx, user, providers.OpenAI))
	_, path, err = r.Resolve(ctx, user)
	require.NoError(t, err)
	assert.Equal(t, resolve.TeamGateway, path)
}

func testList(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	store := vault.New(b.Caller)
	user := b.NewUser(t)
	for _, id := range []providers.ID{providers.XAI, providers.Gateway, providers.Anthropic} {
		require.NoError(t, store.PutKey(ctx, user, id, Secret("list-"+string(id))))
	}
	infos, err := store.ListKeys(ctx, user)
	require.NoError(t, err)
	var got []providers.ID
	for _, info := range infos {
		got = append(got, info.Service)
		assert.WithinDuration(t, time.Now(), info.CreatedAt, 10*time.Minute)
		assert.Nil(t, info.LastUsed)
	}
	assert.Equal(t, []providers.ID{providers.Anthropic, providers.Gateway, providers.XAI}, got)

	// A resolve marks the key it used, and only that one.
	r := resolve.New(store, consent.New(b.Caller), Team)
	_, path, err := r.Resolve(ctx, user)
	require.NoError(t, err)
	require.Equal(t, resolve.UserGateway, path)
	infos, err = store.ListKeys(ctx, user)
	require.NoError(t, err)
	for _, info := range infos {
		assert.Equal(t, info.Service == providers.Gateway, info.LastUsed != nil, "%s last used", info.Service)
	}
	other, err := store.ListKeys(ctx, b.NewUser(t))
	require.NoError(t, err)
	assert.Empty(t, other, "another user sees none of them")
}

func testGatewayBaseURL(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cc := &Counting{Caller: b.Caller}
	store := vault.New(cc, vault.WithAllowedGatewayHosts("gw.example.com"))
	user := b.NewUser(t)

	got, err := store.GatewayBaseURL(ctx, user)
	require.NoError(t, err)
	assert.Empty(t, got)

	require.NoError(t, store.PutGatewayBaseURL(ctx, user, " https://GW.example.com/v1/ "))
	got, err = store.GatewayBaseURL(ctx, user)
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com/v1", got)

	for _, bad := range []string{"http://ai-gateway.vercel.sh/v1", "https://127.0.0.1/v1", "https://evil.example.net/v1", "https://u:p@ai-gateway.vercel.sh", "not a url"} {
		cc.Take()
		err := store.PutGatewayBaseURL(ctx, user, bad)
		require.ErrorIs(t, err, providers.ErrGatewayURL, bad)
		assert.Zero(t, cc.Take(), "rejected before any round trip: %s", bad)
	}
	got, err = store.GatewayBaseURL(ctx, user)
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com/v1", got, "a rejected URL stores nothing")

	require.NoError(t, store.PutGatewayBaseURL(ctx, user, ""))
	got, err = store.GatewayBaseURL(ctx, user)
	require.NoError(t, err)
	assert.Empty(t, got, `"" deletes`)
	require.NoError(t, store.PutGatewayBaseURL(ctx, user, "  "), "deleting again succeeds")
}

// testGatewayKey: PutGatewayKey writes the gateway key and base URL together, checks
// both before any round trip, and DeleteGatewayKey removes both.
func testGatewayKey(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cc := &Counting{Caller: b.Caller}
	store := vault.New(cc, vault.WithAllowedGatewayHosts("gw.example.com"))
	user := b.NewUser(t)
	state := func() (string, string) {
		t.Helper()
		key, err := store.Key(ctx, user, providers.Gateway)
		if errors.Is(err, resolve.ErrNotFound) {
			key = providers.Secret{}
		} else {
			require.NoError(t, err)
		}
		u, err := store.GatewayBaseURL(ctx, user)
		require.NoError(t, err)
		return key.Reveal(), u
	}

	cc.Take()
	require.NoError(t, store.PutGatewayKey(ctx, user, Secret("vck-gk-1"), " https://GW.example.com/v1/ "))
	assert.Equal(t, int64(1), cc.Take(), "one RPC")
	key, u := state()
	assert.Equal(t, "vck-gk-1", key)
	assert.Equal(t, "https://gw.example.com/v1", u, "stored normalized")

	for _, bad := range []string{"http://ai-gateway.vercel.sh/v1", "https://127.0.0.1/v1", "https://evil.example.net/v1"} {
		cc.Take()
		require.ErrorIs(t, store.PutGatewayKey(ctx, user, Secret("vck-gk-2"), bad), providers.ErrGatewayURL, bad)
		assert.Zero(t, cc.Take(), "rejected before any round trip: %s", bad)
	}
	require.ErrorIs(t, store.PutGatewayKey(ctx, user, Secret("vck gk"), "https://ai-gateway.vercel.sh/v1"), providers.ErrInvalidKey)
	key, u = state()
	assert.Equal(t, "vck-gk-1", key, "a refused write changes nothing")
	assert.Equal(t, "https://gw.example.com/v1", u, "a refused write changes nothing")

	require.NoError(t, store.PutGatewayKey(ctx, user, Secret("vck-gk-3"), ""))
	key, u = state()
	assert.Equal(t, "vck-gk-3", key)
	assert.Empty(t, u, `"" means the default and deletes the stored URL`)

	require.NoError(t, store.PutGatewayKey(ctx, user, Secret("vck-gk-4"), "https://ai-gateway.vercel.sh/v1"))
	require.NoError(t, store.PutKey(ctx, user, providers.OpenAI, Secret("sk-gk-stays")))
	cc.Take()
	require.NoError(t, store.DeleteGatewayKey(ctx, user))
	assert.Equal(t, int64(1), cc.Take(), "one RPC")
	key, u = state()
	assert.Empty(t, key)
	assert.Empty(t, u)
	_, err := store.Key(ctx, user, providers.OpenAI)
	require.NoError(t, err, "other keys stay")
	require.NoError(t, store.DeleteGatewayKey(ctx, user), "deleting again succeeds")
}

// testKeyRule: keys that fail providers.CheckKey are refused before any round trip.
func testKeyRule(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cc := &Counting{Caller: b.Caller}
	store := vault.New(cc)
	user := b.NewUser(t)
	for name, key := range map[string]string{
		"inner space":      "sk-a b",
		"control":          "sk-a\x01b",
		"zero-width space": "sk-a\u200bb",
		"right-to-left":    "sk-a\u200fb",
		"accented":         "sk-caf\u00e9",
		"1025 bytes":       strings.Repeat("k", 1025),
	} {
		assert.ErrorIs(t, store.PutKey(ctx, user, providers.OpenAI, Secret(key)), providers.ErrInvalidKey, name)
		assert.ErrorIs(t, store.PutGatewayKey(ctx, user, Secret(key), ""), providers.ErrInvalidKey, name)
	}
	assert.ErrorIs(t, store.PutKey(ctx, user, providers.OpenAI, Secret("")), providers.ErrInvalidKey)
	assert.Zero(t, cc.Take(), "no round trip")
	require.NoError(t, store.PutKey(ctx, user, providers.OpenAI, Secret(strings.Repeat("k", 1024))))
}

func testConsent(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cons := consent.New(b.Caller)
	user := b.NewUser(t)
	allow, err := cons.AllowGatewayFallback(ctx, user)
	require.NoError(t, err)
	assert.True(t, allow, "the default is true")
	for _, want := range []bool{false, true, false} {
		require.NoError(t, cons.SetAllowGatewayFallback(ctx, user, want))
		allow, err = cons.AllowGatewayFallback(ctx, user)
		require.NoError(t, err)
		assert.Equal(t, want, allow)
	}
}

func testBadUserIDs(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	cc := &Counting{Caller: b.Caller}
	store, cons := vault.New(cc), consent.New(cc)
	upper := strings.ToUpper(b.NewUser(t))
	for _, id := range []string{"", " ", "not-a-uuid", upper, "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000", "{00000000-0000-0000-0000-000000000000}"} {
		calls := map[string]error{}
		_, calls["Key"] = store.Key(ctx, id, providers.OpenAI)
		_, calls["GatewayBaseURL"] = store.GatewayBaseURL(ctx, id)
		_, calls["Snapshot"] = store.Snapshot(ctx, id, providers.DefaultOrder())
		calls["PutKey"] = store.PutKey(ctx, id, providers.OpenAI, Secret("sk-x"))
		calls["DeleteKey"] = store.DeleteKey(ctx, id, providers.OpenAI)
		calls["PutGatewayBaseURL"] = store.PutGatewayBaseURL(ctx, id, "")
		calls["PutGatewayKey"] = store.PutGatewayKey(ctx, id, Secret("vck-x"), "")
		calls["DeleteGatewayKey"] = store.DeleteGatewayKey(ctx, id)
		_, calls["ListKeys"] = store.ListKeys(ctx, id)
		_, calls["AllowGatewayFallback"] = cons.AllowGatewayFallback(ctx, id)
		calls["SetAllowGatewayFallback"] = cons.SetAllowGatewayFallback(ctx, id, true)
		for name, err := range calls {
			assert.ErrorIs(t, err, resolve.ErrInvalidUserID, "%s(%q)", name, id)
			if err != nil && len(id) > 8 {
				assert.NotContains(t, err.Error(), id, "the id is not echoed")
			}
		}
		assert.Zero(t, cc.Take(), "no round trip for %q", id)
	}
	// Unknown services and empty keys are refused the same way.
	user := b.NewUser(t)
	_, err := store.Key(ctx, user, "mistral")
	assert.ErrorIs(t, err, providers.ErrUnknown)
	assert.ErrorIs(t, store.PutKey(ctx, user, "", Secret("k")), providers.ErrUnknown)
	assert.ErrorIs(t, store.PutKey(ctx, user, providers.OpenAI, Secret(" \t ")), vault.ErrEmptyKey)
	_, err = store.Snapshot(ctx, user, []providers.ID{"openai", "mistral"})
	assert.ErrorIs(t, err, providers.ErrUnknown)
	assert.Zero(t, cc.Take())
}

func testUnknownUser(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	store := vault.New(b.Caller)
	ghost := "00000000-0000-4000-8000-00000000dead"
	err := store.PutKey(ctx, ghost, providers.OpenAI, Secret("sk-ghost-canary"))
	require.Error(t, err)
	var se *supabase.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "23503", se.Code)
	assert.NotContains(t, err.Error(), "sk-ghost-canary")
	_, err = store.Key(ctx, ghost, providers.OpenAI)
	assert.ErrorIs(t, err, resolve.ErrNotFound)
}

func testConcurrent(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	store, cons := vault.New(b.Caller), consent.New(b.Caller)
	r := resolve.New(store, cons, Team, resolve.WithCache(50*time.Millisecond))
	user := b.NewUser(t)
	require.NoError(t, store.PutKey(ctx, user, providers.OpenAI, Secret("sk-gen-0")))

	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				if err := store.PutKey(ctx, user, providers.OpenAI, Secret(fmt.Sprintf("sk-gen-%d-%d", w, i))); err != nil {
					errs <- err
				}
				r.Invalidate(user)
			}
		})
	}
	for range 8 {
		wg.Go(func() {
			for range 10 {
				p, path, err := r.Resolve(ctx, user)
				switch {
				case err != nil:
					errs <- err
				case path != resolve.UserProvider || !strings.HasPrefix(p.APIKey.Reveal(), "sk-gen-"):
					errs <- errors.New("resolved something other than one of the user's keys")
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if err := cons.SetAllowGatewayFallback(ctx, user, i%2 == 0); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	infos, err := store.ListKeys(ctx, user)
	require.NoError(t, err)
	assert.Len(t, infos, 1)
}

func testNoSecretInErrors(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	const canary = "sk-CANARY-9f2c41d7"
	store := vault.New(b.Caller)
	user := b.NewUser(t)
	var errs []error
	errs = append(errs, store.PutKey(ctx, "00000000-0000-4000-8000-00000000beef", providers.OpenAI, Secret(canary)))
	errs = append(errs, store.PutGatewayKey(ctx, "00000000-0000-4000-8000-00000000beef", Secret(canary), ""))
	errs = append(errs, store.PutKey(ctx, user, providers.OpenAI, Secret(canary+" inner space")))
	errs = append(errs, store.PutGatewayKey(ctx, user, Secret(canary+"\u200b"), ""))
	errs = append(errs, b.Caller.Call(ctx, "put_user_gateway_key", map[string]string{"p_user_id": user, "p_api_key": canary + " x", "p_base_url": ""}, nil))
	errs = append(errs, b.Caller.Call(ctx, "insert_user_api_key", map[string]string{"p_user_id": user, "p_service": canary, "p_api_key": canary}, nil))
	errs = append(errs, b.Caller.Call(ctx, "get_user_api_key", map[string]string{"p_user_id": canary, "p_service": "openai"}, nil))
	errs = append(errs, b.Caller.Call(ctx, "get_user_api_key", map[string]string{"p_user_id": user, "p_service": "openai", "p_canary": canary}, nil))
	require.NoError(t, store.PutKey(ctx, user, providers.XAI, Secret(canary)))
	var wrong int
	errs = append(errs, b.Caller.Call(ctx, "get_user_api_key", map[string]string{"p_user_id": user, "p_service": "xai"}, &wrong))
	for i, err := range errs {
		require.Error(t, err, "case %d", i)
		for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
			assert.NotContains(t, s, canary, "case %d", i)
			assert.NotContains(t, s, "9f2c41d7", "case %d", i)
		}
	}
}
