package vault_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

// raceDB is what the deletion race needs of a database: service-role calls, and, as the
// owner of auth.users would (Supabase Auth's admin API), creating and deleting users and
// counting a user's Vault secrets.
type raceDB struct {
	caller     supabase.Caller
	createUser func(ctx context.Context) (string, error)
	deleteUser func(ctx context.Context, id string) error
	secrets    func(ctx context.Context, id string) (int, error)
}

// Writers of each kind per round, and writes each makes before the deletion has ended.
const (
	raceWriters = 8
	raceWrites  = 3
)

// TestDeleteUser_racingWritersNeverDeadlock deletes a user while 8 writers of each kind
// (key, gateway key with base URL, base URL, consent) write for that user, 50 times: the
// deletion always succeeds (no 40P01), every write fails, if at all, with 23503 (the user
// does not exist), every writer that writes after the deletion gets that error, and no
// Vault secret of the user remains.
func TestDeleteUser_racingWritersNeverDeadlock(t *testing.T) {
	db := pgtest.New(t)
	cfg, err := pgxpool.ParseConfig(db.AuthenticatorDSN)
	require.NoError(t, err)
	cfg.MaxConns = 4*raceWriters + 4 // every writer in a transaction at once
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	runDeletionRace(t, raceDB{
		caller: pgcall.New(pool),
		createUser: func(ctx context.Context) (id string, err error) {
			err = db.Pool.QueryRow(ctx, `insert into auth.users (id) values (gen_random_uuid()) returning id::text`).Scan(&id)
			return id, err
		},
		deleteUser: func(ctx context.Context, id string) error {
			_, err := db.Pool.Exec(ctx, `delete from auth.users where id = $1`, id)
			return err
		},
		secrets: func(ctx context.Context, id string) (n int, err error) {
			err = db.Pool.QueryRow(ctx, `select count(*) from vault.secrets where strpos(name, $1) > 0`, id).Scan(&n)
			return n, err
		},
	}, 50)
}

func runDeletionRace(t *testing.T, db raceDB, rounds int) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	keys := vault.New(db.caller, vault.WithAllowedGatewayHosts("gw.example.com"))
	settings := consent.New(db.caller)
	services := providers.DefaultOrder()
	urls := []string{"https://gw.example.com/v1", "https://ai-gateway.vercel.sh/v1"}
	writers := map[string]func(user string, i int) error{
		"key": func(user string, i int) error {
			return keys.PutKey(ctx, user, services[i%len(services)], providers.NewSecret(fmt.Sprintf("sk-race-%d", i)))
		},
		"gateway key": func(user string, i int) error {
			return keys.PutGatewayKey(ctx, user, providers.NewSecret(fmt.Sprintf("vck-race-%d", i)), urls[i%2])
		},
		"base url": func(user string, i int) error { return keys.PutGatewayBaseURL(ctx, user, urls[i%2]) },
		"consent":  func(user string, i int) error { return settings.SetAllowGatewayFallback(ctx, user, i%2 == 0) },
	}

	deadlocks, refused := 0, 0
	for round := range rounds {
		user, err := db.createUser(ctx)
		require.NoError(t, err)
		// Every row exists first, so writers rotate and update, the paths that lock a
		// secret or a row before the user's row.
		for i := range len(services) {
			require.NoError(t, writers["key"](user, i))
		}
		require.NoError(t, writers["gateway key"](user, 0))
		require.NoError(t, writers["consent"](user, 0))

		var (
			wg      sync.WaitGroup
			started sync.WaitGroup
			deleted = make(chan struct{})
			mu      sync.Mutex
			errs    []error // every write error
			after   = map[string]int{}
		)
		record := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}
		for kind, write := range writers {
			for w := range raceWriters {
				started.Add(1)
				wg.Go(func() {
					started.Done()
					for i := range raceWrites {
						if err := write(user, w*raceWrites+i); err != nil {
							record(err)
							break
						}
					}
					<-deleted
					err := write(user, w)
					record(err)
					mu.Lock()
					if isUnknownUser(err) {
						after[kind]++
					}
					mu.Unlock()
				})
			}
		}
		started.Wait() // every writer is running: the deletion races their writes
		delErr := db.deleteUser(ctx, user)
		close(deleted)
		wg.Wait()

		require.NoError(t, delErr, "round %d: the deletion failed", round)
		for _, err := range errs {
			switch {
			case isUnknownUser(err):
				refused++
			case sqlState(err) == "40P01":
				deadlocks++
			default:
				t.Errorf("round %d: a write failed with something else than 23503: %v", round, err)
			}
		}
		for kind := range writers {
			assert.Equal(t, raceWriters, after[kind], "round %d: %s writers after the deletion get 23503", round, kind)
		}
		n, err := db.secrets(ctx, user)
		require.NoError(t, err)
		assert.Zero(t, n, "round %d: orphaned Vault secrets", round)
		if t.Failed() {
			break
		}
	}
	assert.Zero(t, deadlocks, "40P01 deadlock detected")
	t.Logf("%d rounds; %d writes refused with 23503 (all writes after each deletion included)", rounds, refused)
}

// isUnknownUser reports whether err is the writers' error for a user that does not exist.
func isUnknownUser(err error) bool { return sqlState(err) == "23503" }

func sqlState(err error) string {
	var se *supabase.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}
