// Package httpapi serves the HTTP routes a service's users and operators use to manage
// and check their own LLM keys: store, list, validate and delete keys, read and set
// consent to team fallback, see which credential resolution picks, and check Vault.
//
// [New] returns an http.Handler built from a [Config]: the stores (vault.Store and
// consent.Store, or the resolvetest fakes), a *resolve.Resolver, and an Authenticate
// function; [NewJWTVerifier] verifies Supabase access tokens for it.
//
// # Contract
//
// Every response has Cache-Control: no-store and, except 204, a JSON body; errors are
// {"error": code, "reason": text}. A request is authenticated first (401 unauthorized,
// before any rate limit or store call), then charged against the user's rate limit
// (429 rate_limit_exceeded with Retry-After; every charged answer carries
// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, the Unix time at which
// the budget is whole again), then its body is read: over 64 KiB is 413
// payload_too_large, malformed JSON or an unknown field 400 invalid_request. Limits per
// user per minute: GET and POST /api/keys together 10, DELETE /api/keys/{service} 20,
// POST /api/keys/validate 20, GET /api/user-settings 60, POST /api/user-settings 10,
// GET /api/providers/resolve 60.
//
// After a successful write the handler calls Config.Resolver.Invalidate for the user.
// It logs one slog line per request with the route, method, status, duration and error
// code; never a key, a token, a user id, a request body or a store's error text.
package httpapi
