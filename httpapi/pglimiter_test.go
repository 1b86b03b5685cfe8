package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
	"github.com/byok-go/byok/internal/storetest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

// pgcallCaller is a pgcall Caller on db, connected as authenticator as PostgREST is.
func pgcallCaller(t testing.TB, db *pgtest.DB) supabase.Caller {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pgcall.New(pool)
}

// postgrestCaller is a supabase.Client on the PostgREST stand-in over db.
func postgrestCaller(t testing.TB, db *pgtest.DB) (*supabase.Client, *postgrest.Server) {
	t.Helper()
	srv := postgrest.Start(t, db)
	c, err := supabase.New(srv.URL, srv.SecretKey)
	require.NoError(t, err)
	return c, srv
}

// dayLong passes every decision to its Limiter with the window made a day long, so that
// no token comes back while a test runs, however slow the machine; the budget (Requests)
// stays the route's. With GET /api/keys's 10, a token comes back every 8640 s.
type dayLong struct{ httpapi.Limiter }

func (d dayLong) Allow(ctx context.Context, user string, l httpapi.Limit) (httpapi.Decision, error) {
	l.Window = 24 * time.Hour
	return d.Limiter.Allow(ctx, user, l)
}

func TestPostgresLimiter_decisions(t *testing.T) {
	db := pgtest.New(t)
	for name, c := range map[string]supabase.Caller{
		"pgcall":    pgcallCaller(t, db),
		"postgrest": func() supabase.Caller { c, _ := postgrestCaller(t, db); return c }(),
	} {
		t.Run(name, func(t *testing.T) {
			cc := &storetest.Counting{Caller: c}
			lim := httpapi.NewPostgresLimiter(cc)
			user := db.CreateUser(t)
			// 3 a minute: one token comes back every 20 s, so after the n-th request the
			// budget is whole again n × 20 s after the first one.
			l := httpapi.Limit{Name: "keys", Requests: 3, Window: time.Minute}
			const perToken = 20 * time.Second
			var first span
			for i := range 3 {
				from := time.Now()
				d, err := lim.Allow(t.Context(), user, l)
				if i == 0 {
					first = span{from, time.Now()}
				}
				require.NoError(t, err)
				assert.True(t, d.Allowed, "request %d", i+1)
				assert.Equal(t, 3, d.Limit)
				assert.Equal(t, 2-i, d.Remaining)
				assert.Zero(t, d.RetryAfter)
				assertTimeAfter(t, d.Reset, first, time.Duration(i+1)*perToken)
			}
			d, err := lim.Allow(t.Context(), user, l)
			require.NoError(t, err)
			assert.False(t, d.Allowed)
			assert.Zero(t, d.Remaining)
			assertTimeAfter(t, d.Reset, first, time.Minute)
			// The next token is due 20 s after the first request: what is left of that.
			lo, hi := perToken-time.Since(first.from), perToken+time.Millisecond
			assert.True(t, lo <= d.RetryAfter && d.RetryAfter <= hi, "RetryAfter %v: want %v..%v", d.RetryAfter, lo, hi)
			assert.Equal(t, int64(4), cc.Take(), "one RPC per decision")

			d, err = lim.Allow(t.Context(), user, httpapi.Limit{Name: "other", Requests: 3, Window: time.Minute})
			require.NoError(t, err)
			assert.True(t, d.Allowed, "another limit has its own budget")

			// No limit, or a refused argument, costs no round trip.
			d, err = lim.Allow(t.Context(), user, httpapi.Limit{Name: "none"})
			require.NoError(t, err)
			assert.True(t, d.Allowed)
			for _, bad := range []struct{ user, name string }{
				{"", "keys"}, {user, ""}, {strings.Repeat("u", 257), "keys"}, {"a\x00b", "keys"}, {"\xff", "keys"},
			} {
				_, err := lim.Allow(t.Context(), bad.user, httpapi.Limit{Name: bad.name, Requests: 1, Window: time.Minute})
				assert.ErrorIs(t, err, httpapi.ErrLimiterArgument, "%q %q", bad.user, bad.name)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err = lim.Allow(ctx, user, l)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, int64(1), cc.Take())
		})
	}
}

// TestPostgresLimiter_twoHandlersShareOneBudget runs two handlers, as two replicas would,
// each with its own Limiter from NewPostgresLimiter over its own transport to the one
// database, and sends 200 requests of one user split across them, the first 3 to the
// second replica, then the rest at once: exactly the route's limit get through, and their
// X-RateLimit-Remaining count down without a gap or a repeat.
func TestPostgresLimiter_twoHandlersShareOneBudget(t *testing.T) {
	db := pgtest.New(t)
	rest, _ := postgrestCaller(t, db)
	replicas := []*env{
		newEnv(t, func(c *httpapi.Config) { c.Limiter = dayLong{httpapi.NewPostgresLimiter(pgcallCaller(t, db))} }),
		newEnv(t, func(c *httpapi.Config) { c.Limiter = dayLong{httpapi.NewPostgresLimiter(rest)} }),
	}
	user := db.CreateUser(t)
	const requests, limit = 200, 10 // GET /api/keys: 10 per user

	type answer struct {
		replica, status         int
		limit, remaining, retry string
		reset                   string
	}
	answers := make([]answer, requests)
	send := func(i, replica int) {
		req := httptest.NewRequest("GET", "/api/keys", nil)
		req.Header.Set("Authorization", "Bearer user:"+user)
		rec := httptest.NewRecorder()
		replicas[replica].h.ServeHTTP(rec, req)
		h := rec.Header()
		answers[i] = answer{replica, rec.Code, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"),
			h.Get("Retry-After"), h.Get("X-RateLimit-Reset")}
	}
	const first = 3
	from := time.Now()
	send(0, 1) // the bucket's first charge: whole again 8640 s after it per request taken
	firstCharge := span{from, time.Now()}
	for i := 1; i < first; i++ {
		send(i, 1)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := first; i < requests; i++ {
		wg.Go(func() {
			<-start
			send(i, i%2)
		})
	}
	close(start)
	wg.Wait()

	var remaining []int
	perReplica := [2]int{}
	const perToken = 24 * time.Hour / limit
	for _, a := range answers {
		assert.Equal(t, strconv.Itoa(limit), a.limit)
		switch a.status {
		case http.StatusOK:
			n, err := strconv.Atoi(a.remaining)
			require.NoError(t, err)
			remaining = append(remaining, n)
			perReplica[a.replica]++
			assertUnixAfter(t, a.reset, firstCharge, time.Duration(limit-n)*perToken)
		case http.StatusTooManyRequests:
			assert.Equal(t, "0", a.remaining)
			assertUnixAfter(t, a.reset, firstCharge, 24*time.Hour)
			assertSecondsLeft(t, a.retry, firstCharge, perToken)
		default:
			t.Errorf("status %d", a.status)
		}
	}
	slices.Sort(remaining)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, remaining, "exactly the limit, each remaining count once")
	assert.Equal(t, limit, replicas[0].keys.Calls()+replicas[1].keys.Calls(), "only allowed requests reach the store")
	assert.GreaterOrEqual(t, perReplica[1], first, "the second replica spent part of the budget")
	t.Logf("allowed per replica: %v", perReplica)

	// A third replica started later sees the spent budget too.
	late := newEnv(t, func(c *httpapi.Config) { c.Limiter = dayLong{httpapi.NewPostgresLimiter(pgcallCaller(t, db))} })
	assertError(t, late.do(t, "GET", "/api/keys", user, ""), 429, "rate_limit_exceeded")
}

// TestPostgresLimiter_outageFailsClosed: when the limiter's database cannot be reached the
// handler answers 503 rate_limiter_unavailable and writes nothing, over either transport.
func TestPostgresLimiter_outageFailsClosed(t *testing.T) {
	db := pgtest.New(t)
	keys := vault.New(pgcallCaller(t, db))

	stopped, srv := postgrestCaller(t, db)
	srv.Close()
	nowhere, err := pgxpool.New(context.Background(), "postgres://authenticator@127.0.0.1:1/postgres?connect_timeout=2")
	require.NoError(t, err) // the pool connects lazily
	t.Cleanup(nowhere.Close)

	for name, c := range map[string]supabase.Caller{"postgrest down": stopped, "database down": pgcall.New(nowhere)} {
		t.Run(name, func(t *testing.T) {
			user := db.CreateUser(t)
			logs := &syncBuffer{}
			e := newEnv(t, func(c2 *httpapi.Config) {
				c2.Keys = keys
				c2.Limiter = httpapi.NewPostgresLimiter(c)
				c2.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			})
			r := e.do(t, "POST", "/api/keys", user, `{"service":"openai","apiKey":"sk-outage-CANARY"}`)
			assertError(t, r, http.StatusServiceUnavailable, "rate_limiter_unavailable")
			_, err := keys.Key(t.Context(), user, providers.OpenAI)
			assert.ErrorIs(t, err, resolve.ErrNotFound, "nothing written")
			assert.NotContains(t, r.body+logs.String(), "CANARY")
		})
	}
}

// TestPostgresLimiter_malformedAnswer: an answer without a decision is an error, never an
// allowed request.
func TestPostgresLimiter_malformedAnswer(t *testing.T) {
	for name, body := range map[string]string{
		"null":              `null`,
		"no decision":       `{"remaining": 3}`,
		"negative":          `{"allowed": true, "remaining": -1}`,
		"not an object":     `[true]`,
		"allowed as string": `{"allowed": "true", "remaining": 1}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			c, err := supabase.New(srv.URL, "sb_secret_test")
			require.NoError(t, err)
			d, err := httpapi.NewPostgresLimiter(c).Allow(t.Context(), alice, httpapi.Limit{Name: "keys", Requests: 1, Window: time.Minute})
			require.Error(t, err)
			assert.False(t, d.Allowed)
		})
	}
	_, err := httpapi.NewPostgresLimiter(nil).Allow(t.Context(), alice, httpapi.Limit{Name: "keys", Requests: 1, Window: time.Minute})
	assert.ErrorIs(t, err, supabase.ErrInvalidArgument)
	assert.False(t, errors.Is(err, httpapi.ErrLimiterArgument))
}
