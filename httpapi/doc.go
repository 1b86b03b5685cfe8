// Package httpapi serves the HTTP routes a service's users and operators use to manage
// and check their own LLM keys: store, list, validate and delete keys, read and set
// consent to team fallback, see which credential resolution picks, and check Vault.
//
// [New] returns the http.Handler of every route, built from a [Config]. The package is
// laid out one concern to a file:
//
//   - Routes (routes.go): [New] and [Config], the routing, the JSON answers, and the guard
//     every user route passes: [Config.Verify], the one authentication hook, then the
//     user's rate limit.
//   - Keys (keys.go): GET and POST /api/keys, DELETE /api/keys/{service} and POST
//     /api/keys/validate, over a [KeyStore] and a [Validator].
//   - Settings (settings.go): GET and POST /api/user-settings, over a [ConsentStore].
//   - Resolution (resolve.go): GET /api/providers/resolve, over a [Resolver].
//   - Usage (usage.go): GET /api/usage, the caller's record of who paid, over a
//     [UsageReader] (Config.Usage; without one the route is not served).
//   - Health (health.go): GET /api/health/byok, the operators' Vault check, over a
//     [HealthChecker].
//   - Strict JSON (decode.go): the one decoder of request bodies.
//   - Rate limits (limiter.go, pglimiter.go): [Limiter], [MemoryLimiter] per process,
//     [NewPostgresLimiter] shared by every instance.
//   - Tokens (jwt.go): [NewJWTVerifier] verifies Supabase access tokens into [Claims];
//     its [JWTVerifier.Verify] is a Config.Verify. [SignDevToken] signs development tokens.
//
// # Contract
//
// Every response has Cache-Control: no-store and, except 204, a JSON body; errors are
// {"error": code, "reason": text}. A path that is not in clean form (empty, "." or ".."
// segments, a trailing slash, escaped slashes or dots) is 404 not_found, never a redirect.
// A request is authenticated first (401 unauthorized, before any rate limit or store call;
// with Config.RequireAAL2ForKeyWrites, a key write without MFA is 403 mfa_required), then
// charged against the user's rate limit (429 rate_limit_exceeded with Retry-After; every
// charged answer carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset,
// the Unix time at which the budget is whole again), then its body is read: a Content-Type
// other than application/json (charset=utf-8 allowed) is 415 unsupported_media_type, over
// 64 KiB is 413 payload_too_large, and anything but one JSON object of valid UTF-8 with
// the route's field names, exactly spelled, each once, with values of their types, is 400
// invalid_request. A key must pass providers.CheckKey. Limits per user per minute: GET and
// POST /api/keys together 10, DELETE /api/keys/{service} 20, POST /api/keys/validate 20,
// GET /api/user-settings 60, POST /api/user-settings 10, GET /api/providers/resolve 60,
// GET /api/usage 60.
//
// Key health: GET /api/keys gives each key a "status", "ok" or "broken" (a provider's
// answer marked it, see resolve.WithKeyHealth), with the "reason" (the providers.Failure:
// invalid_key, insufficient_credit or permission_denied) and "failedAt", both null when
// ok. GET /api/providers/resolve answers a user whose key resolution would use is marked
// broken with 409 {"error": "key_broken", "service": the provider, "reason": the failure}:
// the user's own state refuses the request until they store a working key, so a retry
// cannot help (503 invites one) and the API's own session is fine (401 and 403 are about
// it); other resolution failures stay 503 provider_unavailable.
//
// After a successful write the handler calls Config.Resolver.Invalidate for the user.
// It logs one slog line per request with the route, method, status, duration and error
// code (for a refused token, the reason: "unauthorized:expired"); never a key, a token, a
// user id, a request body or a store's error text.
package httpapi
