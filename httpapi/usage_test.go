package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

var _ httpapi.UsageReader = (*resolvetest.Usage)(nil)

// utcDay is the UTC midnight days days before now's.
func utcDay(now time.Time, days int) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d-days, 0, 0, 0, 0, time.UTC)
}

func withUsage(u httpapi.UsageReader) func(*httpapi.Config) {
	return func(c *httpapi.Config) { c.Usage = u }
}

// usageAnswer is GET /api/usage's body.
type usageAnswer struct {
	Days          int    `json:"days"`
	Since         string `json:"since"`
	TotalRequests int64  `json:"totalRequests"`
	TeamUsage     []struct {
		Day      string `json:"day"`
		Path     string `json:"path"`
		Provider string `json:"provider"`
		Requests int64  `json:"requests"`
	} `json:"teamUsage"`
	ConsentEvents []struct {
		AllowGatewayFallback bool      `json:"allowGatewayFallback"`
		At                   time.Time `json:"at"`
		Source               string    `json:"source"`
	} `json:"consentEvents"`
}

func decodeUsage(t *testing.T, r response) usageAnswer {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, r.body)
	dec := json.NewDecoder(strings.NewReader(r.body))
	dec.DisallowUnknownFields()
	var a usageAnswer
	require.NoError(t, dec.Decode(&a), r.body)
	return a
}

func TestUsage_theCallersRecord(t *testing.T) {
	store := resolvetest.NewUsage()
	now := time.Now()
	require.NoError(t, store.RecordTeamUse(t.Context(), []resolve.TeamUse{
		{UserID: alice, Day: utcDay(now, 0), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 4},
		{UserID: alice, Day: utcDay(now, 0), Path: resolve.GatewayBYOK, Provider: providers.Gateway, Requests: 2},
		{UserID: alice, Day: utcDay(now, 5), Path: resolve.ServerProvider, Provider: providers.Anthropic, Requests: 1},
		{UserID: alice, Day: utcDay(now, 40), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 100}, // outside 30 days
		{UserID: bob, Day: utcDay(now, 0), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 9},
	}))
	off := now.Add(-48 * time.Hour).UTC().Truncate(time.Second)
	store.AddConsentEvent(alice, resolve.ConsentEvent{Allow: false, At: off, Source: "api"})
	store.AddConsentEvent(alice, resolve.ConsentEvent{Allow: true, At: off.Add(time.Hour), Source: "user"})
	store.AddConsentEvent(alice, resolve.ConsentEvent{Allow: false, At: now.Add(-90 * 24 * time.Hour), Source: "sql"}) // outside
	store.AddConsentEvent(bob, resolve.ConsentEvent{Allow: false, At: off, Source: "api"})
	e := newEnv(t, withUsage(store))

	a := decodeUsage(t, e.do(t, "GET", "/api/usage", alice, ""))
	assert.Equal(t, 30, a.Days)
	assert.Contains(t, []string{utcDay(now, 29).Format(time.DateOnly), utcDay(time.Now(), 29).Format(time.DateOnly)}, a.Since)
	assert.EqualValues(t, 7, a.TotalRequests)
	body, err := json.Marshal(a.TeamUsage)
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"day": "`+utcDay(now, 5).Format(time.DateOnly)+`", "path": "server-provider", "provider": "anthropic", "requests": 1},
		{"day": "`+utcDay(now, 0).Format(time.DateOnly)+`", "path": "gateway-byok", "provider": "gateway", "requests": 2},
		{"day": "`+utcDay(now, 0).Format(time.DateOnly)+`", "path": "team-gateway", "provider": "gateway", "requests": 4}]`, string(body))
	require.Len(t, a.ConsentEvents, 2)
	assert.Equal(t, false, a.ConsentEvents[0].AllowGatewayFallback)
	assert.Equal(t, off, a.ConsentEvents[0].At)
	assert.Equal(t, "api", a.ConsentEvents[0].Source)
	assert.Equal(t, true, a.ConsentEvents[1].AllowGatewayFallback)
	assert.Equal(t, "user", a.ConsentEvents[1].Source)

	a = decodeUsage(t, e.do(t, "GET", "/api/usage?days=366", alice, ""))
	assert.Equal(t, 366, a.Days)
	assert.EqualValues(t, 107, a.TotalRequests)
	assert.Len(t, a.ConsentEvents, 3)

	a = decodeUsage(t, e.do(t, "GET", "/api/usage?days=1", bob, ""))
	assert.EqualValues(t, 9, a.TotalRequests, "bob sees his own")
	assert.Empty(t, a.ConsentEvents, "his event is two days old")

	a = decodeUsage(t, e.do(t, "GET", "/api/usage", "0e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", ""))
	assert.Zero(t, a.TotalRequests)
	r := e.do(t, "GET", "/api/usage", "0e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "")
	assert.Contains(t, r.body, `"teamUsage":[]`, "an empty list, not null")
	assert.Contains(t, r.body, `"consentEvents":[]`)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "60", r.header.Get("X-RateLimit-Limit"))
}

func TestUsage_daysMustBeAWholeNumberFrom1To366(t *testing.T) {
	store := resolvetest.NewUsage()
	e := newEnv(t, withUsage(store))
	for _, q := range []string{"days=", "days=0", "days=367", "days=1000", "days=-1", "days=+30", "days=%2B30", "days=030",
		"days=%2030", "days=30%20", "days=3.0", "days=1e2", "days=abc", "days=30&days=30", "days=%zz", "days=0x1f"} {
		calls := store.Calls()
		assertError(t, e.do(t, "GET", "/api/usage?"+q, alice, ""), http.StatusBadRequest, "invalid_request")
		assert.Equal(t, calls, store.Calls(), "%s: no store call", q)
	}
	for _, q := range []string{"days=1", "days=9", "days=10", "days=366", "other=x", ""} {
		assert.Equal(t, http.StatusOK, e.do(t, "GET", "/api/usage?"+q, alice, "").status, q)
	}
}

func TestUsage_guards(t *testing.T) {
	store := resolvetest.NewUsage()
	e := newEnv(t, withUsage(store))
	assertError(t, e.do(t, "GET", "/api/usage", "", ""), http.StatusUnauthorized, "unauthorized")
	assertError(t, e.do(t, "POST", "/api/usage", alice, "{}"), http.StatusMethodNotAllowed, "method_not_allowed")
	assert.Zero(t, store.Calls())

	for range 60 {
		require.Equal(t, http.StatusOK, e.do(t, "GET", "/api/usage", alice, "").status)
	}
	r := e.do(t, "GET", "/api/usage", alice, "")
	assertError(t, r, http.StatusTooManyRequests, "rate_limit_exceeded")
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, e.do(t, "GET", "/api/user-settings", alice, "").status, "a budget of its own")
}

func TestUsage_notServedWithoutAReader(t *testing.T) {
	e := newEnv(t)
	assertError(t, e.do(t, "GET", "/api/usage", alice, ""), http.StatusNotFound, "not_found")
	assertError(t, e.do(t, "GET", "/api/usage", "", ""), http.StatusNotFound, "not_found")
	assert.Zero(t, e.limiter.count(), "not charged")
}

func TestUsage_storeFailureLeaksNothing(t *testing.T) {
	store := resolvetest.NewUsage()
	store.FailWith(errors.New("pg: relation byok_team_usage CANARY-usage-7e1f"))
	e := newEnv(t, withUsage(store))
	r := e.do(t, "GET", "/api/usage", alice, "")
	assertError(t, r, http.StatusInternalServerError, "USAGE_UNAVAILABLE")
	assert.NotContains(t, r.body, "CANARY")
	assert.NotContains(t, e.logs.String(), "CANARY")
	assert.NotContains(t, e.logs.String(), alice, "no user id in the log")
}

// leakyReader returns other users' rows and rows outside the window, as a broken store
// might.
type leakyReader struct{}

func (leakyReader) TeamUsage(_ context.Context, user string, since time.Time) ([]resolve.TeamUse, error) {
	return []resolve.TeamUse{
		{UserID: user, Day: since, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 1},
		{UserID: bob, Day: since, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 50},
		{UserID: user, Day: since.AddDate(0, 0, -1), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 70},
	}, nil
}

func (leakyReader) ConsentEvents(_ context.Context, _ string, since time.Time, _ int) ([]resolve.ConsentEvent, error) {
	return []resolve.ConsentEvent{{Allow: true, At: since.Add(-time.Second), Source: "api"}}, nil
}

func TestUsage_onlyTheCallersRowsInTheWindow(t *testing.T) {
	e := newEnv(t, withUsage(leakyReader{}))
	a := decodeUsage(t, e.do(t, "GET", "/api/usage", alice, ""))
	assert.EqualValues(t, 1, a.TotalRequests)
	assert.Len(t, a.TeamUsage, 1)
	assert.Empty(t, a.ConsentEvents)
}
