package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase"
)

// listener receives the byok_invalidate notifications of one database.
type listener struct {
	ch chan string // payloads, in delivery order
}

func listen(t *testing.T, db *pgtest.DB) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, db.DSN)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `listen byok_invalidate`)
	require.NoError(t, err)
	l := &listener{ch: make(chan string, 10_000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return
			}
			if n.Channel == "byok_invalidate" {
				l.ch <- n.Payload
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = conn.Close(context.Background())
	})
	return l
}

// until returns the payloads received up to and including marker's. NOTIFY delivers in
// commit order, so after marker every notification of an earlier transaction is in.
func (l *listener) until(t *testing.T, marker string) []string {
	t.Helper()
	var got []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case p := <-l.ch:
			got = append(got, p)
			if p == marker {
				return got
			}
		case <-timeout:
			t.Fatalf("no notification for the marker; got %v", got)
		}
	}
}

func count(payloads []string, user string) int {
	n := 0
	for _, p := range payloads {
		if p == user {
			n++
		}
	}
	return n
}

// mark commits a change for a throwaway marker user and returns its id.
func mark(t *testing.T, db *pgtest.DB) string {
	t.Helper()
	marker := db.CreateUser(t)
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, marker))
	return marker
}

func TestNotify_changesNotifyAndTouchesDoNot(t *testing.T) {
	db := pgtest.New(t)
	l := listen(t, db)
	user := db.CreateUser(t)
	asUser := func(sql string) func() error {
		return func() error {
			return db.AsUser(context.Background(), user, func(tx pgx.Tx) error {
				_, err := tx.Exec(context.Background(), sql, user)
				return err
			})
		}
	}
	sv := func(sql string) func() error { return func() error { return exec(db, sql, user) } }
	admin := func(sql string) func() error {
		return func() error { _, err := db.Pool.Exec(context.Background(), sql, user); return err }
	}

	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"key insert", sv(`select public.insert_user_api_key($1, 'openai', 'sk-notify-1')`), 1},
		{"key rotation", sv(`select public.insert_user_api_key($1, 'openai', 'sk-notify-2')`), 1},
		{"second key", sv(`select public.insert_user_api_key($1, 'xai', 'xai-notify-1')`), 1},
		{"touch", sv(`select public.touch_user_api_key($1, 'openai')`), 0},
		{"snapshot touching last_used", func() error {
			if err := admin(`update public.api_keys set last_used = now() - interval '1 hour' where user_id = $1`)(); err != nil {
				return err
			}
			return sv(`select public.get_user_byok_snapshot($1, array['openai'])`)()
		}, 0},
		{"update changing nothing", admin(`update public.api_keys set created_at = created_at where user_id = $1`), 0},
		{"key row changed directly", admin(`update public.api_keys set created_at = created_at - interval '1 day' where user_id = $1 and service = 'xai'`), 1},
		{"key delete", sv(`select public.delete_user_api_key($1, 'xai')`), 1},
		{"absent key delete", sv(`select public.delete_user_api_key($1, 'xai')`), 0},
		{"gateway URL set", sv(`select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`), 1},
		{"gateway URL set again, same", sv(`select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`), 0},
		{"gateway URL changed", sv(`select public.upsert_user_gateway_config($1, 'https://gw.example.com/v2')`), 1},
		{"gateway URL deleted", sv(`select public.delete_user_gateway_config($1)`), 1},
		{"consent off (first row)", sv(`select public.set_user_allow_gateway_fallback($1, false)`), 1},
		{"consent off again", sv(`select public.set_user_allow_gateway_fallback($1, false)`), 0},
		{"consent on", sv(`select public.set_user_allow_gateway_fallback($1, true)`), 1},
		{"consent written by the user through the Data API", asUser(`update public.user_settings set allow_gateway_fallback = false where user_id = $1`), 1},
		{"settings row deleted by the user", asUser(`delete from public.user_settings where user_id = $1`), 1},
		{"a rolled-back change", func() error {
			tx, err := db.Pool.Begin(context.Background())
			if err != nil {
				return err
			}
			if _, err := tx.Exec(context.Background(), `insert into public.user_settings (user_id) values ($1)`, user); err != nil {
				return err
			}
			return tx.Rollback(context.Background())
		}, 0},
		{"user deleted (cascade)", admin(`delete from auth.users where id = $1`), 1},
	}
	for _, s := range steps {
		require.NoError(t, s.do(), s.name)
		got := l.until(t, mark(t, db))
		assert.Equal(t, s.want, count(got, user), "%s: notifications for the user", s.name)
		for _, p := range got {
			assert.True(t, supabase.ValidUserID(p), "%s: payload %q is not a user id", s.name, p)
		}
	}
}

// A transaction notifies each user once, however many rows it changes.
func TestNotify_oncePerTransactionAndUser(t *testing.T) {
	db := pgtest.New(t)
	l := listen(t, db)
	a, b := db.CreateUser(t), db.CreateUser(t)
	require.NoError(t, db.AsServiceRole(context.Background(), func(tx pgx.Tx) error {
		for _, u := range []string{a, b} {
			for _, svc := range allServices {
				if _, err := tx.Exec(context.Background(), `select public.insert_user_api_key($1, $2, 'k-'||$2)`, u, svc); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(context.Background(), `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, u); err != nil {
				return err
			}
		}
		return nil
	}))
	got := l.until(t, mark(t, db))
	assert.Equal(t, 1, count(got, a))
	assert.Equal(t, 1, count(got, b))
}

// TRUNCATE fires no row triggers; a statement trigger notifies every user who had a row.
func TestNotify_truncate(t *testing.T) {
	db := pgtest.Fresh(t, true)
	l := listen(t, db)
	a, b := db.CreateUser(t), db.CreateUser(t)
	for _, u := range []string{a, b} {
		require.NoError(t, exec(db, `select public.insert_user_api_key($1, 'openai', 'sk-truncate')`, u))
		require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, u))
		require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, u))
	}
	l.until(t, mark(t, db))
	for _, table := range []string{"api_keys", "api_gateway_configs", "user_settings"} {
		_, err := db.Pool.Exec(context.Background(), `truncate public.`+table)
		require.NoError(t, err)
		got := l.until(t, mark(t, db))
		assert.Equal(t, 1, count(got, a), table)
		assert.Equal(t, 1, count(got, b), table)
	}
}
