package consent_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) (*consent.Store, *pgtest.DB) {
	t.Helper()
	db := pgtest.New(t)
	pool, err := pgxpool.New(context.Background(), db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return consent.New(pgcall.New(pool)), db
}

func TestStore_defaultSetAndRead(t *testing.T) {
	s, db := newStore(t)
	user, other := db.CreateUser(t), db.CreateUser(t)
	allow, err := s.AllowGatewayFallback(t.Context(), user)
	require.NoError(t, err)
	assert.True(t, allow, "no settings row: the column default, true")

	require.NoError(t, s.SetAllowGatewayFallback(t.Context(), user, false))
	allow, err = s.AllowGatewayFallback(t.Context(), user)
	require.NoError(t, err)
	assert.False(t, allow)
	allow, err = s.AllowGatewayFallback(t.Context(), other)
	require.NoError(t, err)
	assert.True(t, allow, "another user's consent is untouched")

	// The row is the one a signed-in user reads and writes under RLS.
	var stored bool
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select allow_gateway_fallback from public.user_settings where user_id = $1`, user).Scan(&stored))
	assert.False(t, stored)
}

func TestStore_refusals(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.AllowGatewayFallback(t.Context(), "not-a-uuid")
	assert.ErrorIs(t, err, resolve.ErrInvalidUserID)
	err = s.SetAllowGatewayFallback(t.Context(), "00000000-0000-4000-8000-00000000dead", false)
	var se *supabase.Error
	require.ErrorAs(t, err, &se, "an unknown user cannot get a settings row")
	assert.Equal(t, "23503", se.Code)

	nilStore := consent.New(nil)
	_, err = nilStore.AllowGatewayFallback(t.Context(), "00000000-0000-4000-8000-000000000001")
	assert.ErrorIs(t, err, supabase.ErrInvalidArgument)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.AllowGatewayFallback(ctx, "00000000-0000-4000-8000-000000000001")
	assert.ErrorIs(t, err, context.Canceled)
}
