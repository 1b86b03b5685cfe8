package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/byok-go/byok/supabase/migrations"
)

const migrateUsage = `Usage: byok migrate [--db-url URL] [--dry-run]

Applies byok's embedded Supabase migrations in order, each in its own transaction, and
records them in supabase_migrations.schema_migrations as the Supabase CLI does. A second
run applies nothing. A failing migration stops the run; nothing of it stays applied.

Flags:
  --db-url URL   the database (default $DATABASE_URL, else $SUPABASE_DB_URL)
  --dry-run      print what would be applied and change nothing

Exit status: 0 done, 1 a migration failed, 2 usage error or no connection.
`

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), migrateUsage) }
	dbURL := fs.String("db-url", "", "the database URL")
	dryRun := fs.Bool("dry-run", false, "print what would be applied")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, "byok migrate: unexpected arguments\n\n"+migrateUsage)
		return exitUsage
	}
	red := &redactor{}
	raw, source := databaseURL(*dbURL, getenv)
	t, err := parseTarget(raw, source, red)
	if err != nil {
		fmt.Fprintln(stderr, "byok migrate:", err)
		return exitUsage
	}
	cctx, cancel := context.WithTimeout(ctx, t.cfg.ConnConfig.ConnectTimeout+5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, t.cfg.ConnConfig)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "byok migrate: cannot connect to %s: %s\n", t.name, connectError(err, red))
		return exitUsage
	}
	defer conn.Close(context.WithoutCancel(ctx))

	recorded, _, err := readHistory(ctx, conn)
	if err != nil {
		fmt.Fprintf(stderr, "byok migrate: cannot read supabase_migrations.schema_migrations on %s: %s\n", t.name, red.scrub(err.Error()))
		return exitFail
	}
	// One line per migration, written as it is done: the progress and the record.
	line := func(state string, m migrations.Migration, extra string) {
		fmt.Fprintf(stdout, "%-16s %s_%s%s\n", state, m.Version, m.Name, extra)
	}
	applied, already, pending := 0, 0, 0
	for _, m := range migrationList() {
		if _, ok := recorded[m.Version]; ok {
			line("already applied", m, "")
			already++
			continue
		}
		if *dryRun {
			line("would apply", m, "")
			pending++
			continue
		}
		got, err := migrations.ApplyList(ctx, conn, []migrations.Migration{m})
		if err != nil {
			why := red.scrub(err.Error())
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				why = red.scrub(pgErr.Message) + " (SQLSTATE " + pgErr.Code + ")"
			}
			var merr *migrations.Error
			if !errors.As(err, &merr) {
				// Not the migration itself: the history table, or the connection.
				fmt.Fprintf(stderr, "byok migrate: %s\n", why)
				return exitFail
			}
			line("FAILED", m, ": "+why)
			fmt.Fprintf(stderr, "byok migrate: %s_%s failed: %s; nothing of it was applied (%d applied before it)\n",
				m.Version, m.Name, why, applied)
			return exitFail
		}
		if len(got) == 0 {
			line("already applied", m, " (by a concurrent run)")
			already++
			continue
		}
		line("applied", m, "")
		applied++
	}
	if *dryRun {
		fmt.Fprintf(stdout, "\n%s: %d would apply, %d already applied (dry run: nothing changed)\n", t.name, pending, already)
	} else {
		fmt.Fprintf(stdout, "\n%s: %d applied, %d already applied\n", t.name, applied, already)
	}
	return exitOK
}
