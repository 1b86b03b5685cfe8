package main

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// urlSources are where the database URL comes from after --db-url, in order.
var urlSources = []string{"DATABASE_URL", "SUPABASE_DB_URL"}

// defaultConnectTimeout bounds connecting when the URL sets no connect_timeout.
const defaultConnectTimeout = 15 * time.Second

// target is the database a command works on.
type target struct {
	cfg    *pgxpool.Config
	name   string // host:port/dbname: all of the URL that is ever printed
	port   uint16
	host   string
	source string // "--db-url", "DATABASE_URL", ...
}

var (
	errNoURL  = errors.New("no database URL: pass --db-url or set DATABASE_URL or SUPABASE_DB_URL")
	errBadURL = errors.New("the database URL does not parse as a PostgreSQL URL (postgresql://...) or key=value string")
)

// databaseURL returns the URL from the flag or the environment and where it came from.
func databaseURL(flagValue string, getenv func(string) string) (string, string) {
	if s := strings.TrimSpace(flagValue); s != "" {
		return s, "--db-url"
	}
	for _, name := range urlSources {
		if s := strings.TrimSpace(getenv(name)); s != "" {
			return s, name
		}
	}
	return "", ""
}

// parseTarget parses the database URL. Its errors never quote the URL: the parser's own
// errors can.
func parseTarget(raw, source string, red *redactor) (*target, error) {
	if raw == "" {
		return nil, errNoURL
	}
	red.add(raw)
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			red.addPassword(pw, u.User.Username())
		}
	}
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return nil, errBadURL
	}
	red.addPassword(cfg.ConnConfig.Password, cfg.ConnConfig.User)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// No statement cache: the doctor runs few queries, and Supavisor's transaction mode
	// (port 6543) lends a different server session to each transaction.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "byok"
	}
	cfg.MaxConns = 2
	t := &target{cfg: cfg, host: cfg.ConnConfig.Host, port: cfg.ConnConfig.Port, source: source}
	t.name = net.JoinHostPort(t.host, strconv.Itoa(int(t.port))) + "/" + cfg.ConnConfig.Database
	return t, nil
}

// transactionPooler reports whether the target is Supavisor's (or PgBouncer's)
// transaction mode: port 6543 on Supabase.
func (t *target) transactionPooler() bool { return t.port == 6543 }

// connectError describes a failure to connect without the driver's prefix, which names
// the user, and scrubbed of secrets.
func connectError(err error, red *redactor) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if inner := errors.Unwrap(ce); inner != nil {
			err = inner
		}
	}
	// One line per attempt (TLS, then plain; each address): drop repeated ones.
	var lines []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	return red.scrub(strings.Join(lines, "; "))
}

// redactor scrubs known secrets from text that may echo them: the driver's and the
// server's error messages ([redactor.scrub]), and, as a last line of defence, everything
// printed ([redactor.scrubOutput]).
//
// The text byok composes itself never holds a secret: it names catalog objects and
// describes keys by their public prefix. So the last pass leaves out secrets that are
// also ordinary words of that text, where replacing them would only garble it: a
// password equal to the user name or to "postgres" (the Supabase CLI's local default),
// and keys shorter than 8 characters. Error texts are scrubbed of every secret.
type redactor struct {
	secrets []string // longest first, so a secret containing another is replaced whole
	weak    []string // scrubbed from error texts only
}

// redacted replaces a secret in output.
const redacted = "[redacted]"

// minOutputSecret is the length below which a secret is scrubbed from error texts only.
const minOutputSecret = 8

// add registers s, and its URL-escaped spellings, as a secret. Empty strings are ignored.
func (r *redactor) add(s string) {
	if len(s) < minOutputSecret {
		r.addWeak(s)
		return
	}
	r.secrets = addSpellings(r.secrets, s)
}

// addPassword registers the database password: a weak secret when it is a word of the
// output anyway (see [redactor]).
func (r *redactor) addPassword(pw, user string) {
	if pw == user || pw == "postgres" {
		r.addWeak(pw)
		return
	}
	r.add(pw)
}

func (r *redactor) addWeak(s string) {
	if s != "" {
		r.weak = addSpellings(r.weak, s)
	}
}

func addSpellings(list []string, s string) []string {
	for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("", s).String()[1:]} {
		if v != "" && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	slices.SortFunc(list, func(a, b string) int { return len(b) - len(a) })
	return list
}

// scrub returns an error text s with every registered secret replaced.
func (r *redactor) scrub(s string) string {
	return replaceAll(replaceAll(s, r.secrets), r.weak)
}

// scrubOutput returns s with every secret but the weak ones replaced.
func (r *redactor) scrubOutput(s string) string {
	return replaceAll(s, r.secrets)
}

func replaceAll(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}
