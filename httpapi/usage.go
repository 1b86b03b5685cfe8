package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// UsageReader reads a user's record of who paid: the requests the team paid for and the
// changes of the user's consent. usage.Store and resolvetest.Usage implement it.
type UsageReader interface {
	// TeamUsage returns the user's team-paid request counters from the UTC date of since
	// on.
	TeamUsage(ctx context.Context, userID string, since time.Time) ([]resolve.TeamUse, error)
	// ConsentEvents returns the user's latest limit consent changes at or after since,
	// oldest first.
	ConsentEvents(ctx context.Context, userID string, since time.Time, limit int) ([]resolve.ConsentEvent, error)
}

// Bounds of GET /api/usage.
const (
	defaultUsageDays = 30
	maxUsageDays     = 366
	maxUsageEvents   = 1000 // consent events per answer: the latest ones
)

// usageReport is the answer of GET /api/usage.
type usageReport struct {
	Days          int            `json:"days"`
	Since         string         `json:"since"`         // the first UTC day counted, YYYY-MM-DD
	TotalRequests int64          `json:"totalRequests"` // team-paid requests over the window
	TeamUsage     []usageDay     `json:"teamUsage"`
	ConsentEvents []consentEvent `json:"consentEvents"`
}

type usageDay struct {
	Day      string       `json:"day"` // YYYY-MM-DD, UTC
	Path     resolve.Path `json:"path"`
	Provider providers.ID `json:"provider"`
	Requests int64        `json:"requests"`
}

type consentEvent struct {
	AllowGatewayFallback bool      `json:"allowGatewayFallback"`
	At                   time.Time `json:"at"`
	Source               string    `json:"source"` // api, user or sql
}

// getUsage answers GET /api/usage: the caller's team-paid request counts per UTC day, path
// and provider over the last ?days= days (today included; 1 to 366, 30 by default), and
// their consent changes since the first of those days.
func (h *handler) getUsage(w *recorder, r *http.Request, user string) {
	days, ok := parseDays(r)
	if !ok {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "days must be a whole number from 1 to 366")
		return
	}
	y, m, d := time.Now().UTC().Date()
	since := time.Date(y, m, d-(days-1), 0, 0, 0, 0, time.UTC)
	uses, err := h.cfg.Usage.TeamUsage(r.Context(), user, since)
	if err != nil {
		w.fail(http.StatusInternalServerError, codeUsageUnavailable, "Usage store unavailable")
		return
	}
	events, err := h.cfg.Usage.ConsentEvents(r.Context(), user, since, maxUsageEvents)
	if err != nil {
		w.fail(http.StatusInternalServerError, codeUsageUnavailable, "Usage store unavailable")
		return
	}
	out := usageReport{Days: days, Since: since.Format(time.DateOnly), TeamUsage: []usageDay{}, ConsentEvents: []consentEvent{}}
	for _, u := range uses {
		if u.UserID != user || u.Day.Before(since) { // the caller's rows only, whatever the store returns
			continue
		}
		out.TeamUsage = append(out.TeamUsage, usageDay{Day: u.Day.UTC().Format(time.DateOnly), Path: u.Path, Provider: u.Provider, Requests: u.Requests})
		out.TotalRequests += u.Requests
	}
	for _, e := range events {
		if e.At.Before(since) {
			continue
		}
		out.ConsentEvents = append(out.ConsentEvents, consentEvent{AllowGatewayFallback: e.Allow, At: e.At.UTC(), Source: e.Source})
	}
	w.json(http.StatusOK, out)
}

// parseDays reads ?days=: absent gives the default; once, as 1 to 3 digits without a
// leading zero, from 1 to 366. Anything else (a sign, spaces, a repeat, 0, 367, a query
// that does not parse) is not ok.
func parseDays(r *http.Request) (int, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, false
	}
	vs, present := q["days"]
	if !present {
		return defaultUsageDays, true
	}
	if len(vs) != 1 || len(vs[0]) == 0 || len(vs[0]) > 3 || vs[0][0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range []byte(vs[0]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= maxUsageDays
}
