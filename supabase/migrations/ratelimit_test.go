package migrations_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

type decision struct {
	Allowed      bool  `json:"allowed"`
	Remaining    int   `json:"remaining"`
	ResetMS      int64 `json:"reset_ms"`
	RetryAfterMS int64 `json:"retry_after_ms"`
}

func take(t testing.TB, db *pgtest.DB, subject, name string, requests int, window time.Duration) decision {
	t.Helper()
	var raw []byte
	require.NoError(t, query(db, &raw, `select public.take_user_rate_limit($1, $2, $3, $4)`,
		subject, name, requests, window.Milliseconds()))
	var d decision
	require.NoError(t, json.Unmarshal(raw, &d), "%s", raw)
	return d
}

func TestRateLimit_tokenBucket(t *testing.T) {
	db := pgtest.New(t)
	subject := db.CreateUser(t) // any unique text; a user id is what the handler sends
	// The database runs on this machine, so its clock is the test's. The bucket is full
	// again n × 20 s after the first take, which happened between start and firstDone;
	// the answer is in whole milliseconds.
	start := time.Now()
	var firstDone time.Time
	for i := range 3 {
		d := take(t, db, subject, "keys", 3, time.Minute)
		if i == 0 {
			firstDone = time.Now()
		}
		assert.True(t, d.Allowed, "request %d", i+1)
		assert.Equal(t, 2-i, d.Remaining)
		assert.Zero(t, d.RetryAfterMS)
		n := time.Duration(i+1) * 20 * time.Second
		reset := time.UnixMilli(d.ResetMS)
		assert.False(t, reset.Before(start.Add(n).Add(-time.Millisecond)) || reset.After(firstDone.Add(n)),
			"full again when the %d tokens taken are back, one per 20 s: %v, want %v to %v",
			i+1, reset, start.Add(n), firstDone.Add(n))
	}
	d := take(t, db, subject, "keys", 3, time.Minute)
	elapsed := time.Since(start)
	assert.False(t, d.Allowed, "the 4th request within the minute")
	assert.Zero(t, d.Remaining)
	// One token comes back 20 s after the first take: what is left of that.
	assert.LessOrEqual(t, d.RetryAfterMS, int64(20_000+1), "one token comes back every 20 s")
	assert.GreaterOrEqual(t, d.RetryAfterMS, (20*time.Second-elapsed).Milliseconds()-1, "one token comes back every 20 s")
	assert.Positive(t, d.RetryAfterMS)

	// Another subject, or another limit name, has its own budget.
	assert.True(t, take(t, db, subject+"-other", "keys", 3, time.Minute).Allowed)
	assert.True(t, take(t, db, subject, "other", 3, time.Minute).Allowed)

	// 20 s later (the row's clock moved back) one token is back, and only one.
	_, err := db.Pool.Exec(t.Context(), `update public.byok_rate_limits
		set at = at - interval '20 seconds', full_at = full_at - interval '20 seconds'
		where subject = $1 and name = 'keys'`, subject)
	require.NoError(t, err)
	d = take(t, db, subject, "keys", 3, time.Minute)
	assert.True(t, d.Allowed, "a token came back")
	assert.Zero(t, d.Remaining)
	assert.False(t, take(t, db, subject, "keys", 3, time.Minute).Allowed)

	// A full bucket is never fuller than its capacity.
	_, err = db.Pool.Exec(t.Context(), `update public.byok_rate_limits
		set at = at - interval '1 day' where subject = $1 and name = 'keys'`, subject)
	require.NoError(t, err)
	assert.Equal(t, 2, take(t, db, subject, "keys", 3, time.Minute).Remaining)
}

func TestRateLimit_concurrentCallsCountExactly(t *testing.T) {
	db := pgtest.New(t)
	subject := db.CreateUser(t)
	const callers = 24
	var (
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		start   = make(chan struct{})
		results [callers]decision
		errs    [callers]error
	)
	ready.Add(callers)
	for i := range callers {
		wg.Go(func() {
			errs[i] = db.AsServiceRole(t.Context(), func(tx pgx.Tx) error {
				ready.Done()
				<-start // every caller holds its own connection before any call
				var raw []byte
				if err := tx.QueryRow(t.Context(), `select public.take_user_rate_limit($1, 'burst', 10, 86400000)`,
					subject).Scan(&raw); err != nil {
					return err
				}
				return json.Unmarshal(raw, &results[i])
			})
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()

	remaining := map[int]int{}
	allowed := 0
	for i, d := range results {
		require.NoError(t, errs[i])
		if d.Allowed {
			allowed++
			remaining[d.Remaining]++
		}
	}
	assert.Equal(t, 10, allowed, "exactly the budget")
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1}, remaining,
		"each allowed call saw the one before it")
}

func TestRateLimit_expiredRowsAreCleanedUpInBoundedSteps(t *testing.T) {
	db := pgtest.Fresh(t, true)
	ctx := t.Context()
	_, err := db.Pool.Exec(ctx, `insert into public.byok_rate_limits (subject, name, tokens, at, full_at, allowed)
		select 'expired-' || i, 'keys', 1, now() - interval '2 hours', now() - interval '1 hour' - i * interval '1 second', true
		  from generate_series(1, 20) i`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `insert into public.byok_rate_limits (subject, name, tokens, at, full_at, allowed)
		values ('live', 'keys', 0, now(), now() + interval '1 hour', false)`)
	require.NoError(t, err)
	count := func(prefix string) int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `select count(*) from public.byok_rate_limits where subject like $1 || '%'`, prefix).Scan(&n))
		return n
	}

	for i, want := range []int{12, 4, 0, 0} {
		take(t, db, fmt.Sprintf("caller-%d", i), "keys", 10, time.Minute)
		assert.Equal(t, want, count("expired-"), "call %d deletes at most 8 expired rows", i+1)
	}
	assert.Equal(t, 1, count("live"), "a bucket that is not full again stays")
	assert.Equal(t, 4, count("caller-"), "each call's own bucket stays")
	d := take(t, db, "live", "keys", 10, time.Minute)
	assert.False(t, d.Allowed, "the live bucket kept its state")
}

func TestRateLimit_argumentsOutOfRange(t *testing.T) {
	db := pgtest.New(t)
	for name, args := range map[string][]any{
		"null subject":   {nil, "keys", 10, 60000},
		"empty subject":  {"", "keys", 10, 60000},
		"long subject":   {strings.Repeat("u", 257), "keys", 10, 60000},
		"empty name":     {"u", "", 10, 60000},
		"zero requests":  {"u", "keys", 0, 60000},
		"huge requests":  {"u", "keys", 1000001, 60000},
		"zero window":    {"u", "keys", 10, 0},
		"negative":       {"u", "keys", 10, -1},
		"32 days window": {"u", "keys", 10, int64(32 * 24 * time.Hour / time.Millisecond)},
	} {
		err := exec(db, `select public.take_user_rate_limit($1, $2, $3, $4)`, args...)
		assert.Equal(t, invalidParameterValue, sqlState(err), "%s: %v", name, err)
	}
}
