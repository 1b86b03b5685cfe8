// Package migrations holds the project's Supabase SQL migrations, embedded, and applies them
// for users who do not run the Supabase CLI.
//
// The files in this directory are ordinary Supabase migrations: `supabase db push` applies them
// unchanged. [Apply] does the same over a pgx connection and records each version in
// supabase_migrations.schema_migrations, the table the CLI keeps, so the two agree about what
// is applied.
//
// The migrations need what every Supabase project has: the roles anon, authenticated and
// service_role, the auth schema, and Vault (the supabase_vault extension).
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// fileName is the Supabase CLI's migration file pattern: <version>_<name>.sql.
var fileName = regexp.MustCompile(`^([0-9]+)_(.*)\.sql$`)

// Migration is one embedded migration file.
type Migration struct {
	Version string // the file name's timestamp prefix, e.g. "20251113000000"
	Name    string // the rest of the file name without ".sql", e.g. "gateway_user_byok"
	SQL     string // the file's contents
}

// All returns the migrations in file-name (that is, version) order. The slice is the caller's.
func All() []Migration {
	entries, err := fs.ReadDir(files, ".") // sorted by file name
	if err != nil {
		return nil // unreachable: the embedded root always exists
	}
	var all []Migration
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		sql, err := fs.ReadFile(files, e.Name())
		if err != nil {
			continue // unreachable: the name came from the same FS
		}
		all = append(all, Migration{Version: m[1], Name: m[2], SQL: string(sql)})
	}
	return all
}

// DB starts transactions. *pgx.Conn, *pgxpool.Pool and pgx.Tx (whose Begin opens a savepoint)
// satisfy it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// The history table's shape, created the way the Supabase CLI creates it.
const historySQL = `
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;`

// lockSQL serializes concurrent Apply calls on one database until the transaction ends.
const lockSQL = `select pg_advisory_xact_lock(hashtextextended('supabase_migrations.schema_migrations', 0))`

// Apply applies, in order, every migration whose version is not yet recorded in
// supabase_migrations.schema_migrations, and returns the versions it applied: none when the
// database is up to date. Each migration runs in its own transaction together with the row
// that records it (version, name, and the whole file as the only element of statements), so a
// failed migration leaves neither a partial schema change nor a record. Concurrent Apply calls
// on one database wait for each other instead of applying a migration twice; the Supabase CLI
// does not take that lock, so do not run both at the same moment.
//
// Apply creates the history schema and table if absent. It stops at the first error, returning
// the versions applied before it; the failure of a migration itself is an [*Error] naming it.
func Apply(ctx context.Context, db DB) (applied []string, err error) {
	return ApplyList(ctx, db, All())
}

// ApplyList is [Apply] for the migrations in list, applied in the order given, instead of
// [All]: for tools that report on each migration in turn (one call per migration) or apply
// migrations of their own next to these. A migration's failure is an [*Error].
func ApplyList(ctx context.Context, db DB, list []Migration) (applied []string, err error) {
	done, err := prepareHistory(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, m := range list {
		if done[m.Version] {
			continue
		}
		ok, err := applyOne(ctx, db, m)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// prepareHistory creates the history table if needed and returns the recorded versions.
func prepareHistory(ctx context.Context, db DB) (map[string]bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: begin: %w", err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if _, err := tx.Exec(ctx, lockSQL); err != nil {
		return nil, fmt.Errorf("migrations: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, historySQL); err != nil {
		return nil, fmt.Errorf("migrations: create history table: %w", err)
	}
	rows, err := tx.Query(ctx, `select version from supabase_migrations.schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrations: read history: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("migrations: read history: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("migrations: commit history table: %w", err)
	}
	done := make(map[string]bool, len(versions))
	for _, v := range versions {
		done[v] = true
	}
	return done, nil
}

// Error is the failure of one migration: applying it, or recording it. Err is the cause,
// a *pgconn.PgError when the database refused a statement (errors.As finds it, and with
// it the SQLSTATE). Nothing of the migration stays applied.
type Error struct {
	Version, Name string // the migration's
	Err           error
}

func (e *Error) Error() string {
	return fmt.Sprintf("migrations: %s_%s: %v", e.Version, e.Name, e.Err)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// applyOne applies m unless, once holding the lock, it finds m already recorded by a
// concurrent Apply. It reports whether it applied m.
func applyOne(ctx context.Context, db DB, m Migration) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, &Error{Version: m.Version, Name: m.Name, Err: fmt.Errorf("begin: %w", err)}
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if _, err := tx.Exec(ctx, lockSQL); err != nil {
		return false, &Error{Version: m.Version, Name: m.Name, Err: fmt.Errorf("lock: %w", err)}
	}
	var recorded bool
	err = tx.QueryRow(ctx,
		`select exists (select from supabase_migrations.schema_migrations where version = $1)`,
		m.Version).Scan(&recorded)
	if err != nil {
		return false, &Error{Version: m.Version, Name: m.Name, Err: fmt.Errorf("read history: %w", err)}
	}
	if recorded {
		return false, nil
	}
	// Without arguments pgx uses the simple protocol, which runs a multi-statement file.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, &Error{Version: m.Version, Name: m.Name, Err: err}
	}
	_, err = tx.Exec(ctx,
		`insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)`,
		m.Version, m.Name, []string{m.SQL})
	if err != nil {
		return false, &Error{Version: m.Version, Name: m.Name, Err: fmt.Errorf("record: %w", err)}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, &Error{Version: m.Version, Name: m.Name, Err: fmt.Errorf("commit: %w", err)}
	}
	return true, nil
}
