package migrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

// rpcs are the functions PostgREST callers use, by signature, with arguments that make each
// succeed as service_role ($1 is a user id).
var rpcs = []struct {
	signature string
	call      string
}{
	{"insert_user_api_key(uuid,text,text)", `select public.insert_user_api_key($1, 'openai', 'sk-acl-test')`},
	{"get_user_api_key(uuid,text)", `select public.get_user_api_key($1, 'openai')`},
	{"delete_user_api_key(uuid,text)", `select public.delete_user_api_key($1, 'openai')`},
	{"touch_user_api_key(uuid,text)", `select public.touch_user_api_key($1, 'openai')`},
	{"upsert_user_gateway_config(uuid,text)", `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`},
	{"get_user_gateway_base_url(uuid)", `select public.get_user_gateway_base_url($1)`},
	{"delete_user_gateway_config(uuid)", `select public.delete_user_gateway_config($1)`},
	{"get_user_allow_gateway_fallback(uuid)", `select public.get_user_allow_gateway_fallback($1)`},
	{"get_user_byok_snapshot(uuid,text[])", `select public.get_user_byok_snapshot($1, array['gateway','openai'])`},
	{"set_user_allow_gateway_fallback(uuid,boolean)", `select public.set_user_allow_gateway_fallback($1, false)`},
	{"list_user_api_keys(uuid)", `select public.list_user_api_keys($1)`},
	{"check_vault_health()", `select public.check_vault_health() where $1::uuid is not null`},
	{"put_user_gateway_key(uuid,text,text)", `select public.put_user_gateway_key($1, 'vck-acl-test', 'https://gw.example.com/v1')`},
	{"delete_user_gateway_key(uuid)", `select public.delete_user_gateway_key($1)`},
	{"take_user_rate_limit(text,text,integer,bigint)", `select public.take_user_rate_limit($1::text, 'acl-test', 1000000, 60000)`},
	{"report_user_api_key_failure(uuid,text,text)", `select public.report_user_api_key_failure($1, 'openai', 'invalid_key')`},
	{"record_byok_team_usage(uuid[],date[],text[],text[],bigint[])", `select public.record_byok_team_usage(
		array[$1::uuid], array['2026-12-03'::date], array['team-gateway'], array['gateway'], array[1::bigint])`},
	{"get_user_byok_team_usage(uuid,date)", `select public.get_user_byok_team_usage($1, '2026-12-01')`},
	{"get_user_byok_consent_events(uuid,timestamp with time zone,integer)", `select public.get_user_byok_consent_events($1, now() - interval '1 day', 1000)`},
}

// internalFunctions are the migrations' other functions: helpers the RPCs call and trigger
// functions. Nobody but their owner may execute them.
var internalFunctions = []string{
	"byok_require_service_role()",
	"byok_normalize_service(text)",
	"byok_delete_api_key_secret()",
	"byok_truncate_api_key_secrets()",
	"byok_check_api_key(text)",
	"byok_lock_user(uuid,boolean)",
	"byok_lock_key(uuid,text)",
	"byok_store_api_key(uuid,text,text)",
	"byok_check_base_url(text)",
	"byok_notify_invalidate()",
	"byok_notify_invalidate_truncate()",
	"byok_consent_source()",
	"byok_record_consent_event()",
	"byok_record_consent_event_truncate()",
	"byok_consent_events_append_only()",
}

func TestSchema_tablesExistWithRowLevelSecurity(t *testing.T) {
	db := pgtest.New(t)
	for _, table := range []string{"api_keys", "api_gateway_configs", "user_settings", "byok_rate_limits", "byok_team_usage", "byok_consent_events"} {
		t.Run(table, func(t *testing.T) {
			var rls bool
			err := db.Pool.QueryRow(t.Context(),
				`select relrowsecurity from pg_class where oid = to_regclass('public.' || $1)`, table).Scan(&rls)
			require.NoError(t, err, "table must exist")
			assert.True(t, rls)
		})
	}
}

func TestSchema_ownerPolicies(t *testing.T) {
	db := pgtest.New(t)
	type policy struct {
		Table, Name, Cmd string
		Roles            []string
		Using, Check     *string
	}
	rows, err := db.Pool.Query(t.Context(), `
		select tablename::text, policyname::text, cmd, roles::text[], qual, with_check
		  from pg_policies where schemaname = 'public' order by tablename, policyname`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[policy])
	require.NoError(t, err)
	owner := ptr("(( SELECT auth.uid() AS uid) = user_id)")
	assert.Equal(t, []policy{
		{"api_gateway_configs", "api_gateway_configs_select_own", "SELECT", []string{"authenticated"}, owner, nil},
		{"api_keys", "api_keys_select_own", "SELECT", []string{"authenticated"}, owner, nil},
		{"byok_consent_events", "byok_consent_events_select_own", "SELECT", []string{"authenticated"}, owner, nil},
		{"byok_rate_limits", "byok_rate_limits_no_api_access", "ALL", []string{"anon", "authenticated"}, ptr("false"), ptr("false")},
		{"byok_team_usage", "byok_team_usage_select_own", "SELECT", []string{"authenticated"}, owner, nil},
		{"user_settings", "user_settings_all_own", "ALL", []string{"authenticated"}, owner, owner},
	}, got)
}

func TestSchema_consentDefaultsToTrue(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	var def string
	var nullable string
	require.NoError(t, db.Pool.QueryRow(ctx, `
		select column_default, is_nullable from information_schema.columns
		 where table_schema = 'public' and table_name = 'user_settings' and column_name = 'allow_gateway_fallback'`).
		Scan(&def, &nullable))
	assert.Equal(t, "true", def)
	assert.Equal(t, "NO", nullable)

	user := db.CreateUser(t)
	var allow bool
	require.NoError(t, db.Pool.QueryRow(ctx,
		`insert into public.user_settings (user_id) values ($1) returning allow_gateway_fallback`, user).Scan(&allow))
	assert.True(t, allow)
}

func TestRPCs_lockedDownByACL(t *testing.T) {
	db := pgtest.New(t)
	rows, err := db.Pool.Query(t.Context(), `
		select p.oid::regprocedure::text, p.prosecdef, coalesce(p.proconfig, '{}'),
		       has_function_privilege('public', p.oid, 'execute'),
		       has_function_privilege('anon', p.oid, 'execute'),
		       has_function_privilege('authenticated', p.oid, 'execute'),
		       has_function_privilege('service_role', p.oid, 'execute')
		  from pg_proc p where p.pronamespace = 'public'::regnamespace`)
	require.NoError(t, err)
	type function struct {
		Signature                                string
		SecurityDefiner                          bool
		Config                                   []string
		Public, Anon, Authenticated, ServiceRole bool
	}
	functions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[function])
	require.NoError(t, err)

	isRPC := map[string]bool{}
	var want []string
	for _, r := range rpcs {
		isRPC[r.signature] = true
		want = append(want, r.signature)
	}
	want = append(want, internalFunctions...)
	var got []string
	for _, f := range functions {
		got = append(got, f.Signature)
	}
	require.ElementsMatch(t, want, got, "every function in public must be listed here and checked")

	for _, f := range functions {
		t.Run(f.Signature, func(t *testing.T) {
			assert.Contains(t, f.Config, `search_path=""`)
			assert.False(t, f.Public, "PUBLIC may execute")
			assert.False(t, f.Anon, "anon may execute")
			assert.False(t, f.Authenticated, "authenticated may execute")
			if isRPC[f.Signature] {
				assert.True(t, f.SecurityDefiner)
				assert.True(t, f.ServiceRole, "service_role may not execute")
			} else {
				assert.False(t, f.ServiceRole, "service_role may execute an internal function")
			}
		})
	}
}

func TestRPCs_refuseEveryoneButServiceRoleAtCallTime(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	callAs := map[string]func(sql string) error{
		"anon (ACL)": func(sql string) error {
			return db.AsAnon(ctx, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql, user); return err })
		},
		"authenticated (ACL)": func(sql string) error {
			return db.AsUser(ctx, user, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql, user); return err })
		},
		"postgres with authenticated claims (in-body check)": func(sql string) error {
			return withClaims(ctx, db, `{"role":"authenticated","sub":"`+user+`"}`, sql, user)
		},
		"postgres with anon claims (in-body check)": func(sql string) error {
			return withClaims(ctx, db, `{"role":"anon"}`, sql, user)
		},
		"postgres without claims (in-body check)": func(sql string) error {
			return withClaims(ctx, db, ``, sql, user)
		},
	}
	for _, r := range rpcs {
		t.Run(r.signature, func(t *testing.T) {
			for who, call := range callAs {
				assert.Equal(t, insufficientPrivilege, sqlState(call(r.call)), who)
			}
			assert.NoError(t, exec(db, r.call, user), "service_role")
			assert.NoError(t, withClaims(ctx, db, `{"role":"service_role"}`, r.call, user),
				"postgres with service_role claims")
		})
	}
}

func TestRPCs_errorsNeverEchoTheKey(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	const canary = "sk-canary-errors-5b1f0e"
	for name, tc := range map[string]struct{ service, key string }{
		"oversized key":   {"openai", canary + strings.Repeat("k", 2048)},
		"unknown service": {canary, canary},
		"unknown user":    {"openai", canary},
	} {
		t.Run(name, func(t *testing.T) {
			u := user
			if name == "unknown user" {
				u = "00000000-0000-4000-8000-000000000000"
			}
			err := exec(db, `select public.insert_user_api_key($1, $2, $3)`, u, tc.service, tc.key)
			require.Error(t, err)
			assert.NotEmpty(t, sqlState(err))
			assert.NotContains(t, err.Error(), canary)
			var details string
			if pgErr := asPgError(err); pgErr != nil {
				details = pgErr.Detail + pgErr.Hint + pgErr.Where
			}
			assert.NotContains(t, details, canary)
		})
	}
}

func TestCheckVaultHealth(t *testing.T) {
	db := pgtest.New(t)
	var ok bool
	require.NoError(t, query(db, &ok, `select public.check_vault_health()`))
	assert.True(t, ok)
	var probes int
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		`select count(*) from vault.secrets where name like 'byok_health_probe_%'`).Scan(&probes))
	assert.Zero(t, probes, "the probe secret must be deleted")
}

func TestCheckVaultHealth_failsWhenVaultReadsBackWrongValue(t *testing.T) {
	if pgtest.Real() {
		t.Skip("breaks the Vault stand-in's decryption; the real extension is owned by supabase_admin " +
			"(TestCheckVaultHealth_failsWhenVaultIsUnavailable breaks it as postgres)")
	}
	db := pgtest.Fresh(t, true)
	// Break the stand-in's decryption so decrypted_secret no longer matches what was stored.
	_, err := db.Pool.Exec(t.Context(), `
		create or replace function vault._standin_decrypt(ciphertext text, iv bytea) returns text
		language sql stable set search_path = '' as $$ select 'not the probe' $$`)
	require.NoError(t, err)
	var ok bool
	err = query(db, &ok, `select public.check_vault_health()`)
	assert.Equal(t, "XX001", sqlState(err))
}

// TestCheckVaultHealth_failsWhenVaultIsUnavailable: with vault.secrets locked by another session
// (postgres may: it holds DELETE and TRUNCATE on it, on hosted Supabase too), the probe cannot
// write, and the health check fails instead of answering true.
func TestCheckVaultHealth_failsWhenVaultIsUnavailable(t *testing.T) {
	db := pgtest.Fresh(t, true)
	ctx := t.Context()
	locker, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = locker.Rollback(ctx) }() // releases the lock if the test stops early
	_, err = locker.Exec(ctx, `lock table vault.secrets in access exclusive mode`)
	require.NoError(t, err)

	var ok bool
	err = db.AsServiceRole(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `set local lock_timeout = '200ms'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `select public.check_vault_health()`).Scan(&ok)
	})
	assert.Equal(t, "55P03", sqlState(err), "lock_not_available: %v", err)
	assert.False(t, ok)

	require.NoError(t, locker.Rollback(ctx))
	require.NoError(t, query(db, &ok, `select public.check_vault_health()`), "healthy again once the lock is gone")
	assert.True(t, ok)
}
