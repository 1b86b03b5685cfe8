package migrations_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

func baseURL(t testing.TB, db *pgtest.DB, user string) *string {
	t.Helper()
	var url *string
	require.NoError(t, query(db, &url, `select public.get_user_gateway_base_url($1)`, user))
	return url
}

func consent(t testing.TB, db *pgtest.DB, user string) bool {
	t.Helper()
	var allow bool
	require.NoError(t, query(db, &allow, `select public.get_user_allow_gateway_fallback($1)`, user))
	return allow
}

func TestGatewayConfig_upsertGetDelete(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)

	assert.Nil(t, baseURL(t, db, user))
	require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, $2)`, user, "https://gw-one.example.com/v1"))
	assert.Equal(t, ptr("https://gw-one.example.com/v1"), baseURL(t, db, user))
	require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, $2)`, user, "https://gw-two.example.com"))
	assert.Equal(t, ptr("https://gw-two.example.com"), baseURL(t, db, user), "upsert replaces")

	require.NoError(t, exec(db, `select public.delete_user_gateway_config($1)`, user))
	assert.Nil(t, baseURL(t, db, user))
	require.NoError(t, exec(db, `select public.delete_user_gateway_config($1)`, user), "delete is idempotent")
}

func TestGatewayConfig_rejectsNonHTTPSURLs(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	for _, url := range []*string{nil, ptr(""), ptr("http://gw.example.com"), ptr("ftp://gw.example.com"),
		ptr("https://"), ptr("https://gw example.com"), ptr("gw.example.com"),
		ptr("https://gw.example.com/" + strings.Repeat("p", 2048))} {
		err := exec(db, `select public.upsert_user_gateway_config($1, $2)`, user, url)
		assert.Equal(t, invalidParameterValue, sqlState(err), "%v", url)
	}
	assert.Nil(t, baseURL(t, db, user))
}

func TestConsent_defaultsToTrueAndCanBeSet(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)

	assert.True(t, consent(t, db, user), "no settings row means consent")
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, user))
	assert.False(t, consent(t, db, user))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, user))
	assert.True(t, consent(t, db, user))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, user))

	err := exec(db, `select public.set_user_allow_gateway_fallback($1, null)`, user)
	assert.Equal(t, invalidParameterValue, sqlState(err))
	assert.False(t, consent(t, db, user), "a rejected call changes nothing")

	var rows int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from public.user_settings where user_id = $1`, user).Scan(&rows))
	assert.Equal(t, 1, rows)
}

func TestConsent_usersSetTheirOwnAndNobodyElses(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	alice, bob := db.CreateUser(t), db.CreateUser(t)
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, bob))

	asAlice := func(sql string, args ...any) (int64, error) {
		var affected int64
		err := db.AsUser(ctx, alice, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, sql, args...)
			affected = tag.RowsAffected()
			return err
		})
		return affected, err
	}

	// Her own row, the way a PostgREST upsert writes it.
	n, err := asAlice(`insert into public.user_settings (user_id, allow_gateway_fallback) values ($1, false)
		on conflict (user_id) do update set allow_gateway_fallback = excluded.allow_gateway_fallback`, alice)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	assert.False(t, consent(t, db, alice))
	n, err = asAlice(`update public.user_settings set allow_gateway_fallback = true where user_id = $1`, alice)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	assert.True(t, consent(t, db, alice))

	// Bob's row.
	_, err = asAlice(`insert into public.user_settings (user_id, allow_gateway_fallback) values ($1, false)
		on conflict (user_id) do update set allow_gateway_fallback = excluded.allow_gateway_fallback`, bob)
	assert.Equal(t, insufficientPrivilege, sqlState(err), "insert for another user")
	n, err = asAlice(`update public.user_settings set allow_gateway_fallback = false where user_id = $1`, bob)
	require.NoError(t, err)
	assert.Zero(t, n, "update of another user's row")
	n, err = asAlice(`delete from public.user_settings where user_id = $1`, bob)
	require.NoError(t, err)
	assert.Zero(t, n, "delete of another user's row")
	_, err = asAlice(`update public.user_settings set user_id = $1 where user_id = $2`, bob, alice)
	assert.Equal(t, insufficientPrivilege, sqlState(err), "moving her row to another user")
	assert.True(t, consent(t, db, bob), "bob's consent is unchanged")

	var visible []string
	require.NoError(t, db.AsUser(ctx, alice, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select user_id::text from public.user_settings`)
		if err != nil {
			return err
		}
		visible, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	assert.Equal(t, []string{alice}, visible)
}
