package pgcall_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
)

// A call whose ctx has no deadline still ends: the Caller's own timeout bounds it.
func TestCall_timeoutBoundsACallWithoutDeadline(t *testing.T) {
	db := pgtest.Fresh(t, true)
	ctx := ctxT(t)
	_, err := db.Pool.Exec(ctx, `
		create function public.byok_test_sleep(p_seconds float8) returns void
		language sql as $$ select pg_sleep(p_seconds) $$;
		grant execute on function public.byok_test_sleep(float8) to service_role`)
	require.NoError(t, err)
	pool := authenticatorPool(t, db, 2)

	c := pgcall.New(pool, pgcall.WithTimeout(100*time.Millisecond))
	err = c.Call(context.Background(), "byok_test_sleep", map[string]float64{"p_seconds": 60}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *supabase.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "byok_test_sleep", e.Function)

	// A shorter ctx deadline still applies, and a call that fits the timeout succeeds.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	c = pgcall.New(pool, pgcall.WithTimeout(time.Hour))
	require.ErrorIs(t, c.Call(short, "byok_test_sleep", map[string]float64{"p_seconds": 60}, nil), context.DeadlineExceeded)
	require.NoError(t, pgcall.New(pool, pgcall.WithTimeout(10*time.Second)).Call(context.Background(), "byok_test_sleep",
		map[string]float64{"p_seconds": 0.01}, nil))
	require.NoError(t, pgcall.New(pool, pgcall.WithTimeout(0), nil).Call(context.Background(), "check_vault_health", nil, nil),
		"no bound and a nil option")
}
