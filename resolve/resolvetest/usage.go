package resolvetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// ErrLimit is returned by [Usage.ConsentEvents] for a limit outside 1 to 1000, the
// bounds of the Supabase store.
var ErrLimit = errors.New("resolvetest: consent events limit out of range")

// Usage is an in-memory [resolve.UsageSink] with the reads of package usage's Store
// (TeamUsage, ConsentEvents): give it to resolve.WithTeamUsage, then read what the
// Resolver flushed. It is safe for concurrent use.
type Usage struct {
	mu      sync.Mutex // guards every field below
	counts  map[usageKey]int64
	batches int // RecordTeamUse calls that stored their uses
	events  map[string][]resolve.ConsentEvent
	fail    error
	calls   int
}

type usageKey struct {
	user string
	day  time.Time
	path resolve.Path
	id   providers.ID
}

var _ resolve.UsageSink = (*Usage)(nil)

// NewUsage returns an empty store.
func NewUsage() *Usage {
	return &Usage{counts: map[usageKey]int64{}, events: map[string][]resolve.ConsentEvent{}}
}

// FailWith makes every later call that takes a context return err; nil clears it.
func (u *Usage) FailWith(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fail = err
}

// Calls returns the number of calls that took a context so far, failed ones included.
func (u *Usage) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// Batches returns the number of RecordTeamUse calls that stored their uses.
func (u *Usage) Batches() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.batches
}

// Requests returns the requests stored for (user, path), over every day and provider
// (inspection helper: no context, never fails, no call counted).
func (u *Usage) Requests(userID string, path resolve.Path) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int64
	for k, v := range u.counts {
		if k.user == userID && k.path == path {
			n += v
		}
	}
	return n
}

// All returns every stored counter, ordered by user, day, path and provider
// (inspection helper).
func (u *Usage) All() []resolve.TeamUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]resolve.TeamUse, 0, len(u.counts))
	for k, v := range u.counts {
		out = append(out, resolve.TeamUse{UserID: k.user, Day: k.day, Path: k.path, Provider: k.id, Requests: v})
	}
	slices.SortFunc(out, compareUses)
	return out
}

// AddConsentEvent records a change of the user's consent, as the database's trigger
// does (set-up helper).
func (u *Usage) AddConsentEvent(userID string, e resolve.ConsentEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.events[userID] = append(u.events[userID], e)
}

// RecordTeamUse implements [resolve.UsageSink]: it adds each use's Requests to its
// (user, UTC day, path, provider) counter. Uses on a user path, with an empty user id or
// with Requests below 1 are skipped, as the Supabase store skips what it cannot hold.
func (u *Usage) RecordTeamUse(ctx context.Context, uses []resolve.TeamUse) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.fail != nil {
		return u.fail
	}
	for _, use := range uses {
		switch {
		case use.Path != resolve.TeamGateway && use.Path != resolve.ServerProvider && use.Path != resolve.GatewayBYOK,
			strings.TrimSpace(use.UserID) == "", use.Requests < 1:
			continue
		}
		u.counts[usageKey{use.UserID, utcDay(use.Day), use.Path, use.Provider}] += use.Requests
	}
	u.batches++
	return nil
}

// TeamUsage returns the user's counters from the UTC date of since on, ordered by day,
// path and provider.
func (u *Usage) TeamUsage(ctx context.Context, userID string, since time.Time) ([]resolve.TeamUse, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.enterLocked(ctx, userID); err != nil {
		return nil, err
	}
	first := utcDay(since)
	out := []resolve.TeamUse{}
	for k, v := range u.counts {
		if k.user == userID && !k.day.Before(first) {
			out = append(out, resolve.TeamUse{UserID: k.user, Day: k.day, Path: k.path, Provider: k.id, Requests: v})
		}
	}
	slices.SortFunc(out, compareUses)
	return out, nil
}

// ConsentEvents returns the user's latest limit (1 to 1000) consent events at or after
// since, oldest first.
func (u *Usage) ConsentEvents(ctx context.Context, userID string, since time.Time, limit int) ([]resolve.ConsentEvent, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.enterLocked(ctx, userID); err != nil {
		return nil, err
	}
	if limit < 1 || limit > 1000 {
		return nil, ErrLimit
	}
	out := []resolve.ConsentEvent{}
	for _, e := range u.events[userID] {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b resolve.ConsentEvent) int { return a.At.Compare(b.At) })
	return out[max(0, len(out)-limit):], nil
}

func (u *Usage) enterLocked(ctx context.Context, userID string) error {
	u.calls++
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.fail != nil {
		return u.fail
	}
	if strings.TrimSpace(userID) == "" {
		return resolve.ErrInvalidUserID
	}
	return nil
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func compareUses(a, b resolve.TeamUse) int {
	if c := strings.Compare(a.UserID, b.UserID); c != 0 {
		return c
	}
	if c := a.Day.Compare(b.Day); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Path), string(b.Path)); c != 0 {
		return c
	}
	return strings.Compare(string(a.Provider), string(b.Provider))
}
