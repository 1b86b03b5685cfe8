package usage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/usage"
	"github.com/byok-go/byok/vault"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backend is a way of reaching the database: pgcall, or supabase.Client through the
// PostgREST stand-in.
type backend struct {
	name string
	c    supabase.Caller
	db   *pgtest.DB
}

func backends(t *testing.T) []backend {
	t.Helper()
	db := pgtest.New(t)
	pool, err := pgxpool.New(context.Background(), db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	return []backend{{"pgcall", pgcall.New(pool), db}, {"postgrest", c, db}}
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func use(user, d string, path resolve.Path, id providers.ID, n int64) resolve.TeamUse {
	return resolve.TeamUse{UserID: user, Day: day(d), Path: path, Provider: id, Requests: n}
}

func TestStore_recordAndRead(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := usage.New(b.c)
			ctx := t.Context()
			alice, bob := b.db.CreateUser(t), b.db.CreateUser(t)
			require.NoError(t, s.RecordTeamUse(ctx, []resolve.TeamUse{
				use(alice, "2026-12-01", resolve.TeamGateway, providers.Gateway, 3),
				use(alice, "2026-12-01", resolve.TeamGateway, providers.Gateway, 2),
				use(alice, "2026-12-02", resolve.ServerProvider, providers.Anthropic, 1),
				use(bob, "2026-12-02", resolve.GatewayBYOK, providers.Gateway, 4),
				// Uses the store can never hold are skipped, not failed.
				use("not-a-uuid", "2026-12-02", resolve.TeamGateway, providers.Gateway, 1),
				use(alice, "2026-12-02", resolve.UserProvider, providers.OpenAI, 1),
				use(alice, "2026-12-02", resolve.TeamGateway, providers.ID("mistral"), 1),
				use(alice, "2026-12-02", resolve.TeamGateway, providers.Gateway, 0),
				use("00000000-0000-4000-8000-00000000dead", "2026-12-02", resolve.TeamGateway, providers.Gateway, 1),
				// Day counts by its UTC date.
				{UserID: alice, Day: time.Date(2026, 12, 3, 1, 0, 0, 0, time.FixedZone("UTC+3", 3*3600)), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 6},
			}))
			require.NoError(t, s.RecordTeamUse(ctx, []resolve.TeamUse{use(alice, "2026-12-01", resolve.TeamGateway, providers.Gateway, 10)}))
			require.NoError(t, s.RecordTeamUse(ctx, nil), "nothing to send")

			got, err := s.TeamUsage(ctx, alice, day("2026-12-01"))
			require.NoError(t, err)
			assert.Equal(t, []resolve.TeamUse{
				use(alice, "2026-12-01", resolve.TeamGateway, providers.Gateway, 15),
				use(alice, "2026-12-02", resolve.ServerProvider, providers.Anthropic, 1),
				use(alice, "2026-12-02", resolve.TeamGateway, providers.Gateway, 6),
			}, got)
			got, err = s.TeamUsage(ctx, alice, time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC))
			require.NoError(t, err)
			assert.Len(t, got, 2, "from the UTC date of since on")
			got, err = s.TeamUsage(ctx, bob, day("2026-11-01"))
			require.NoError(t, err)
			assert.Equal(t, []resolve.TeamUse{use(bob, "2026-12-02", resolve.GatewayBYOK, providers.Gateway, 4)}, got)
			got, err = s.TeamUsage(ctx, b.db.CreateUser(t), day("2026-11-01"))
			require.NoError(t, err)
			assert.NotNil(t, got)
			assert.Empty(t, got)
		})
	}
}

func TestStore_consentEvents(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, settings := usage.New(b.c), consent.New(b.c)
			ctx := t.Context()
			user := b.db.CreateUser(t)
			start := time.Now().Add(-time.Minute)
			require.NoError(t, settings.SetAllowGatewayFallback(ctx, user, false))
			require.NoError(t, settings.SetAllowGatewayFallback(ctx, user, false)) // no change, no event
			require.NoError(t, settings.SetAllowGatewayFallback(ctx, user, true))
			_, err := b.db.Pool.Exec(ctx, `update public.user_settings set allow_gateway_fallback = false where user_id = $1`, user)
			require.NoError(t, err)

			events, err := s.ConsentEvents(ctx, user, start, usage.MaxConsentEvents)
			require.NoError(t, err)
			require.Len(t, events, 3)
			for i, want := range []struct {
				allow  bool
				source string
			}{{false, "api"}, {true, "api"}, {false, "sql"}} {
				assert.Equal(t, want.allow, events[i].Allow, i)
				assert.Equal(t, want.source, events[i].Source, i)
				assert.WithinDuration(t, time.Now(), events[i].At, time.Hour)
				assert.Equal(t, time.UTC, events[i].At.Location())
			}
			latest, err := s.ConsentEvents(ctx, user, start, 1)
			require.NoError(t, err)
			assert.Equal(t, events[2:], latest)
			none, err := s.ConsentEvents(ctx, user, time.Now().Add(time.Hour), 10)
			require.NoError(t, err)
			assert.NotNil(t, none)
			assert.Empty(t, none)

			for _, limit := range []int{0, -1, usage.MaxConsentEvents + 1} {
				_, err := s.ConsentEvents(ctx, user, start, limit)
				assert.ErrorIs(t, err, supabase.ErrInvalidArgument, limit)
			}
		})
	}
}

func TestStore_refusals(t *testing.T) {
	b := backends(t)[0]
	s := usage.New(b.c)
	ctx := t.Context()
	_, err := s.TeamUsage(ctx, "not-a-uuid", time.Now())
	assert.ErrorIs(t, err, resolve.ErrInvalidUserID)
	_, err = s.ConsentEvents(ctx, "8D0F6B8E-2F6E-4A57-9D1C-2B7F0A3C9E11", time.Now(), 10)
	assert.ErrorIs(t, err, resolve.ErrInvalidUserID, "not canonical: upper case")

	nilStore := usage.New(nil)
	assert.ErrorIs(t, nilStore.RecordTeamUse(ctx, []resolve.TeamUse{use(b.db.CreateUser(t), "2026-12-01", resolve.TeamGateway, providers.Gateway, 1)}),
		supabase.ErrInvalidArgument)
	_, err = nilStore.TeamUsage(ctx, "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11", time.Now())
	assert.ErrorIs(t, err, supabase.ErrInvalidArgument)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err = s.RecordTeamUse(canceled, []resolve.TeamUse{use(b.db.CreateUser(t), "2026-12-01", resolve.TeamGateway, providers.Gateway, 1)})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, usage.ErrUnavailable)
}

// TestStore_failuresMatchStoreUnavailableAndLeakNothing: a Store given the anon key by
// mistake is refused by every RPC; the errors match ErrUnavailable and
// resolve.ErrStoreUnavailable, keep the *supabase.Error, and print no user id or
// database text.
func TestStore_failuresMatchStoreUnavailableAndLeakNothing(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.AnonKey)
	require.NoError(t, err)
	s := usage.New(c)
	ctx := t.Context()
	user := db.CreateUser(t)

	errs := []error{s.RecordTeamUse(ctx, []resolve.TeamUse{use(user, "2026-12-01", resolve.TeamGateway, providers.Gateway, 1)})}
	_, err = s.TeamUsage(ctx, user, time.Now())
	errs = append(errs, err)
	_, err = s.ConsentEvents(ctx, user, time.Now(), 10)
	errs = append(errs, err)
	for _, err := range errs {
		require.ErrorIs(t, err, usage.ErrUnavailable)
		require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
		assert.True(t, supabase.IsPermission(err), "%v", err)
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, s, user)
			assert.NotContains(t, s, "service_role required", "the database's message")
		}
	}
}

// TestStore_asTheResolversSink: through Provider.Transport over a fake upstream, with
// consent on and no keys of their own, a user's N requests on the team gateway are stored
// as N once the Resolver is closed; a user with their own key is stored as nothing; and
// the user reads only their own counts back, as does row level security.
func TestStore_asTheResolversSink(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, keys, settings := usage.New(b.c), vault.New(b.c), consent.New(b.c)
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, `{}`)
			}))
			t.Cleanup(upstream.Close)
			r := resolve.New(keys, settings, resolve.Team{GatewayKey: providers.NewSecret("vck-team-usage")},
				resolve.WithTeamUsage(s, time.Hour), resolve.WithCache(time.Hour))
			t.Cleanup(func() { _ = r.Close(context.Background()) })

			teamUser, ownKeyUser := b.db.CreateUser(t), b.db.CreateUser(t)
			require.NoError(t, keys.PutKey(ctx, ownKeyUser, providers.OpenAI, providers.NewSecret("sk-own-usage-test")))
			const n = 7
			for _, u := range []struct {
				id   string
				path resolve.Path
			}{{teamUser, resolve.TeamGateway}, {ownKeyUser, resolve.UserProvider}} {
				p, path, err := r.Resolve(ctx, u.id)
				require.NoError(t, err)
				require.Equal(t, u.path, path)
				client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(upstream))}
				for range n {
					resp, err := client.Post(p.BaseURL+"/chat/completions", "application/json", strings.NewReader(`{"model":"m"}`))
					require.NoError(t, err)
					_ = resp.Body.Close()
				}
			}
			today := time.Now().UTC()
			require.NoError(t, r.Close(ctx))

			got, err := s.TeamUsage(ctx, teamUser, today.AddDate(0, 0, -1))
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, resolve.TeamGateway, got[0].Path)
			assert.Equal(t, providers.Gateway, got[0].Provider)
			assert.EqualValues(t, n, got[0].Requests)
			assert.Contains(t, []string{today.Format(time.DateOnly), time.Now().UTC().Format(time.DateOnly)}, got[0].Day.Format(time.DateOnly))
			got, err = s.TeamUsage(ctx, ownKeyUser, today.AddDate(0, 0, -1))
			require.NoError(t, err)
			assert.Empty(t, got, "the user paid")

			var visible []string
			require.NoError(t, b.db.AsUser(ctx, ownKeyUser, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, `select user_id::text from public.byok_team_usage`)
				if err != nil {
					return err
				}
				visible, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			}))
			assert.Empty(t, visible, "row level security: not the team user's row")
		})
	}
}
