package migrations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

// use is one use of a record_byok_team_usage batch.
type use struct {
	UserID, Day, Path, Provider string
	Requests                    int64
}

// recordUses sends uses as record_byok_team_usage's five arrays.
func recordUses(db *pgtest.DB, uses []use) (int, error) {
	var users, days, paths, provs []string
	var reqs []int64
	for _, u := range uses {
		users, days, paths, provs, reqs = append(users, u.UserID), append(days, u.Day), append(paths, u.Path),
			append(provs, u.Provider), append(reqs, u.Requests)
	}
	if uses != nil && users == nil {
		users, days, paths, provs, reqs = []string{}, []string{}, []string{}, []string{}, []int64{}
	}
	var n int
	err := query(db, &n, `select public.record_byok_team_usage($1::uuid[], $2::date[], $3, $4, $5)`, users, days, paths, provs, reqs)
	return n, err
}

// counter is one row of byok_team_usage as a test reads it.
type counter struct {
	Day, Path, Provider string
	Requests            int64
}

// counters reads the user's rows as postgres.
func counters(t testing.TB, db *pgtest.DB, user string) []counter {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `
		select day::text, path, provider, requests from public.byok_team_usage
		 where user_id = $1 order by day, path, provider`, user)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[counter])
	require.NoError(t, err)
	return got
}

func TestTeamUsage_recordAddsUp(t *testing.T) {
	db := pgtest.New(t)
	alice, bob := db.CreateUser(t), db.CreateUser(t)
	n, err := recordUses(db, []use{
		{alice, "2026-12-01", "team-gateway", "gateway", 3},
		{alice, "2026-12-01", "team-gateway", "gateway", 2}, // the same counter twice in one batch
		{alice, "2026-12-02", "server-provider", "anthropic", 1},
		{bob, "2026-12-01", "gateway-byok", "gateway", 7},
		{"00000000-0000-4000-8000-00000000dead", "2026-12-01", "team-gateway", "gateway", 9}, // no such user
	})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "three counters written; the unknown user's use skipped")

	n, err = recordUses(db, []use{{alice, "2026-12-01", "team-gateway", "gateway", 10}})
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	assert.Equal(t, []counter{
		{"2026-12-01", "team-gateway", "gateway", 15},
		{"2026-12-02", "server-provider", "anthropic", 1},
	}, counters(t, db, alice))
	assert.Equal(t, []counter{{"2026-12-01", "gateway-byok", "gateway", 7}}, counters(t, db, bob))

}

func TestTeamUsage_malformedBatchStoresNothing(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	const call = `select public.record_byok_team_usage($1::uuid[], $2::date[], $3::text[], $4::text[], $5::bigint[])`
	one := []any{[]string{user}, []string{"2026-12-01"}, []string{"team-gateway"}, []string{"gateway"}, []int64{1}}
	with := func(i int, v any) []any {
		args := append([]any(nil), one...)
		args[i] = v
		return args
	}
	many := func(n int) []any {
		users, days, paths, provs, reqs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
		for i := range n {
			users[i], days[i], paths[i], provs[i], reqs[i] = user, "2026-12-01", "team-gateway", "gateway", 1
		}
		return []any{users, days, paths, provs, reqs}
	}
	for name, args := range map[string][]any{
		"null user ids":        with(0, nil),
		"null requests":        with(4, nil),
		"shorter days":         with(1, []string{}),
		"longer paths":         with(2, []string{"team-gateway", "team-gateway"}),
		"two-dimensional":      with(4, [][]int64{{1}}),
		"over 10000":           many(10_001),
		"user path":            with(2, []string{"user-provider"}),
		"unknown provider":     with(3, []string{"mistral"}),
		"zero requests":        with(4, []int64{0}),
		"negative requests":    with(4, []int64{-5}),
		"a null user id":       with(0, []*string{nil}),
		"a null day":           with(1, []*string{nil}),
		"a null provider":      with(3, []*string{nil}),
		"a null request count": with(4, []*int64{nil}),
	} {
		t.Run(name, func(t *testing.T) {
			err := exec(db, call, args...)
			assert.Equal(t, invalidParameterValue, sqlState(err), "%v", err)
		})
	}
	n, err := recordUses(db, make([]use, 0))
	require.NoError(t, err)
	assert.Zero(t, n, "an empty batch is fine")
	assert.Empty(t, counters(t, db, user), "no batch stored anything, not even its good element")
	_, err = recordUses(db, []use{{user, "2026-12-01", "team-gateway", "gateway", 1}, {user, "2026-12-01", "user-gateway", "gateway", 1}})
	assert.Equal(t, invalidParameterValue, sqlState(err))
	assert.Empty(t, counters(t, db, user), "one bad use fails the whole batch")
	_, err = recordUses(db, many10k(user))
	require.NoError(t, err, "10000 uses in one call")
	assert.Equal(t, []counter{{"2026-12-01", "team-gateway", "gateway", 10_000}}, counters(t, db, user))
}

func many10k(user string) []use {
	out := make([]use, 10_000)
	for i := range out {
		out[i] = use{user, "2026-12-01", "team-gateway", "gateway", 1}
	}
	return out
}

// TestTeamUsage_rowLevelSecurity: through the Data API (the roles and claims PostgREST sets),
// a user reads their own counters and nobody else's, anon reads nothing, and no API role
// writes, even its own rows.
func TestTeamUsage_rowLevelSecurity(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	alice, bob := db.CreateUser(t), db.CreateUser(t)
	_, err := recordUses(db, []use{{alice, "2026-12-01", "team-gateway", "gateway", 4}, {bob, "2026-12-01", "team-gateway", "gateway", 5}})
	require.NoError(t, err)

	var seen []string
	require.NoError(t, db.AsUser(ctx, alice, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select user_id::text || ':' || requests from public.byok_team_usage`)
		if err != nil {
			return err
		}
		seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	assert.Equal(t, []string{alice + ":4"}, seen)

	err = db.AsAnon(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `select count(*) from public.byok_team_usage`)
		return err
	})
	assert.Equal(t, insufficientPrivilege, sqlState(err), "anon has no access at all")

	for who, as := range callers(db, alice) {
		for _, sql := range []string{
			`insert into public.byok_team_usage (user_id, day, path, provider, requests) values ('` + alice + `', '2026-12-02', 'team-gateway', 'gateway', 1)`,
			`update public.byok_team_usage set requests = 0 where user_id = '` + alice + `'`,
			`delete from public.byok_team_usage where user_id = '` + alice + `'`,
			`truncate public.byok_team_usage`,
		} {
			err := as(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, sql); err != nil {
					return err
				}
				return errRolledBack
			})
			assert.Equal(t, insufficientPrivilege, sqlState(err), "%s: %s", who, sql)
		}
	}
	err = db.AsServiceRole(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `select count(*) from public.byok_team_usage`)
		return err
	})
	assert.Equal(t, insufficientPrivilege, sqlState(err), "service_role reads through the RPCs only")
	assert.Equal(t, []counter{{"2026-12-01", "team-gateway", "gateway", 4}}, counters(t, db, alice), "unchanged")
}

func TestTeamUsage_readRPC(t *testing.T) {
	db := pgtest.New(t)
	user, other := db.CreateUser(t), db.CreateUser(t)
	_, err := recordUses(db, []use{
		{user, "2026-11-30", "team-gateway", "gateway", 1},
		{user, "2026-12-02", "server-provider", "openai", 2},
		{user, "2026-12-01", "team-gateway", "gateway", 3},
		{user, "2026-12-01", "gateway-byok", "gateway", 4},
		{other, "2026-12-01", "team-gateway", "gateway", 5},
	})
	require.NoError(t, err)
	var got json.RawMessage
	require.NoError(t, query(db, &got, `select public.get_user_byok_team_usage($1, '2026-12-01')`, user))
	assert.JSONEq(t, `[
		{"day": "2026-12-01", "path": "gateway-byok", "provider": "gateway", "requests": 4},
		{"day": "2026-12-01", "path": "team-gateway", "provider": "gateway", "requests": 3},
		{"day": "2026-12-02", "path": "server-provider", "provider": "openai", "requests": 2}]`, string(got))

	require.NoError(t, query(db, &got, `select public.get_user_byok_team_usage($1, '2026-12-01')`, db.CreateUser(t)))
	assert.JSONEq(t, `[]`, string(got))
	err = exec(db, `select public.get_user_byok_team_usage($1, null)`, user)
	assert.Equal(t, invalidParameterValue, sqlState(err))
}

// event is one row of byok_consent_events as a test reads it.
type event struct {
	Allow  bool
	Source string
}

func events(t testing.TB, db *pgtest.DB, user string) []event {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `
		select allow_gateway_fallback, source from public.byok_consent_events where user_id = $1 order by at, id`, user)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[event])
	require.NoError(t, err)
	return got
}

// TestConsentEvents_everyWriterAppends: the service's RPC, the user's own token through the
// Data API and plain SQL each append an event for each change, and only for a change.
func TestConsentEvents_everyWriterAppends(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	asUser := func(sql string) {
		t.Helper()
		require.NoError(t, db.AsUser(ctx, user, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql, user); return err }))
	}
	sql := func(q string) {
		t.Helper()
		_, err := db.Pool.Exec(ctx, q, user)
		require.NoError(t, err)
	}

	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, user))   // first row: an event
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, user))   // same value: none
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, user))  // api
	asUser(`update public.user_settings set allow_gateway_fallback = true where user_id = $1`)      // user
	asUser(`update public.user_settings set allow_gateway_fallback = true where user_id = $1`)      // same value: none
	sql(`update public.user_settings set allow_gateway_fallback = false where user_id = $1`)        // sql
	sql(`delete from public.user_settings where user_id = $1`)                                      // false -> no row: TRUE
	asUser(`insert into public.user_settings (user_id, allow_gateway_fallback) values ($1, false)`) // user's insert
	asUser(`delete from public.user_settings where user_id = $1`)                                   // back to TRUE
	sql(`insert into public.user_settings (user_id) values ($1)`)                                   // default true, explicit row
	sql(`delete from public.user_settings where user_id = $1`)                                      // true -> no row: no change

	assert.Equal(t, []event{
		{true, "api"}, {false, "api"}, {true, "user"}, {false, "sql"}, {true, "sql"},
		{false, "user"}, {true, "user"}, {true, "sql"},
	}, events(t, db, user))
}

func TestConsentEvents_truncateOfSettingsRecordsTheReturnToTrue(t *testing.T) {
	db := pgtest.Fresh(t, true)
	ctx := t.Context()
	off, on := db.CreateUser(t), db.CreateUser(t)
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, off))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, on))
	_, err := db.Pool.Exec(ctx, `truncate public.user_settings`)
	require.NoError(t, err)
	assert.Equal(t, []event{{false, "api"}, {true, "sql"}}, events(t, db, off))
	assert.Equal(t, []event{{true, "api"}}, events(t, db, on))

	// Truncating the users takes their events along, trigger or not.
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, off))
	_, err = db.Pool.Exec(ctx, `truncate auth.users cascade`)
	require.NoError(t, err)
	var left int
	require.NoError(t, db.Pool.QueryRow(ctx, `select count(*) from public.byok_consent_events`).Scan(&left))
	assert.Zero(t, left)
}

// TestConsentEvents_appendOnly: no API role may change or delete an event, and the table's
// owner (postgres, the SQL editor) is refused by the trigger; deleting the user removes them.
func TestConsentEvents_appendOnly(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, user))
	require.Len(t, events(t, db, user), 1)

	writes := []string{
		`update public.byok_consent_events set allow_gateway_fallback = true where user_id = '` + user + `'`,
		`delete from public.byok_consent_events where user_id = '` + user + `'`,
		`insert into public.byok_consent_events (user_id, allow_gateway_fallback, source) values ('` + user + `', true, 'api')`,
		`truncate public.byok_consent_events`,
	}
	roles := callers(db, user)
	roles["service_role"] = db.AsServiceRole
	roles["authenticated (the owner of the rows)"] = func(ctx context.Context, fn func(pgx.Tx) error) error { return db.AsUser(ctx, user, fn) }
	for who, as := range roles {
		for _, sql := range writes {
			err := as(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, sql); err != nil {
					return err
				}
				return errRolledBack
			})
			assert.Equal(t, insufficientPrivilege, sqlState(err), "%s: %s", who, sql)
		}
	}
	for _, sql := range writes[:2] {
		_, err := db.Pool.Exec(ctx, sql)
		assert.Equal(t, insufficientPrivilege, sqlState(err), "postgres: %s", sql)
		assert.Contains(t, fmt.Sprint(err), "append-only")
	}
	assert.Equal(t, []event{{false, "api"}}, events(t, db, user), "unchanged")

	_, err := db.Pool.Exec(ctx, `delete from auth.users where id = $1`, user)
	require.NoError(t, err, "deleting the user cascades past the trigger")
	assert.Empty(t, events(t, db, user))
}

func TestConsentEvents_rowLevelSecurity(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	alice, bob := db.CreateUser(t), db.CreateUser(t)
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, alice))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, bob))

	var seen []string
	require.NoError(t, db.AsUser(ctx, alice, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select user_id::text from public.byok_consent_events`)
		if err != nil {
			return err
		}
		seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	assert.Equal(t, []string{alice}, seen)

	err := db.AsAnon(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `select count(*) from public.byok_consent_events`)
		return err
	})
	assert.Equal(t, insufficientPrivilege, sqlState(err))
}

func TestConsentEvents_readRPC(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	for _, allow := range []bool{false, true, false, true, false} {
		require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, $2)`, user, allow))
	}
	type ev struct {
		Allow  bool   `json:"allow_gateway_fallback"`
		At     string `json:"at"`
		Source string `json:"source"`
	}
	read := func(since string, limit int) []ev {
		t.Helper()
		var got []ev
		require.NoError(t, query(db, &got, `select public.get_user_byok_consent_events($1, `+since+`, $2)`, user, limit))
		return got
	}
	all := read(`now() - interval '1 hour'`, 1000)
	require.Len(t, all, 5)
	for i, e := range all {
		assert.Equal(t, i%2 == 1, e.Allow, "oldest first")
		assert.Equal(t, "api", e.Source)
		if i > 0 {
			assert.LessOrEqual(t, all[i-1].At, e.At)
		}
	}
	assert.Equal(t, all[3:], read(`now() - interval '1 hour'`, 2), "the latest ones, oldest first")
	assert.Empty(t, read(`now() + interval '1 hour'`, 1000))

	for _, bad := range []struct {
		since string
		limit any
	}{{`null`, 10}, {`now()`, 0}, {`now()`, 1001}, {`now()`, nil}} {
		err := exec(db, `select public.get_user_byok_consent_events($1, `+bad.since+`, $2)`, user, bad.limit)
		assert.Equal(t, invalidParameterValue, sqlState(err), "%v", bad)
	}
}
