// Package postgrest is a test-only stand-in for a Supabase project's REST endpoint, limited
// to what this module uses: calling PostgreSQL functions as RPCs.
//
// [Start] serves POST {URL}/rest/v1/rpc/{fn} over a throwaway database from pgtest, the way
// Supabase's API gateway and PostgREST answer it:
//
//   - The apikey header (or query parameter) must be one of the project's keys: the legacy
//     anon and service_role JWTs, the sb_publishable_ key (anon) or the sb_secret_ key
//     (service_role). Otherwise the answer is the gateway's 401 body, which has no code.
//   - Authorization: Bearer <jwt>, when present, decides the role: an HS256 JWT signed with
//     [Server.JWTSecret], its "role" claim naming the role (anon when absent). A bad, expired
//     or wrongly signed token answers 401 PGRST301 or PGRST303 with WWW-Authenticate, using
//     PostgREST's messages. Without a Bearer token (or when it repeats an opaque apikey) the
//     apikey decides: a legacy key's claims, or {"role":"service_role"} / {"role":"anon"}.
//   - Each call runs in one transaction on a pool connected as authenticator:
//     set_config('role', ...) and set_config('request.jwt.claims', ...) for the transaction,
//     then select public.fn(arg := ...) from json_to_record($1::json), PostgREST's binding of
//     named arguments. The function is the one in schema public whose input argument names
//     are the body's keys (arguments with defaults may be left out); none is 404 PGRST202.
//   - A void function answers 204 with no body; any other answers 200 with its value as JSON
//     (null for SQL NULL; a set-returning function, a JSON array). A PostgreSQL error answers
//     {"code","message","details","hint"} with PostgreSQL's SQLSTATE and text, and the status
//     from supabase.HTTPStatus, where "authenticated" is PostgREST's rule: the request's role
//     is not anon. As in PostgREST, "role ... does not exist" (22023) from the role switch is
//     401.
//
// The request's context is passed to pgx, configured to send PostgreSQL a cancel request
// when it ends, so a client that gives up cancels the query. [Server.Canceled] counts calls
// whose database work ended that way.
//
// # Differences from PostgREST and the Supabase gateway
//
//   - RPC only: no tables or views, no GET /rpc (405 PGRST101, where PostgREST would call a
//     stable function), no OpenAPI root, no CORS. Other paths answer 404 PGRST125.
//   - Prefer headers are ignored (no params=single-object, tx=rollback, count, return=...).
//     Content-Profile must be absent or public; Accept is ignored; Content-Type must be absent
//     or application/json.
//   - No schema cache: functions are looked up in pg_proc on every call, so NOTIFY pgrst is
//     never needed and PGRST202 never comes from a stale cache. Overloads are told apart only by
//     argument names; when several accept the body's keys the answer is 300 PGRST203. A single unnamed json/jsonb parameter is not supported. The PGRST202 hint only
//     suggests the existing argument names of a function of the same name (PostgREST also
//     suggests similar function names).
//   - The body must be a JSON object; an empty body is 400 PGRST102 (clients send {}).
//   - Only role and request.jwt.claims are set; PostgREST also sets search_path,
//     request.method, request.path, request.headers and request.cookies, and applies the
//     role's settings (such as Supabase's statement_timeout for anon and authenticated).
//   - JWTs: HS256 only (PostgREST also takes HS384/HS512 and JWKs), no audience check, 30
//     seconds of leeway on exp, nbf and iat as PostgREST allows. A legacy apikey is accepted
//     when it is any unexpired JWT signed with JWTSecret whose role is anon or service_role;
//     the gateway compares it with the project's two keys. The gateway's mapping of opaque
//     keys to short-lived JWTs is modelled by the claims alone ({"role":...}, no iss or exp).
//   - PostgREST does not cancel a running query when the client disconnects; this stand-in
//     does (on Supabase a statement_timeout eventually ends it).
//   - Statuses for database errors are supabase.HTTPStatus's, so they equal PostgREST's only
//     as far as that table does; PGRST<status> raises (PT4xx, SQLSTATE PGRST) are not
//     interpreted. Connection failures answer 503 PGRST000 (before any query) or PGRST001.
//   - Error bodies always carry details and hint (null when empty), as with PostgREST's
//     default verbose errors; the gateway's own 401s carry only message and hint.
package postgrest
