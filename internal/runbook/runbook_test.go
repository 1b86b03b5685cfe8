package runbook_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/runbook"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// users makes throwaway users in the test database; failDelete makes every deletion fail.
type users struct {
	db         *pgtest.DB
	created    []string
	failDelete bool
}

func (u *users) CreateUser(ctx context.Context) (string, error) {
	var id string
	err := u.db.Pool.QueryRow(ctx, `insert into auth.users (id) values (gen_random_uuid()) returning id::text`).Scan(&id)
	if err == nil {
		u.created = append(u.created, id)
	}
	return id, err
}

func (u *users) DeleteUser(ctx context.Context, id string) error {
	if u.failDelete {
		return errors.New("deletion refused")
	}
	if err := ctx.Err(); err != nil {
		return err // the runbook must hand over a live context, even after a cancel
	}
	_, err := u.db.Pool.Exec(ctx, `delete from auth.users where id = $1`, id)
	return err
}

func left(t *testing.T, db *pgtest.DB, ids []string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from auth.users where id::text = any($1)`, ids).Scan(&n))
	return n
}

func TestRun_passesAndDeletesItsUsers(t *testing.T) {
	db := pgtest.New(t)
	u := &users{db: db}
	rep, err := runbook.Run(t.Context(), runbook.Config{Caller: pgcall.New(db.Pool), Users: u,
		Team: resolve.Team{GatewayKey: providers.NewSecret("vck-team-runbook-test")}})
	require.NoError(t, err)
	require.Len(t, rep.Results, 4)
	assert.Zero(t, rep.Failed())
	assert.False(t, rep.PlaceholderTeamKey)
	assert.Equal(t, 4, rep.UsersCreated)
	assert.Empty(t, rep.UsersLeft)
	for _, res := range rep.Results {
		assert.Equal(t, res.Want, res.Got(), res.Name)
	}
	assert.Zero(t, left(t, db, u.created))
}

// A cancel in the middle of a check (an interrupt) still deletes that check's user.
func TestRun_cancelledStillDeletesTheUser(t *testing.T) {
	db := pgtest.New(t)
	u := &users{db: db}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rep, err := runbook.Run(ctx, runbook.Config{Caller: pgcall.New(db.Pool), Users: u,
		AfterSetup: func(ctx context.Context, check string) error {
			if check == "2. provider BYOK" {
				cancel()
			}
			return nil
		}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, rep.Results, 1, "the first check ran")
	assert.True(t, rep.PlaceholderTeamKey)
	assert.Equal(t, 2, rep.UsersCreated)
	require.Len(t, u.created, 2)
	assert.Zero(t, left(t, db, u.created), "both users deleted")
	var secrets int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from vault.secrets where name = any($1)`,
		[]string{"openai_api_key_" + u.created[1], "gateway_api_key_" + u.created[0]}).Scan(&secrets))
	assert.Zero(t, secrets, "and their Vault secrets")
}

// A user that cannot be deleted is reported, by id, in the Report and the error.
func TestRun_reportsUsersLeftBehind(t *testing.T) {
	db := pgtest.New(t)
	u := &users{db: db, failDelete: true}
	rep, err := runbook.Run(t.Context(), runbook.Config{Caller: pgcall.New(db.Pool), Users: u})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete throwaway user "+u.created[0])
	assert.Equal(t, u.created[:1], rep.UsersLeft, "the walk stops at the first user it cannot delete")
	_, _ = db.Pool.Exec(t.Context(), `delete from auth.users where id::text = any($1)`, u.created)
}

// Without the migrations, no user is made.
func TestRun_notReady(t *testing.T) {
	db := pgtest.Fresh(t, false)
	u := &users{db: db}
	rep, err := runbook.Run(t.Context(), runbook.Config{Caller: pgcall.New(db.Pool), Users: u})
	require.ErrorIs(t, err, runbook.ErrNotReady)
	assert.Zero(t, rep.UsersCreated)
	assert.Empty(t, u.created)
}
