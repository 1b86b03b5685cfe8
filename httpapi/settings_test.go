package httpapi_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSettings(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/api/user-settings", alice, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"allowGatewayFallback":true}`, r.body)

	r = e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":false}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"ok":true}`, r.body)
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, e.do(t, "GET", "/api/user-settings", alice, "").body)

	for _, bad := range []string{`{"allowGatewayFallback":"false"}`, `{"allowGatewayFallback":null}`, `{}`, `{"allowGatewayFallback":0}`, `{"allowGatewayFallback":true,"x":1}`, `true`, ``} {
		assertError(t, e.do(t, "POST", "/api/user-settings", alice, bad), 400, "invalid_request")
	}
	assert.JSONEq(t, `{"allowGatewayFallback":false}`, e.do(t, "GET", "/api/user-settings", alice, "").body, "unchanged by rejected requests")

	e.consent.FailWith(errors.New("boom"))
	assertError(t, e.do(t, "GET", "/api/user-settings", alice, ""), 500, "SETTINGS_UNAVAILABLE")
	assertError(t, e.do(t, "POST", "/api/user-settings", alice, `{"allowGatewayFallback":true}`), 500, "SETTINGS_UNAVAILABLE")
}
