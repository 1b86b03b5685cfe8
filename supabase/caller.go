package supabase

import (
	"context"
	"strings"
)

// Caller calls a PostgreSQL function exposed as a Supabase RPC. args is a value that
// encodes to a JSON object of named arguments (a struct with json tags or a map; nil
// means no arguments). out receives the decoded result, as encoding/json would decode
// it; it may be nil, and must be nil or ignored for a void function. Errors are
// [*Error] values. Implementations are safe for concurrent use.
//
// [Client] calls over PostgREST; the pgcall package calls over a pgx pool.
type Caller interface {
	Call(ctx context.Context, fn string, args any, out any) error
}

// ValidFunctionName reports whether fn may be called: a plain lowercase PostgreSQL
// identifier in schema public (letters, digits and underscores, not starting with a
// digit, at most 63 bytes). Callers refuse other names before any round trip.
func ValidFunctionName(fn string) bool {
	if fn == "" || len(fn) > 63 || (fn[0] >= '0' && fn[0] <= '9') {
		return false
	}
	return strings.IndexFunc(fn, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_'
	}) < 0
}

// ValidUserID reports whether s is a Supabase Auth user id in the canonical form the
// Auth server issues: a UUID written as 36 lowercase hexadecimal digits and hyphens
// (8-4-4-4-12). The stores accept no other spelling, so that one user has one cache
// key and one row, and refuse anything else before a round trip.
func ValidUserID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
