package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

func TestKeys_rejectedRequestsStoreNothing(t *testing.T) {
	long := strings.Repeat("k", providers.MaxKeyLen+1)
	ct := func(v string) []string { return []string{"Content-Type", v} }
	tests := []struct {
		name, body, code string
		status           int
		header           []string
	}{
		// Content types: only JSON, optionally saying utf-8.
		{"text/plain", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("text/plain")},
		{"form", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/x-www-form-urlencoded")},
		{"multipart", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("multipart/form-data; boundary=x")},
		{"no content type", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("")},
		{"json lookalike", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json-patch+json")},
		{"another charset", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json; charset=latin1")},
		{"another parameter", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json; v=2")},
		{"malformed content type", `{"service":"openai","apiKey":"sk-1"}`, "unsupported_media_type", 415, ct("application/json; charset")},
		// What encoding/json lets through.
		{"duplicate service, last one valid", `{"service":"bogus","service":"openrouter","apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"duplicate apiKey", `{"service":"openai","apiKey":"sk-1","apiKey":"sk-2"}`, "invalid_request", 400, nil},
		{"duplicate through an escape", `{"service":"openai","apiKey":"sk-1","api\u004bey":"sk-2"}`, "invalid_request", 400, nil},
		{"APIKEY", `{"service":"openai","APIKEY":"sk-1"}`, "invalid_request", 400, nil},
		{"apikey", `{"service":"openai","apikey":"sk-1"}`, "invalid_request", 400, nil},
		{"Service", `{"Service":"openai","apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"baseURL", `{"service":"gateway","apiKey":"vck-1","baseURL":"https://ai-gateway.vercel.sh/v1"}`, "invalid_request", 400, nil},
		{"invalid UTF-8 in apiKey", "{\"service\":\"openai\",\"apiKey\":\"sk-\xff\xfe1\"}", "invalid_request", 400, nil},
		{"invalid UTF-8 in a name", "{\"service\":\"openai\",\"apiKey\":\"sk-1\",\"\xc3\":1}", "invalid_request", 400, nil},
		{"lone surrogate escape", `{"service":"openai","apiKey":"sk-\ud800x"}`, "invalid_request", 400, nil},
		{"lone surrogate escape in service", `{"service":"openai\udc00","apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"invalid UTF-8 in service", "{\"service\":\"openai\xff\",\"apiKey\":\"sk-1\"}", "invalid_request", 400, nil},
		{"escaped replacement character", `{"service":"openai","apiKey":"sk-\ufffdx"}`, "invalid_request", 400, nil},
		{"right-to-left override", `{"service":"openai","apiKey":"sk-\u202eabc"}`, "invalid_request", 400, nil},
		{"right-to-left override, raw", "{\"service\":\"openai\",\"apiKey\":\"sk-\u202eabc\"}", "invalid_request", 400, nil},
		{"zero-width space", `{"service":"openai","apiKey":"sk-\u200babc"}`, "invalid_request", 400, nil},
		{"zero-width joiner, raw", "{\"service\":\"openai\",\"apiKey\":\"sk-\u200dabc\"}", "invalid_request", 400, nil},
		{"non-ASCII letter", `{"service":"openai","apiKey":"sk-é"}`, "invalid_request", 400, nil},
		{"NUL", `{"service":"openai","apiKey":"sk-\u0000"}`, "invalid_request", 400, nil},
		{"service not a string", `{"service":1,"apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"apiKey an object", `{"service":"openai","apiKey":{"k":"sk-1"}}`, "invalid_request", 400, nil},
		{"apiKey an array", `{"service":"openai","apiKey":["sk-1"]}`, "invalid_request", 400, nil},
		{"baseUrl a number", `{"service":"gateway","apiKey":"vck-1","baseUrl":5}`, "invalid_request", 400, nil},
		{"baseUrl null", `{"service":"gateway","apiKey":"vck-1","baseUrl":null}`, "invalid_request", 400, nil},
		{"service null", `{"service":null,"apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"deep nesting", `{"service":"openai","apiKey":"sk-1","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "invalid_request", 400, nil},
		{"trailing garbage", `{"service":"openai","apiKey":"sk-1"} x`, "invalid_request", 400, nil},
		{"empty body", ``, "invalid_request", 400, nil},
		{"malformed json", `{"service":"openai",`, "invalid_request", 400, nil},
		{"not an object", `["openai"]`, "invalid_request", 400, nil},
		{"unknown field", `{"service":"openai","apiKey":"sk-1","extra":1}`, "invalid_request", 400, nil},
		{"two objects", `{"service":"openai","apiKey":"sk-1"}{}`, "invalid_request", 400, nil},
		{"missing service", `{"apiKey":"sk-1"}`, "invalid_request", 400, nil},
		{"missing apiKey", `{"service":"openai"}`, "invalid_request", 400, nil},
		{"empty apiKey", `{"service":"openai","apiKey":"   "}`, "invalid_request", 400, nil},
		{"apiKey with inner space", `{"service":"openai","apiKey":"sk-a b"}`, "invalid_request", 400, nil},
		{"apiKey with newline", `{"service":"openai","apiKey":"sk-a\nb"}`, "invalid_request", 400, nil},
		{"apiKey too long", `{"service":"openai","apiKey":"` + long + `"}`, "invalid_request", 400, nil},
		{"apiKey not a string", `{"service":"openai","apiKey":12}`, "invalid_request", 400, nil},
		{"unsupported service", `{"service":"mistral","apiKey":"sk-1"}`, "bad_request", 400, nil},
		{"baseUrl for a provider", `{"service":"openai","apiKey":"sk-1","baseUrl":"https://ai-gateway.vercel.sh/v1"}`, "bad_request", 400, nil},
		{"private base url", `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://169.254.169.254/v1"}`, "bad_request", 400, nil},
		{"http base url", `{"service":"gateway","apiKey":"vck-1","baseUrl":"http://ai-gateway.vercel.sh/v1"}`, "bad_request", 400, nil},
		{"foreign base url", `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://evil.example.net/v1"}`, "bad_request", 400, nil},
		{"oversize body", `{"service":"openai","apiKey":"sk-1","pad":"` + strings.Repeat("x", 70<<10) + `"}`, "payload_too_large", 413, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(t, "POST", "/api/keys", alice, tt.body, tt.header...)
			assertError(t, r, tt.status, tt.code)
			infos, err := e.keys.ListKeys(t.Context(), alice)
			require.NoError(t, err)
			assert.Empty(t, infos, "nothing stored")
			u, _ := e.keys.GatewayBaseURL(t.Context(), alice)
			assert.Empty(t, u, "no base URL stored")
		})
	}
	t.Run("unsupported base url reason", func(t *testing.T) {
		e := newEnv(t)
		r := e.do(t, "POST", "/api/keys", alice, `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://127.0.0.1/v1"}`)
		assert.Equal(t, "Gateway base URL is not allowed", r.json(t)["reason"])
		r = e.do(t, "POST", "/api/keys", alice, `{"service":"nope","apiKey":"vck-1"}`)
		assert.Equal(t, "Unsupported service", r.json(t)["reason"])
	})
}

func TestKeys_strictBodyAccepts(t *testing.T) {
	e := newEnv(t)
	longest := "sk-" + strings.Repeat("k", providers.MaxKeyLen-3)
	for i, tc := range []struct{ contentType, body string }{
		{"application/json", `{"service":"openai","apiKey":"` + longest + `"}`},
		{"application/json; charset=utf-8", `{"service":"xai","apiKey":"xai-1"}`},
		{"Application/JSON; Charset=UTF-8", ` {"apiKey":"sk-ant-1", "service":"anthropic"} ` + "\n"},
		{"application/json", `{"service":"gateway","apiKey":"vck-1","baseUrl":"https://ai-gateway.vercel.sh/v1"}`},
		{"application/json", `{"service":"openrouter","apiKey":"sk-or-!#$%&'()*+,-./:;<=>?@[]^_{|}~"}`},
	} {
		r := e.do(t, "POST", "/api/keys", bob, tc.body, "Content-Type", tc.contentType)
		require.Equal(t, http.StatusNoContent, r.status, "%d: %s", i, r.body)
	}
	key, err := e.keys.Key(t.Context(), bob, providers.OpenAI)
	require.NoError(t, err)
	assert.Equal(t, longest, key.Reveal(), "a key of exactly MaxKeyLen bytes")
	key, err = e.keys.Key(t.Context(), bob, providers.OpenRouter)
	require.NoError(t, err)
	assert.Equal(t, "sk-or-!#$%&'()*+,-./:;<=>?@[]^_{|}~", key.Reveal(), "all printable ASCII")
}

// The other body routes decode the same strict way, and refuse before any store or
// provider call.
func TestStrictBodies_otherRoutes(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, http.StatusOK, e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":false}`).status)
	for _, tc := range []struct {
		path, body, contentType, code string
		status                        int
	}{
		{"/api/user-settings", `{"allowGatewayFallback":true}`, "text/plain", "unsupported_media_type", 415},
		{"/api/user-settings", `{"allowGatewayFallback":true}`, "", "unsupported_media_type", 415},
		{"/api/user-settings", `{"allowGatewayFallback":false,"allowGatewayFallback":true}`, "application/json", "invalid_request", 400},
		{"/api/user-settings", `{"AllowGatewayFallback":true}`, "application/json", "invalid_request", 400},
		{"/api/user-settings", `{"allowgatewayfallback":true}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", `{"service":"openai","apiKey":"sk-1"}`, "application/x-www-form-urlencoded", "unsupported_media_type", 415},
		{"/api/keys/validate", `{"service":"bogus","service":"openai","apiKey":"sk-1"}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", `{"service":"openai","APIKEY":"sk-1"}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", `{"service":"openai","apiKey":"sk-\u200b1"}`, "application/json", "invalid_request", 400},
		{"/api/keys/validate", "{\"service\":\"openai\",\"apiKey\":\"sk-\xff\"}", "application/json", "invalid_request", 400},
	} {
		assertError(t, e.do(t, "POST", tc.path, alice, tc.body, "Content-Type", tc.contentType), tc.status, tc.code)
	}
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, e.do(t, "GET", "/api/user-settings", alice, "").body, "unchanged")
	assert.Zero(t, e.validator.calls, "no key reached the validator")
}
