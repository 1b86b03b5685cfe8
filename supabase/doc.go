// Package supabase calls the project's PostgreSQL functions as Supabase RPCs.
//
// [Client] is a small PostgREST client: POST {url}/rest/v1/rpc/{fn} with a JSON object
// of named arguments, a context on every call, an injectable *http.Client, a capped
// response size and typed [*Error] values. The pgcall package implements the same
// [Caller] over a pgx pool for services that connect to PostgreSQL directly.
package supabase
