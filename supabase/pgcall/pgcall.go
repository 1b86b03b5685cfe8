// Package pgcall implements [supabase.Caller] over a pgx connection pool, for services
// that reach their Supabase database directly or through the pooler rather than over
// PostgREST.
//
// Each call does what PostgREST does for a service-role request: in one transaction it
// sets role to service_role and request.jwt.claims to {"role":"service_role"} (both
// local to the transaction), then calls public.fn with named arguments. The statements
// go out as one pipelined batch, so a call costs one network round trip once the
// connection has prepared the statement. Errors are the same [*supabase.Error] values
// the PostgREST client returns, with the HTTP status PostgREST would have answered, so
// supabase.IsPermission, IsNotFound and IsRetryable work the same on both.
//
// Every call is bounded by a timeout of its own, [DefaultTimeout] unless [WithTimeout]
// says otherwise, as [supabase.Client] bounds each HTTP call: a hung database then
// costs a caller without a deadline that long at most.
//
// The pool must log in as a role that may SET ROLE service_role: postgres on a Supabase
// project, or authenticator.
package pgcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/byok-go/byok/supabase"
)

// serviceRoleClaims are the JWT claims PostgREST would set for the service role key.
const serviceRoleClaims = `{"role":"service_role"}`

// becomeServiceRole is the first statement of every call's transaction.
const becomeServiceRole = `select set_config('role', 'service_role', true), set_config('request.jwt.claims', '` + serviceRoleClaims + `', true)`

// DefaultTimeout bounds each call of a Caller built without [WithTimeout]; it is
// supabase.DefaultTimeout, the PostgREST client's bound.
const DefaultTimeout = supabase.DefaultTimeout

// caller is the pgx Caller. It holds the pool, which is safe for concurrent use, and
// settings fixed by New.
type caller struct {
	pool    *pgxpool.Pool
	timeout time.Duration // 0: none
}

// Option configures a Caller in [New].
type Option interface{ apply(*caller) }

type option func(*caller)

func (o option) apply(c *caller) { o(c) }

// WithTimeout sets the bound on each call (acquiring a connection, the round trip and
// the result), in place of [DefaultTimeout]. A d of zero or less means no bound besides
// the caller's ctx. A ctx deadline that comes first still applies.
func WithTimeout(d time.Duration) Option {
	return option(func(c *caller) { c.timeout = max(d, 0) })
}

// New returns a Caller that runs each RPC over pool as the service role. A nil pool
// gives a Caller whose every call fails with supabase.ErrInvalidArgument.
func New(pool *pgxpool.Pool, opts ...Option) supabase.Caller {
	c := &caller{pool: pool, timeout: DefaultTimeout}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	return c
}

// Call runs public.fn with the named arguments args (a value that encodes to a JSON
// object: strings, booleans, numbers, null, arrays of one of those, or objects for
// json parameters) and decodes the function's value, as JSON, into out. A void
// function leaves out untouched; an SQL NULL decodes as JSON null.
func (c *caller) Call(ctx context.Context, fn string, args any, out any) error {
	if c.pool == nil || !supabase.ValidFunctionName(fn) {
		return &supabase.Error{Function: fn, Err: supabase.ErrInvalidArgument}
	}
	names, values, err := namedArgs(args)
	if err != nil {
		return &supabase.Error{Function: fn, Err: supabase.ErrInvalidArgument}
	}
	var sql strings.Builder
	sql.WriteString(`select pg_typeof(r) = 'void'::regtype, to_jsonb(r)::text from public.`)
	sql.WriteString(fn)
	sql.WriteString("(")
	for i, name := range names {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString(name)
		sql.WriteString(" => $")
		sql.WriteString(strconv.Itoa(i + 1))
	}
	sql.WriteString(") as r")

	// Without BEGIN, the batch runs as one implicit transaction that ends at its single
	// Sync, so the role and claims set by the first statement end with the call.
	if c.timeout > 0 {
		if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > c.timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
	}

	var batch pgx.Batch
	batch.Queue(becomeServiceRole)
	batch.Queue(sql.String(), values...)
	var (
		isVoid bool
		result *string
	)
	br := c.pool.SendBatch(ctx, &batch)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&isVoid, &result)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return mapError(ctx, fn, err)
	}
	if isVoid || out == nil {
		return nil
	}
	raw := []byte("null")
	if result != nil {
		raw = []byte(*result)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &supabase.Error{Function: fn, Status: 200, Err: supabase.ErrMalformedResponse}
	}
	return nil
}

// namedArgs turns args into sorted argument names and pgx values. Names must be plain
// identifiers; they are written into the SQL text.
func namedArgs(args any) ([]string, []any, error) {
	if args == nil {
		return nil, nil, nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, nil, err
	}
	var obj map[string]json.RawMessage
	if err := strictObject(b, &obj); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(obj))
	for name := range obj {
		if !supabase.ValidFunctionName(name) {
			return nil, nil, errors.New("pgcall: bad argument name")
		}
		names = append(names, name)
	}
	slices.Sort(names)
	values := make([]any, len(names))
	for i, name := range names {
		v, err := value(obj[name])
		if err != nil {
			return nil, nil, err
		}
		values[i] = v
	}
	return names, values, nil
}

// strictObject decodes b, which must be a JSON object (not null), into obj.
func strictObject(b []byte, obj *map[string]json.RawMessage) error {
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return errors.New("pgcall: arguments are not a JSON object")
	}
	return json.Unmarshal(b, obj)
}

// value converts one JSON argument to a Go value pgx encodes for the parameter type
// PostgreSQL infers from the function's signature.
func value(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("pgcall: empty argument")
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case '{':
		return string(raw), nil // a json or jsonb parameter takes the text
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, err
		}
		return array(elems)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if n, ok := v.(json.Number); ok {
		return number(n)
	}
	return v, nil // string or bool
}

// array converts a JSON array of strings, booleans or numbers (null elements allowed)
// to a typed slice.
func array(elems []json.RawMessage) (any, error) {
	var (
		strs  []*string
		bools []*bool
		nums  []*float64
	)
	for _, e := range elems {
		e = bytes.TrimSpace(e)
		switch {
		case bytes.Equal(e, []byte("null")):
			strs, bools, nums = append(strs, nil), append(bools, nil), append(nums, nil)
		case len(e) > 0 && e[0] == '"':
			var s string
			if err := json.Unmarshal(e, &s); err != nil {
				return nil, err
			}
			strs = append(strs, &s)
		case bytes.Equal(e, []byte("true")) || bytes.Equal(e, []byte("false")):
			b := e[0] == 't'
			bools = append(bools, &b)
		default:
			var f float64
			if err := json.Unmarshal(e, &f); err != nil {
				return nil, errors.New("pgcall: unsupported array element")
			}
			nums = append(nums, &f)
		}
	}
	switch n := len(elems); {
	case len(strs) == n:
		return strs, nil
	case len(bools) == n:
		return bools, nil
	case len(nums) == n:
		return nums, nil
	}
	return nil, errors.New("pgcall: mixed array")
}

func number(n json.Number) (any, error) {
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	return n.Float64()
}

// mapError turns a pgx error into the *supabase.Error PostgREST would have produced.
func mapError(ctx context.Context, fn string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &supabase.Error{Function: fn, Err: ctxErr}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &supabase.Error{
			Function: fn,
			// The request runs as service_role, not the anonymous role: 42501 is a 403.
			Status:  supabase.HTTPStatus(pgErr.Code, true),
			Code:    pgErr.Code,
			Message: pgErr.Message,
			Details: pgErr.Detail,
			Hint:    pgErr.Hint,
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return &supabase.Error{Function: fn, Err: context.DeadlineExceeded}
	}
	return &supabase.Error{Function: fn, Err: supabase.ErrTransport}
}
