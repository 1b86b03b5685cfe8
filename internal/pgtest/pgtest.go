// Package pgtest runs this module's database tests against a throwaway PostgreSQL 15 set up
// like a Supabase project.
//
// A test package opts in with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and then calls [New] (or [Fresh]) in each database test. The first such call starts one
// cluster for the test package (initdb in a temporary directory, a free loopback port; as the
// postgres OS user when running as root) and builds template databases holding a Supabase
// baseline, then the real migrations applied with migrations.Apply. Main stops the cluster and
// removes its directory after the tests; a watchdog process does the same if the test binary
// dies first (a panic or a timeout). As root the directory is made under [os.TempDir], which the
// postgres OS user must be able to reach.
//
// # Two stacks
//
// By default the baseline is the test-only stand-in in testdata: Supabase's roles, an auth
// schema reduced to what the migrations touch, and a Vault stand-in; postgres is a superuser.
//
// With BYOK_SUPABASE_REAL naming a folder of the real Supabase parts (baseline.sql, and
// install-vault.sh, which must have run), the cluster is Supabase's own ([Real] reports it):
// initdb'd as supabase_admin, started with the real supabase_vault extension preloaded and a
// getkey script of its own, restored from baseline.sql as supabase_admin, and the migrations are
// applied as postgres, which, as on hosted Supabase, is not a superuser. In this mode a missing
// PostgreSQL, extension or file fails the tests instead of skipping them.
//
// Without PostgreSQL the database tests are skipped with a message saying how to enable them,
// or fail when BYOK_REQUIRE_POSTGRES is true (CI sets it). The server binaries are looked for
// in $BYOK_PG_BIN, /usr/lib/postgresql/15/bin, then `pg_config --bindir`.
package pgtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/byok-go/byok/supabase/migrations"
)

var (
	//go:embed testdata/supabase_baseline.sql
	baselineSQL string
	//go:embed testdata/vault_standin.sql
	vaultSQL string
)

const (
	baseTemplate     = "byok_template_base"     // the Supabase baseline (with the Vault stand-in)
	migratedTemplate = "byok_template_migrated" // ... + the migrations
	sharedDatabase   = "byok_shared"            // a copy of migratedTemplate, returned by New
)

// state is the package's one cluster. Main owns its lifetime; the first New or Fresh starts it.
var state struct {
	mainRunning atomic.Bool
	once        sync.Once
	err         error // from starting; errMissing when PostgreSQL is absent
	cluster     *cluster
	shared      *DB
	root        *pgxpool.Pool // the superuser on database postgres: drops Fresh databases
	createMu    sync.Mutex    // CREATE DATABASE ... TEMPLATE, one at a time
	fresh       atomic.Int64
}

// Main runs the test package's tests, then stops the cluster they started, if any, and removes
// its directory, whether the tests passed or not. Call it from TestMain; the test binary exits
// with m.Run's result when TestMain returns.
func Main(m *testing.M) {
	state.mainRunning.Store(true)
	defer shutdown()
	m.Run()
}

// Real reports whether the tests run on the real Supabase stack, that is whether
// BYOK_SUPABASE_REAL is set (see the package doc).
func Real() bool { return os.Getenv(realEnv) != "" }

// DB is one database in the test cluster. Tests share the one [New] returns, so they should
// create their own users ([DB.CreateUser]) rather than count rows they did not create.
type DB struct {
	// Pool is connected as postgres, the role of the Supabase SQL editor and of migrations: use
	// it to arrange and inspect, and the As* methods to act as an API role. It bypasses row level
	// security. On the stand-in postgres is a superuser. On the real stack it is not: it reads
	// every table (pg_read_all_data) and may insert into and delete from auth.users, select from
	// and delete from vault.secrets, and create in public, but no more, as on hosted Supabase.
	Pool *pgxpool.Pool
	// DSN connects to this database as postgres.
	DSN string
	// AuthenticatorDSN connects to this database as authenticator, the login role PostgREST
	// uses, which may switch to anon, authenticated and service_role.
	AuthenticatorDSN string

	roles     *pgxpool.Pool // as authenticator
	superuser string        // connection string as the cluster's superuser
}

// New returns the shared database holding the Supabase baseline and the migrations. It skips t
// (or fails it, see the package doc) when PostgreSQL is not installed.
func New(t testing.TB) *DB {
	t.Helper()
	start(t)
	return state.shared
}

// Fresh returns a new database of its own, dropped when t ends: with the migrations applied,
// or, when migrated is false, only the Supabase baseline (for tests of migrations.Apply).
func Fresh(t testing.TB, migrated bool) *DB {
	t.Helper()
	start(t)
	template := baseTemplate
	if migrated {
		template = migratedTemplate
	}
	name := fmt.Sprintf("byok_fresh_%d", state.fresh.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createDatabase(ctx, state.shared.Pool, name, template); err != nil {
		t.Fatal(err)
	}
	db, err := open(ctx, state.cluster, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// As the superuser: FORCE must be able to end any session still closing, a
		// superuser's included (SuperuserConn), which postgres may not on the real stack.
		if _, err := state.root.Exec(ctx, `drop database if exists `+pgx.Identifier{name}.Sanitize()+` with (force)`); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return db
}

// CreateUser inserts a row into auth.users, as signing up does, and returns its id. The id is
// given explicitly: GoTrue's auth.users.id has no default.
func (db *DB) CreateUser(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var id string
	if err := db.Pool.QueryRow(ctx, `insert into auth.users (id) values (gen_random_uuid()) returning id::text`).Scan(&id); err != nil {
		t.Fatalf("pgtest: create user: %v", err)
	}
	return id
}

// AsAnon runs fn in one transaction as a request without a user's JWT: role anon, claims
// {"role":"anon"}. The transaction commits when fn returns nil and rolls back otherwise.
func (db *DB) AsAnon(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.as(ctx, "anon", map[string]any{"role": "anon"}, fn)
}

// AsUser runs fn in one transaction as the signed-in user sub: role authenticated, claims
// {"sub":sub,"role":"authenticated","aud":"authenticated"}, so auth.uid() is sub.
func (db *DB) AsUser(ctx context.Context, sub string, fn func(pgx.Tx) error) error {
	return db.as(ctx, "authenticated", map[string]any{"sub": sub, "role": "authenticated", "aud": "authenticated"}, fn)
}

// AsServiceRole runs fn in one transaction as a request with the service role key: role
// service_role, claims {"role":"service_role"}.
func (db *DB) AsServiceRole(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.as(ctx, "service_role", map[string]any{"role": "service_role"}, fn)
}

// AsRole runs fn in one transaction as role with the given JWT claims, which need not agree
// with it: for tests of requests PostgREST would never make, such as role authenticated with
// claims that say service_role. Prefer AsAnon, AsUser and AsServiceRole otherwise.
func (db *DB) AsRole(ctx context.Context, role string, claims map[string]any, fn func(pgx.Tx) error) error {
	return db.as(ctx, role, claims, fn)
}

// as does what PostgREST does per request: connected as authenticator, it opens a transaction
// and sets the role and the JWT claims for that transaction only.
func (db *DB) as(ctx context.Context, role string, claims map[string]any, fn func(pgx.Tx) error) error {
	b, err := json.Marshal(claims)
	if err != nil {
		return fmt.Errorf("pgtest: claims: %w", err)
	}
	return pgx.BeginFunc(ctx, db.roles, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`,
			role, string(b)); err != nil {
			return fmt.Errorf("pgtest: become %s: %w", role, err)
		}
		return fn(tx)
	})
}

// SuperuserConn connects to this database as the cluster's superuser (supabase_admin on the real
// stack, postgres on the stand-in) and closes the connection when t ends. No Supabase role may do
// what it can: use it only for what a disk image would show, such as raw heap pages
// (pageinspect) and WAL files, never to arrange a test.
func (db *DB) SuperuserConn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.superuser)
	if err != nil {
		t.Fatalf("pgtest: connect as superuser: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// start starts the cluster once and skips or fails t if it is not available.
func start(t testing.TB) {
	t.Helper()
	if !state.mainRunning.Load() {
		t.Fatal("pgtest: call pgtest.Main(m) from TestMain, so the cluster is stopped after the tests")
	}
	state.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		state.err = boot(ctx)
	})
	switch {
	case errors.Is(state.err, errMissing) && !required(os.Getenv) && !Real():
		t.Skip(state.err)
	case state.err != nil:
		t.Fatal(state.err)
	}
}

// boot starts the cluster and builds the templates and the shared database.
func boot(ctx context.Context) error {
	bin, err := findBinDir(ctx, os.Getenv)
	if err != nil {
		return err
	}
	s, err := stackFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	c, err := newCluster(ctx, bin, s)
	if err != nil {
		return err
	}
	state.cluster = c // from here on shutdown stops it
	admin, err := pgx.Connect(ctx, c.dsn("postgres", "postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer admin.Close(ctx)
	if err := createDatabase(ctx, admin, sharedDatabase, migratedTemplate); err != nil {
		return err
	}
	if state.root, err = newPool(ctx, c.dsn(s.superuser(), "postgres"), 2); err != nil {
		return err
	}
	state.shared, err = open(ctx, c, sharedDatabase)
	return err
}

// newCluster starts a cluster of stack s with its two template databases: the Supabase
// baseline, and the baseline with the migrations applied. It stops the cluster if that fails.
// The templates are owned by postgres, which may copy them, so on either stack every database
// after the baseline is made and migrated as postgres. (Fresh drops its databases as the
// superuser, which may end any session still closing.)
func newCluster(ctx context.Context, bin string, s stack) (*cluster, error) {
	c, err := startCluster(ctx, bin, s)
	if err != nil {
		return nil, err
	}
	if err := buildTemplates(ctx, c); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// buildTemplates creates the two template databases. The migrations go through
// migrations.Apply as postgres, as a user without the Supabase CLI would apply them.
func buildTemplates(ctx context.Context, c *cluster) error {
	if c.stack.real != "" {
		if err := loadRealBaseline(ctx, c); err != nil {
			return err
		}
	} else if err := loadStandinBaseline(ctx, c); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, c.dsn("postgres", "postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer admin.Close(ctx)
	if err := createDatabase(ctx, admin, migratedTemplate, baseTemplate); err != nil {
		return err
	}
	migrated, err := pgx.Connect(ctx, c.dsn("postgres", migratedTemplate))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	_, err = migrations.Apply(ctx, migrated)
	migrated.Close(ctx) // a template must have no connections when it is copied
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// loadStandinBaseline creates baseTemplate from testdata as the superuser postgres.
func loadStandinBaseline(ctx context.Context, c *cluster) error {
	admin, err := pgx.Connect(ctx, c.dsn("postgres", "postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer admin.Close(ctx)
	if err := createDatabase(ctx, admin, baseTemplate, "template0"); err != nil {
		return err
	}
	base, err := pgx.Connect(ctx, c.dsn("postgres", baseTemplate))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	_, err = base.Exec(ctx, baselineSQL)
	if err == nil {
		_, err = base.Exec(ctx, vaultSQL)
	}
	base.Close(ctx)
	if err != nil {
		return fmt.Errorf("pgtest: load baseline: %w", err)
	}
	return nil
}

// loadRealBaseline creates baseTemplate by restoring the real baseline.sql as supabase_admin,
// then gives the database to postgres, as a Supabase project's database is.
func loadRealBaseline(ctx context.Context, c *cluster) error {
	root, err := pgx.Connect(ctx, c.dsn(c.stack.superuser(), "postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer root.Close(ctx)
	if err := createDatabase(ctx, root, baseTemplate, "template0"); err != nil {
		return err
	}
	out, err := c.psql(ctx, c.stack.superuser(), baseTemplate, "-f", filepath.Join(c.stack.real, "baseline.sql"))
	if err != nil {
		return fmt.Errorf("pgtest: restore %s: %w\n%s", filepath.Join(c.stack.real, "baseline.sql"), err, lastLines(out, 20))
	}
	if _, err := root.Exec(ctx, `alter database `+pgx.Identifier{baseTemplate}.Sanitize()+` owner to postgres`); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func createDatabase(ctx context.Context, admin execer, name, template string) error {
	state.createMu.Lock()
	defer state.createMu.Unlock()
	_, err := admin.Exec(ctx, fmt.Sprintf(`create database %s template %s`,
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize()))
	if err != nil {
		return fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return nil
}

// open connects the two pools of database name.
func open(ctx context.Context, c *cluster, name string) (*DB, error) {
	db := &DB{DSN: c.dsn("postgres", name), AuthenticatorDSN: c.dsn("authenticator", name),
		superuser: c.dsn(c.stack.superuser(), name)}
	var err error
	if db.Pool, err = newPool(ctx, db.DSN, 8); err != nil {
		return nil, err
	}
	// Enough connections for tests that race many writers.
	if db.roles, err = newPool(ctx, db.AuthenticatorDSN, 32); err != nil {
		db.Pool.Close()
		return nil, err
	}
	return db, nil
}

func newPool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	return pool, nil
}

func (db *DB) close() {
	db.roles.Close()
	db.Pool.Close()
}

// shutdown closes the shared database's pools and stops the cluster.
func shutdown() {
	if state.shared != nil {
		state.shared.close()
	}
	if state.root != nil {
		state.root.Close()
	}
	if state.cluster != nil {
		state.cluster.stop()
	}
}
