package httpapi

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/byok-go/byok/supabase"
)

// ErrLimiterArgument is matched by the error a [Limiter] from [NewPostgresLimiter] returns,
// before any round trip, for a user id or limit name it cannot store: empty, over 256
// bytes, not UTF-8 or holding a NUL byte.
var ErrLimiterArgument = errors.New("httpapi: rate limiter: user id or limit name not storable")

// postgresLimiterTimeout bounds one decision of a Limiter from NewPostgresLimiter.
const postgresLimiterTimeout = 5 * time.Second

// NewPostgresLimiter returns a [Limiter] whose token buckets live in the database behind
// c, so every instance of a service that reaches the same database shares each user's
// budget. Each decision is one RPC, take_user_rate_limit from supabase/migrations, which
// decides and counts in one statement and drops expired buckets as it goes; c may be a
// supabase.Client or a pgcall Caller with the service role.
//
// The semantics are [MemoryLimiter]'s, a token bucket per (user, limit name); the times
// in a [Decision] come from the database's clock, so every instance agrees. A decision
// that fails or takes longer than 5 s is an error, which the handler answers with 503
// rate_limiter_unavailable (fail closed). A nil c gives a Limiter whose every call fails.
func NewPostgresLimiter(c supabase.Caller) Limiter {
	return &postgresLimiter{c: c}
}

// postgresLimiter is the Limiter of NewPostgresLimiter. It holds only its Caller.
type postgresLimiter struct {
	c supabase.Caller
}

type rateLimitArgs struct {
	Subject  string `json:"p_subject"`
	Name     string `json:"p_name"`
	Requests int    `json:"p_requests"`
	WindowMS int64  `json:"p_window_ms"`
}

// rateLimitDecision is take_user_rate_limit's answer.
type rateLimitDecision struct {
	Allowed      *bool `json:"allowed"`
	Remaining    int   `json:"remaining"`
	ResetMS      int64 `json:"reset_ms"`
	RetryAfterMS int64 `json:"retry_after_ms"`
}

// Allow charges one request of userID against l with one RPC.
func (p *postgresLimiter) Allow(ctx context.Context, userID string, l Limit) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	if l.Requests <= 0 || l.Window <= 0 {
		return Decision{Allowed: true, Limit: l.Requests}, nil
	}
	if p.c == nil {
		return Decision{}, fmt.Errorf("httpapi: rate limiter: no supabase caller: %w", supabase.ErrInvalidArgument)
	}
	if !storable(userID) || !storable(l.Name) {
		return Decision{}, ErrLimiterArgument
	}
	ctx, cancel := context.WithTimeout(ctx, postgresLimiterTimeout)
	defer cancel()
	args := rateLimitArgs{
		Subject:  userID,
		Name:     l.Name,
		Requests: l.Requests,
		WindowMS: max(l.Window.Milliseconds(), 1),
	}
	var out rateLimitDecision
	if err := p.c.Call(ctx, "take_user_rate_limit", args, &out); err != nil {
		return Decision{}, fmt.Errorf("httpapi: rate limiter: %w", err)
	}
	if out.Allowed == nil || out.Remaining < 0 || out.RetryAfterMS < 0 {
		return Decision{}, fmt.Errorf("httpapi: rate limiter: %w", supabase.ErrMalformedResponse)
	}
	return Decision{
		Allowed:    *out.Allowed,
		Limit:      l.Requests,
		Remaining:  out.Remaining,
		Reset:      time.UnixMilli(out.ResetMS),
		RetryAfter: time.Duration(out.RetryAfterMS) * time.Millisecond,
	}, nil
}

// storable reports whether s fits take_user_rate_limit's text arguments.
func storable(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for i := range len(s) {
		if s[i] == 0 {
			return false
		}
	}
	return true
}
