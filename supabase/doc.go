// Package supabase calls the project's PostgreSQL functions as Supabase RPCs.
//
// [Client] is a small PostgREST client: POST {url}/rest/v1/rpc/{fn} with a JSON object
// of named arguments, a context on every call, an injectable *http.Client, a capped
// response size and typed [*Error] values. The pgcall package implements the same
// [Caller] over a pgx pool for services that connect to PostgreSQL directly.
//
// # Why not supabase-go
//
// supabase-go v0.0.4 calls RPCs through postgrest-go v0.0.11, whose Rpc takes no context
// and has no timeout, returns HTTP error bodies as ordinary results with no error or
// status, records network errors in a shared ClientError field that races under -race,
// and accepts no *http.Client. [Client] does the one thing this module needs, with
// none of those gaps and no shared mutable state.
//
// # Errors
//
// Every failure of [Caller.Call] is an [*Error]. Match its Err with errors.Is
// ([ErrTransport], [ErrMalformedResponse], [ErrResponseTooLarge], [ErrInvalidArgument],
// context errors) or classify it with [IsPermission], [IsNotFound] and [IsRetryable].
// Its text never holds argument values, response bodies, the key or the URL.
package supabase
