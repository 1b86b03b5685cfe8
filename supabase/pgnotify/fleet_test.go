package pgnotify_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// outcome is what a Resolve answered, in a comparable form.
type outcome struct {
	path    resolve.Path
	id      providers.ID
	key     string
	baseURL string
	code    string // the error code, "" on success
}

func resolveNow(t *testing.T, r *resolve.Resolver, user string) outcome {
	t.Helper()
	p, path, err := r.Resolve(context.Background(), user)
	if err != nil {
		var re *resolve.Error
		require.ErrorAs(t, err, &re)
		return outcome{code: re.Code()}
	}
	return outcome{path: path, id: p.ID, key: p.APIKey.Reveal(), baseURL: p.BaseURL}
}

var (
	teamGW = outcome{path: resolve.TeamGateway, id: providers.Gateway, key: "vck-team-fleet", baseURL: "https://ai-gateway.vercel.sh/v1"}
	noTeam = outcome{code: "fallback_disabled"}
)

// Two replicas, each with an hour-long cache gated by its own listener: every change
// written through replica A reaches replica B's next Resolve once B's listener has
// delivered the notification, without B being told anything else.
func TestFleet_changesThroughOneReplicaReachTheOther(t *testing.T) {
	db := pgtest.New(t)
	a, b := newReplica(t, db), newReplica(t, db)
	ctx := t.Context()
	user := db.CreateUser(t)
	sk := providers.NewSecret

	require.Equal(t, teamGW, resolveNow(t, a.r, user))
	require.Equal(t, teamGW, resolveNow(t, b.r, user))
	b.drain()

	steps := []struct {
		name  string
		write func() error
		want  outcome
	}{
		{"key put", func() error { return a.keys.PutKey(ctx, user, providers.OpenAI, sk("sk-fleet-1")) },
			outcome{path: resolve.UserProvider, id: providers.OpenAI, key: "sk-fleet-1", baseURL: "https://api.openai.com/v1"}},
		{"key rotation", func() error { return a.keys.PutKey(ctx, user, providers.OpenAI, sk("sk-fleet-2")) },
			outcome{path: resolve.UserProvider, id: providers.OpenAI, key: "sk-fleet-2", baseURL: "https://api.openai.com/v1"}},
		{"gateway key put", func() error { return a.keys.PutKey(ctx, user, providers.Gateway, sk("vck-fleet")) },
			outcome{path: resolve.UserGateway, id: providers.Gateway, key: "vck-fleet", baseURL: "https://ai-gateway.vercel.sh/v1"}},
		{"gateway URL set", func() error { return a.keys.PutGatewayBaseURL(ctx, user, "https://gw1.example.com/v1") },
			outcome{path: resolve.UserGateway, id: providers.Gateway, key: "vck-fleet", baseURL: "https://gw1.example.com/v1"}},
		{"gateway URL changed", func() error { return a.keys.PutGatewayBaseURL(ctx, user, "https://gw2.example.com/v1") },
			outcome{path: resolve.UserGateway, id: providers.Gateway, key: "vck-fleet", baseURL: "https://gw2.example.com/v1"}},
		{"gateway key deleted", func() error { return a.keys.DeleteKey(ctx, user, providers.Gateway) },
			outcome{path: resolve.UserProvider, id: providers.OpenAI, key: "sk-fleet-2", baseURL: "https://api.openai.com/v1"}},
		{"key deleted", func() error { return a.keys.DeleteKey(ctx, user, providers.OpenAI) }, teamGW},
		{"consent off", func() error { return a.consent.SetAllowGatewayFallback(ctx, user, false) }, noTeam},
		{"consent on", func() error { return a.consent.SetAllowGatewayFallback(ctx, user, true) }, teamGW},
	}
	for _, s := range steps {
		before := resolveNow(t, b.r, user) // B has the old answer cached
		require.NotEqual(t, s.want, before, "%s: the step must change the answer", s.name)
		require.NoError(t, s.write(), s.name)
		a.r.Invalidate(user) // what the HTTP API does after a write, on its own replica only

		assert.Equal(t, s.want, resolveNow(t, a.r, user), "%s: replica A", s.name)
		b.waitInvalidated(t, user)
		assert.Equal(t, s.want, resolveNow(t, b.r, user), "%s: replica B after the notification", s.name)
		if s.want.code == "" { // errors are not cached
			b.calls.Take()
			assert.Equal(t, s.want, resolveNow(t, b.r, user), "%s: replica B, cached again", s.name)
			assert.Zero(t, b.calls.Take(), "%s: the new answer is cached on B", s.name)
		}
	}
}

// The propagation delay over 100 changes, from the writer's return to the other
// replica's invalidation. Each change makes B's cached answer wrong: the changes cycle
// through storing a new OpenAI key (user-provider), rotating it (user-provider, another
// key) and deleting it (team-gateway), all successful answers, which B caches. Before
// each change B is checked to answer the previous one from its cache, so each
// notification that did not invalidate would leave one stale answer. Only the count of
// stale answers after the notification is asserted (zero), never a time.
func TestFleet_propagationDelay(t *testing.T) {
	const changes = 100
	db := pgtest.New(t)
	a, b := newReplica(t, db), newReplica(t, db)
	ctx := t.Context()
	user := db.CreateUser(t)
	b.drain()

	var delays []time.Duration
	stale := 0
	previous := teamGW
	for i := range changes {
		// B answers the previous outcome from its cache: a change it is not told about
		// would go unseen.
		resolveNow(t, b.r, user)
		b.calls.Take()
		require.Equal(t, previous, resolveNow(t, b.r, user), "change %d: B before", i)
		require.Zero(t, b.calls.Take(), "change %d: B answers from its cache", i)

		var write func() error
		want := teamGW
		switch key := fmt.Sprintf("sk-prop-%d", i); i % 3 {
		case 0, 1: // stored, then rotated
			write = func() error { return a.keys.PutKey(ctx, user, providers.OpenAI, providers.NewSecret(key)) }
			want = outcome{path: resolve.UserProvider, id: providers.OpenAI, key: key, baseURL: "https://api.openai.com/v1"}
		case 2:
			write = func() error { return a.keys.DeleteKey(ctx, user, providers.OpenAI) }
		}
		require.NotEqual(t, previous, want, "change %d changes the answer", i)
		require.NoError(t, write(), "change %d", i)
		written := time.Now()
		at := b.waitInvalidated(t, user)
		delays = append(delays, at.Sub(written))
		if got := resolveNow(t, b.r, user); got != want {
			stale++
			b.r.Invalidate(user) // counted: start the next change from a fresh entry
		}
		previous = want
	}
	assert.Zero(t, stale, "answers from before a change after its notification arrived")
	slices.Sort(delays)
	t.Logf("propagation over %d changes (write returned -> replica B invalidated; <= 0 when the notification "+
		"arrived before the writer's RPC returned): median %v, max %v", changes, delays[changes/2], delays[changes-1])
}

// 1,000 resolves that each touch last_used send no notification; a real change then
// sends exactly one.
func TestFleet_touchesDoNotNotify(t *testing.T) {
	const resolves = 1000
	db := pgtest.New(t)
	rp := newReplica(t, db)
	user := db.CreateUser(t)
	ctx := t.Context()
	require.NoError(t, rp.keys.PutKey(ctx, user, providers.XAI, providers.NewSecret("xai-touch")))
	rp.waitInvalidated(t, user)
	uncached := resolve.New(rp.keys, rp.consent, team) // every resolve reads, and touches
	for i := range resolves {
		// Make the key's last use old enough for the snapshot to touch it, and check
		// that the previous resolve did touch it. This update only changes last_used too.
		var previous *time.Time
		require.NoError(t, db.Pool.QueryRow(ctx, `
			with prev as (select last_used from public.api_keys where user_id = $1 and service = 'xai' for update)
			update public.api_keys k set last_used = now() - interval '1 hour' from prev
			 where k.user_id = $1 and k.service = 'xai' returning prev.last_used`, user).Scan(&previous))
		if i > 0 {
			require.NotNil(t, previous)
			require.WithinDuration(t, time.Now(), *previous, time.Minute, "resolve %d touched last_used", i)
		}
		_, path, err := uncached.Resolve(ctx, user)
		require.NoError(t, err)
		require.Equal(t, resolve.UserProvider, path)
	}
	require.NoError(t, rp.keys.PutKey(ctx, user, providers.XAI, providers.NewSecret("xai-rotated")))
	// A marker after everything: notifications arrive in commit order, so once the
	// marker's is in, every notification of the resolves and the rotation is too.
	marker := db.CreateUser(t)
	require.NoError(t, rp.consent.SetAllowGatewayFallback(ctx, marker, false))
	n := 0
	for inv := range rp.invs {
		if inv.user == user {
			n++
		}
		if inv.user == marker {
			break
		}
	}
	assert.Equal(t, 1, n, "notifications for %d touching resolves and one rotation", resolves)
}
