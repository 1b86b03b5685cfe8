package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

func TestOwn_restartStopContinue(t *testing.T) {
	o := pgtest.Own(t)
	ctx := t.Context()
	user := o.CreateUser(t)
	var n int
	require.NoError(t, o.Pool.QueryRow(ctx, `select count(*) from public.api_keys`).Scan(&n), "migrated")

	conn, err := pgx.Connect(ctx, o.DSN)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var before int
	require.NoError(t, conn.QueryRow(ctx, `select pg_backend_pid()`).Scan(&before))

	o.Restart(t)
	assert.Error(t, conn.Ping(ctx), "a connection from before the restart is gone")
	var exists bool
	require.Eventually(t, func() bool {
		return o.Pool.QueryRow(ctx, `select exists (select from auth.users where id = $1)`, user).Scan(&exists) == nil
	}, 30*time.Second, 50*time.Millisecond, "the pool reconnects")
	assert.True(t, exists, "the data survived")

	o.Stop(t)
	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = o.Pool.QueryRow(qctx, `select 1`).Scan(&n)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a frozen server answers nothing")
	o.Continue(t)
	require.Eventually(t, func() bool { return o.Pool.QueryRow(ctx, `select 1`).Scan(&n) == nil },
		30*time.Second, 50*time.Millisecond, "answers again")

	o.Stop(t) // left frozen: the cleanup resumes and stops it
}
