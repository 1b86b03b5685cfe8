package migrations_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

// postgrestoolsEnv names the command that runs postgrestools, e.g.
// "npx --yes @postgrestools/postgrestools@0.25.7" (what .ci/run sets).
const postgrestoolsEnv = "BYOK_POSTGRESTOOLS"

// exposedSchemas is pgrst.db_schemas as the dashboard sets it for the advisors of a new
// project: the API's exposed schemas. The advisors that ask "is this reachable over the API?"
// look only at these schemas; without the setting they see none.
const exposedSchemas = "public, graphql_public"

// TestAdvisors_reportNothing runs postgrestools on the real stack: check on the migration
// files, type-checked against a migrated database, and dblint (Supabase's database advisors,
// splinter) on that database. Neither may report anything. Skipped unless BYOK_POSTGRESTOOLS
// is set and the stack is real.
func TestAdvisors_reportNothing(t *testing.T) {
	tool := postgrestools(t)
	db := pgtest.Fresh(t, true)

	t.Run("check the migration files", func(t *testing.T) {
		report := tool.run(t, "check", "--connection-string="+tool.dsn(db), ".")
		assert.Empty(t, report.Diagnostics)
		assert.Equal(t, len(sqlFiles(t)), report.Summary.Unchanged, "every migration file is checked")
	})
	t.Run("dblint the migrated database", func(t *testing.T) {
		assert.Empty(t, tool.run(t, "dblint", "--connection-string="+tool.dsn(db)).Diagnostics)
	})

	// Both runs can fail.
	t.Run("dblint sees a public table without row level security", func(t *testing.T) {
		probe := pgtest.Fresh(t, true)
		_, err := probe.Pool.Exec(t.Context(), `create table public.byok_lint_probe (id int primary key)`)
		require.NoError(t, err)
		report := tool.run(t, "dblint", "--connection-string="+tool.dsn(probe))
		require.Len(t, report.Diagnostics, 1)
		assert.Equal(t, "splinter/security/rlsDisabledInPublic", report.Diagnostics[0].Category)
		assert.Contains(t, report.Diagnostics[0].Message, "public.byok_lint_probe")
	})
	t.Run("check sees a destructive migration", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "20990101000000_probe.sql"),
			[]byte("alter table public.api_keys drop column last_used;\n"), 0o644))
		report := tool.run(t, "check", "--connection-string="+tool.dsn(db), dir)
		require.NotEmpty(t, report.Diagnostics)
		assert.Equal(t, "lint/safety/banDropColumn", report.Diagnostics[0].Category)
	})
}

type postgrestoolsCmd struct {
	argv   []string
	config string
}

func postgrestools(t *testing.T) postgrestoolsCmd {
	t.Helper()
	cmdline := os.Getenv(postgrestoolsEnv)
	if cmdline == "" {
		t.Skipf("set %s to the postgrestools command (.ci/run: npx --yes @postgrestools/postgrestools@0.25.7)", postgrestoolsEnv)
	}
	if !pgtest.Real() {
		t.Skip("the advisors check the real Supabase stack: set BYOK_SUPABASE_REAL (see internal/pgtest)")
	}
	config, err := filepath.Abs(filepath.Join("..", "..", "postgres-language-server.jsonc"))
	require.NoError(t, err)
	return postgrestoolsCmd{argv: strings.Fields(cmdline), config: config}
}

// dsn connects as postgres, as the dashboard's advisors do, with pgrst.db_schemas set.
func (postgrestoolsCmd) dsn(db *pgtest.DB) string {
	return db.DSN + "&options=" + url.QueryEscape("-c pgrst.db_schemas="+strings.ReplaceAll(exposedSchemas, " ", ""))
}

// report is postgrestools' --reporter=json output.
type report struct {
	Summary struct {
		Unchanged int `json:"unchanged"`
		Errors    int `json:"errors"`
		Warnings  int `json:"warnings"`
	} `json:"summary"`
	Diagnostics []struct {
		Severity string `json:"severity"`
		Message  string `json:"message"`
		Category string `json:"category"`
	} `json:"diagnostics"`
}

// run runs postgrestools with args and every diagnostic level, and decodes its report. It
// fails t if the tool did not report (it exits 1 when it reports errors).
func (p postgrestoolsCmd) run(t *testing.T, args ...string) report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // a first npx run downloads it
	defer cancel()
	argv := append(append(append([]string{}, p.argv...), args...), "--config-path="+p.config,
		"--reporter=json", "--max-diagnostics=none", "--diagnostic-level=info", "--colors=off")
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("postgrestools %s: %v; no report (%v):\n%s\n%s", args[0], runErr, err, stdout.String(), stderr.String())
	}
	kept := r.Diagnostics[:0]
	for _, d := range r.Diagnostics {
		t.Logf("postgrestools %s: %s %s: %s", args[0], d.Severity, d.Category, d.Message)
		if !usageAdvisors[d.Category] {
			kept = append(kept, d)
		}
	}
	r.Diagnostics = kept
	return r
}

// usageAdvisors are the advisors that judge a database by how it has been used since its
// statistics began (pg_stat_user_indexes and the like). On a database made a moment before,
// every index that no query has scanned yet is "unused", which says nothing about the
// migrations, so their findings are logged but not counted.
var usageAdvisors = map[string]bool{"splinter/performance/unusedIndex": true}

func sqlFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.sql")
	require.NoError(t, err)
	return files
}
