package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

// TestStore_noPlaintextAtRest stores, rotates and deletes keys of every provider through the
// Store and runs the health check, on the real supabase_vault, then looks for the keys where a
// backup, a replica or a disk image would find them:
//
//   - every tuple of vault.secrets, live or dead, in its raw heap pages (pageinspect) and those
//     of its TOAST table;
//   - every WAL segment of the cluster (pg_ls_waldir, pg_read_binary_file);
//   - every row version of vault.secrets written during the test, decoded from the WAL by a
//     logical replication slot: its secret must be empty or a Vault ciphertext of that row. This
//     also covers the health probe, whose random value the test cannot know.
//
// Raw pages and WAL files are read as supabase_admin: no Supabase role may read them, and a
// disk image holds them.
//
// It also checks that every function in public that writes a Vault secret was called, so that
// a new writer fails here until this test exercises it.
func TestStore_noPlaintextAtRest(t *testing.T) {
	if !pgtest.Real() {
		t.Skip("needs the real supabase_vault, whose create_secret is what writes plaintext: set BYOK_SUPABASE_REAL (see internal/pgtest)")
	}
	db := pgtest.Fresh(t, true)
	ctx := t.Context()
	admin := db.SuperuserConn(t)
	_, err := admin.Exec(ctx, `create schema byok_inspect; create extension pageinspect with schema byok_inspect`)
	require.NoError(t, err)

	// From here on, the slot keeps every change to this database for decoding, and keeps the
	// WAL segments that hold them.
	slot := "byok_at_rest_" + randomHex(t, 8)
	_, err = db.Pool.Exec(ctx, `select pg_create_logical_replication_slot($1, 'test_decoding')`, slot)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Before the database is dropped: a slot holds its database.
		_, err := db.Pool.Exec(context.Background(), `select pg_drop_replication_slot($1)`, slot)
		assert.NoError(t, err, "drop the replication slot")
	})

	pool, err := pgxpool.New(ctx, db.AuthenticatorDSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store := vault.New(pgcall.New(pool))

	run := randomHex(t, 8)
	var canaries []string
	canary := func(user int, id providers.ID, version int) providers.Secret {
		c := fmt.Sprintf("byok-at-rest-canary-%s-u%d-%s-v%d", run, user, id, version)
		canaries = append(canaries, c)
		return providers.NewSecret(c)
	}
	users := []string{db.CreateUser(t), db.CreateUser(t)}
	for u, user := range users {
		for _, id := range providers.All() {
			require.NoError(t, store.PutKey(ctx, user, id, canary(u, id, 1)), "store %s", id)
			require.NoError(t, store.PutKey(ctx, user, id, canary(u, id, 2)), "rotate %s", id)
		}
		require.NoError(t, store.PutGatewayBaseURL(ctx, user, "https://ai-gateway.vercel.sh/v1"))
		// The gateway key and its base URL in one write, a rotation and a first write.
		require.NoError(t, store.PutGatewayKey(ctx, user, canary(u, providers.Gateway, 3), "https://ai-gateway.vercel.sh/v1"))
		require.NoError(t, store.DeleteGatewayKey(ctx, user))
		require.NoError(t, store.PutGatewayKey(ctx, user, canary(u, providers.Gateway, 4), ""))
		key, err := store.Key(ctx, user, providers.OpenAI)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("byok-at-rest-canary-%s-u%d-openai-v2", run, u), key.Reveal())
		snap, err := store.Snapshot(ctx, user, providers.DefaultOrder())
		require.NoError(t, err)
		assert.Equal(t, providers.OpenAI, snap.ID)
		require.NoError(t, store.DeleteKey(ctx, user, providers.XAI))
	}
	require.NoError(t, store.Health(ctx))
	require.NoError(t, store.Health(ctx))
	_, err = db.Pool.Exec(ctx, `delete from auth.users where id = $1`, users[1]) // its secrets go by trigger
	require.NoError(t, err)
	pool.Close() // its backends exit, which reports their function call counts at once

	t.Run("every function that writes a secret was called", func(t *testing.T) {
		assertWritersCalled(t, db)
	})

	// What the searches below must find, so that they can fail: the secrets' names, which
	// Vault keeps in plaintext next to the secret.
	names := []string{"openai_api_key_" + users[0], "gateway_api_key_" + users[0]}

	t.Run("heap pages of vault.secrets", func(t *testing.T) {
		pages := heapPages(t, admin, "vault.secrets")
		require.NotEmpty(t, pages)
		t.Logf("searched %d pages", len(pages))
		for _, name := range names {
			assert.True(t, anyContains(pages, name), "the page search must see the row named %s", name)
		}
		for _, c := range canaries {
			assert.False(t, anyContains(pages, c), "plaintext key %s in a heap page of vault.secrets or its TOAST table", c)
		}
	})

	t.Run("WAL segments", func(t *testing.T) {
		_, err := admin.Exec(ctx, `checkpoint`) // every WAL record so far is in the files
		require.NoError(t, err)
		rows, err := admin.Query(ctx, `select name from pg_ls_waldir() where name ~ '^[0-9A-F]{24}$' order by name`)
		require.NoError(t, err)
		segments, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.NotEmpty(t, segments)
		wanted := append(append([]string{}, names...), canaries...)
		seen := map[string]bool{}
		for _, seg := range segments {
			var data []byte
			require.NoError(t, admin.QueryRow(ctx, `select pg_read_binary_file('pg_wal/' || $1)`, seg).Scan(&data))
			for _, s := range wanted {
				if bytes.Contains(data, []byte(s)) {
					seen[s] = true
				}
			}
		}
		for _, name := range names {
			assert.True(t, seen[name], "the WAL search must see the row named %s", name)
		}
		for _, c := range canaries {
			assert.False(t, seen[c], "plaintext key %s in a WAL segment", c)
		}
		t.Logf("searched %d WAL segments", len(segments))
	})

	t.Run("every row version decoded from the WAL", func(t *testing.T) {
		versions := decodedSecretVersions(t, db, slot)
		// Per user and provider a secret is created and set, then rotated; each health check
		// creates and sets its probe.
		require.GreaterOrEqual(t, len(versions), len(users)*len(providers.All())*3+2*2)
		for _, v := range versions {
			if v.secret == "" {
				continue // what create_secret('') writes before update_secret sets the value
			}
			var decrypts bool
			err := db.Pool.QueryRow(ctx, `select vault._crypto_aead_det_decrypt(
					message := decode($1, 'base64'), additional := convert_to($2, 'utf8'),
					key_id := 0, context := 'pgsodium'::bytea, nonce := decode($3, 'hex')) is not null`,
				v.secret, v.id, strings.TrimPrefix(v.nonce, `\x`)).Scan(&decrypts)
			assert.True(t, err == nil && decrypts,
				"%s of the secret named %s holds a value that is not its ciphertext: a plaintext in the WAL and the heap", v.op, v.name)
		}
	})
}

// assertWritersCalled checks that every function in schema public whose body calls
// vault.create_secret or vault.update_secret has been called in db (track_functions=pl).
// Counts reach the statistics once a backend goes idle or exits: poll for them.
func assertWritersCalled(t *testing.T, db *pgtest.DB) {
	t.Helper()
	var writers, uncalled []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		writers, uncalled = nil, nil
		rows, err := db.Pool.Query(t.Context(), `
			select p.oid::regprocedure::text, coalesce(s.calls, 0) > 0
			  from pg_proc p left join pg_stat_user_functions s on s.funcid = p.oid
			 where p.pronamespace = 'public'::regnamespace
			   and p.prosrc ~* 'vault\s*\.\s*(create|update)_secret'
			 order by 1`)
		require.NoError(t, err)
		var name string
		var called bool
		_, err = pgx.ForEachRow(rows, []any{&name, &called}, func() error {
			writers = append(writers, name)
			if !called {
				uncalled = append(uncalled, name)
			}
			return nil
		})
		require.NoError(t, err)
		if len(uncalled) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Empty(t, uncalled, "functions that write Vault secrets and that this test never called: call them here")
	assert.Subset(t, writers, []string{"check_vault_health()", "byok_store_api_key(uuid,text,text)"})
}

// heapPages returns every page of rel's main fork and of its TOAST table's, as stored.
func heapPages(t *testing.T, admin *pgx.Conn, rel string) [][]byte {
	t.Helper()
	var toast *string
	require.NoError(t, admin.QueryRow(t.Context(),
		`select nullif(reltoastrelid, 0)::regclass::text from pg_class where oid = $1::regclass`, rel).Scan(&toast))
	var pages [][]byte
	for _, r := range []*string{&rel, toast} {
		if r == nil {
			continue
		}
		rows, err := admin.Query(t.Context(), `
			select byok_inspect.get_raw_page($1::text, 'main', b)
			  from generate_series(0, pg_relation_size($1::regclass) / current_setting('block_size')::int - 1) b`, *r)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		require.NoError(t, err)
		pages = append(pages, got...)
	}
	return pages
}

func anyContains(pages [][]byte, s string) bool {
	for _, p := range pages {
		if bytes.Contains(p, []byte(s)) {
			return true
		}
	}
	return false
}

// secretVersion is one row version of vault.secrets as a WAL record holds it.
type secretVersion struct {
	op, id, name, secret, nonce string
}

// decodedSecretVersions reads every change in slot (test_decoding) and returns the row versions
// that INSERTs and UPDATEs of vault.secrets wrote.
func decodedSecretVersions(t *testing.T, db *pgtest.DB, slot string) []secretVersion {
	t.Helper()
	rows, err := db.Pool.Query(t.Context(),
		`select data from pg_logical_slot_get_changes($1, null, null, 'include-xids', '0', 'skip-empty-xacts', '1')`, slot)
	require.NoError(t, err)
	changes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var versions []secretVersion
	for _, c := range changes {
		rest, ok := strings.CutPrefix(c, "table vault.secrets: ")
		if !ok {
			continue
		}
		op, cols, _ := strings.Cut(rest, ": ")
		if op != "INSERT" && op != "UPDATE" {
			continue
		}
		if _, after, found := strings.Cut(cols, "new-tuple: "); found {
			cols = after // an UPDATE that changed the key logs the old one first
		}
		values, err := parseTestDecoding(cols)
		require.NoError(t, err, "decode a change of vault.secrets")
		secret, ok := values["secret"]
		require.True(t, ok, "a change of vault.secrets without its secret column")
		versions = append(versions, secretVersion{op: op, id: values["id"], name: values["name"], secret: secret, nonce: values["nonce"]})
	}
	return versions
}

// parseTestDecoding parses test_decoding's column list, `name[type]:value ...`, where a value
// is null, a bare word, or a single-quoted string in which a quote is doubled.
func parseTestDecoding(s string) (map[string]string, error) {
	values := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " ") {
		open := strings.IndexByte(s, '[')
		closing := strings.Index(s, "]:")
		if open <= 0 || closing < open {
			return nil, fmt.Errorf("column %.20q...: want name[type]:value", s)
		}
		name := s[:open]
		s = s[closing+2:]
		if !strings.HasPrefix(s, "'") {
			word, rest, _ := strings.Cut(s, " ")
			values[name], s = word, rest
			continue
		}
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
		if i == len(s) {
			return nil, fmt.Errorf("column %s: unterminated string", name)
		}
		values[name], s = b.String(), s[i+1:]
	}
	return values, nil
}

func TestParseTestDecoding(t *testing.T) {
	got, err := parseTestDecoding(`id[uuid]:'a1' name[text]:'it''s' description[text]:'' key_id[uuid]:null ` +
		`nonce[bytea]:'\x0102' created_at[timestamp with time zone]:'2026-11-30 00:00:00+00' n[integer]:7`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"id": "a1", "name": "it's", "description": "", "key_id": "null",
		"nonce": `\x0102`, "created_at": "2026-11-30 00:00:00+00", "n": "7"}, got)
	for _, bad := range []string{`id[uuid]:'open`, `novalue`, `[uuid]:'x'`} {
		_, err := parseTestDecoding(bad)
		assert.Error(t, err, bad)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
