package postgrest

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/byok-go/byok/supabase"
)

// routine is one function of schema public, as the call needs it.
type routine struct {
	names     []string // input argument names in order; "" for an unnamed one
	types     []string // their types, format_type spelling
	ndefaults int      // how many trailing input arguments have defaults
	void      bool     // returns void
	set       bool     // returns a set (SETOF or TABLE)
}

// routinesSQL lists the functions named $1 in schema public with their input arguments
// (modes in, inout and variadic).
const routinesSQL = `
select p.pronargdefaults::int,
       p.prorettype = 'pg_catalog.void'::pg_catalog.regtype,
       p.proretset,
       coalesce(array_agg(coalesce(a.name, '') order by a.ord) filter (where a.mode in ('i', 'b', 'v')), '{}'),
       coalesce(array_agg(pg_catalog.format_type(a.typ, null) order by a.ord) filter (where a.mode in ('i', 'b', 'v')), '{}')
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  left join lateral unnest(
         coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[]),
         p.proargnames,
         coalesce(p.proargmodes, pg_catalog.array_fill('i'::"char", array[p.pronargs::int])))
       with ordinality as a(typ, name, mode, ord) on true
 where n.nspname = 'public' and p.proname = $1 and p.prokind = 'f'
 group by p.oid, p.pronargdefaults, p.prorettype, p.proretset
 order by p.oid`

// call runs fn with the named arguments in body (keys, sorted) as id, in one transaction,
// and returns the result as JSON, or nil for a void function.
func (s *Server) call(ctx context.Context, fn string, body []byte, keys []string, id identity) (out []byte, aerr *apiError) {
	if !supabase.ValidFunctionName(fn) {
		return nil, noRoutine(fn, keys, nil)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, pgError(err, id, false)
	}
	defer func() {
		if aerr != nil && ctx.Err() != nil {
			s.canceled.Add(1)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx) // a no-op after Commit
	}()

	rt, aerr := lookup(ctx, tx, fn, keys, id)
	if aerr != nil {
		return nil, aerr
	}
	if _, err := tx.Exec(ctx, `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`,
		id.role, id.claims); err != nil {
		return nil, pgError(err, id, true)
	}
	sql, withArgs := callSQL(fn, rt, keys)
	var args []any
	if withArgs {
		args = []any{string(body)}
	}
	if rt.void {
		_, err = tx.Exec(ctx, sql, args...)
	} else {
		var v *string
		err = tx.QueryRow(ctx, sql, args...).Scan(&v)
		out = []byte("null")
		if v != nil {
			out = []byte(*v)
		}
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return nil, pgError(err, id, true)
	}
	return out, nil
}

// lookup finds the one function fn whose input argument names are keys, allowing arguments
// with defaults to be left out.
func lookup(ctx context.Context, tx pgx.Tx, fn string, keys []string, id identity) (routine, *apiError) {
	rows, err := tx.Query(ctx, routinesSQL, fn)
	if err != nil {
		return routine{}, pgError(err, id, true)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (routine, error) {
		var rt routine
		err := row.Scan(&rt.ndefaults, &rt.void, &rt.set, &rt.names, &rt.types)
		return rt, err
	})
	if err != nil {
		return routine{}, pgError(err, id, true)
	}
	var matches []routine
	for _, rt := range all {
		if rt.accepts(keys) {
			matches = append(matches, rt)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return routine{}, noRoutine(fn, keys, all)
	}
	sigs := make([]string, len(matches))
	for i, rt := range matches {
		params := make([]string, len(rt.names))
		for j := range rt.names {
			params[j] = rt.names[j] + " => " + rt.types[j]
		}
		sigs[i] = "public." + fn + "(" + strings.Join(params, ", ") + ")"
	}
	return routine{}, &apiError{status: 300, code: "PGRST203",
		message: "Could not choose the best candidate function between: " + strings.Join(sigs, ", "),
		hint:    "Try renaming the parameters or the function itself in the database so function overloading can be resolved"}
}

// accepts reports whether keys name every argument without a default and only arguments.
func (rt routine) accepts(keys []string) bool {
	required := len(rt.names) - rt.ndefaults
	for i, name := range rt.names {
		if name == "" {
			return false // PostgREST cannot bind an unnamed argument by name
		}
		if i < required && !slices.Contains(keys, name) {
			return false
		}
	}
	for _, k := range keys {
		if !slices.Contains(rt.names, k) {
			return false
		}
	}
	return true
}

// callSQL is PostgREST's call of rt with the arguments keys, read from the JSON object $1.
// withArgs says whether the statement takes $1 (it does not when keys is empty).
func callSQL(fn string, rt routine, keys []string) (sql string, withArgs bool) {
	var named, columns []string
	for i, name := range rt.names {
		if !slices.Contains(keys, name) {
			continue
		}
		q := pgx.Identifier{name}.Sanitize()
		named = append(named, q+" := pgrst_args."+q)
		columns = append(columns, q+" "+rt.types[i])
	}
	call := pgx.Identifier{"public", fn}.Sanitize() + "(" + strings.Join(named, ", ") + ")"
	from := ""
	if len(columns) > 0 {
		from = "pg_catalog.json_to_record($1::json) as pgrst_args(" + strings.Join(columns, ", ") + ")"
	}
	switch {
	case rt.set && from != "":
		return "select coalesce(pg_catalog.json_agg(pgrst_result), '[]')::text from " + from +
			" cross join lateral " + call + " as pgrst_result", true
	case rt.set:
		return "select coalesce(pg_catalog.json_agg(pgrst_result), '[]')::text from " + call + " as pgrst_result", false
	case rt.void && from != "":
		return "select " + call + " from " + from, true
	case rt.void:
		return "select " + call, false
	case from != "":
		return "select pg_catalog.to_json(" + call + ")::text from " + from, true
	default:
		return "select pg_catalog.to_json(" + call + ")::text", false
	}
}

// noRoutine is PostgREST's PGRST202. others are the functions of that name, if any, whose
// argument names the hint suggests.
func noRoutine(fn string, keys []string, others []routine) *apiError {
	qualified := "public." + fn
	message := "Could not find the function " + qualified
	details := "Searched for the function " + qualified
	switch len(keys) {
	case 0:
		message += " without parameters"
		details += " without parameters"
	case 1:
		message += "(" + keys[0] + ")"
		details += " with parameter " + keys[0]
	default:
		message += "(" + strings.Join(keys, ", ") + ")"
		details += " with parameters " + strings.Join(keys, ", ")
	}
	e := &apiError{status: 404, code: "PGRST202",
		message: message + " in the schema cache",
		details: details + " or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."}
	if len(others) > 0 {
		names := slices.Sorted(slices.Values(others[0].names))
		e.hint = "Perhaps you meant to call the function " + qualified + "(" + strings.Join(names, ", ") + ")"
	}
	return e
}

// statusFor is the HTTP status PostgREST answers for a PostgreSQL error.
func statusFor(pe *pgconn.PgError, authenticated bool) int {
	// Switching to a role that does not exist (a JWT's role claim) is a credentials problem.
	if pe.Code == "22023" && strings.HasPrefix(pe.Message, "role") && strings.HasSuffix(pe.Message, "does not exist") {
		return 401
	}
	return supabase.HTTPStatus(pe.Code, authenticated)
}
