package migrations_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

// The checks below run on either stack; on the real one (BYOK_SUPABASE_REAL) they hold with
// Supabase's own roles, grants and Vault, and with the migrations applied by a postgres that is
// not a superuser. The owner-only reads, anon's nothing and service_role's key life cycle are in
// keys_test.go, settings_test.go and snapshot_test.go.

// callers are the requests that must never reach a SECURITY DEFINER function in public: the
// API roles with their own claims and with claims forged to say service_role.
func callers(db *pgtest.DB, user string) map[string]func(context.Context, func(pgx.Tx) error) error {
	as := func(role string, claims map[string]any) func(context.Context, func(pgx.Tx) error) error {
		return func(ctx context.Context, fn func(pgx.Tx) error) error { return db.AsRole(ctx, role, claims, fn) }
	}
	return map[string]func(context.Context, func(pgx.Tx) error) error{
		"anon":                                 as("anon", map[string]any{"role": "anon"}),
		"authenticated":                        as("authenticated", map[string]any{"role": "authenticated", "sub": user}),
		"anon with forged service_role claims": as("anon", map[string]any{"role": "service_role"}),
		"authenticated with forged service_role claims": as("authenticated", map[string]any{"role": "service_role", "sub": user}),
	}
}

var errRolledBack = errors.New("rolled back")

// TestSecurityDefiner_everyFunctionInPublicRefusesAPIRoles finds every SECURITY DEFINER
// function in public, whoever made it, and calls each one with NULL arguments as anon and as
// authenticated, with and without forged service_role claims: each call must fail with 42501.
// Trigger functions cannot be called; none of those roles may execute them.
func TestSecurityDefiner_everyFunctionInPublicRefusesAPIRoles(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	type function struct {
		Signature, Call string
		Trigger         bool
	}
	rows, err := db.Pool.Query(ctx, `
		select p.oid::regprocedure::text,
		       format('select %s(%s)', p.oid::regproc,
		              (select coalesce(string_agg(format('null::%s', t::regtype), ', ' order by o), '')
		                 from unnest(p.proargtypes) with ordinality a(t, o))),
		       p.prorettype = 'trigger'::regtype
		  from pg_proc p
		 where p.pronamespace = 'public'::regnamespace and p.prosecdef and p.prokind = 'f'
		 order by 1`)
	require.NoError(t, err)
	functions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[function])
	require.NoError(t, err)
	var signatures []string
	for _, f := range functions {
		signatures = append(signatures, f.Signature)
	}
	require.Subset(t, signatures, []string{"insert_user_api_key(uuid,text,text)", "check_vault_health()",
		"byok_delete_api_key_secret()"}, "the search must find the migrations' functions")

	for _, f := range functions {
		t.Run(f.Signature, func(t *testing.T) {
			if f.Trigger {
				for _, role := range []string{"anon", "authenticated", "service_role"} {
					var may bool
					require.NoError(t, db.Pool.QueryRow(ctx,
						`select has_function_privilege($1, $2::regprocedure, 'execute')`, role, f.Signature).Scan(&may))
					assert.False(t, may, "%s may execute a trigger function", role)
				}
				return
			}
			for who, as := range callers(db, user) {
				err := as(ctx, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, f.Call); err != nil {
						return err
					}
					return errRolledBack // whatever it did is undone
				})
				assert.Equal(t, insufficientPrivilege, sqlState(err), "%s: %v", who, err)
			}
		})
	}
}

// TestVault_closedToAnonAndAuthenticated: neither API role reaches Vault's tables, view or
// functions, with or without forged service_role claims.
func TestVault_closedToAnonAndAuthenticated(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-vault-closed")
	for who, as := range callers(db, user) {
		for _, sql := range []string{
			`select count(*) from vault.secrets`,
			`select count(*) from vault.decrypted_secrets`,
			`delete from vault.secrets`,
			`select vault.create_secret('x', 'byok_closed_probe_' || gen_random_uuid())`,
			`select vault.update_secret(gen_random_uuid(), 'x')`,
		} {
			err := as(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, sql); err != nil {
					return err
				}
				return errRolledBack
			})
			assert.Equal(t, insufficientPrivilege, sqlState(err), "%s: %s: %v", who, sql, err)
		}
	}
	assert.Equal(t, ptr("sk-vault-closed"), getKey(t, db, user, "openai"))
}
