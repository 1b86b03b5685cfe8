// Command byok runs the byok operator runbook against a Supabase database: it applies the
// migrations and checks what they made.
//
//	go install github.com/byok-go/byok/cmd/byok@latest
//
//	byok migrate [--db-url URL] [--dry-run]
//	byok doctor  [--db-url URL] [--json] [--scenarios]
//
// The database URL comes from --db-url, else DATABASE_URL, else SUPABASE_DB_URL: the
// project's connection string (Supabase Dashboard, Connect), as the postgres role.
//
// # migrate
//
// Applies the embedded migrations (package supabase/migrations) in order, each in its own
// transaction, and records each in supabase_migrations.schema_migrations as the Supabase
// CLI does, so `supabase migration list` agrees. It prints one line per migration: applied,
// already applied, or with --dry-run would apply (a dry run writes nothing). A failing
// migration stops the run with its name and SQLSTATE; nothing of it stays applied.
//
// # doctor
//
// Runs every check and prints one row per check, PASS, WARN, FAIL or SKIP, with a detail
// and, for WARN and FAIL, the fix: a command or the SQL to run. With --json the output is
// one JSON object, {"ok": bool, "checks": [{"id", "status", "detail", "fix"}]}, status in
// lower case. The check ids are fixed:
//
//   - connect: server version, current role, whether it is a superuser (a WARN: hosted
//     Supabase's postgres is not one, so a check that passes as superuser may fail there),
//     and Supabase's API roles.
//   - migrations: every embedded version is recorded; missing ones are named (fix: byok
//     migrate). A recorded version this build does not know whose name mentions byok is a
//     WARN (a newer byok wrote it); other unknown versions are the project's own
//     migrations and only counted.
//   - vault: supabase_vault is installed (version shown), a probe secret is stored, read
//     back decrypted and deleted through check_vault_health as service_role, and the
//     triggers that delete a key's secret with its row exist.
//   - rls: every byok table exists, has row level security enabled, an owner no API
//     request can become, and each policy the migrations create, with the same command,
//     roles and kind; user_settings.allow_gateway_fallback defaults to TRUE. A permissive
//     policy on a byok table that the migrations do not create is a WARN.
//   - rpc-acl: every SECURITY DEFINER function the migrations create: EXECUTE for
//     service_role only (neither PUBLIC, anon, authenticated nor a role they inherit from
//     holds it; trigger functions are executable by nobody), a pinned search_path, and an
//     owner that is not a role an API request can become (anon, authenticated,
//     service_role, authenticator, or a role one of them is a member of).
//   - notify: the cache invalidation triggers exist and are enabled, and this connection
//     can LISTEN (a NOTIFY round trip). Port 6543, Supavisor's transaction mode, is a
//     WARN: LISTEN cannot work there.
//   - env: AI_GATEWAY_API_KEY set or not (WARN: no team fallback), AI_GATEWAY_URL against
//     the URL policy (with AI_GATEWAY_ALLOWED_HOSTS), the server fallback keys' format,
//     and the Supabase key (SUPABASE_SERVICE_ROLE_KEY, SUPABASE_SECRET_KEY): a publishable
//     key or a legacy JWT whose role is anon or authenticated is a FAIL.
//   - scenarios: only with --scenarios, because it writes: the runbook's four checks with
//     throwaway users, deleted afterwards even when a check fails or the run is
//     interrupted (package internal/runbook).
//
// Exit status: 0 when no check fails, 1 when one does, 2 for a usage error or when it
// cannot connect at all.
//
// # What is checked
//
// The doctor judges only the objects byok's migrations create, read from the embedded
// migrations' SQL (CREATE TABLE, CREATE FUNCTION ... SECURITY DEFINER, CREATE POLICY,
// CREATE TRIGGER on public.*, and their DROPs), so a project's own tables and functions in
// public are left alone and a new migration is checked without a change to the doctor. The
// policies are compared with the migrations' CREATE POLICY statements, which are also the
// fix printed when one is missing.
//
// # Secrets
//
// No key, password or token is printed: not in a row, the JSON, an error or the progress
// lines. The database is named host:port/dbname; the driver's errors are scrubbed of the
// URL and its password; keys are described by their public prefix (sb_secret_,
// sb_publishable_) or their JWT role claim, never by their value.
//
// # Presentation
//
// Progress goes to stderr while the checks run. Colour is used only when stdout is a
// terminal and NO_COLOR is not set.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK    = 0 // nothing failed
	exitFail  = 1 // a check or a migration failed
	exitUsage = 2 // a usage error, or no connection at all
)

const usage = `byok applies byok's Supabase migrations and checks a project the way the operator runbook does.

Usage:
  byok migrate [--db-url URL] [--dry-run]
  byok doctor  [--db-url URL] [--json] [--scenarios]
  byok help [command]

The database URL comes from --db-url, else DATABASE_URL, else SUPABASE_DB_URL.
Exit status: 0 no check failed, 1 a check failed, 2 usage error or no connection.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr, getenv)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			switch args[1] {
			case "migrate":
				fmt.Fprint(stdout, migrateUsage)
				return exitOK
			case "doctor":
				fmt.Fprint(stdout, doctorUsage)
				return exitOK
			}
			fmt.Fprintf(stderr, "byok: no such command\n\n%s", usage)
			return exitUsage
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	// The argument is not echoed: a mistyped command line may hold a URL or a key.
	fmt.Fprintf(stderr, "byok: unknown command\n\n%s", usage)
	return exitUsage
}
