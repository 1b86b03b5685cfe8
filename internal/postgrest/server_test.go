package postgrest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/postgrest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// response is what the server answered.
type response struct {
	status int
	header http.Header
	body   string
}

// errorBody is PostgREST's error body; the pointers tell null from "".
type errorBody struct {
	Code    *string `json:"code"`
	Message string  `json:"message"`
	Details *string `json:"details"`
	Hint    *string `json:"hint"`
}

func (r response) error(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	require.NoError(t, json.Unmarshal([]byte(r.body), &e), r.body)
	return e
}

func (r response) code(t *testing.T) string {
	t.Helper()
	e := r.error(t)
	require.NotNil(t, e.Code, r.body)
	return *e.Code
}

// do makes one request; headers are name, value pairs.
func do(ctx context.Context, method, url, body string, headers ...string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// rpc calls fn with the JSON object body and fails t on a transport error.
func rpc(t *testing.T, s *postgrest.Server, fn, body string, headers ...string) response {
	t.Helper()
	r, err := do(t.Context(), http.MethodPost, s.URL+"/rest/v1/rpc/"+fn, body, headers...)
	require.NoError(t, err)
	return r
}

// Credentials as the project's clients send them.
func legacyService(s *postgrest.Server) []string {
	return []string{"apikey", s.ServiceKey, "Authorization", "Bearer " + s.ServiceKey}
}
func secretKey(s *postgrest.Server) []string { return []string{"apikey", s.SecretKey} }

func args(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestRPC_serviceKeysCallServiceRoleFunctions(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	for name, headers := range map[string][]string{
		"legacy service_role JWT as apikey and bearer": legacyService(s),
		"legacy service_role JWT as apikey only":       {"apikey", s.ServiceKey},
		"sb_secret key as apikey":                      secretKey(s),
		"sb_secret key repeated as bearer":             {"apikey", s.SecretKey, "Authorization", "Bearer " + s.SecretKey},
	} {
		t.Run(name, func(t *testing.T) {
			r := rpc(t, s, "get_user_api_key", args(t, map[string]any{"p_user_id": user, "p_service": "openai"}), headers...)
			require.Equal(t, http.StatusOK, r.status, r.body)
			assert.Equal(t, "null", r.body)
		})
	}
}

func TestRPC_nonServiceRolesAreRefusedByTheDatabase(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	body := args(t, map[string]any{"p_user_id": user, "p_service": "openai"})
	for name, tc := range map[string]struct {
		headers []string
		status  int
	}{
		// PostgREST answers 42501 with 401 for the anonymous role, 403 for any other.
		"legacy anon JWT":          {[]string{"apikey", s.AnonKey, "Authorization", "Bearer " + s.AnonKey}, http.StatusUnauthorized},
		"publishable key":          {[]string{"apikey", s.PublishableKey}, http.StatusUnauthorized},
		"JWT without a role claim": {[]string{"apikey", s.PublishableKey, "Authorization", "Bearer " + s.Token(t, map[string]any{"sub": user})}, http.StatusUnauthorized},
		"user access token":        {[]string{"apikey", s.PublishableKey, "Authorization", "Bearer " + s.UserToken(t, user)}, http.StatusForbidden},
		"user token, legacy anon":  {[]string{"apikey", s.AnonKey, "Authorization", "Bearer " + s.UserToken(t, user)}, http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			r := rpc(t, s, "get_user_api_key", body, tc.headers...)
			require.Equal(t, tc.status, r.status, r.body)
			assert.Equal(t, "42501", r.code(t))
			if tc.status == http.StatusUnauthorized {
				assert.Equal(t, "Bearer", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestRPC_rejectsBadCredentials(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	now := time.Now().Unix()
	other, err := postgrest.SignJWT([]byte("another-projects-secret-of-at-least-32-chars"),
		map[string]any{"role": "service_role", "iat": now, "exp": now + 3600})
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"role":"service_role"}`)) + "."
	valid := strings.Split(s.ServiceKey, ".")
	tampered := valid[0] + "." + b64([]byte(`{"role":"service_role","exp":9999999999}`)) + "." + valid[2]
	expired := s.Token(t, map[string]any{"role": "service_role", "iat": now - 7200, "exp": now - 3600})
	body := args(t, map[string]any{"p_user_id": user, "p_service": "openai"})

	t.Run("gateway", func(t *testing.T) {
		for name, tc := range map[string]struct {
			headers []string
			message string
		}{
			"no apikey":                  {[]string{"Authorization", "Bearer " + s.ServiceKey}, "No API key found in request"},
			"unknown sb_secret key":      {[]string{"apikey", "sb_secret_" + strings.Repeat("x", 24)}, "Invalid API key"},
			"not a key":                  {[]string{"apikey", "hello"}, "Invalid API key"},
			"JWT of another project":     {[]string{"apikey", other}, "Invalid API key"},
			"expired legacy key":         {[]string{"apikey", expired}, "Invalid API key"},
			"user token used as apikey":  {[]string{"apikey", s.UserToken(t, user)}, "Invalid API key"},
			"alg none legacy key":        {[]string{"apikey", algNone}, "Invalid API key"},
			"tampered legacy key claims": {[]string{"apikey", tampered}, "Invalid API key"},
		} {
			t.Run(name, func(t *testing.T) {
				r := rpc(t, s, "get_user_api_key", body, tc.headers...)
				require.Equal(t, http.StatusUnauthorized, r.status, r.body)
				e := r.error(t)
				assert.Nil(t, e.Code, "the gateway's body has no code")
				assert.Equal(t, tc.message, e.Message)
			})
		}
	})

	t.Run("bearer", func(t *testing.T) {
		for name, tc := range map[string]struct {
			token, code, message string
		}{
			"signed with another secret": {other, "PGRST301", "JWT cryptographic operation failed"},
			"tampered claims":            {tampered, "PGRST301", "JWT cryptographic operation failed"},
			"alg none":                   {algNone, "PGRST301", "Wrong or unsupported encoding algorithm"},
			"not a JWT":                  {"abc", "PGRST301", "Expected 3 parts in JWT; got 1"},
			"expired":                    {expired, "PGRST303", "JWT expired"},
			"not yet valid":              {s.Token(t, map[string]any{"role": "service_role", "nbf": now + 3600}), "PGRST303", "JWT not yet valid"},
			"exp not a number":           {s.Token(t, map[string]any{"role": "service_role", "exp": "tomorrow"}), "PGRST303", "The JWT 'exp' claim must be a number"},
		} {
			t.Run(name, func(t *testing.T) {
				r := rpc(t, s, "get_user_api_key", body, "apikey", s.PublishableKey, "Authorization", "Bearer "+tc.token)
				require.Equal(t, http.StatusUnauthorized, r.status, r.body)
				assert.Equal(t, tc.code, r.code(t))
				assert.Equal(t, tc.message, r.error(t).Message)
				assert.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`),
					r.header.Get("WWW-Authenticate"))
			})
		}
	})

	t.Run("role that does not exist", func(t *testing.T) {
		tok := s.Token(t, map[string]any{"role": "byok_no_such_role", "exp": now + 3600})
		r := rpc(t, s, "get_user_api_key", body, "apikey", s.PublishableKey, "Authorization", "Bearer "+tok)
		require.Equal(t, http.StatusUnauthorized, r.status, r.body)
		assert.Equal(t, "22023", r.code(t))
	})

	t.Run("expiry within the leeway", func(t *testing.T) {
		tok := s.Token(t, map[string]any{"role": "service_role", "exp": now - 5})
		r := rpc(t, s, "get_user_api_key", body, "apikey", s.PublishableKey, "Authorization", "Bearer "+tok)
		assert.Equal(t, http.StatusOK, r.status, r.body)
	})
}

func TestRPC_keyRoundTrip(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	for _, creds := range [][]string{legacyService(s), secretKey(s)} {
		r := rpc(t, s, "insert_user_api_key", args(t, map[string]any{"p_user_id": user, "p_service": " OpenAI ", "p_api_key": "sk-round-trip"}), creds...)
		require.Equal(t, http.StatusNoContent, r.status, r.body)
		assert.Empty(t, r.body)

		r = rpc(t, s, "get_user_api_key", args(t, map[string]any{"p_user_id": user, "p_service": "openai"}), creds...)
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, `"sk-round-trip"`, r.body)
		assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))

		r = rpc(t, s, "get_user_api_key", args(t, map[string]any{"p_user_id": user, "p_service": "anthropic"}), creds...)
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, "null", r.body)

		r = rpc(t, s, "get_user_allow_gateway_fallback", args(t, map[string]any{"p_user_id": user}), creds...)
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, "true", r.body)
	}

	r := rpc(t, s, "check_vault_health", `{}`, secretKey(s)...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "true", r.body)
}

func TestRPC_snapshotTakesATextArray(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	r := rpc(t, s, "insert_user_api_key", args(t, map[string]any{"p_user_id": user, "p_service": "openai", "p_api_key": "sk-snap"}), secretKey(s)...)
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	r = rpc(t, s, "upsert_user_gateway_config", args(t, map[string]any{"p_user_id": user, "p_base_url": "https://gw.example.com/v1"}), secretKey(s)...)
	require.Equal(t, http.StatusNoContent, r.status, r.body)

	r = rpc(t, s, "get_user_byok_snapshot",
		args(t, map[string]any{"p_user_id": user, "p_services": []string{"anthropic", "openai", "xai"}}), secretKey(s)...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, `{"service":"openai","api_key":"sk-snap","gateway_base_url":"https://gw.example.com/v1","allow_gateway_fallback":true}`, r.body)

	r = rpc(t, s, "list_user_api_keys", args(t, map[string]any{"p_user_id": user}), secretKey(s)...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Len(t, list, 1)
	assert.Equal(t, "openai", list[0]["service"])
}

func TestRPC_databaseErrorsKeepTheirSQLSTATE(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	for name, tc := range map[string]struct {
		fn     string
		args   map[string]any
		status int
		code   string
	}{
		"unsupported service": {"get_user_api_key", map[string]any{"p_user_id": user, "p_service": "openia"}, http.StatusBadRequest, "22023"},
		"blank key":           {"insert_user_api_key", map[string]any{"p_user_id": user, "p_service": "openai", "p_api_key": "  "}, http.StatusBadRequest, "22023"},
		"unknown user":        {"insert_user_api_key", map[string]any{"p_user_id": "00000000-0000-4000-8000-000000000000", "p_service": "openai", "p_api_key": "sk-x"}, http.StatusConflict, "23503"},
		"malformed uuid":      {"get_user_api_key", map[string]any{"p_user_id": "not-a-uuid", "p_service": "openai"}, http.StatusBadRequest, "22P02"},
		"null consent":        {"set_user_allow_gateway_fallback", map[string]any{"p_user_id": user, "p_allow": nil}, http.StatusBadRequest, "22023"},
	} {
		t.Run(name, func(t *testing.T) {
			r := rpc(t, s, tc.fn, args(t, tc.args), secretKey(s)...)
			require.Equal(t, tc.status, r.status, r.body)
			e := r.error(t)
			assert.Equal(t, tc.code, r.code(t))
			assert.NotEmpty(t, e.Message)
			assert.Contains(t, r.body, `"hint":`, "hint is always present, null when empty")
			assert.Contains(t, r.body, `"details":`, "details is always present, null when empty")
		})
	}
}

func TestRPC_unknownFunctionOrArgumentNamesIsPGRST202(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	for name, tc := range map[string]struct {
		fn      string
		args    string
		message string
		hint    *string
	}{
		"no such function": {"get_user_api_keyz", args(t, map[string]any{"p_user_id": user}),
			"Could not find the function public.get_user_api_keyz(p_user_id) in the schema cache", nil},
		"wrong argument names": {"get_user_api_key", args(t, map[string]any{"user_id": user, "service": "openai"}),
			"Could not find the function public.get_user_api_key(service, user_id) in the schema cache",
			ptr("Perhaps you meant to call the function public.get_user_api_key(p_service, p_user_id)")},
		"an argument missing": {"get_user_api_key", args(t, map[string]any{"p_user_id": user}),
			"Could not find the function public.get_user_api_key(p_user_id) in the schema cache",
			ptr("Perhaps you meant to call the function public.get_user_api_key(p_service, p_user_id)")},
		"an extra argument": {"get_user_api_key", args(t, map[string]any{"p_user_id": user, "p_service": "openai", "p_x": 1}),
			"Could not find the function public.get_user_api_key(p_service, p_user_id, p_x) in the schema cache",
			ptr("Perhaps you meant to call the function public.get_user_api_key(p_service, p_user_id)")},
		"no arguments": {"get_user_api_key", `{}`,
			"Could not find the function public.get_user_api_key without parameters in the schema cache",
			ptr("Perhaps you meant to call the function public.get_user_api_key(p_service, p_user_id)")},
		"not a plain lowercase name": {"Get_User_Api_Key", `{}`,
			"Could not find the function public.Get_User_Api_Key without parameters in the schema cache", nil},
		"function of another schema": {"uid", `{}`,
			"Could not find the function public.uid without parameters in the schema cache", nil},
	} {
		t.Run(name, func(t *testing.T) {
			r := rpc(t, s, tc.fn, tc.args, secretKey(s)...)
			require.Equal(t, http.StatusNotFound, r.status, r.body)
			e := r.error(t)
			assert.Equal(t, "PGRST202", r.code(t))
			assert.Equal(t, tc.message, e.Message)
			assert.Equal(t, tc.hint, e.Hint)
			assert.NotNil(t, e.Details)
		})
	}
}

func TestRPC_refusesRequestsItDoesNotServe(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	rpcURL := s.URL + "/rest/v1/rpc/check_vault_health"
	for name, tc := range map[string]struct {
		method, url, body string
		headers           []string
		status            int
		code              string
	}{
		"array body":          {http.MethodPost, rpcURL, `[]`, nil, http.StatusBadRequest, "PGRST102"},
		"null body":           {http.MethodPost, rpcURL, `null`, nil, http.StatusBadRequest, "PGRST102"},
		"string body":         {http.MethodPost, rpcURL, `"x"`, nil, http.StatusBadRequest, "PGRST102"},
		"empty body":          {http.MethodPost, rpcURL, ``, nil, http.StatusBadRequest, "PGRST102"},
		"malformed json":      {http.MethodPost, rpcURL, `{"a":`, nil, http.StatusBadRequest, "PGRST102"},
		"GET":                 {http.MethodGet, rpcURL, ``, nil, http.StatusMethodNotAllowed, "PGRST101"},
		"PATCH":               {http.MethodPatch, rpcURL, `{}`, nil, http.StatusMethodNotAllowed, "PGRST101"},
		"another schema":      {http.MethodPost, rpcURL, `{}`, []string{"Content-Profile", "vault"}, http.StatusNotAcceptable, "PGRST106"},
		"text/plain body":     {http.MethodPost, rpcURL, `{}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, "PGRST107"},
		"a table":             {http.MethodGet, s.URL + "/rest/v1/api_keys", ``, nil, http.StatusNotFound, "PGRST125"},
		"rpc without a name":  {http.MethodPost, s.URL + "/rest/v1/rpc/", `{}`, nil, http.StatusNotFound, "PGRST125"},
		"nested path":         {http.MethodPost, rpcURL + "/x", `{}`, nil, http.StatusNotFound, "PGRST125"},
		"json with parameter": {http.MethodPost, rpcURL, `{}`, []string{"Content-Type", "application/json; charset=utf-8"}, http.StatusOK, ""},
	} {
		t.Run(name, func(t *testing.T) {
			headers := append(secretKey(s), tc.headers...)
			r, err := do(t.Context(), tc.method, tc.url, tc.body, headers...)
			require.NoError(t, err)
			require.Equal(t, tc.status, r.status, r.body)
			if tc.code != "" {
				assert.Equal(t, tc.code, r.code(t))
			}
		})
	}
}

func TestRPC_bindsNamedArgumentsLikePostgREST(t *testing.T) {
	db := pgtest.Fresh(t, true)
	_, err := db.Pool.Exec(t.Context(), `
create function public.byok_test_add(a int, b int default 10) returns int
  language sql immutable as $$ select a + b $$;
create function public.byok_test_series(n int) returns setof int
  language sql immutable as $$ select generate_series(1, n) $$;
create function public.byok_test_rows() returns table (id int, name text)
  language sql immutable as $$ values (1, 'one'), (2, 'two') $$;
create function public.byok_test_claims() returns jsonb
  language sql stable as $$ select jsonb_build_object('role', current_user, 'claims', current_setting('request.jwt.claims', true)::jsonb) $$;
create function public.byok_test_echo(p_ts timestamptz, p_tags text[], p_n numeric) returns json
  language sql immutable as $$ select json_build_object('year', extract(year from p_ts at time zone 'UTC'), 'tags', p_tags, 'n', p_n) $$;
create function public.byok_test_overloaded(a int) returns text language sql as $$ select 'a' $$;
create function public.byok_test_overloaded(a int, b int) returns text language sql as $$ select 'ab' $$;
create function public.byok_test_overloaded(c int, d text default '') returns text language sql as $$ select 'c' $$;
create function public.byok_test_overloaded(c text, e int default 0) returns text language sql as $$ select 'c' $$;
`)
	require.NoError(t, err)
	s := postgrest.Start(t, db)
	user := db.CreateUser(t)
	for name, tc := range map[string]struct {
		fn, args, headers string
		status            int
		body              string
	}{
		"default left out":             {"byok_test_add", `{"a":1}`, "", http.StatusOK, `11`},
		"default given":                {"byok_test_add", `{"a":1,"b":2}`, "", http.StatusOK, `3`},
		"set of scalars":               {"byok_test_series", `{"n":3}`, "", http.StatusOK, `[1,2,3]`},
		"empty set":                    {"byok_test_series", `{"n":0}`, "", http.StatusOK, `[]`},
		"table without arguments":      {"byok_test_rows", `{}`, "", http.StatusOK, `[{"id":1,"name":"one"},{"id":2,"name":"two"}]`},
		"service role claims":          {"byok_test_claims", `{}`, "", http.StatusOK, `{"role":"service_role","claims":{"role":"service_role"}}`},
		"user claims":                  {"byok_test_claims", `{}`, "user", http.StatusOK, ``},
		"json values to sql types":     {"byok_test_echo", `{"p_ts":"2024-05-01T12:00:00Z","p_tags":["a","b"],"p_n":1.5}`, "", http.StatusOK, `{"year":2024,"tags":["a","b"],"n":1.5}`},
		"overload by names, one":       {"byok_test_overloaded", `{"a":1}`, "", http.StatusOK, `"a"`},
		"overload by names, two":       {"byok_test_overloaded", `{"a":1,"b":2}`, "", http.StatusOK, `"ab"`},
		"ambiguous overloads":          {"byok_test_overloaded", `{"c":1}`, "", http.StatusMultipleChoices, ``},
		"wrong JSON type for argument": {"byok_test_add", `{"a":"x"}`, "", http.StatusBadRequest, ``},
	} {
		t.Run(name, func(t *testing.T) {
			headers := secretKey(s)
			if tc.headers == "user" {
				headers = []string{"apikey", s.PublishableKey, "Authorization", "Bearer " + s.UserToken(t, user)}
			}
			r := rpc(t, s, tc.fn, tc.args, headers...)
			require.Equal(t, tc.status, r.status, r.body)
			if tc.body != "" {
				assert.JSONEq(t, tc.body, r.body)
			}
			if tc.status == http.StatusMultipleChoices {
				assert.Equal(t, "PGRST203", r.code(t))
			}
			if tc.headers == "user" {
				var got struct {
					Role   string         `json:"role"`
					Claims map[string]any `json:"claims"`
				}
				require.NoError(t, json.Unmarshal([]byte(r.body), &got))
				assert.Equal(t, "authenticated", got.Role)
				assert.Equal(t, user, got.Claims["sub"])
				assert.Equal(t, "authenticated", got.Claims["aud"])
			}
		})
	}
}

func TestRPC_cancelsTheQueryWhenTheClientGivesUp(t *testing.T) {
	db := pgtest.Fresh(t, true)
	ctx := t.Context()
	_, err := db.Pool.Exec(ctx, `
create function public.byok_test_sleep(p_seconds float8) returns void
  language plpgsql as $$ begin perform pg_sleep(p_seconds); end $$;
revoke all on function public.byok_test_sleep(float8) from public, anon, authenticated;
grant execute on function public.byok_test_sleep(float8) to service_role;`)
	require.NoError(t, err)
	s := postgrest.Start(t, db)
	sleeping := func() int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `
select count(*)::int from pg_stat_activity
 where datname = current_database() and pid <> pg_backend_pid()
   and state = 'active' and query like '%byok_test_sleep%'`).Scan(&n))
		return n
	}

	callCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var sawSleeping atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // shows that the query did start before the client gave up
		for callCtx.Err() == nil && !sawSleeping.Load() {
			var n int
			if db.Pool.QueryRow(ctx, `select count(*)::int from pg_stat_activity
 where datname = current_database() and state = 'active' and query like '%byok_test_sleep"(%'`).Scan(&n) == nil && n > 0 {
				sawSleeping.Store(true)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	start := time.Now()
	_, err = do(callCtx, http.MethodPost, s.URL+"/rest/v1/rpc/byok_test_sleep", `{"p_seconds":30}`, secretKey(s)...)
	wg.Wait()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, sawSleeping.Load(), "the query was never seen running")

	require.Eventually(t, func() bool { return s.Canceled() == 1 && sleeping() == 0 }, 5*time.Second, 20*time.Millisecond,
		"canceled=%d, backends still sleeping=%d", s.Canceled(), sleeping())
	assert.Less(t, time.Since(start), 10*time.Second)

	// The pool is still usable after the cancel.
	r := rpc(t, s, "byok_test_sleep", `{"p_seconds":0}`, secretKey(s)...)
	assert.Equal(t, http.StatusNoContent, r.status, r.body)
	assert.Equal(t, 1, s.Canceled())
}

func TestRPC_concurrentCallsAreIsolated(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	const n = 12
	users := make([]string, n)
	for i := range users {
		users[i] = db.CreateUser(t)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("sk-concurrent-%d", i)
			creds := secretKey(s)
			if i%2 == 0 {
				creds = legacyService(s)
			}
			r, err := do(t.Context(), http.MethodPost, s.URL+"/rest/v1/rpc/insert_user_api_key",
				fmt.Sprintf(`{"p_user_id":%q,"p_service":"xai","p_api_key":%q}`, users[i], key), creds...)
			if assert.NoError(t, err) {
				assert.Equal(t, http.StatusNoContent, r.status, r.body)
			}
			// A user's token in the same burst must not see the service role.
			r, err = do(t.Context(), http.MethodPost, s.URL+"/rest/v1/rpc/get_user_api_key",
				fmt.Sprintf(`{"p_user_id":%q,"p_service":"xai"}`, users[i]),
				"apikey", s.PublishableKey, "Authorization", "Bearer "+s.UserToken(t, users[i]))
			if assert.NoError(t, err) {
				assert.Equal(t, http.StatusForbidden, r.status, r.body)
			}
			r, err = do(t.Context(), http.MethodPost, s.URL+"/rest/v1/rpc/get_user_api_key",
				fmt.Sprintf(`{"p_user_id":%q,"p_service":"xai"}`, users[i]), creds...)
			if assert.NoError(t, err) {
				assert.Equal(t, http.StatusOK, r.status, r.body)
				assert.Equal(t, fmt.Sprintf("%q", key), r.body)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 3*n, s.Requests())
	assert.Equal(t, 0, s.Canceled())
}

func TestServer_closeEndsServing(t *testing.T) {
	db := pgtest.New(t)
	s := postgrest.Start(t, db)
	r := rpc(t, s, "check_vault_health", `{}`, secretKey(s)...)
	require.Equal(t, http.StatusOK, r.status, r.body)
	s.Close()
	_, err := do(t.Context(), http.MethodPost, s.URL+"/rest/v1/rpc/check_vault_health", `{}`, secretKey(s)...)
	require.Error(t, err)
	assert.Equal(t, 1, s.Requests())
}

func ptr[T any](v T) *T { return &v }
