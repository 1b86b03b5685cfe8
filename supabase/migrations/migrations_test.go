package migrations_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase/migrations"
)

var (
	_ migrations.DB = (*pgx.Conn)(nil)
	_ migrations.DB = (*pgxpool.Pool)(nil)
	_ migrations.DB = pgx.Tx(nil)
)

var wantVersions = []string{"20251101000000", "20251113000000", "20251120000000", "20251127000000", "20261130000000", "20261130010000", "20261130020000", "20261130030000", "20261203000000", "20261203010000"}

func versions(ms []migrations.Migration) []string {
	var vs []string
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func TestAll_listsEveryFileInOrder(t *testing.T) {
	files, err := filepath.Glob("*.sql")
	require.NoError(t, err)
	slices.Sort(files)

	all := migrations.All()
	require.Len(t, all, len(files), "every .sql file must be named <version>_<name>.sql")
	assert.Equal(t, wantVersions, versions(all))
	assert.Equal(t, "gateway_user_byok", all[1].Name) // the seed runbook's file name
	for i, m := range all {
		assert.Equal(t, files[i], m.Version+"_"+m.Name+".sql")
		b, err := os.ReadFile(files[i])
		require.NoError(t, err)
		assert.Equal(t, string(b), m.SQL)
	}

	all[0].Version = "changed"
	assert.Equal(t, wantVersions[0], migrations.All()[0].Version, "All must return a fresh slice")
}

func TestApply_secondRunOnFreshDatabaseIsNoOp(t *testing.T) {
	db := pgtest.Fresh(t, false)
	ctx := t.Context()

	applied, err := migrations.Apply(ctx, db.Pool)
	require.NoError(t, err)
	assert.Equal(t, wantVersions, applied)

	applied, err = migrations.Apply(ctx, db.Pool)
	require.NoError(t, err)
	assert.Empty(t, applied)

	rows, err := db.Pool.Query(ctx,
		`select version, name, statements from supabase_migrations.schema_migrations order by version`)
	require.NoError(t, err)
	type record struct {
		Version    string
		Name       string
		Statements []string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[record])
	require.NoError(t, err)
	var want []record
	for _, m := range migrations.All() {
		want = append(want, record{m.Version, m.Name, []string{m.SQL}})
	}
	assert.Equal(t, want, got)
}

func TestApply_concurrentCallsApplyEachMigrationOnce(t *testing.T) {
	db := pgtest.Fresh(t, false)
	const callers = 4
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		applied [callers][]string
		errs    [callers]error
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = migrations.Apply(t.Context(), db.Pool)
		})
	}
	close(start)
	wg.Wait()

	var all []string
	for i := range callers {
		require.NoError(t, errs[i])
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	assert.Equal(t, wantVersions, all, "each migration applied by exactly one caller")
}

func TestApply_skipsVersionsTheSupabaseCLIRecorded(t *testing.T) {
	db := pgtest.Fresh(t, false)
	ctx := t.Context()
	first := migrations.All()[0]
	// What `supabase db push` leaves behind after pushing the first file, table shape included.
	_, err := db.Pool.Exec(ctx, first.SQL)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `
		create schema supabase_migrations;
		create table supabase_migrations.schema_migrations (version text not null primary key);
		alter table supabase_migrations.schema_migrations add column statements text[];
		alter table supabase_migrations.schema_migrations add column name text;`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `insert into supabase_migrations.schema_migrations (version, name, statements)
		values ($1, $2, $3)`, first.Version, first.Name, []string{"-- split by the CLI"})
	require.NoError(t, err)

	applied, err := migrations.Apply(ctx, db.Pool)
	require.NoError(t, err)
	assert.Equal(t, wantVersions[1:], applied)
}

func TestApply_failedMigrationLeavesNothingBehind(t *testing.T) {
	db := pgtest.Fresh(t, false)
	ctx := t.Context()
	// A table in the way: the first migration skips creating public.api_keys, then fails on its
	// policy, which names a column this one lacks. postgres may do this on either stack.
	_, err := db.Pool.Exec(ctx, `create table public.api_keys (x int)`)
	require.NoError(t, err)

	applied, err := migrations.Apply(ctx, db.Pool)
	require.Error(t, err)
	assert.NotEmpty(t, sqlState(err), "the PostgreSQL error stays reachable: %v", err)
	assert.Empty(t, applied)

	var recorded int
	require.NoError(t, db.Pool.QueryRow(ctx, `select count(*) from supabase_migrations.schema_migrations`).Scan(&recorded))
	assert.Zero(t, recorded)
	var helper *string
	require.NoError(t, db.Pool.QueryRow(ctx,
		`select to_regprocedure('public.byok_require_service_role()')::text`).Scan(&helper))
	assert.Nil(t, helper, "the failed migration's earlier statements must be rolled back")
}

func TestApply_insideCallersTransaction(t *testing.T) {
	db := pgtest.Fresh(t, false)
	ctx := t.Context()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	applied, err := migrations.Apply(ctx, tx)
	require.NoError(t, err)
	assert.Equal(t, wantVersions, applied)
	require.NoError(t, tx.Rollback(ctx))

	var table *string
	require.NoError(t, db.Pool.QueryRow(ctx, `select to_regclass('public.api_keys')::text`).Scan(&table))
	assert.Nil(t, table, "rolling back the caller's transaction undoes Apply")
}

func TestMigrations_canRunTwice(t *testing.T) {
	db := pgtest.Fresh(t, false)
	for round := 1; round <= 2; round++ {
		for _, m := range migrations.All() {
			_, err := db.Pool.Exec(context.Background(), m.SQL)
			require.NoError(t, err, "round %d, %s_%s", round, m.Version, m.Name)
		}
	}
}

func TestApplyList_failureIsAnErrorNamingTheMigration(t *testing.T) {
	db := pgtest.Fresh(t, false)
	ctx := t.Context()
	broken := migrations.Migration{Version: "29990101000000", Name: "broken",
		SQL: "create table public.apply_list_probe (id int);\nselect * from public.no_such_table;"}
	list := append(migrations.All()[:2], broken, migrations.All()[2])

	applied, err := migrations.ApplyList(ctx, db.Pool, list)
	assert.Equal(t, wantVersions[:2], applied, "the ones before it stay applied")
	var merr *migrations.Error
	require.ErrorAs(t, err, &merr)
	assert.Equal(t, "29990101000000", merr.Version)
	assert.Equal(t, "broken", merr.Name)
	assert.Equal(t, "42P01", sqlState(err))
	assert.Contains(t, err.Error(), "migrations: 29990101000000_broken: ")

	var probe *string
	require.NoError(t, db.Pool.QueryRow(ctx, `select to_regclass('public.apply_list_probe')::text`).Scan(&probe))
	assert.Nil(t, probe, "nothing of the failed migration stays")
	rows, err := db.Pool.Query(ctx, `select version from supabase_migrations.schema_migrations order by 1`)
	require.NoError(t, err)
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, wantVersions[:2], recorded, "the run stopped at the failure")
}
