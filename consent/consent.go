// Package consent stores whether each user lets the team's credentials serve them when
// they have none of their own, in public.user_settings through the project's
// service-role-only RPCs.
//
// [Store] implements [resolve.ConsentStore] over any [supabase.Caller]. A user without
// a settings row has consented: the column's default is true. User ids must be
// canonical lowercase UUIDs; anything else fails with an error matching
// resolve.ErrInvalidUserID before any round trip.
package consent

import (
	"context"
	"fmt"

	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase"
)

// Store is a [resolve.ConsentStore] on Supabase. It holds no mutable state and is safe
// for concurrent use.
type Store struct {
	c supabase.Caller
}

var _ resolve.ConsentStore = (*Store)(nil)

// New returns a Store calling c. A nil c gives a Store whose every call fails.
func New(c supabase.Caller) *Store { return &Store{c: c} }

type (
	userArgs struct {
		UserID string `json:"p_user_id"`
	}
	setArgs struct {
		UserID string `json:"p_user_id"`
		Allow  bool   `json:"p_allow"`
	}
)

// AllowGatewayFallback reports the user's consent to team fallback; true when the user
// never set it.
func (s *Store) AllowGatewayFallback(ctx context.Context, userID string) (bool, error) {
	if err := s.check(userID); err != nil {
		return false, err
	}
	var allow *bool
	if err := s.c.Call(ctx, "get_user_allow_gateway_fallback", userArgs{userID}, &allow); err != nil {
		return false, fmt.Errorf("consent: get: %w", err)
	}
	if allow == nil {
		return true, nil // the column default; the RPC already applies it
	}
	return *allow, nil
}

// SetAllowGatewayFallback records the user's consent to team fallback.
func (s *Store) SetAllowGatewayFallback(ctx context.Context, userID string, allow bool) error {
	if err := s.check(userID); err != nil {
		return err
	}
	if err := s.c.Call(ctx, "set_user_allow_gateway_fallback", setArgs{userID, allow}, nil); err != nil {
		return fmt.Errorf("consent: set: %w", err)
	}
	return nil
}

func (s *Store) check(userID string) error {
	if s.c == nil {
		return fmt.Errorf("consent: no supabase caller: %w", supabase.ErrInvalidArgument)
	}
	if !supabase.ValidUserID(userID) {
		return fmt.Errorf("consent: user id is not a canonical uuid: %w", resolve.ErrInvalidUserID)
	}
	return nil
}
