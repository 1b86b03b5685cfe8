package migrations_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// SQLSTATEs the migrations promise.
const (
	insufficientPrivilege = "42501"
	invalidParameterValue = "22023"
)

var allServices = []string{"gateway", "openai", "openrouter", "anthropic", "xai"}

// sqlState returns the SQLSTATE of a PostgreSQL error, or "" when err is nil or not one.
func sqlState(err error) string {
	if pgErr := asPgError(err); pgErr != nil {
		return pgErr.Code
	}
	return ""
}

func asPgError(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return nil
}

// svc runs fn as service_role and fails t on error.
func svc(t testing.TB, db *pgtest.DB, fn func(tx pgx.Tx) error) {
	t.Helper()
	require.NoError(t, db.AsServiceRole(context.Background(), fn))
}

// exec runs one statement as service_role and returns its error.
func exec(db *pgtest.DB, sql string, args ...any) error {
	return db.AsServiceRole(context.Background(), func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), sql, args...)
		return err
	})
}

// query runs one single-value query as service_role and scans it into dst.
func query(db *pgtest.DB, dst any, sql string, args ...any) error {
	return db.AsServiceRole(context.Background(), func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(dst)
	})
}

func putKey(t testing.TB, db *pgtest.DB, user, service, key string) {
	t.Helper()
	require.NoError(t, exec(db, `select public.insert_user_api_key($1, $2, $3)`, user, service, key))
}

func getKey(t testing.TB, db *pgtest.DB, user, service string) *string {
	t.Helper()
	var key *string
	require.NoError(t, query(db, &key, `select public.get_user_api_key($1, $2)`, user, service))
	return key
}

// secretCount counts the Vault secrets named for (user, service), as postgres.
func secretCount(t testing.TB, db *pgtest.DB, user, service string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		`select count(*) from vault.secrets where name = $1 || '_api_key_' || $2`, service, user).Scan(&n))
	return n
}

// userSecretCount counts every Vault secret whose name mentions user, as postgres.
func userSecretCount(t testing.TB, db *pgtest.DB, user string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		`select count(*) from vault.secrets where strpos(name, $1) > 0`, user).Scan(&n))
	return n
}

// withClaims runs sql as postgres, which owns the RPCs and so may execute them, with the
// given JWT claims set: it reaches the RPC's own service-role check.
func withClaims(ctx context.Context, db *pgtest.DB, claims string, sql string, args ...any) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select set_config('request.jwt.claims', $1, true)`, claims); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
}

func ptr[T any](v T) *T { return &v }
