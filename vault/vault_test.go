package vault_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
	"github.com/byok-go/byok/internal/storetest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgcallBackend runs the suite over pgcall on the throwaway PostgreSQL, connected as
// authenticator as PostgREST is.
func pgcallBackend(t *testing.T) storetest.Backend {
	t.Helper()
	db := pgtest.New(t)
	pool, err := pgxpool.New(context.Background(), db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return storetest.Backend{
		Name:    "pgcall",
		Caller:  pgcall.New(pool),
		NewUser: func(t *testing.T) string { return db.CreateUser(t) },
	}
}

// postgrestBackend runs the suite over supabase.Client and the PostgREST stand-in on the
// throwaway PostgreSQL, with the given kind of service key.
func postgrestBackend(t *testing.T, key func(*postgrest.Server) string) storetest.Backend {
	t.Helper()
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, key(srv))
	require.NoError(t, err)
	return storetest.Backend{
		Name:    "postgrest",
		Caller:  c,
		NewUser: func(t *testing.T) string { return db.CreateUser(t) },
	}
}

func TestStore_pgcall(t *testing.T) { storetest.Run(t, pgcallBackend(t)) }

func TestStore_postgrestServiceRoleKey(t *testing.T) {
	storetest.Run(t, postgrestBackend(t, func(s *postgrest.Server) string { return s.ServiceKey }))
}

func TestStore_postgrestSecretKey(t *testing.T) {
	storetest.Run(t, postgrestBackend(t, func(s *postgrest.Server) string { return s.SecretKey }))
}

// TestStore_anonKeyIsRefused: a service configured with the anon or publishable key by
// mistake gets a permission error from every RPC, and resolution stops instead of
// falling back to the team.
func TestStore_anonKeyIsRefused(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	user := db.CreateUser(t)
	for name, key := range map[string]string{"anon": srv.AnonKey, "publishable": srv.PublishableKey} {
		t.Run(name, func(t *testing.T) {
			c, err := supabase.New(srv.URL, key)
			require.NoError(t, err)
			store := vault.New(c)
			err = store.PutKey(t.Context(), user, providers.OpenAI, storetest.Secret("sk-anon"))
			assert.True(t, supabase.IsPermission(err), "%v", err)
			_, path, err := resolve.New(store, consent.New(c), storetest.Team).Resolve(t.Context(), user)
			require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
			assert.Empty(t, path)
			assert.Error(t, store.Health(t.Context()))
		})
	}
}

// TestStore_outageIsNotTeamSpend: with the API down, resolution fails closed on every
// path, with and without the Snapshotter, and the error says the store is unavailable.
func TestStore_outageIsNotTeamSpend(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	user := db.CreateUser(t)
	c, err := supabase.New(srv.URL, srv.ServiceKey)
	require.NoError(t, err)
	srv.Close()
	store := vault.New(c)
	for name, keys := range map[string]resolve.KeyStore{"snapshot": store, "per-tier": storetest.PerTier{KeyStore: store}} {
		t.Run(name, func(t *testing.T) {
			p, path, err := resolve.New(keys, consent.New(c), storetest.Team).Resolve(t.Context(), user)
			require.ErrorIs(t, err, resolve.ErrStoreUnavailable)
			assert.ErrorIs(t, err, supabase.ErrTransport)
			assert.True(t, supabase.IsRetryable(err))
			assert.Empty(t, path)
			assert.True(t, p.APIKey.IsZero())
		})
	}
	assert.ErrorIs(t, store.Health(t.Context()), supabase.ErrTransport)
}

// TestStore_missingMigration: a database without the project's migrations answers
// PGRST202, which supabase.IsNotFound names, and resolution fails closed.
func TestStore_missingMigration(t *testing.T) {
	db := pgtest.Fresh(t, false)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	user := db.CreateUser(t)
	_, err = vault.New(c).Snapshot(t.Context(), user, providers.DefaultOrder())
	assert.True(t, supabase.IsNotFound(err), "%v", err)
	_, _, err = resolve.New(vault.New(c), consent.New(c), storetest.Team).Resolve(t.Context(), user)
	assert.ErrorIs(t, err, resolve.ErrStoreUnavailable)
	assert.Contains(t, err.Error(), "resolve snapshot: store unavailable")
}

// TestClient_contextEndsTheServerSideQuery: a call through supabase.Client returns when
// its context ends, and the stand-in shows the database query was cancelled.
func TestClient_contextEndsTheServerSideQuery(t *testing.T) {
	db := pgtest.Fresh(t, true)
	_, err := db.Pool.Exec(t.Context(), `
		create function public.byok_test_sleep(p_seconds float8) returns void
		language sql as $$ select pg_sleep(p_seconds) $$;
		grant execute on function public.byok_test_sleep(float8) to service_role`)
	require.NoError(t, err)
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Call(ctx, "byok_test_sleep", map[string]float64{"p_seconds": 60}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 30*time.Second)
	require.Eventually(t, func() bool {
		var running int
		err := db.Pool.QueryRow(t.Context(), `select count(*) from pg_stat_activity
			where query like '%byok_test_sleep%' and state = 'active' and pid <> pg_backend_pid()`).Scan(&running)
		return err == nil && running == 0 && srv.Canceled() == 1
	}, 10*time.Second, 50*time.Millisecond)
}

// TestStore_live runs the suite against a real Supabase project when SUPABASE_URL and a
// secret key are set; it is skipped otherwise.
func TestStore_live(t *testing.T) { storetest.Run(t, storetest.LiveFromEnv(t)) }

// TestStore_liveContractAgainstStandIn runs the live contract test's own code (its
// environment variables, its Auth admin calls) against a project made of the PostgREST
// stand-in and a fake of the Auth admin API on the throwaway database, so the opt-in test
// cannot rot unnoticed.
func TestStore_liveContractAgainstStandIn(t *testing.T) {
	db := pgtest.New(t)
	srv := postgrest.Start(t, db)
	rest, err := url.Parse(srv.URL)
	require.NoError(t, err)
	var created, deleted atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/rest/", httputil.NewSingleHostReverseProxy(rest))
	mux.HandleFunc("POST /auth/v1/admin/users", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("apikey") != srv.SecretKey || r.Header.Get("Authorization") != "" {
			http.Error(w, `{"msg":"bad key"}`, http.StatusUnauthorized)
			return
		}
		var id string
		if err := db.Pool.QueryRow(r.Context(), `insert into auth.users (id) values (gen_random_uuid()) returning id::text`).Scan(&id); err != nil {
			http.Error(w, `{}`, http.StatusInternalServerError)
			return
		}
		created.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
	})
	mux.HandleFunc("DELETE /auth/v1/admin/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		tag, err := db.Pool.Exec(r.Context(), `delete from auth.users where id = $1`, r.PathValue("id"))
		if err != nil || tag.RowsAffected() != 1 {
			http.Error(w, `{}`, http.StatusNotFound)
			return
		}
		deleted.Add(1)
		w.WriteHeader(http.StatusOK)
	})
	project := httptest.NewServer(mux)
	t.Cleanup(project.Close)
	t.Setenv("SUPABASE_URL", project.URL)
	t.Setenv("SUPABASE_SECRET_KEY", srv.SecretKey)

	t.Run("suite", func(t *testing.T) { storetest.Run(t, storetest.LiveFromEnv(t)) })
	assert.Positive(t, created.Load())
	assert.Equal(t, created.Load(), deleted.Load(), "every throwaway user is deleted")
}
