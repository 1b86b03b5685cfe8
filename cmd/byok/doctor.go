package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/byok-go/byok/supabase"
)

const doctorUsage = `Usage: byok doctor [--db-url URL] [--json] [--scenarios]

Checks a Supabase database against byok's operator runbook and prints one row per check
(PASS, WARN, FAIL or SKIP) with a detail and, for WARN and FAIL, the fix.
Checks: connect, migrations, vault, rls, rpc-acl, notify, env, scenarios.

Flags:
  --db-url URL   the database (default $DATABASE_URL, else $SUPABASE_DB_URL)
  --json         print one JSON object: {"ok": bool, "checks": [{"id", "status", "detail", "fix"}]}
  --scenarios    also walk the runbook's four scenarios with throwaway users (writes; the users are deleted)

Exit status: 0 no check failed, 1 a check failed, 2 usage error or no connection.
`

// status is a check's outcome.
type status string

const (
	statusPass status = "pass"
	statusWarn status = "warn"
	statusFail status = "fail"
	statusSkip status = "skip"
)

func (s status) rank() int {
	switch s {
	case statusFail:
		return 3
	case statusWarn:
		return 2
	case statusPass:
		return 1
	}
	return 0
}

// result is one check's row: its worst status, its details and its fixes, in order.
type result struct {
	id     string
	status status
	detail []string
	fix    []string
}

func (r *result) raise(s status) {
	if s.rank() > r.status.rank() {
		r.status = s
	}
}

// note adds a detail without changing the status.
func (r *result) note(format string, args ...any) {
	r.detail = append(r.detail, fmt.Sprintf(format, args...))
}

// pass adds a detail of a passing part.
func (r *result) pass(format string, args ...any) {
	r.raise(statusPass)
	r.note(format, args...)
}

// warn and fail add a finding and, unless empty or already given, its fix.
func (r *result) warn(detail, fix string) { r.finding(statusWarn, detail, fix) }
func (r *result) fail(detail, fix string) { r.finding(statusFail, detail, fix) }

func (r *result) finding(s status, detail, fix string) {
	r.raise(s)
	r.detail = append(r.detail, detail)
	if fix != "" {
		for _, f := range r.fix {
			if f == fix {
				return
			}
		}
		r.fix = append(r.fix, fix)
	}
}

// skip marks the check skipped with a reason, dropping anything else it said.
func (r *result) skip(reason string) {
	r.status, r.detail, r.fix = statusSkip, []string{reason}, nil
}

// doctor holds what the checks share.
type doctor struct {
	t         *target
	pool      *pgxpool.Pool
	schema    *schema
	getenv    func(string) string
	red       *redactor
	scenarios bool
	stderr    io.Writer

	// Set by the connect check.
	roles            map[string]bool // which API roles exist
	canBeServiceRole bool
}

// apiRoles are the roles an API request can become; authenticator is the one PostgREST
// logs in as.
var apiRoles = []string{"anon", "authenticated", "service_role", "authenticator"}

// check is one step of the doctor.
type check struct {
	id      string
	timeout time.Duration
	db      bool // needs the connection
	run     func(ctx context.Context, r *result)
}

const checkTimeout = 30 * time.Second

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), doctorUsage) }
	dbURL := fs.String("db-url", "", "the database URL")
	asJSON := fs.Bool("json", false, "print one JSON object")
	scenarios := fs.Bool("scenarios", false, "walk the runbook's scenarios (writes)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, "byok doctor: unexpected arguments\n\n"+doctorUsage)
		return exitUsage
	}

	red := &redactor{}
	for _, name := range secretEnv {
		red.add(strings.TrimSpace(getenv(name)))
	}
	d := &doctor{schema: parseSchema(migrationList()), getenv: getenv, red: red, scenarios: *scenarios, stderr: stderr}
	prog := newProgress(stderr)
	colour := !*asJSON && isTerminal(stdout) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"

	raw, source := databaseURL(*dbURL, getenv)
	connected := false
	var connectErr string
	t, err := parseTarget(raw, source, red)
	if err != nil {
		connectErr = err.Error()
	} else {
		d.t = t
		prog.start("connecting to " + t.name)
		d.pool, connectErr = d.open(ctx)
		connected = connectErr == ""
		if connected {
			defer d.pool.Close()
		}
	}

	checks := []check{
		{id: "connect", db: true, run: d.checkConnect},
		{id: "migrations", db: true, run: d.checkMigrations},
		{id: "vault", db: true, run: d.checkVault},
		{id: "rls", db: true, run: d.checkRLS},
		{id: "rpc-acl", db: true, run: d.checkRPCACL},
		{id: "notify", db: true, run: d.checkNotify},
		{id: "env", run: d.checkEnv},
		{id: "scenarios", db: true, timeout: 3 * time.Minute, run: d.checkScenarios},
	}
	var results []*result
	for _, c := range checks {
		r := &result{id: c.id}
		results = append(results, r)
		switch {
		case ctx.Err() != nil:
			r.skip("interrupted")
		case c.id == "connect" && !connected:
			r.fail("cannot connect: "+connectErr, connectFix(d.t, connectErr))
		case c.db && !connected:
			r.skip("no connection")
		default:
			prog.start("checking " + c.id)
			timeout := c.timeout
			if timeout == 0 {
				timeout = checkTimeout
			}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			c.run(cctx, r)
			cancel()
			if r.status == "" {
				r.status = statusPass
			}
		}
	}
	prog.done()

	for _, r := range results {
		for i := range r.detail {
			r.detail[i] = red.scrubOutput(r.detail[i])
		}
		for i := range r.fix {
			r.fix[i] = red.scrubOutput(r.fix[i])
		}
	}
	var werr error
	if *asJSON {
		werr = writeJSON(stdout, results)
	} else {
		name := "(no database)"
		if d.t != nil {
			name = d.t.name
		}
		werr = writeText(stdout, name, results, colour)
	}
	if werr != nil {
		fmt.Fprintln(stderr, "byok doctor:", werr)
	}
	switch {
	case !connected:
		return exitUsage
	case failed(results) || werr != nil:
		return exitFail
	}
	return exitOK
}

func failed(results []*result) bool {
	for _, r := range results {
		if r.status == statusFail {
			return true
		}
	}
	return false
}

// open connects the pool and proves the connection with a round trip. It returns the
// error text, scrubbed, or "".
func (d *doctor) open(ctx context.Context) (*pgxpool.Pool, string) {
	cctx, cancel := context.WithTimeout(ctx, d.t.cfg.ConnConfig.ConnectTimeout+5*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, d.t.cfg)
	if err != nil {
		return nil, connectError(err, d.red)
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, connectError(err, d.red)
	}
	return pool, ""
}

// connectFix is the fix for a failed connection.
func connectFix(t *target, errText string) string {
	switch {
	case t == nil:
		return "byok doctor --db-url 'postgresql://postgres:[PASSWORD]@db.[REF].supabase.co:5432/postgres' (Supabase Dashboard, Connect)"
	case strings.Contains(errText, "28P01"):
		return "check the database password (Supabase Dashboard, Project Settings, Database)"
	}
	return "check the host, port and database name, and that this machine may reach " + t.name
}

// errText describes err for a row: a PostgreSQL error by its message and SQLSTATE, a
// supabase.Error by its own text (which never holds arguments), anything else as is; all
// scrubbed of secrets.
func (d *doctor) errText(err error) string {
	var pgErr *pgconn.PgError
	var sbErr *supabase.Error
	switch {
	case errors.As(err, &sbErr):
		return d.red.scrub(sbErr.Error())
	case errors.As(err, &pgErr):
		return d.red.scrub(fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code))
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return d.red.scrub(err.Error())
}

// jsonReport is the --json output.
type jsonReport struct {
	OK     bool        `json:"ok"`
	Checks []jsonCheck `json:"checks"`
}

type jsonCheck struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

func writeJSON(w io.Writer, results []*result) error {
	rep := jsonReport{OK: !failed(results), Checks: []jsonCheck{}}
	for _, r := range results {
		rep.Checks = append(rep.Checks, jsonCheck{ID: r.id, Status: string(r.status),
			Detail: strings.Join(r.detail, "; "), Fix: strings.Join(r.fix, "\n")})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// ANSI colours for the status column.
var colours = map[status]string{statusPass: "\x1b[32m", statusWarn: "\x1b[33m", statusFail: "\x1b[31m", statusSkip: "\x1b[2m"}

const colourReset = "\x1b[0m"

// writeText prints the aligned rows: status, id, then the details one per line and the
// fixes, indented under the detail column.
func writeText(w io.Writer, name string, results []*result, colour bool) error {
	width := 0
	for _, r := range results {
		width = max(width, len(r.id))
	}
	indent := strings.Repeat(" ", 4+2+width+2)
	var b strings.Builder
	fmt.Fprintf(&b, "byok doctor: %s\n\n", name)
	counts := map[status]int{}
	for _, r := range results {
		counts[r.status]++
		label := strings.ToUpper(string(r.status))
		if colour {
			label = colours[r.status] + label + colourReset
		}
		fmt.Fprintf(&b, "%s  %-*s  ", label, width, r.id)
		for i, d := range r.detail {
			if i > 0 {
				b.WriteString(indent)
			}
			b.WriteString(strings.ReplaceAll(d, "\n", "\n"+indent))
			b.WriteString("\n")
		}
		if len(r.detail) == 0 {
			b.WriteString("\n")
		}
		for i, f := range r.fix {
			prefix := "      "
			if i == 0 {
				prefix = "fix:  "
			}
			b.WriteString(indent + prefix + strings.ReplaceAll(f, "\n", "\n"+indent+"      ") + "\n")
		}
	}
	fmt.Fprintf(&b, "\n%d passed, %d warnings, %d failed, %d skipped\n",
		counts[statusPass], counts[statusWarn], counts[statusFail], counts[statusSkip])
	_, err := io.WriteString(w, b.String())
	return err
}

// progress tells a person on stderr what is running: one line rewritten in place on a
// terminal, one line per step otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	shown    bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, terminal: isTerminal(w)} }

func (p *progress) start(what string) {
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K%s…", what)
		p.shown = true
		return
	}
	fmt.Fprintf(p.w, "byok doctor: %s\n", what)
}

func (p *progress) done() {
	if p.terminal && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
