// Package usage keeps the record of who paid, in Supabase, through the project's
// service-role-only RPCs: counts of the requests the team paid for, per user, UTC day,
// path and provider (public.byok_team_usage), and the changes of each user's consent to
// team fallback (public.byok_consent_events, appended by a trigger on user_settings).
//
// [Store] implements [resolve.UsageSink], so a Resolver built with resolve.WithTeamUsage
// flushes its counts into it, and has the reads a user-facing page needs
// (httpapi's GET /api/usage). It works over any [supabase.Caller]: the PostgREST
// [supabase.Client] or a pgcall Caller.
//
// User ids must be canonical lowercase UUIDs (see supabase.ValidUserID); a read with
// anything else fails with an error matching resolve.ErrInvalidUserID before any round
// trip. A failed call's error matches [ErrUnavailable] and resolve.ErrStoreUnavailable,
// and wraps the *supabase.Error, whose text names the function and the status only: no
// error text of this package holds a user id or a database message.
package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
)

// ErrUnavailable: a call to the store failed. It also matches resolve.ErrStoreUnavailable;
// the *supabase.Error stays reachable with errors.As.
var ErrUnavailable error = &childError{msg: "usage: store unavailable", parent: resolve.ErrStoreUnavailable}

type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string        { return e.msg }
func (e *childError) Is(target error) bool { return target == e.parent }

// Bounds of the RPCs.
const (
	// MaxUsesPerCall is the most uses record_byok_team_usage takes in one call.
	// RecordTeamUse sends a longer batch in several calls.
	MaxUsesPerCall = 10_000
	// MaxConsentEvents is the most events one ConsentEvents call returns.
	MaxConsentEvents = 1000
)

// Store is a [resolve.UsageSink] on Supabase, with the reads of a user's record. It holds
// no mutable state and is safe for concurrent use.
type Store struct {
	c supabase.Caller
}

var _ resolve.UsageSink = (*Store)(nil)

// New returns a Store calling c. A nil c gives a Store whose every call fails.
func New(c supabase.Caller) *Store { return &Store{c: c} }

// RPC argument and answer shapes.
type (
	useRow struct {
		Day      string `json:"day"`
		Path     string `json:"path"`
		Provider string `json:"provider"`
		Requests int64  `json:"requests"`
	}
	recordArgs struct {
		UserIDs   []string `json:"p_user_ids"`
		Days      []string `json:"p_days"`
		Paths     []string `json:"p_paths"`
		Providers []string `json:"p_providers"`
		Requests  []int64  `json:"p_requests"`
	}
	teamUsageArgs struct {
		UserID string `json:"p_user_id"`
		Since  string `json:"p_since"`
	}
	eventsArgs struct {
		UserID string    `json:"p_user_id"`
		Since  time.Time `json:"p_since"`
		Limit  int       `json:"p_limit"`
	}
	eventRow struct {
		Allow  *bool      `json:"allow_gateway_fallback"`
		At     *time.Time `json:"at"`
		Source string     `json:"source"`
	}
)

// RecordTeamUse adds the uses' requests to the stored counters (record_byok_team_usage):
// uses naming the same counter add up, and each call is one transaction, stored whole
// or not at all. It is not idempotent: a batch sent again is added again.
//
// Uses the store can never hold are skipped, as the resolve.UsageSink contract asks,
// since sending them again could not help: a user id that is not a canonical UUID, a
// path other than team-gateway, server-provider and gateway-byok, an unknown provider,
// or Requests below 1. So are, in the database, uses of a user who no longer exists:
// their record was deleted with them. Day counts by its UTC date. A batch of more than
// [MaxUsesPerCall] uses is sent in several calls, in order; when one fails, the ones
// before it stay stored.
func (s *Store) RecordTeamUse(ctx context.Context, uses []resolve.TeamUse) error {
	if s.c == nil {
		return errNoCaller
	}
	kept := make([]resolve.TeamUse, 0, len(uses))
	for _, u := range uses {
		if storable(u) {
			kept = append(kept, u)
		}
	}
	for len(kept) > 0 {
		batch := kept[:min(len(kept), MaxUsesPerCall)]
		args := recordArgs{
			UserIDs:   make([]string, len(batch)),
			Days:      make([]string, len(batch)),
			Paths:     make([]string, len(batch)),
			Providers: make([]string, len(batch)),
			Requests:  make([]int64, len(batch)),
		}
		for i, u := range batch {
			args.UserIDs[i], args.Days[i] = u.UserID, u.Day.UTC().Format(time.DateOnly)
			args.Paths[i], args.Providers[i], args.Requests[i] = string(u.Path), string(u.Provider), u.Requests
		}
		var written int
		if err := s.c.Call(ctx, "record_byok_team_usage", args, &written); err != nil {
			return fmt.Errorf("usage: record team use: %w: %w", ErrUnavailable, err)
		}
		kept = kept[len(batch):]
	}
	return nil
}

// storable reports whether the database can hold u.
func storable(u resolve.TeamUse) bool {
	switch u.Path {
	case resolve.TeamGateway, resolve.ServerProvider, resolve.GatewayBYOK:
	default:
		return false
	}
	return supabase.ValidUserID(u.UserID) && u.Provider.Valid() && u.Requests >= 1 && !u.Day.IsZero()
}

// TeamUsage returns the user's team-paid request counters from the UTC date of since on,
// ordered by day, path and provider; an empty slice when there are none. Each Day is a
// UTC midnight.
func (s *Store) TeamUsage(ctx context.Context, userID string, since time.Time) ([]resolve.TeamUse, error) {
	if err := s.check(userID); err != nil {
		return nil, err
	}
	var rows []useRow
	args := teamUsageArgs{UserID: userID, Since: since.UTC().Format(time.DateOnly)}
	if err := s.c.Call(ctx, "get_user_byok_team_usage", args, &rows); err != nil {
		return nil, fmt.Errorf("usage: read team usage: %w: %w", ErrUnavailable, err)
	}
	out := make([]resolve.TeamUse, 0, len(rows))
	for _, r := range rows {
		day, err := time.Parse(time.DateOnly, r.Day)
		use := resolve.TeamUse{UserID: userID, Day: day, Path: resolve.Path(r.Path), Provider: providers.ID(r.Provider), Requests: r.Requests}
		if err != nil || !storable(use) {
			return nil, fmt.Errorf("usage: read team usage: %w: %w", ErrUnavailable, supabase.ErrMalformedResponse)
		}
		out = append(out, use)
	}
	return out, nil
}

// ConsentEvents returns the user's latest limit (1 to [MaxConsentEvents]) changes of
// consent at or after since, oldest first; an empty slice when there are none.
func (s *Store) ConsentEvents(ctx context.Context, userID string, since time.Time, limit int) ([]resolve.ConsentEvent, error) {
	if err := s.check(userID); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxConsentEvents {
		return nil, fmt.Errorf("usage: consent events limit out of range: %w", supabase.ErrInvalidArgument)
	}
	var rows []eventRow
	if err := s.c.Call(ctx, "get_user_byok_consent_events", eventsArgs{userID, since.UTC(), limit}, &rows); err != nil {
		return nil, fmt.Errorf("usage: read consent events: %w: %w", ErrUnavailable, err)
	}
	out := make([]resolve.ConsentEvent, 0, len(rows))
	for _, r := range rows {
		if r.Allow == nil || r.At == nil || (r.Source != "api" && r.Source != "user" && r.Source != "sql") {
			return nil, fmt.Errorf("usage: read consent events: %w: %w", ErrUnavailable, supabase.ErrMalformedResponse)
		}
		out = append(out, resolve.ConsentEvent{Allow: *r.Allow, At: r.At.UTC(), Source: r.Source})
	}
	return out, nil
}

var errNoCaller = fmt.Errorf("usage: no supabase caller: %w", supabase.ErrInvalidArgument)

func (s *Store) check(userID string) error {
	if s.c == nil {
		return errNoCaller
	}
	if !supabase.ValidUserID(userID) {
		return fmt.Errorf("usage: user id is not a canonical uuid: %w", resolve.ErrInvalidUserID)
	}
	return nil
}
