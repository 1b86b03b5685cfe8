package migrations_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

const foreignKeyViolation = "23503"

func putGatewayKey(db *pgtest.DB, user string, key, url *string) error {
	return exec(db, `select public.put_user_gateway_key($1, $2, $3)`, user, key, url)
}

func TestGatewayKey_keyAndBaseURLTogether(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)

	require.NoError(t, putGatewayKey(db, user, ptr("vck-one"), ptr("https://gw-one.example.com/v1")))
	assert.Equal(t, ptr("vck-one"), getKey(t, db, user, "gateway"))
	assert.Equal(t, ptr("https://gw-one.example.com/v1"), baseURL(t, db, user))
	assert.Equal(t, 1, secretCount(t, db, user, "gateway"))

	require.NoError(t, putGatewayKey(db, user, ptr("vck-two"), ptr("https://gw-two.example.com/v1")))
	assert.Equal(t, ptr("vck-two"), getKey(t, db, user, "gateway"))
	assert.Equal(t, ptr("https://gw-two.example.com/v1"), baseURL(t, db, user))
	assert.Equal(t, 1, secretCount(t, db, user, "gateway"), "rotation updates the one secret")

	for _, blank := range []*string{ptr(""), ptr("  "), nil} {
		require.NoError(t, putGatewayKey(db, user, ptr("vck-default"), ptr("https://gw-three.example.com/v1")))
		require.NoError(t, putGatewayKey(db, user, ptr("vck-three"), blank))
		assert.Equal(t, ptr("vck-three"), getKey(t, db, user, "gateway"))
		assert.Nil(t, baseURL(t, db, user), "a blank base URL (%v) means the default and deletes the stored one", blank)
	}
	assert.Equal(t, []string{"gateway"}, services(listKeys(t, db, user)))
}

func TestGatewayKey_refusalsChangeNothing(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	require.NoError(t, putGatewayKey(db, user, ptr("vck-kept"), ptr("https://gw-kept.example.com/v1")))

	for name, key := range badKeys {
		err := putGatewayKey(db, user, key, ptr("https://gw-new.example.com/v1"))
		assert.Equal(t, invalidParameterValue, sqlState(err), name)
	}
	for _, url := range []string{"http://gw.example.com", "https://gw example.com", "gw.example.com", "https://"} {
		err := putGatewayKey(db, user, ptr("vck-new"), &url)
		assert.Equal(t, invalidParameterValue, sqlState(err), url)
	}
	assert.Equal(t, ptr("vck-kept"), getKey(t, db, user, "gateway"))
	assert.Equal(t, ptr("https://gw-kept.example.com/v1"), baseURL(t, db, user))
}

// TestGatewayKey_errorAfterURLWriteRollsBackEverything breaks Vault so that the key write
// fails after the RPC has written the new base URL: the URL must be the old one afterwards,
// as must the key, for a rotation and for a first write.
func TestGatewayKey_errorAfterURLWriteRollsBackEverything(t *testing.T) {
	db := pgtest.Fresh(t, true)
	user, newcomer := db.CreateUser(t), db.CreateUser(t)
	require.NoError(t, putGatewayKey(db, user, ptr("vck-old"), ptr("https://gw-old.example.com/v1")))

	// Writing the key's api_keys row now fails, with XX002 when the transaction already holds
	// the new base URL (or no URL, for a blank one): proof that the URL was written before the
	// error. The row is written after the key's Vault secret, so the secret's write must be
	// rolled back too. (A trigger the migrations' owner may create on either stack; Vault's
	// own functions belong to supabase_admin on a real one.)
	_, err := db.Pool.Exec(t.Context(), `
		create function public.byok_test_fail_key_write() returns trigger
		language plpgsql set search_path = '' as $$
		begin
		  if exists (select from public.api_gateway_configs c where c.base_url = 'https://gw-new.example.com/v1')
		     or not exists (select from public.api_gateway_configs c where c.base_url = 'https://gw-old.example.com/v1') then
		    raise exception 'key write fails after the url write' using errcode = 'XX002';
		  end if;
		  raise exception 'key write fails before the url write' using errcode = 'XX003';
		end $$;
		create trigger byok_test_fail_key_write before insert or update on public.api_keys
		  for each row execute function public.byok_test_fail_key_write()`)
	require.NoError(t, err)

	for _, url := range []*string{ptr("https://gw-new.example.com/v1"), ptr(""), nil} {
		err := putGatewayKey(db, user, ptr("vck-new"), url)
		require.Equal(t, "XX002", sqlState(err), "%v: %v", url, err)
		assert.Equal(t, ptr("vck-old"), getKey(t, db, user, "gateway"))
		assert.Equal(t, ptr("https://gw-old.example.com/v1"), baseURL(t, db, user), "the URL write was rolled back")
	}
	assert.Equal(t, 1, secretCount(t, db, user, "gateway"))

	err = putGatewayKey(db, newcomer, ptr("vck-first"), ptr("https://gw-new.example.com/v1"))
	require.Equal(t, "XX002", sqlState(err), "%v", err)
	assert.Nil(t, baseURL(t, db, newcomer))
	assert.Nil(t, getKey(t, db, newcomer, "gateway"))
	assert.Zero(t, userSecretCount(t, db, newcomer), "no secret from the failed first write")
}

func TestGatewayKey_deleteRemovesKeySecretAndURL(t *testing.T) {
	db := pgtest.New(t)
	user := db.CreateUser(t)
	require.NoError(t, putGatewayKey(db, user, ptr("vck-del"), ptr("https://gw.example.com/v1")))
	putKey(t, db, user, "openai", "sk-stays")

	require.NoError(t, exec(db, `select public.delete_user_gateway_key($1)`, user))
	assert.Nil(t, getKey(t, db, user, "gateway"))
	assert.Nil(t, baseURL(t, db, user))
	assert.Zero(t, secretCount(t, db, user, "gateway"))
	assert.Equal(t, ptr("sk-stays"), getKey(t, db, user, "openai"), "other keys stay")
	require.NoError(t, exec(db, `select public.delete_user_gateway_key($1)`, user), "delete is idempotent")

	// A base URL without a key goes too.
	require.NoError(t, exec(db, `select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`, user))
	require.NoError(t, exec(db, `select public.delete_user_gateway_key($1)`, user))
	assert.Nil(t, baseURL(t, db, user))
}

// TestWriters_unknownUser: every writer refuses a user that does not exist with 23503 and
// stores nothing; every deleter succeeds.
func TestWriters_unknownUser(t *testing.T) {
	db := pgtest.New(t)
	ghost := "00000000-0000-4000-8000-00000000f00d"
	for _, sql := range []string{
		`select public.insert_user_api_key($1, 'openai', 'sk-ghost')`,
		`select public.put_user_gateway_key($1, 'vck-ghost', 'https://gw.example.com/v1')`,
		`select public.put_user_gateway_key($1, 'vck-ghost', '')`,
		`select public.upsert_user_gateway_config($1, 'https://gw.example.com/v1')`,
		`select public.set_user_allow_gateway_fallback($1, false)`,
	} {
		assert.Equal(t, foreignKeyViolation, sqlState(exec(db, sql, ghost)), sql)
	}
	for _, sql := range []string{
		`select public.delete_user_api_key($1, 'openai')`,
		`select public.delete_user_gateway_key($1)`,
		`select public.delete_user_gateway_config($1)`,
	} {
		assert.NoError(t, exec(db, sql, ghost), sql)
	}
	assert.Zero(t, userSecretCount(t, db, ghost))
}
