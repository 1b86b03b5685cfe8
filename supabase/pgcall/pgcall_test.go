package pgcall_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// authenticatorPool connects as authenticator, the least-privileged role that may
// become service_role, with at most maxConns connections.
func authenticatorPool(t *testing.T, db *pgtest.DB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.AuthenticatorDSN)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type keyArgs struct {
	UserID  string `json:"p_user_id"`
	Service string `json:"p_service"`
	APIKey  string `json:"p_api_key,omitempty"`
}

func TestCall_roundTrip(t *testing.T) {
	db := pgtest.New(t)
	c := pgcall.New(authenticatorPool(t, db, 4))
	ctx := ctxT(t)
	user := db.CreateUser(t)

	// Absent: SQL NULL decodes as JSON null.
	got := new(string)
	*got = "unchanged"
	var pgot *string = got
	require.NoError(t, c.Call(ctx, "get_user_api_key", keyArgs{UserID: user, Service: "openai"}, &pgot))
	assert.Nil(t, pgot)

	// Void: no out, and an out given for a void function is left alone.
	require.NoError(t, c.Call(ctx, "insert_user_api_key", keyArgs{UserID: user, Service: " OpenAI ", APIKey: "sk-round-trip"}, nil))
	untouched := "untouched"
	require.NoError(t, c.Call(ctx, "touch_user_api_key", keyArgs{UserID: user, Service: "openai"}, &untouched))
	assert.Equal(t, "untouched", untouched)

	var key *string
	require.NoError(t, c.Call(ctx, "get_user_api_key", map[string]any{"p_user_id": user, "p_service": "openai"}, &key))
	require.NotNil(t, key)
	assert.Equal(t, "sk-round-trip", *key)

	// Boolean, and a text[] argument with a jsonb result.
	require.NoError(t, c.Call(ctx, "set_user_allow_gateway_fallback", map[string]any{"p_user_id": user, "p_allow": false}, nil))
	var allow bool
	require.NoError(t, c.Call(ctx, "get_user_allow_gateway_fallback", map[string]string{"p_user_id": user}, &allow))
	assert.False(t, allow)

	var snap struct {
		Service string  `json:"service"`
		APIKey  string  `json:"api_key"`
		BaseURL *string `json:"gateway_base_url"`
		Allow   bool    `json:"allow_gateway_fallback"`
	}
	require.NoError(t, c.Call(ctx, "get_user_byok_snapshot",
		map[string]any{"p_user_id": user, "p_services": []string{"gateway", "xai", "openai"}}, &snap))
	assert.Equal(t, "openai", snap.Service)
	assert.Equal(t, "sk-round-trip", snap.APIKey)
	assert.Nil(t, snap.BaseURL)
	assert.False(t, snap.Allow)

	// No arguments: nil args.
	var healthy bool
	require.NoError(t, c.Call(ctx, "check_vault_health", nil, &healthy))
	assert.True(t, healthy)
}

func TestCall_errorsMatchPostgREST(t *testing.T) {
	db := pgtest.New(t)
	c := pgcall.New(authenticatorPool(t, db, 2))
	ctx := ctxT(t)
	user := db.CreateUser(t)

	tests := []struct {
		name   string
		fn     string
		args   any
		status int
		code   string
		check  func(error) bool
	}{
		{"unknown function", "no_such_function", nil, 404, "42883", supabase.IsNotFound},
		{"argument names differ", "get_user_api_key", map[string]string{"user_id": user, "service": "openai"}, 404, "42883", supabase.IsNotFound},
		{"unknown service", "get_user_api_key", keyArgs{UserID: user, Service: "mistral"}, 400, "22023", nil},
		{"not a uuid", "get_user_api_key", keyArgs{UserID: "not-a-uuid", Service: "openai"}, 400, "22P02", nil},
		{"unknown user", "insert_user_api_key", keyArgs{UserID: "00000000-0000-4000-8000-000000000000", Service: "openai", APIKey: "sk-x"}, 409, "23503", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Call(ctx, tt.fn, tt.args, nil)
			var e *supabase.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.status, e.Status)
			assert.Equal(t, tt.code, e.Code)
			assert.Equal(t, tt.fn, e.Function)
			if tt.check != nil {
				assert.True(t, tt.check(err))
			}
			assert.False(t, supabase.IsRetryable(err))
		})
	}
}

func TestCall_roleThatCannotBecomeServiceRole(t *testing.T) {
	db := pgtest.New(t)
	ctx := ctxT(t)
	_, err := db.Pool.Exec(ctx, `do $$ begin
		if not exists (select from pg_roles where rolname = 'byok_pgcall_outsider') then
			create role byok_pgcall_outsider login;
		end if; end $$`)
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(db.DSN)
	require.NoError(t, err)
	cfg.ConnConfig.User = "byok_pgcall_outsider"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	err = pgcall.New(pool).Call(ctx, "check_vault_health", nil, nil)
	assert.True(t, supabase.IsPermission(err), "%v", err)
}

func TestCall_roleAndClaimsEndWithTheCall(t *testing.T) {
	db := pgtest.New(t)
	pool := authenticatorPool(t, db, 1) // every statement below shares one connection
	ctx := ctxT(t)
	c := pgcall.New(pool)

	require.NoError(t, c.Call(ctx, "check_vault_health", nil, nil))
	var role, claims string
	require.NoError(t, pool.QueryRow(ctx, `select current_user::text, coalesce(current_setting('request.jwt.claims', true), '')`).Scan(&role, &claims))
	assert.Equal(t, "authenticator", role)
	assert.Empty(t, claims)

	// A failing call also leaves nothing behind, and the connection stays usable.
	require.Error(t, c.Call(ctx, "get_user_api_key", keyArgs{UserID: "x", Service: "openai"}, nil))
	require.NoError(t, pool.QueryRow(ctx, `select current_user::text, coalesce(current_setting('request.jwt.claims', true), '')`).Scan(&role, &claims))
	assert.Equal(t, "authenticator", role)
	assert.Empty(t, claims)
	require.NoError(t, c.Call(ctx, "check_vault_health", nil, nil))
}

func TestCall_contextEndsTheQuery(t *testing.T) {
	db := pgtest.Fresh(t, true)
	ctx := ctxT(t)
	_, err := db.Pool.Exec(ctx, `
		create function public.byok_test_sleep(p_seconds float8) returns void
		language sql as $$ select pg_sleep(p_seconds) $$;
		grant execute on function public.byok_test_sleep(float8) to service_role`)
	require.NoError(t, err)
	c := pgcall.New(authenticatorPool(t, db, 2))

	callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Call(callCtx, "byok_test_sleep", map[string]float64{"p_seconds": 60}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 30*time.Second, "the call must return when its context ends")

	// The server-side query was cancelled, not left running.
	require.Eventually(t, func() bool {
		var n int
		err := db.Pool.QueryRow(ctx, `select count(*) from pg_stat_activity where query like '%byok_test_sleep%' and state = 'active' and pid <> pg_backend_pid()`).Scan(&n)
		return err == nil && n == 0
	}, 10*time.Second, 50*time.Millisecond)

	// An already-cancelled context never reaches the database.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	require.ErrorIs(t, c.Call(cctx, "check_vault_health", nil, nil), context.Canceled)
}

func TestCall_invalidCalls(t *testing.T) {
	db := pgtest.New(t)
	c := pgcall.New(authenticatorPool(t, db, 1))
	ctx := ctxT(t)
	for name, call := range map[string]func() error{
		"empty name":       func() error { return c.Call(ctx, "", nil, nil) },
		"schema in name":   func() error { return c.Call(ctx, "vault.create_secret", nil, nil) },
		"injection":        func() error { return c.Call(ctx, "x(); drop table api_keys; --", nil, nil) },
		"array args":       func() error { return c.Call(ctx, "check_vault_health", []string{"a"}, nil) },
		"string args":      func() error { return c.Call(ctx, "check_vault_health", "p", nil) },
		"bad arg name":     func() error { return c.Call(ctx, "check_vault_health", map[string]string{"p; drop": "x"}, nil) },
		"mixed array":      func() error { return c.Call(ctx, "check_vault_health", map[string]any{"p": []any{"a", true}}, nil) },
		"unencodable args": func() error { return c.Call(ctx, "check_vault_health", map[string]any{"p": make(chan int)}, nil) },
		"nil pool":         func() error { return pgcall.New(nil).Call(ctx, "check_vault_health", nil, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), supabase.ErrInvalidArgument)
		})
	}
}

func TestCall_malformedResultForOut(t *testing.T) {
	db := pgtest.New(t)
	c := pgcall.New(authenticatorPool(t, db, 1))
	var n int
	err := c.Call(ctxT(t), "check_vault_health", nil, &n) // a boolean into an int
	assert.ErrorIs(t, err, supabase.ErrMalformedResponse)
}

func TestCall_concurrent(t *testing.T) {
	db := pgtest.New(t)
	c := pgcall.New(authenticatorPool(t, db, 4))
	ctx := ctxT(t)
	user := db.CreateUser(t)
	require.NoError(t, c.Call(ctx, "insert_user_api_key", keyArgs{UserID: user, Service: "xai", APIKey: "xai-concurrent"}, nil))

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 32 {
		wg.Go(func() {
			var key *string
			if err := c.Call(ctx, "get_user_api_key", keyArgs{UserID: user, Service: "xai"}, &key); err != nil {
				errs <- err
				return
			}
			if key == nil || *key != "xai-concurrent" {
				errs <- errors.New("wrong key")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
