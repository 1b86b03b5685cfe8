package pgtest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRoles_actLikePostgREST(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	type session struct {
		SessionUser, CurrentUser string
		UID, Role                *string
	}
	read := func(s *session) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `select session_user::text, current_user::text, auth.uid()::text, auth.role()`).
				Scan(&s.SessionUser, &s.CurrentUser, &s.UID, &s.Role)
		}
	}
	for name, tc := range map[string]struct {
		as   func(context.Context, func(pgx.Tx) error) error
		want session
	}{
		"anon": {db.AsAnon, session{"authenticator", "anon", nil, ptr("anon")}},
		"user": {func(ctx context.Context, fn func(pgx.Tx) error) error { return db.AsUser(ctx, user, fn) },
			session{"authenticator", "authenticated", &user, ptr("authenticated")}},
		"service_role": {db.AsServiceRole, session{"authenticator", "service_role", nil, ptr("service_role")}},
		"forged claims": {func(ctx context.Context, fn func(pgx.Tx) error) error {
			return db.AsRole(ctx, "authenticated", map[string]any{"role": "service_role", "sub": user}, fn)
		}, session{"authenticator", "authenticated", &user, ptr("service_role")}},
	} {
		t.Run(name, func(t *testing.T) {
			var got session
			require.NoError(t, tc.as(ctx, read(&got)))
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRoles_settingsLastOneTransaction(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	// Two transactions on one authenticator connection: the second must not inherit the first's
	// role or claims.
	conn, err := pgx.Connect(ctx, db.AuthenticatorDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `select set_config('role', 'authenticated', true),
			set_config('request.jwt.claims', json_build_object('sub', $1::text, 'role', 'authenticated')::text, true)`, user)
		return err
	}))
	var role string
	var claims *string
	require.NoError(t, conn.QueryRow(ctx, `select current_user::text, nullif(current_setting('request.jwt.claims', true), '')`).
		Scan(&role, &claims))
	assert.Equal(t, "authenticator", role)
	assert.Nil(t, claims)
}

func TestRoles_errorRollsBack(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	errStop := errors.New("stop")
	err := db.AsUser(ctx, user, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into public.user_settings (user_id, allow_gateway_fallback) values ($1, false)`, user); err != nil {
			return err
		}
		return errStop
	})
	require.ErrorIs(t, err, errStop)
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `select count(*) from public.user_settings where user_id = $1`, user).Scan(&n))
	assert.Zero(t, n)
}

func TestBaseline_defaultPrivilegesExposeNewPublicObjects(t *testing.T) {
	// This is what makes the migrations' REVOKEs necessary, and so what the migration tests exercise.
	db := pgtest.Fresh(t, false)
	ctx := t.Context()
	_, err := db.Pool.Exec(ctx, `create table public.probe (id int); create function public.probe() returns int language sql as 'select 1'`)
	require.NoError(t, err)
	for _, role := range []string{"anon", "authenticated", "service_role"} {
		var table, function bool
		require.NoError(t, db.Pool.QueryRow(ctx, `select has_table_privilege($1, 'public.probe', 'select, insert, update, delete, truncate'),
			has_function_privilege($1, 'public.probe()', 'execute')`, role).Scan(&table, &function))
		assert.True(t, table, role)
		assert.True(t, function, role)
	}
}

func TestBaseline_authUIDReadsTheSubClaim(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	const sub = "6f1c1a52-3b5e-4c39-9d7e-1d2f3a4b5c6d"
	for name, settings := range map[string]string{
		"request.jwt.claims":    `select set_config('request.jwt.claims', '{"sub":"` + sub + `"}', true)`,
		"legacy claim.sub":      `select set_config('request.jwt.claim.sub', '` + sub + `', true)`,
		"empty claims then sub": `select set_config('request.jwt.claims', '', true), set_config('request.jwt.claim.sub', '` + sub + `', true)`,
	} {
		// A connection of its own: like Supabase's, auth.uid() takes a legacy setting that an
		// earlier transaction left empty for its value.
		conn, err := pgx.Connect(ctx, db.DSN)
		require.NoError(t, err)
		var uid string
		require.NoError(t, pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, settings); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `select auth.uid()::text`).Scan(&uid)
		}), name)
		assert.Equal(t, sub, uid, name)
		require.NoError(t, conn.Close(ctx))
	}
}

// TestVault_surface pins the stand-in to the real extension's SQL surface: it runs on both stacks.
func TestVault_surface(t *testing.T) {
	db := pgtest.Fresh(t, false)
	ctx := t.Context()
	const plaintext = "sk-vault-surface-canary"

	var id string
	require.NoError(t, db.Pool.QueryRow(ctx,
		`select vault.create_secret(new_secret => $1, new_name => 'probe', new_description => 'd', new_key_id => null)::text`,
		plaintext).Scan(&id))

	var secret, decrypted, description string
	require.NoError(t, db.Pool.QueryRow(ctx,
		`select secret, decrypted_secret, description from vault.decrypted_secrets where id = $1`, id).
		Scan(&secret, &decrypted, &description))
	assert.Equal(t, plaintext, decrypted)
	assert.Equal(t, "d", description)
	assert.NotContains(t, secret, plaintext)
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(secret, "\n", ""))
	require.NoError(t, err, "secret is base64 ciphertext, as in supabase_vault")
	assert.NotContains(t, string(raw), plaintext)

	_, err = db.Pool.Exec(ctx, `select vault.update_secret(secret_id => $1, new_secret => 'sk-rotated')`, id)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `select vault.update_secret($1, new_description => 'renamed')`, id)
	require.NoError(t, err)
	require.NoError(t, db.Pool.QueryRow(ctx,
		`select decrypted_secret, description from vault.decrypted_secrets where id = $1`, id).Scan(&decrypted, &description))
	assert.Equal(t, "sk-rotated", decrypted, "updating only the description keeps the secret")
	assert.Equal(t, "renamed", description)

	_, err = db.Pool.Exec(ctx, `select vault.create_secret('other', 'probe')`)
	assert.Equal(t, "23505", sqlState(err), "names are unique")
	require.NoError(t, db.Pool.QueryRow(ctx, `select vault.create_secret('x')::text`).Scan(&id))
	require.NoError(t, db.Pool.QueryRow(ctx, `select description from vault.secrets where id = $1`, id).Scan(&description))
	assert.Empty(t, description, "description defaults to ''")

	rows, err := db.Pool.Query(ctx, `select attname::text from pg_attribute
		where attrelid = 'vault.decrypted_secrets'::regclass and attnum > 0 order by attnum`)
	require.NoError(t, err)
	columns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"id", "name", "description", "secret", "decrypted_secret", "key_id", "nonce", "created_at", "updated_at"}, columns)
}

// TestVault_apiRoles: anon and authenticated never reach Vault. service_role does on hosted
// Supabase (and so on the real stack), not on the stand-in, which keeps Vault to its owner.
func TestVault_apiRoles(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	as := map[string]func(func(pgx.Tx) error) error{
		"anon":          func(fn func(pgx.Tx) error) error { return db.AsAnon(ctx, fn) },
		"authenticated": func(fn func(pgx.Tx) error) error { return db.AsUser(ctx, user, fn) },
		"service_role":  func(fn func(pgx.Tx) error) error { return db.AsServiceRole(ctx, fn) },
	}
	for role, run := range as {
		for _, sql := range []string{
			`select count(*) from vault.secrets`,
			`select count(*) from vault.decrypted_secrets`,
			`select vault.create_secret('x', 'byok_api_role_probe_' || gen_random_uuid())`,
			`select vault.update_secret(gen_random_uuid(), 'x')`,
		} {
			// Rolled back either way: a probe secret does not outlive the test.
			err := run(func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, sql); err != nil {
					return err
				}
				return errRollback
			})
			if role == "service_role" && pgtest.Real() {
				assert.ErrorIs(t, err, errRollback, "%s: %s", role, sql)
			} else {
				assert.Equal(t, "42501", sqlState(err), "%s: %s", role, sql)
			}
		}
	}
}

var errRollback = errors.New("roll back")

// TestStack_isTheOneAsked checks the database the tests run on is the stack the environment
// asks for, so a run that says "real" was not silently the stand-in.
func TestStack_isTheOneAsked(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	var superuser bool
	var vaultVersion *string
	require.NoError(t, db.Pool.QueryRow(ctx, `select rolsuper, (select extversion from pg_extension where extname = 'supabase_vault')
		from pg_roles where rolname = current_user`).Scan(&superuser, &vaultVersion))
	if !pgtest.Real() {
		assert.True(t, superuser, "postgres is the superuser of the stand-in")
		assert.Nil(t, vaultVersion, "the stand-in is not the extension")
		return
	}
	assert.False(t, superuser, "postgres must not be a superuser, as on hosted Supabase")
	assert.Equal(t, ptr("0.3.1"), vaultVersion)

	var preload, owner string
	var createDefiner, updateDefiner bool
	require.NoError(t, db.Pool.QueryRow(ctx, `select current_setting('shared_preload_libraries'),
		(select r.rolname::text from pg_class c join pg_roles r on r.oid = c.relowner where c.oid = 'vault.secrets'::regclass),
		(select prosecdef from pg_proc where oid = 'vault.create_secret(text,text,text,uuid)'::regprocedure),
		(select prosecdef from pg_proc where oid = 'vault.update_secret(uuid,text,text,text,uuid)'::regprocedure)`).
		Scan(&preload, &owner, &createDefiner, &updateDefiner))
	assert.Equal(t, "supabase_vault", preload)
	assert.Equal(t, "supabase_admin", owner)
	assert.True(t, createDefiner)
	assert.True(t, updateDefiner)

	// GoTrue's auth.users: 35 columns, and an id without a default.
	var columns int
	var idDefault *string
	require.NoError(t, db.Pool.QueryRow(ctx, `select count(*), max(column_default) filter (where column_name = 'id')
		from information_schema.columns where table_schema = 'auth' and table_name = 'users'`).Scan(&columns, &idDefault))
	assert.Equal(t, 35, columns)
	assert.Nil(t, idDefault)

	rows, err := db.Pool.Query(ctx, `select rolname::text, rolinherit from pg_roles
		where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') order by 1`)
	require.NoError(t, err)
	type role struct {
		Name    string
		Inherit bool
	}
	roles, err := pgx.CollectRows(rows, pgx.RowToStructByPos[role])
	require.NoError(t, err)
	assert.Equal(t, []role{{"anon", true}, {"authenticated", true}, {"authenticator", false}, {"service_role", true}}, roles)

	var who string
	require.NoError(t, db.SuperuserConn(t).QueryRow(ctx, `select current_user::text from pg_roles
		where rolname = current_user and rolsuper`).Scan(&who))
	assert.Equal(t, "supabase_admin", who)
}

func TestFresh_isolatedAndDroppedAfterTheTest(t *testing.T) {
	shared := pgtest.New(t)
	ctx := t.Context()
	var names []string
	t.Run("fresh", func(t *testing.T) {
		for _, migrated := range []bool{false, true} {
			db := pgtest.Fresh(t, migrated)
			var name string
			var apiKeys *string
			require.NoError(t, db.Pool.QueryRow(ctx, `select current_database(), to_regclass('public.api_keys')::text`).
				Scan(&name, &apiKeys))
			names = append(names, name)
			assert.Equal(t, migrated, apiKeys != nil, "migrated=%t", migrated)

			user := db.CreateUser(t)
			var inShared int
			require.NoError(t, shared.Pool.QueryRow(ctx, `select count(*) from auth.users where id = $1`, user).Scan(&inShared))
			assert.Zero(t, inShared)
		}
	})
	var left int
	require.NoError(t, shared.Pool.QueryRow(ctx, `select count(*) from pg_database where datname = any($1)`, names).Scan(&left))
	assert.Zero(t, left)
}

// TestMissingPostgres runs a database test in a child process that cannot find PostgreSQL.
func TestMissingPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child test process")
	}
	empty := t.TempDir()
	realDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(realDir, "baseline.sql"), nil, 0o644))
	for name, tc := range map[string]struct {
		require, real string
		wantFail      bool
		want          string
	}{
		"skips by default":        {"", "", false, "--- SKIP: TestRoles_actLikePostgREST"},
		"fails when CI demands":   {"1", "", true, "--- FAIL: TestRoles_actLikePostgREST"},
		"fails on the real stack": {"", realDir, true, "--- FAIL: TestRoles_actLikePostgREST"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRoles_actLikePostgREST$", "-test.v", "-test.count=1")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "BYOK_PG_BIN=") && !strings.HasPrefix(kv, "BYOK_REQUIRE_POSTGRES=") &&
					!strings.HasPrefix(kv, "BYOK_SUPABASE_REAL=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "BYOK_PG_BIN="+empty, "BYOK_REQUIRE_POSTGRES="+tc.require, "BYOK_SUPABASE_REAL="+tc.real)
			out, err := cmd.CombinedOutput()
			if tc.wantFail {
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit, "%s", out)
			} else {
				require.NoError(t, err, "%s", out)
			}
			assert.Contains(t, string(out), tc.want)
			assert.Contains(t, string(out), "PostgreSQL 15 not found (install postgresql-15, or set BYOK_PG_BIN to its bin dir)")
			assert.Contains(t, string(out), "BYOK_REQUIRE_POSTGRES=1")
		})
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
