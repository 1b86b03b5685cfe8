package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

func TestKeys_postListDelete(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/keys", alice, `{"service":" OpenAI ","apiKey":"  sk-alice-1  "}`)
	assert.Equal(t, http.StatusNoContent, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	key, err := e.keys.Key(t.Context(), alice, providers.OpenAI)
	require.NoError(t, err)
	assert.Equal(t, "sk-alice-1", key.Reveal(), "trimmed")

	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"xai","apiKey":"xai-alice"}`).status)
	require.Equal(t, http.StatusNoContent, e.do(t, "POST", "/api/keys", alice, `{"service":"anthropic","apiKey":"sk-ant-alice"}`).status)

	r = e.do(t, "GET", "/api/keys", alice, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Len(t, list, 3)
	for i, want := range []string{"anthropic", "openai", "xai"} {
		assert.Equal(t, want, list[i]["service"])
		assert.NotEmpty(t, list[i]["createdAt"])
		assert.Contains(t, list[i], "lastUsed")
		assert.Equal(t, "ok", list[i]["status"])
		assert.Contains(t, list[i], "reason")
		assert.Nil(t, list[i]["reason"])
		assert.Contains(t, list[i], "failedAt")
		assert.Nil(t, list[i]["failedAt"])
		assert.Len(t, list[i], 6, "service, createdAt, lastUsed, status, reason, failedAt; never a key")
	}
	assert.NotContains(t, r.body, "sk-")

	// Other users see nothing.
	r = e.do(t, "GET", "/api/keys", bob, "")
	assert.JSONEq(t, `[]`, r.body)

	for range 2 { // idempotent
		r = e.do(t, "DELETE", "/api/keys/openai", alice, "")
		assert.Equal(t, http.StatusNoContent, r.status)
	}
	_, err = e.keys.Key(t.Context(), alice, providers.OpenAI)
	assert.ErrorIs(t, err, resolve.ErrNotFound)
}

func TestKeys_gatewayBaseURL(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-alice","baseUrl":"https://GW.example.com/v1/"}`)
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	u, err := e.keys.GatewayBaseURL(t.Context(), alice)
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com/v1", u, "stored normalized")
	m, status := e.resolvePath(t, alice)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"path": "user-gateway", "provider": "gateway", "baseUrlHost": "gw.example.com", "baseUrlSource": "user", "model": nil}, m)

	// Deleting the gateway key deletes the base URL too.
	require.Equal(t, http.StatusNoContent, e.do(t, "DELETE", "/api/keys/gateway", alice, "").status)
	u, err = e.keys.GatewayBaseURL(t.Context(), alice)
	require.NoError(t, err)
	assert.Empty(t, u)
}

func TestKeys_deleteUnsupportedService(t *testing.T) {
	e := newEnv(t)
	assertError(t, e.do(t, "DELETE", "/api/keys/mistral", alice, ""), 400, "bad_request")
}

func TestKeys_storeFailures(t *testing.T) {
	e := newEnv(t)
	e.keys.FailWith(errors.New("pq: connection refused to db.internal:5432 password=hunter2"))
	assertError(t, e.do(t, "GET", "/api/keys", alice, ""), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-1"}`), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"sk-1","baseUrl":"https://ai-gateway.vercel.sh/v1"}`), 500, "VAULT_UNAVAILABLE")
	assertError(t, e.do(t, "DELETE", "/api/keys/openai", alice, ""), 500, "VAULT_UNAVAILABLE")
	for _, b := range e.bodies {
		assert.NotContains(t, b, "hunter2")
		assert.NotContains(t, b, "db.internal")
	}
	assert.NotContains(t, e.logs.String(), "hunter2", "raw store errors are not logged")
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "POST", "/api/keys/validate", alice, `{"service":"Anthropic","apiKey":"sk-ant-x"}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"isValid":true}`, r.body)
	assert.Equal(t, providers.Anthropic, e.validator.last)

	for _, reason := range []string{"INVALID_KEY", "RATE_LIMITED", "NETWORK_ERROR", "REQUEST_TIMEOUT"} {
		e.validator.result = providers.Validation{Reason: reason}
		r = e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":"sk-x"}`)
		require.Equal(t, http.StatusOK, r.status)
		assert.JSONEq(t, `{"isValid":false,"reason":"`+reason+`"}`, r.body)
	}
	calls := e.validator.calls
	assertError(t, e.do(t, "POST", "/api/keys/validate", alice, `{"service":"mistral","apiKey":"sk-x"}`), 400, "bad_request")
	assertError(t, e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":""}`), 400, "invalid_request")
	assertError(t, e.do(t, "POST", "/api/keys/validate", alice, `{"service":"openai","apiKey":"sk-x","baseUrl":"x"}`), 400, "invalid_request")
	assert.Equal(t, calls, e.validator.calls, "rejected requests never reach the provider")
	infos, _ := e.keys.ListKeys(t.Context(), alice)
	assert.Empty(t, infos, "validate stores nothing")
}
