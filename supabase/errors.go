package supabase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sentinels for failures that have no PostgREST error body. An [*Error] wraps one of
// them (or a context error) in its Err field, so errors.Is finds it.
var (
	// ErrTransport: no HTTP response arrived (connection refused, reset, TLS, DNS, ...).
	ErrTransport = errors.New("supabase: transport error")
	// ErrMalformedResponse: the server answered with a body that is not the JSON expected.
	ErrMalformedResponse = errors.New("supabase: malformed response")
	// ErrResponseTooLarge: the response body exceeded the client's size cap.
	ErrResponseTooLarge = errors.New("supabase: response too large")
	// ErrInvalidArgument: the call was refused before any round trip (an empty or
	// unsafe function name, arguments that do not encode to a JSON object).
	ErrInvalidArgument = errors.New("supabase: invalid call")
)

// Error is a failed RPC: the PostgREST error body ({code, message, details, hint}) and
// HTTP status when the server answered, or Status 0 and Err when it did not.
//
// Error() prints the function name (or "(invalid name)" when it is not a
// [ValidFunctionName]), status, code and a fixed description of the code's class only.
// Message, Details and Hint are PostgreSQL's and PostgREST's own text, which can quote
// argument values (a malformed UUID, a conflicting row), so they are kept in the fields
// for the caller to inspect and are never printed: every fmt verb, %#v included, prints
// what Error() returns.
type Error struct {
	Function string // the RPC name
	Status   int    // HTTP status; for pgcall, the status PostgREST would answer; 0 when none
	Code     string // PostgREST or SQLSTATE code, e.g. "42501", "PGRST202"; "" when none
	Message  string // never printed by Error()
	Details  string // never printed by Error()
	Hint     string // never printed by Error()
	Err      error  // a sentinel of this package or a context error; may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("supabase: rpc ")
	if ValidFunctionName(e.Function) {
		b.WriteString(e.Function)
	} else {
		// A refused name may be anything a caller passed by mistake, key material included.
		b.WriteString("(invalid name)")
	}
	b.WriteString(": ")
	switch {
	case e.Err == nil && e.Status == 0 && e.Code == "":
		b.WriteString("unknown error")
		return b.String()
	case e.Err != nil && e.Status == 0 && e.Code == "":
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "supabase: "))
		return b.String()
	case e.Status != 0:
		b.WriteString("status ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		if e.Status != 0 {
			b.WriteString(", ")
		}
		b.WriteString("code ")
		b.WriteString(e.Code)
	}
	if d := describe(e.Code); d != "" {
		b.WriteString(" (")
		b.WriteString(d)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "supabase: "))
	}
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Format implements [fmt.Formatter] so that every verb prints Error() (%q quotes it):
// without it, %#v and %d would print Message, Details and Hint.
func (e *Error) Format(f fmt.State, verb rune) {
	if e == nil {
		_, _ = io.WriteString(f, "<nil>")
		return
	}
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(e.Error()))
		return
	}
	_, _ = io.WriteString(f, e.Error())
}

// describe is a fixed, argument-free description of a code.
func describe(code string) string {
	switch {
	case code == "":
		return ""
	case code == "PGRST202" || code == "42883":
		return "function not found: migration not applied or schema cache stale"
	case code == "42501":
		return "permission denied: not the service role"
	case code == "PGRST301" || code == "PGRST302" || code == "PGRST303":
		return "rejected credentials: bad or expired JWT"
	case code == "22023" || code == "22P02" || code == "22004" || code == "P0001":
		return "invalid argument"
	case code == "23503":
		return "unknown user"
	case code == "23505":
		return "conflict"
	case code == "57014":
		return "query canceled"
	case code == "XX001":
		return "vault health check failed"
	case strings.HasPrefix(code, "PGRST00"):
		return "database unavailable to the API"
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"):
		return "database unavailable"
	}
	return ""
}

// HTTPStatus returns the HTTP status PostgREST answers for a PostgreSQL SQLSTATE raised
// by a function. authenticated is false when the request ran as the anonymous role:
// PostgREST answers a permission error (42501) with 401 then and 403 otherwise. The
// pgcall Caller uses it so its errors match the PostgREST client's.
func HTTPStatus(sqlstate string, authenticated bool) int {
	switch sqlstate {
	case "42501":
		if authenticated {
			return 403
		}
		return 401
	case "42883", "42P01":
		return 404
	case "23503", "23505":
		return 409
	case "25006":
		return 405
	case "P0001":
		return 400
	case "42P17", "53400":
		return 500
	case "57P01":
		return 503
	}
	if len(sqlstate) < 2 {
		return 400
	}
	switch sqlstate[:2] {
	case "08", "53":
		return 503
	case "0L", "0P", "28":
		return 403
	case "09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX":
		return 500
	}
	return 400
}

// IsPermission reports whether err is a refusal of the credentials: permission denied
// (42501: the key is not the service role key) or a bad, expired or missing JWT.
func IsPermission(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "42501", "PGRST301", "PGRST302", "PGRST303":
		return true
	}
	return e.Code == "" && (e.Status == 401 || e.Status == 403)
}

// IsNotFound reports whether err says the function does not exist with these argument
// names (PGRST202, or 42883 from the database): the migrations have not been applied or
// PostgREST's schema cache is stale (NOTIFY pgrst, 'reload schema').
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == "PGRST202" || e.Code == "42883"
}

// IsRetryable reports whether the same call may succeed if made again: no response
// arrived (but the caller's context did not end), the database or PostgREST was
// unavailable (08*, 53*, 57P*, PGRST000-003, 502, 503, 504), or a serialization
// failure or deadlock (40001, 40P01).
func IsRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrTransport) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Code == "40001", e.Code == "40P01":
		return true
	case strings.HasPrefix(e.Code, "PGRST00"):
		return true
	case strings.HasPrefix(e.Code, "08"), strings.HasPrefix(e.Code, "53"), strings.HasPrefix(e.Code, "57P"):
		return true
	}
	return e.Status == 502 || e.Status == 503 || e.Status == 504
}
