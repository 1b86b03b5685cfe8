package vault_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase/pgcall"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgcallBackend runs the suite over pgcall on the throwaway PostgreSQL, connected as
// authenticator as PostgREST is.
func pgcallBackend(t *testing.T) backend {
	t.Helper()
	db := pgtest.New(t)
	pool, err := pgxpool.New(context.Background(), db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return backend{
		name:    "pgcall",
		caller:  pgcall.New(pool),
		newUser: func(t *testing.T) string { return db.CreateUser(t) },
	}
}

func TestStore_pgcall(t *testing.T) { runSuite(t, pgcallBackend(t)) }
