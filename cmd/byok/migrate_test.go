package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase/migrations"
)

type record struct {
	Version    string
	Name       string
	Statements []string
}

func history(t *testing.T, db *pgtest.DB) []record {
	t.Helper()
	rows, err := db.Pool.Query(t.Context(),
		`select version, name, statements from supabase_migrations.schema_migrations order by version`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[record])
	require.NoError(t, err)
	return got
}

func exists(t *testing.T, db *pgtest.DB, regclass string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select to_regclass($1) is not null`, regclass).Scan(&ok))
	return ok
}

// migrate on a database with only the Supabase baseline applies every migration and
// records it as the Supabase CLI does; a second run applies nothing; doctor then passes.
func TestMigrate_baselineThenAgain(t *testing.T) {
	db := pgtest.Fresh(t, false)
	bin := binary(t, false)
	dbURL := withPassword(t, db.DSN)
	all := migrations.All()

	// A dry run first: it says what it would apply and changes nothing.
	r := byok(t, bin, nil, "migrate", "--dry-run", "--db-url", dbURL)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	for _, m := range all {
		assert.Regexp(t, `(?m)^would apply +`+m.Version+`_`+regexp.QuoteMeta(m.Name)+`$`, r.stdout)
	}
	assert.Contains(t, r.stdout, fmt.Sprintf("%d would apply, 0 already applied (dry run: nothing changed)", len(all)))
	assert.False(t, exists(t, db, "supabase_migrations.schema_migrations"), "a dry run writes nothing")
	assert.False(t, exists(t, db, "public.api_keys"))

	r = byok(t, bin, nil, "migrate", "--db-url", dbURL)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	t.Logf("byok migrate:\n%s", r.stdout)
	var want []record
	for _, m := range all {
		assert.Regexp(t, `(?m)^applied +`+m.Version+`_`+regexp.QuoteMeta(m.Name)+`$`, r.stdout)
		want = append(want, record{m.Version, m.Name, []string{m.SQL}})
	}
	assert.Contains(t, r.stdout, fmt.Sprintf("%d applied, 0 already applied", len(all)))
	assert.Regexp(t, `(?m)^127\.0\.0\.1:\d+/byok_fresh_\d+: \d+ applied, 0 already applied$`, r.stdout, "names the target")
	assert.Equal(t, want, history(t, db), "recorded where and as the Supabase CLI records them")

	r = byok(t, bin, nil, "migrate", "--db-url", dbURL)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Equal(t, len(all), strings.Count(r.stdout, "already applied  "), r.stdout)
	assert.Contains(t, r.stdout, fmt.Sprintf("0 applied, %d already applied", len(all)))
	assert.Equal(t, want, history(t, db))

	// DATABASE_URL works as --db-url does; the doctor finds the database healthy.
	r = byok(t, bin, map[string]string{"DATABASE_URL": dbURL}, "migrate", "--dry-run")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, fmt.Sprintf("0 would apply, %d already applied", len(all)))
	rep := parse(t, byok(t, bin, healthyEnv(), "doctor", "--json", "--db-url", dbURL))
	assert.Equal(t, healthy(false), rep.statuses())
}

// A failing migration stops the run with its name and SQLSTATE, and nothing of it stays:
// neither its first statement's table nor a history row. The ones before it stay applied.
func TestMigrate_brokenMigrationStopsAndLeavesNothing(t *testing.T) {
	db := pgtest.Fresh(t, false)
	bin := binary(t, true)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "29990101000000_byok_broken.sql"), []byte(`
create table public.byok_broken_probe (id int);
select * from public.no_such_table;
`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "29990102000000_byok_after.sql"), []byte(`
create table public.byok_after_probe (id int);
`), 0o600))

	r := byok(t, bin, map[string]string{"BYOK_TEST_EXTRA_MIGRATIONS": dir}, "migrate", "--db-url", withPassword(t, db.DSN))
	t.Logf("byok migrate:\n%s%s", r.stdout, r.stderr)
	assert.Equal(t, 1, r.code)
	n := len(migrations.All())
	assert.Len(t, regexp.MustCompile(`(?m)^applied `).FindAllString(r.stdout, -1), n, r.stdout)
	assert.Contains(t, r.stdout, `FAILED           29990101000000_byok_broken: relation "public.no_such_table" does not exist (SQLSTATE 42P01)`)
	assert.Contains(t, r.stderr, "29990101000000_byok_broken failed")
	assert.Contains(t, r.stderr, "SQLSTATE 42P01")
	assert.Contains(t, r.stderr, fmt.Sprintf("nothing of it was applied (%d applied before it)", n))
	assert.NotContains(t, r.stdout, "29990102000000", "the run stops at the failure")

	assert.False(t, exists(t, db, "public.byok_broken_probe"), "the failed migration's first statement is rolled back")
	assert.False(t, exists(t, db, "public.byok_after_probe"))
	assert.True(t, exists(t, db, "public.api_keys"))
	got := history(t, db)
	assert.Len(t, got, n)
	for _, h := range got {
		assert.NotEqual(t, "29990101000000", h.Version)
	}
}

// A database that cannot be reached: exit 2, the target named, the password not.
func TestMigrate_cannotConnect(t *testing.T) {
	bin := binary(t, false)
	port := freePort(t)
	r := byok(t, bin, nil, "migrate", "--db-url", "postgresql://postgres:"+canaryPassword+"@127.0.0.1:"+port+"/postgres?connect_timeout=5")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "byok migrate: cannot connect to 127.0.0.1:"+port+"/postgres: ")
	assert.Empty(t, r.stdout)
}
