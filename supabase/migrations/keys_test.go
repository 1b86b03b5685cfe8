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

type keyInfo struct {
	Service   string     `json:"service"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used"`
	Failure   *string    `json:"failure"`
	FailedAt  *time.Time `json:"failed_at"`
}

func listKeys(t testing.TB, db *pgtest.DB, user string) []keyInfo {
	t.Helper()
	var raw []byte
	require.NoError(t, query(db, &raw, `select public.list_user_api_keys($1)`, user))
	var list []keyInfo
	require.NoError(t, json.Unmarshal(raw, &list), "%s", raw)
	require.NotContains(t, string(raw), "sk-", "the list must never hold a key")
	return list
}

func TestKeys_storeReadRotateListDelete(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)

	assert.Nil(t, getKey(t, db, user, "openai"))
	assert.Equal(t, []keyInfo{}, listKeys(t, db, user))

	putKey(t, db, user, "openai", "sk-first")
	assert.Equal(t, ptr("sk-first"), getKey(t, db, user, "openai"))
	assert.Equal(t, 1, secretCount(t, db, user, "openai"))
	var secretID string
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`select id::text from vault.secrets where name = 'openai_api_key_' || $1`, user).Scan(&secretID))

	putKey(t, db, user, "openai", "sk-rotated")
	assert.Equal(t, ptr("sk-rotated"), getKey(t, db, user, "openai"))
	assert.Equal(t, 1, secretCount(t, db, user, "openai"), "rotation must leave one secret")
	var rotatedID string
	require.NoError(t, db.Pool.QueryRow(t.Context(),
		`select id::text from vault.secrets where name = 'openai_api_key_' || $1`, user).Scan(&rotatedID))
	assert.Equal(t, secretID, rotatedID, "rotation updates the secret in place")

	putKey(t, db, user, "anthropic", "sk-ant")
	putKey(t, db, user, "gateway", "vck-gw")
	list := listKeys(t, db, user)
	require.Len(t, list, 3)
	for i, want := range []string{"anthropic", "gateway", "openai"} {
		assert.Equal(t, want, list[i].Service)
		assert.WithinDuration(t, time.Now(), list[i].CreatedAt, time.Minute)
		assert.Nil(t, list[i].LastUsed)
	}

	require.NoError(t, exec(db, `select public.delete_user_api_key($1, 'openai')`, user))
	assert.Nil(t, getKey(t, db, user, "openai"))
	assert.Zero(t, secretCount(t, db, user, "openai"))
	assert.Equal(t, ptr("sk-ant"), getKey(t, db, user, "anthropic"), "other keys stay")
	require.NoError(t, exec(db, `select public.delete_user_api_key($1, 'openai')`, user), "delete is idempotent")
	assert.Len(t, listKeys(t, db, user), 2)
}

func TestKeys_rotationResetsDates(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "xai", "xai-old")
	_, err := db.Pool.Exec(t.Context(), `update public.api_keys set created_at = now() - interval '1 day',
		last_used = now() - interval '1 hour' where user_id = $1`, user)
	require.NoError(t, err)

	putKey(t, db, user, "xai", "xai-new")
	list := listKeys(t, db, user)
	require.Len(t, list, 1)
	assert.WithinDuration(t, time.Now(), list[0].CreatedAt, time.Minute)
	assert.Nil(t, list[0].LastUsed)
}

func TestKeys_touchSetsLastUsed(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "openrouter", "sk-or")
	putKey(t, db, user, "openai", "sk-oa")

	require.NoError(t, exec(db, `select public.touch_user_api_key($1, 'openrouter')`, user))
	list := listKeys(t, db, user)
	require.Len(t, list, 2)
	assert.Nil(t, list[0].LastUsed, list[0].Service)
	require.NotNil(t, list[1].LastUsed, list[1].Service)
	assert.WithinDuration(t, time.Now(), *list[1].LastUsed, time.Minute)
	require.NoError(t, exec(db, `select public.touch_user_api_key($1, 'anthropic')`, user), "touching nothing is fine")
}

func TestKeys_serviceIsNormalized(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	putKey(t, db, user, "  OpenAI ", "sk-norm")

	assert.Equal(t, ptr("sk-norm"), getKey(t, db, user, "openai"))
	assert.Equal(t, ptr("sk-norm"), getKey(t, db, user, "OPENAI"))
	assert.Equal(t, []string{"openai"}, services(listKeys(t, db, user)))
	assert.Equal(t, 1, secretCount(t, db, user, "openai"), "secret named with the normalized service")
	require.NoError(t, exec(db, `select public.delete_user_api_key($1, ' OPENAI')`, user))
	assert.Nil(t, getKey(t, db, user, "openai"))
}

func TestKeys_unknownServiceIsRejected(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	calls := map[string]string{
		"insert":   `select public.insert_user_api_key($1, $2, 'sk-x')`,
		"get":      `select public.get_user_api_key($1, $2)`,
		"delete":   `select public.delete_user_api_key($1, $2)`,
		"touch":    `select public.touch_user_api_key($1, $2)`,
		"snapshot": `select public.get_user_byok_snapshot($1, array['openai', $2])`,
	}
	for _, service := range []*string{ptr("google"), ptr(""), ptr("   "), ptr("open ai"), ptr("gateway2"), nil} {
		for name, sql := range calls {
			err := exec(db, sql, user, service)
			assert.Equal(t, invalidParameterValue, sqlState(err), "%s(%v): %v", name, service, err)
		}
	}

	// The table refuses one too, whoever writes it.
	_, err := db.Pool.Exec(t.Context(), `insert into public.api_keys (user_id, service, vault_secret_name)
		values ($1::uuid, 'google', 'google_api_key_' || $1::text)`, user)
	assert.Equal(t, "23514", sqlState(err))
}

// badKeys are keys providers.CheckKey refuses; every SQL key writer must refuse them too.
var badKeys = map[string]*string{
	"null":                           nil,
	"empty":                          ptr(""),
	"spaces":                         ptr("   "),
	"tabs":                           ptr("\t\r\n "),
	"leading space":                  ptr(" sk-lead"),
	"trailing newline":               ptr("sk-trail\n"),
	"inner space":                    ptr("sk-a b"),
	"inner tab":                      ptr("sk-a\tb"),
	"control":                        ptr("sk-a\x01b"),
	"DEL":                            ptr("sk-a\x7fb"),
	"no-break space":                 ptr("sk-a\u00a0b"),
	"zero-width space":               ptr("sk-a\u200bb"),
	"right-to-left":                  ptr("sk-a\u200fb"),
	"RTL override":                   ptr("sk-\u202eab"),
	"accented":                       ptr("sk-caf\u00e9"),
	"emoji":                          ptr("sk-\U0001F511"),
	"1025 bytes":                     ptr(strings.Repeat("k", 1025)),
	"1024 bytes, 2 of them one char": ptr(strings.Repeat("k", 1022) + "\u00e9"),
}

func TestKeys_badKeysAreRejected(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	for name, key := range badKeys {
		err := exec(db, `select public.insert_user_api_key($1, 'openai', $2)`, user, key)
		assert.Equal(t, invalidParameterValue, sqlState(err), name)
	}
	assert.Nil(t, getKey(t, db, user, "openai"))
	assert.Zero(t, secretCount(t, db, user, "openai"))

	longest := strings.Repeat("k", 1024)
	putKey(t, db, user, "openai", longest)
	assert.Equal(t, &longest, getKey(t, db, user, "openai"))
	every := ""
	for c := byte('!'); c <= '~'; c++ {
		every += string(c)
	}
	putKey(t, db, user, "xai", every)
	assert.Equal(t, &every, getKey(t, db, user, "xai"), "every printable ASCII character is allowed")
}

func TestKeys_concurrentFirstWritersAllSucceed(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	const writers = 16
	var (
		wg    sync.WaitGroup
		ready sync.WaitGroup
		start = make(chan struct{})
		errs  [writers]error
	)
	ready.Add(writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = db.AsServiceRole(t.Context(), func(tx pgx.Tx) error {
				ready.Done()
				<-start // every writer holds its own connection and transaction before any writes
				_, err := tx.Exec(t.Context(), `select public.insert_user_api_key($1, 'anthropic', $2)`,
					user, fmt.Sprintf("sk-ant-%02d", i))
				return err
			})
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()

	for i, err := range errs {
		assert.NoError(t, err, "writer %d", i)
	}
	assert.Equal(t, 1, secretCount(t, db, user, "anthropic"))
	assert.Equal(t, []string{"anthropic"}, services(listKeys(t, db, user)))
	key := getKey(t, db, user, "anthropic")
	require.NotNil(t, key)
	assert.Regexp(t, `^sk-ant-\d\d$`, *key)
}

func TestKeys_deletingUserLeavesNoSecret(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	other := db.CreateUser(t)
	for _, s := range allServices {
		putKey(t, db, user, s, "key-"+s)
	}
	putKey(t, db, other, "openai", "sk-other")
	require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, user))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, user))
	require.Equal(t, len(allServices), userSecretCount(t, db, user))

	_, err := db.Pool.Exec(t.Context(), `delete from auth.users where id = $1`, user)
	require.NoError(t, err)

	assert.Zero(t, userSecretCount(t, db, user), "no orphaned Vault secret")
	for _, table := range []string{"api_keys", "api_gateway_configs", "user_settings"} {
		var n int
		require.NoError(t, db.Pool.QueryRow(t.Context(),
			`select count(*) from public.`+table+` where user_id = $1`, user).Scan(&n))
		assert.Zero(t, n, table)
	}
	assert.Equal(t, ptr("sk-other"), getKey(t, db, other, "openai"), "other users keep their keys")
}

func TestKeys_noSecretWithoutKeyRow(t *testing.T) {
	db := pgtest.New(t)
	// Every key secret in the shared database, whatever other tests are doing, belongs to a row.
	var orphans int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `
		select count(*) from vault.secrets s
		 where s.name ~ '^(gateway|openai|openrouter|anthropic|xai)_api_key_'
		   and not exists (select from public.api_keys k where k.vault_secret_name = s.name)`).Scan(&orphans))
	assert.Zero(t, orphans)
}

func TestKeys_truncateLeavesNoSecret(t *testing.T) {
	db := pgtest.Fresh(t, true)
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-trunc")
	putKey(t, db, user, "xai", "xai-trunc")

	_, err := db.Pool.Exec(t.Context(), `truncate auth.users cascade`)
	require.NoError(t, err)

	var secrets int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from vault.secrets`).Scan(&secrets))
	assert.Zero(t, secrets)
}

func TestKeys_plaintextOnlyInVault(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	canary := "sk-canary-7f3c9a1e-plaintext-" + user // unique, so earlier runs on the shared database do not count
	putKey(t, db, user, "openai", canary)
	putKey(t, db, user, "gateway", canary+"-gw")
	require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, user))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, user))

	// Search every row of every table (and view) given, all columns at once, as text.
	hits := func(relations []string) map[string]int {
		found := map[string]int{}
		for _, rel := range relations {
			var n int
			require.NoError(t, db.Pool.QueryRow(t.Context(),
				`select count(*) from `+rel+` r where strpos(r::text, $1) > 0`, canary).Scan(&n), rel)
			if n > 0 {
				found[rel] = n
			}
		}
		return found
	}
	rows, err := db.Pool.Query(t.Context(), `
		select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
		 where c.relkind in ('r', 'p', 'v', 'm') and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
		   and format('%I.%I', n.nspname, c.relname) <> 'vault.decrypted_secrets'`)
	require.NoError(t, err)
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, stored, "public.api_keys")
	require.Contains(t, stored, "vault.secrets")

	assert.Empty(t, hits(stored), "plaintext key found outside vault.decrypted_secrets")
	// The same search does find it where it should be, so it can fail.
	assert.Equal(t, map[string]int{"vault.decrypted_secrets": 2}, hits([]string{"vault.decrypted_secrets"}))
}

func TestKeys_ownersReadOnlyTheirOwnRowsAndWriteNone(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	alice, bob := db.CreateUser(t), db.CreateUser(t)
	for _, u := range []string{alice, bob} {
		putKey(t, db, u, "openai", "sk-"+u)
		putKey(t, db, u, "xai", "xai-"+u)
		require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, u))
		require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, true)`, u))
	}

	for table, want := range map[string]int{"api_keys": 2, "api_gateway_configs": 1, "user_settings": 1} {
		var total, own int
		require.NoError(t, db.AsUser(ctx, alice, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `select count(*), count(*) filter (where user_id = $1) from public.`+table, alice).
				Scan(&total, &own)
		}), table)
		assert.Equal(t, want, own, table)
		assert.Equal(t, want, total, "%s: alice sees rows that are not hers", table)
	}

	writes := map[string]string{
		"insert api_keys": `insert into public.api_keys (user_id, service, vault_secret_name)
			values ($1, 'anthropic', 'anthropic_api_key_' || $1)`,
		"update api_keys":            `update public.api_keys set last_used = now() where user_id = $1`,
		"delete api_keys":            `delete from public.api_keys where user_id = $1`,
		"truncate api_keys":          `truncate public.api_keys`,
		"insert api_gateway_configs": `insert into public.api_gateway_configs (user_id, base_url) values ($1, 'https://x.example.com')`,
		"update api_gateway_configs": `update public.api_gateway_configs set base_url = 'https://x.example.com' where user_id = $1`,
		"delete api_gateway_configs": `delete from public.api_gateway_configs where user_id = $1`,
		"truncate user_settings":     `truncate public.user_settings`,
		"read vault.secrets":         `select count(*) from vault.secrets where $1::text is not null`,
		"read decrypted_secrets":     `select count(*) from vault.decrypted_secrets where $1::text is not null`,
	}
	for name, sql := range writes {
		sql = strings.ReplaceAll(sql, "$1", "'"+alice+"'::uuid")
		err := db.AsUser(ctx, alice, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql); return err })
		assert.Equal(t, insufficientPrivilege, sqlState(err), "%s: %v", name, err)
	}
	assert.Equal(t, ptr("sk-"+alice), getKey(t, db, alice, "openai"))
}

func TestKeys_anonSeesNothing(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	user := db.CreateUser(t)
	putKey(t, db, user, "openai", "sk-anon-test")
	require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, user))
	require.NoError(t, exec(db, `select public.set_user_allow_gateway_fallback($1, false)`, user))

	for _, sql := range []string{
		`select count(*) from public.api_keys`,
		`select count(*) from public.api_gateway_configs`,
		`select count(*) from public.user_settings`,
		`select count(*) from vault.secrets`,
		`select count(*) from vault.decrypted_secrets`,
		`insert into public.user_settings (user_id, allow_gateway_fallback) values ('` + user + `', true)`,
	} {
		err := db.AsAnon(ctx, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql); return err })
		assert.Equal(t, insufficientPrivilege, sqlState(err), "%s: %v", sql, err)
	}
}

func services(list []keyInfo) []string {
	var s []string
	for _, k := range list {
		s = append(s, k.Service)
	}
	return s
}
