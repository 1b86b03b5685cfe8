package migrations_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

// reportFailure calls report_user_api_key_failure as service_role and returns whether it wrote.
func reportFailure(t testing.TB, db *pgtest.DB, user, service, failure string) bool {
	t.Helper()
	var wrote bool
	require.NoError(t, query(db, &wrote, `select public.report_user_api_key_failure($1, $2, $3)`, user, service, failure))
	return wrote
}

// rowVersion is the api_keys row's xmin: it changes on every write of the row.
func rowVersion(t testing.TB, db *pgtest.DB, user, service string) string {
	t.Helper()
	var v string
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`select xmin::text from public.api_keys where user_id = $1 and service = $2`, user, service).Scan(&v))
	return v
}

func TestKeyHealth_reportMarksOncePerChange(t *testing.T) {
	db := pgtest.New(t)
	l := listen(t, db)
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-health-1")
	require.Equal(t, 1, count(l.until(t, mark(t, db)), user), "storing the key notified")

	assert.True(t, reportFailure(t, db, user, "openai", "invalid_key"))
	version := rowVersion(t, db, user, "openai")
	list := listKeys(t, db, user)
	require.Len(t, list, 1)
	assert.Equal(t, ptr("invalid_key"), list[0].Failure)
	require.NotNil(t, list[0].FailedAt)
	first := *list[0].FailedAt

	for range 1000 {
		assert.False(t, reportFailure(t, db, user, "openai", "invalid_key"))
	}
	assert.Equal(t, version, rowVersion(t, db, user, "openai"), "the same mark again writes nothing")
	assert.Equal(t, 1, count(l.until(t, mark(t, db)), user), "one notification for 1,001 reports")

	assert.True(t, reportFailure(t, db, user, "OpenAI ", "insufficient_credit"), "another failure is a change")
	list = listKeys(t, db, user)
	assert.Equal(t, ptr("insufficient_credit"), list[0].Failure)
	assert.False(t, list[0].FailedAt.Before(first))
	assert.Equal(t, 1, count(l.until(t, mark(t, db)), user))

	// Storing the key again clears the mark, and the key is served.
	putKey(t, db, user, "openai", "sk-health-2")
	list = listKeys(t, db, user)
	assert.Nil(t, list[0].Failure)
	assert.Nil(t, list[0].FailedAt)
	assert.Equal(t, "sk-health-2", snapshot(t, db, user, []string{"openai"})["api_key"])
}

func TestKeyHealth_gatewayKeyIsMarkedAndClearedWithItsURL(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	require.NoError(t, exec(db, `select public.put_user_gateway_key($1, 'vck-health-1', 'https://gw.example.com/v1')`, user))
	assert.True(t, reportFailure(t, db, user, "gateway", "permission_denied"))
	got := snapshot(t, db, user, []string{"gateway"})
	assert.Equal(t, "permission_denied", got["failure"])
	assert.Equal(t, "https://gw.example.com/v1", got["gateway_base_url"])

	require.NoError(t, exec(db, `select public.put_user_gateway_key($1, 'vck-health-2', null)`, user))
	got = snapshot(t, db, user, []string{"gateway"})
	assert.Equal(t, map[string]any{"service": "gateway", "api_key": "vck-health-2", "gateway_base_url": nil,
		"allow_gateway_fallback": true}, got, "healthy again: the answer of old")
}

func TestKeyHealth_reportRefusesBadArguments(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-health-args")
	for name, args := range map[string][]any{
		"null user":         {nil, "openai", "invalid_key"},
		"unknown service":   {user, "sk-health-args", "invalid_key"},
		"rate limited":      {user, "openai", "rate_limited"},
		"model not allowed": {user, "openai", "model_not_allowed"},
		"empty failure":     {user, "openai", ""},
		"null failure":      {user, "openai", nil},
	} {
		t.Run(name, func(t *testing.T) {
			err := exec(db, `select public.report_user_api_key_failure($1, $2, $3)`, args...)
			assert.Equal(t, invalidParameterValue, sqlState(err), "%v", err)
			assert.NotContains(t, err.Error(), "sk-health-args")
		})
	}
	assert.Nil(t, listKeys(t, db, user)[0].Failure)
	assert.False(t, reportFailure(t, db, user, "anthropic", "invalid_key"), "a key not stored: nothing to mark")
	assert.False(t, reportFailure(t, db, "00000000-0000-4000-8000-000000000002", "openai", "invalid_key"))
}

// The table holds only well-formed marks, whoever writes it.
func TestKeyHealth_constraint(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-health-check")
	for _, set := range []string{
		`failure = 'rate_limited', failed_at = now()`,
		`failure = 'invalid_key', failed_at = null`,
		`failure = null, failed_at = now()`,
	} {
		_, err := db.Pool.Exec(t.Context(), `update public.api_keys set `+set+` where user_id = $1`, user)
		assert.Equal(t, "23514", sqlState(err), set)
	}
}

// The snapshot: as before while the first key of the order is healthy; otherwise the marked
// keys before the first healthy one, and that one, in the same round trip.
func TestKeyHealth_snapshot(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "gateway", "vck-snap")
	putKey(t, db, user, "openai", "sk-snap")
	putKey(t, db, user, "anthropic", "sk-ant-snap")
	order := []string{"gateway", "openai", "openrouter", "anthropic", "xai"}
	broken := func(pairs ...string) []any {
		out := []any{}
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, map[string]any{"service": pairs[i], "failure": pairs[i+1]})
		}
		return out
	}

	reportFailure(t, db, user, "anthropic", "invalid_key") // after the first healthy key: not looked at
	assert.Equal(t, map[string]any{"service": "gateway", "api_key": "vck-snap", "gateway_base_url": nil,
		"allow_gateway_fallback": true}, snapshot(t, db, user, order))

	reportFailure(t, db, user, "gateway", "insufficient_credit")
	assert.Equal(t, map[string]any{"service": "gateway", "api_key": "vck-snap", "gateway_base_url": nil,
		"allow_gateway_fallback": true, "failure": "insufficient_credit",
		"broken":       broken("gateway", "insufficient_credit"),
		"next_service": "openai", "next_api_key": "sk-snap"}, snapshot(t, db, user, order))

	reportFailure(t, db, user, "openai", "permission_denied")
	assert.Equal(t, map[string]any{"service": "gateway", "api_key": "vck-snap", "gateway_base_url": nil,
		"allow_gateway_fallback": true, "failure": "insufficient_credit",
		"broken":       broken("gateway", "insufficient_credit", "openai", "permission_denied", "anthropic", "invalid_key"),
		"next_service": nil, "next_api_key": nil}, snapshot(t, db, user, order), "every key marked")

	// The order decides: without the gateway, openai is first.
	assert.Equal(t, map[string]any{"service": "openai", "api_key": "sk-snap", "gateway_base_url": nil,
		"allow_gateway_fallback": true, "failure": "permission_denied",
		"broken":       broken("openai", "permission_denied", "anthropic", "invalid_key"),
		"next_service": nil, "next_api_key": nil}, snapshot(t, db, user, []string{"openai", "anthropic"}))
}

// last_used is set on the key the snapshot offers for use: the first healthy one.
func TestKeyHealth_snapshotTouchesTheOfferedKey(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-touch-o")
	putKey(t, db, user, "xai", "xai-touch-x")
	reportFailure(t, db, user, "openai", "invalid_key")
	got := snapshot(t, db, user, []string{"openai", "xai"})
	require.Equal(t, "xai", got["next_service"])
	list := listKeys(t, db, user)
	require.Equal(t, []string{"openai", "xai"}, services(list))
	assert.Nil(t, list[0].LastUsed, "the marked key was not offered")
	assert.NotNil(t, list[1].LastUsed, "the next key was")
}

// The owner reads their own keys' marks through the Data API; nobody else does.
func TestKeyHealth_ownerReadsTheMark(t *testing.T) {
	db := pgtest.New(t)
	owner, other := db.CreateUser(t), db.CreateUser(t)
	putKey(t, db, owner, "openai", "sk-owner-mark")
	reportFailure(t, db, owner, "openai", "invalid_key")
	read := func(as string) []string {
		var got []string
		require.NoError(t, db.AsUser(t.Context(), as, func(tx pgx.Tx) error {
			rows, err := tx.Query(t.Context(), `select coalesce(failure, '') from public.api_keys`)
			if err != nil {
				return err
			}
			got, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}))
		return got
	}
	assert.Equal(t, []string{"invalid_key"}, read(owner))
	assert.Empty(t, read(other))
	err := db.AsUser(t.Context(), owner, func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), `update public.api_keys set failure = null, failed_at = null`)
		return err
	})
	assert.Equal(t, insufficientPrivilege, sqlState(err), "the owner cannot clear a mark but by storing the key again")
}
