package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve/resolvetest"
	"github.com/byok-go/byok/vault"
)

var errStatement = errors.New("store: statement refused")

// partialStore is resolvetest.Keys whose writes named in fail return an error and change
// nothing, as a database that refuses one statement of several would.
type partialStore struct {
	*resolvetest.Keys
	fail map[string]bool
}

func (p partialStore) PutKey(ctx context.Context, user string, id providers.ID, key providers.Secret) error {
	if p.fail["PutKey"] {
		return errStatement
	}
	return p.Keys.PutKey(ctx, user, id, key)
}

func (p partialStore) DeleteKey(ctx context.Context, user string, id providers.ID) error {
	if p.fail["DeleteKey"] {
		return errStatement
	}
	return p.Keys.DeleteKey(ctx, user, id)
}

func (p partialStore) PutGatewayBaseURL(ctx context.Context, user, baseURL string) error {
	if p.fail["PutGatewayBaseURL"] {
		return errStatement
	}
	return p.Keys.PutGatewayBaseURL(ctx, user, baseURL)
}

func (p partialStore) PutGatewayKey(ctx context.Context, user string, key providers.Secret, baseURL string) error {
	if p.fail["PutGatewayKey"] {
		return errStatement
	}
	return p.Keys.PutGatewayKey(ctx, user, key, baseURL)
}

func (p partialStore) DeleteGatewayKey(ctx context.Context, user string) error {
	if p.fail["DeleteGatewayKey"] {
		return errStatement
	}
	return p.Keys.DeleteGatewayKey(ctx, user)
}

// gatewayState is alice's stored gateway key and base URL.
func gatewayState(t *testing.T, e *env) (key, url string) {
	t.Helper()
	k, err := e.keys.Key(t.Context(), alice, providers.Gateway)
	if err == nil {
		key = k.Reveal()
	}
	url, err = e.keys.GatewayBaseURL(t.Context(), alice)
	require.NoError(t, err)
	return key, url
}

// TestKeys_gatewayWriteIsAllOrNothing: when the store cannot write the gateway key, a
// POST with a new baseUrl leaves the stored URL as it was, so the old key is never sent
// to the new host; when it cannot delete the URL, a DELETE leaves the key too.
func TestKeys_gatewayWriteIsAllOrNothing(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		fail                     []string // every write that touches the key (POST) or the URL (DELETE)
	}{
		{"post with a new base url", "POST", "/api/keys", `{"service":"gateway","apiKey":"vck-new","baseUrl":"https://ai-gateway.vercel.sh/v1"}`,
			[]string{"PutKey", "PutGatewayKey"}},
		{"post with the default base url", "POST", "/api/keys", `{"service":"gateway","apiKey":"vck-new","baseUrl":""}`,
			[]string{"PutKey", "PutGatewayKey"}},
		{"delete", "DELETE", "/api/keys/gateway", "",
			[]string{"PutGatewayBaseURL", "DeleteGatewayKey"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var store partialStore
			e := newEnv(t, func(c *httpapi.Config) {
				store = partialStore{Keys: c.Keys.(*resolvetest.Keys), fail: map[string]bool{}}
				c.Keys = store
			})
			e.keys.Put(alice, providers.Gateway, "vck-old")
			e.keys.SetGatewayBaseURL(alice, "https://gw.example.com/v1")
			m, status := e.resolvePath(t, alice) // cached from here on
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, "gw.example.com", m["baseUrlHost"])

			for _, name := range tc.fail {
				store.fail[name] = true
			}
			assertError(t, e.do(t, tc.method, tc.path, alice, tc.body), http.StatusInternalServerError, "VAULT_UNAVAILABLE")

			key, url := gatewayState(t, e)
			assert.Equal(t, "vck-old", key)
			assert.Equal(t, "https://gw.example.com/v1", url, "the base URL did not change without its key")
			m, status = e.resolvePath(t, alice)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, "user-gateway", m["path"])
			assert.Equal(t, "gw.example.com", m["baseUrlHost"], "the stored key still goes to its own host")
		})
	}
}

// TestKeys_gatewayWriteUsesOneStoreCall: POST with a baseUrl and DELETE of the gateway
// each make one store call; POST without a baseUrl keeps the stored URL.
func TestKeys_gatewayWriteUsesOneStoreCall(t *testing.T) {
	e := newEnv(t)
	calls := e.keys.Calls()
	r := e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://GW.example.com/v1/"}`)
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	assert.Equal(t, 1, e.keys.Calls()-calls, "one write")
	key, url := gatewayState(t, e)
	assert.Equal(t, "vck-1", key)
	assert.Equal(t, "https://gw.example.com/v1", url)

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-2"}`).status)
	key, url = gatewayState(t, e)
	assert.Equal(t, "vck-2", key)
	assert.Equal(t, "https://gw.example.com/v1", url, "no baseUrl field keeps the stored URL")

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-3","baseUrl":""}`).status)
	key, url = gatewayState(t, e)
	assert.Equal(t, "vck-3", key)
	assert.Empty(t, url, `"" stores the default`)

	e.keys.SetGatewayBaseURL(alice, "https://gw.example.com/v1")
	calls = e.keys.Calls()
	require.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/api/keys/gateway", alice, "").status)
	assert.Equal(t, 1, e.keys.Calls()-calls, "one write")
	key, url = gatewayState(t, e)
	assert.Empty(t, key)
	assert.Empty(t, url)
}

// TestKeys_gatewayWriteRollsBackOnTheDatabase runs the handler over the Supabase store on
// a database whose Vault fails after the RPC has written the new base URL: the answer is
// 500 and the database holds the old URL and the old key.
func TestKeys_gatewayWriteRollsBackOnTheDatabase(t *testing.T) {
	db := pgtest.Fresh(t, true)
	keys := vault.New(pgcallCaller(t, db), vault.WithAllowedGatewayHosts("gw.example.com"))
	e := newEnv(t, func(c *httpapi.Config) { c.Keys = keys })
	user := db.CreateUser(t)
	require.NoError(t, keys.PutGatewayKey(t.Context(), user, providers.NewSecret("vck-old"), "https://gw.example.com/v1"))

	// The key's row write now fails; it comes after the base URL's and the Vault secret's.
	_, err := db.Pool.Exec(t.Context(), `
		create function public.byok_test_fail_key_write() returns trigger
		language plpgsql set search_path = '' as $$
		begin raise exception 'key write fails' using errcode = 'XX000'; end $$;
		create trigger byok_test_fail_key_write before insert or update on public.api_keys
		  for each row execute function public.byok_test_fail_key_write()`)
	require.NoError(t, err)

	r := e.do(t, "POST", "/api/keys", user, `{"service":"gateway","apiKey":"vck-new","baseUrl":"https://ai-gateway.vercel.sh/v1"}`)
	assertError(t, r, http.StatusInternalServerError, "VAULT_UNAVAILABLE")
	url, err := keys.GatewayBaseURL(t.Context(), user)
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com/v1", url)
	key, err := keys.Key(t.Context(), user, providers.Gateway)
	require.NoError(t, err)
	assert.Equal(t, "vck-old", key.Reveal())
}

// TestKeys_keyRuleIs400: a key outside providers.CheckKey's rule is 400 invalid_request and
// stores nothing, whether the body check or the store refuses it.
func TestKeys_keyRuleIs400(t *testing.T) {
	long := strings.Repeat("k", 1500)
	for _, body := range []string{
		`{"service":"openai","apiKey":"sk-caf\u00e9"}`,
		`{"service":"openai","apiKey":"sk-a\u200bb"}`,
		`{"service":"openai","apiKey":"` + long + `"}`,
		`{"service":"gateway","apiKey":"vck-\u202eab","baseUrl":"https://gw.example.com/v1"}`,
		`{"service":"gateway","apiKey":"` + long + `","baseUrl":""}`,
	} {
		e := newEnv(t)
		assertError(t, e.do(t, "POST", "/api/keys", alice, body), http.StatusBadRequest, "invalid_request")
		infos, err := e.keys.ListKeys(t.Context(), alice)
		require.NoError(t, err)
		assert.Empty(t, infos, body)
		_, url := gatewayState(t, e)
		assert.Empty(t, url, body)
	}
}
