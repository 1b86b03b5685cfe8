package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
)

// tokenEnv is a handler whose requests are verified by a real JWTVerifier (HS256, the
// test issuer) through Config.Verify, with tokens shaped like GoTrue's.
type tokenEnv struct {
	*env
	t *testing.T
}

func newTokenEnv(t *testing.T, jc httpapi.JWTConfig, mods ...func(*httpapi.Config)) tokenEnv {
	t.Helper()
	jc.Secret, jc.Issuer = testSecret, testIssuer
	v := newVerifier(t, jc)
	mods = append([]func(*httpapi.Config){func(c *httpapi.Config) { c.Verify = v.Verify }}, mods...)
	return tokenEnv{env: newEnv(t, mods...), t: t}
}

// as sends a request with a token carrying c.
func (e tokenEnv) as(c jwt.MapClaims, method, path, body string) response {
	e.t.Helper()
	tok := sign(e.t, jwt.SigningMethodHS256, testSecret, "", c)
	return e.do(e.t, method, path, "", body, "Authorization", "Bearer "+tok)
}

// logCodes are the error codes of the log lines so far.
func (e tokenEnv) logCodes() []string {
	var codes []string
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		require.NoError(e.t, json.Unmarshal([]byte(line), &m))
		if c, ok := m["error"].(string); ok {
			codes = append(codes, c)
		}
	}
	return codes
}

func TestVerify_MFAForKeyWrites(t *testing.T) {
	e := newTokenEnv(t, httpapi.JWTConfig{}, func(c *httpapi.Config) { c.RequireAAL2ForKeyWrites = true })
	aal1, aal2 := gotrueClaims(alice), mfaClaims(alice)
	e.keys.Put(alice, providers.XAI, "xai-stored")

	// aal1: both key writes are 403 mfa_required, before the rate limit and the store.
	calls := e.keys.Calls()
	r := e.as(aal1, "POST", "/api/keys", `{"service":"openai","apiKey":"sk-1"}`)
	assertError(t, r, http.StatusForbidden, "mfa_required")
	assert.Empty(t, r.header.Get("X-RateLimit-Limit"), "not charged")
	assertError(t, e.as(aal1, "DELETE", "/api/keys/xai", ""), http.StatusForbidden, "mfa_required")
	assert.Equal(t, calls, e.keys.Calls(), "no store call")
	assert.Zero(t, e.limiter.count(), "no rate-limit charge")
	_, err := e.keys.Key(t.Context(), alice, providers.XAI)
	require.NoError(t, err, "the stored key is still there")

	// aal1: reads, validation, settings and resolution are unaffected.
	assert.Equal(t, http.StatusOK, e.as(aal1, "GET", "/api/keys", "").status)
	assert.Equal(t, http.StatusOK, e.as(aal1, "POST", "/api/keys/validate", `{"service":"openai","apiKey":"sk-1"}`).status)
	assert.Equal(t, http.StatusOK, e.as(aal1, "GET", "/api/user-settings", "").status)
	assert.Equal(t, http.StatusOK, e.as(aal1, "POST", "/api/user-settings", `{"allowGatewayFallback":true}`).status)
	assert.Equal(t, http.StatusOK, e.as(aal1, "GET", "/api/providers/resolve", "").status)

	// aal2: key writes succeed.
	require.Equal(t, http.StatusNoContent, e.as(aal2, "POST", "/api/keys", `{"service":"openai","apiKey":"sk-mfa"}`).status)
	key, err := e.keys.Key(t.Context(), alice, providers.OpenAI)
	require.NoError(t, err)
	assert.Equal(t, "sk-mfa", key.Reveal())
	require.Equal(t, http.StatusNoContent, e.as(aal2, "DELETE", "/api/keys/xai", "").status)

	// A token the verifier refuses is 401 first, MFA or not.
	assertError(t, e.as(with(mfaClaims(alice), "iss", "https://other.supabase.co/auth/v1"), "POST", "/api/keys", `{"service":"openai","apiKey":"sk-1"}`), 401, "unauthorized")
	assert.Contains(t, e.logCodes(), "mfa_required")
	assert.Contains(t, e.logCodes(), "unauthorized:wrong_issuer")
}

func TestVerify_withoutMFARequirementAAL1Writes(t *testing.T) {
	e := newTokenEnv(t, httpapi.JWTConfig{})
	require.Equal(t, http.StatusNoContent, e.as(gotrueClaims(alice), "POST", "/api/keys", `{"service":"openai","apiKey":"sk-1"}`).status)
	require.Equal(t, http.StatusNoContent, e.as(gotrueClaims(alice), "DELETE", "/api/keys/openai", "").status)
}

// TestVerify_MFARequirementFailsClosed: with RequireAAL2ForKeyWrites, claims that say
// nothing about MFA (a Verify that knows only the user id) cannot write keys; without a
// Verify at all, Validate names it and every route that needs a user answers 500.
func TestVerify_MFARequirementFailsClosed(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.RequireAAL2ForKeyWrites = true })
	assertError(t, e.do(t, "POST", "/api/keys", alice, `{"service":"openai","apiKey":"sk-1"}`), http.StatusForbidden, "mfa_required")
	assertError(t, e.do(t, "DELETE", "/api/keys/openai", alice, ""), http.StatusForbidden, "mfa_required")
	assert.Zero(t, e.keys.Calls(), "fails closed: nothing written")
	assert.Equal(t, http.StatusOK, e.do(t, "GET", "/api/keys", alice, "").status, "reads still work")

	err := httpapi.Config{RequireAAL2ForKeyWrites: true}.Validate()
	require.ErrorIs(t, err, httpapi.ErrMissingConfig)
	assert.Contains(t, err.Error(), "Verify")
	e = newEnv(t, func(c *httpapi.Config) { c.RequireAAL2ForKeyWrites = true; c.Verify = nil })
	for _, rt := range authedRoutes {
		assertError(t, e.do(t, rt.method, rt.path, alice, rt.body), http.StatusInternalServerError, "server_misconfigured")
	}
	assert.Zero(t, e.keys.Calls(), "nothing written")
	assert.Zero(t, e.limiter.count(), "no rate-limit charge")
}

func TestVerify_anonymousAndClientTokensThroughTheHandler(t *testing.T) {
	t.Run("refused by default on every route", func(t *testing.T) {
		e := newTokenEnv(t, httpapi.JWTConfig{})
		for _, rt := range authedRoutes {
			for _, c := range []jwt.MapClaims{anonymousClaims(alice), clientClaims(alice)} {
				r := e.as(c, rt.method, rt.path, rt.body)
				assertError(t, r, http.StatusUnauthorized, "unauthorized")
			}
		}
		assert.Zero(t, e.keys.Calls())
		assert.Zero(t, e.consent.Calls())
		assert.Zero(t, e.validator.calls)
		codes := e.logCodes()
		assert.Contains(t, codes, "unauthorized:anonymous_user", "the reason is in the log line")
		assert.Contains(t, codes, "unauthorized:oauth_client_token")
		assert.NotContains(t, e.logs.String(), alice)
		assert.NotContains(t, e.logs.String(), "9a5b1c2d")
	})
	t.Run("accepted when allowed", func(t *testing.T) {
		e := newTokenEnv(t, httpapi.JWTConfig{AllowAnonymous: true, AllowClientTokens: true})
		require.Equal(t, http.StatusNoContent, e.as(anonymousClaims(alice), "POST", "/api/keys", `{"service":"openai","apiKey":"sk-anon"}`).status)
		require.Equal(t, http.StatusOK, e.as(clientClaims(bob), "GET", "/api/keys", "").status)
	})
}

// Tokens carrying canaries in every claim a real token has, refused for each reason, leave
// no trace in bodies or logs.
func TestVerify_canary(t *testing.T) {
	const canary = "CANARYz3K8"
	e := newTokenEnv(t, httpapi.JWTConfig{}, func(c *httpapi.Config) { c.RequireAAL2ForKeyWrites = true })
	dress := func(c jwt.MapClaims) jwt.MapClaims {
		c["email"] = canary + "@example.com"
		c["phone"] = canary
		c["user_metadata"] = map[string]any{"name": canary}
		c["session_id"] = canary
		return c
	}
	for _, c := range []jwt.MapClaims{
		dress(gotrueClaims(alice)),
		dress(anonymousClaims(alice)),
		dress(with(clientClaims(alice), "client_id", canary)),
		dress(with(gotrueClaims(alice), "iss", canary)),
		dress(with(gotrueClaims(alice), "exp", canary)),
		dress(with(gotrueClaims(alice), "aal", canary)),
	} {
		e.as(c, "POST", "/api/keys", `{"service":"openai","apiKey":"sk-`+canary+`"}`)
		e.as(c, "DELETE", "/api/keys/openai", "")
		e.as(c, "GET", "/api/keys", "")
	}
	for i, b := range e.bodies {
		assert.NotContains(t, b, canary, "response %d", i)
	}
	assert.NotContains(t, e.logs.String(), canary)
}
