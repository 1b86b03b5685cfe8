package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

const migrateFix = "byok migrate"

// checkConnect: server version, current role, superuser or not, and Supabase's API roles.
func (d *doctor) checkConnect(ctx context.Context, r *result) {
	var (
		version, role string
		super         bool
		present       []string
	)
	err := d.pool.QueryRow(ctx, `
		select current_setting('server_version'), current_user::text,
		       coalesce((select rolsuper from pg_roles where rolname = current_user), false),
		       array(select rolname::text from pg_roles where rolname = any($1) order by 1)`, apiRoles).
		Scan(&version, &role, &super, &present)
	if err != nil {
		r.fail("cannot query the server: "+d.errText(err), "")
		return
	}
	d.roles = map[string]bool{}
	for _, name := range present {
		d.roles[name] = true
	}
	if d.roles["service_role"] {
		if err := d.pool.QueryRow(ctx, `select pg_has_role(current_user, 'service_role', 'MEMBER')`).Scan(&d.canBeServiceRole); err != nil {
			r.fail("cannot query the server: "+d.errText(err), "")
			return
		}
	}
	who := fmt.Sprintf("PostgreSQL %s at %s as %s", version, d.t.name, role)
	if super {
		r.warn(who+", a superuser: hosted Supabase's postgres is not one, so a check that passes here may fail there",
			"connect as your project's postgres role, which is not a superuser, to check what the project's migrations and RPCs can do")
	} else {
		r.pass("%s (not a superuser)", who)
	}
	if missing := missingRoles(d.roles); len(missing) > 0 {
		r.fail("not a Supabase database: role "+strings.Join(missing, ", ")+" missing",
			"point --db-url at a Supabase project's database (byok needs its roles, auth schema and Vault)")
	}
}

func missingRoles(roles map[string]bool) []string {
	var missing []string
	for _, name := range apiRoles {
		if !roles[name] {
			missing = append(missing, name)
		}
	}
	return missing
}

// checkMigrations: every embedded version is recorded where the Supabase CLI records them.
func (d *doctor) checkMigrations(ctx context.Context, r *result) {
	all := migrationList()
	recorded, exists, err := readHistory(ctx, d.pool)
	if err != nil {
		r.fail("cannot read supabase_migrations.schema_migrations: "+d.errText(err), "")
		return
	}
	if !exists {
		r.fail(fmt.Sprintf("no migration history (supabase_migrations.schema_migrations does not exist): none of byok's %d migrations is applied", len(all)), migrateFix)
		return
	}
	known := map[string]bool{}
	var missing []string
	for _, m := range all {
		known[m.Version] = true
		if _, ok := recorded[m.Version]; !ok {
			missing = append(missing, m.Version+"_"+m.Name)
		}
	}
	if len(missing) > 0 {
		r.fail(fmt.Sprintf("%d of %d not applied: %s", len(missing), len(all), strings.Join(missing, ", ")), migrateFix)
	} else {
		last := all[len(all)-1]
		r.pass("all %d applied, the latest %s_%s", len(all), last.Version, last.Name)
	}
	var newer []string
	others := 0
	for _, v := range sortedKeys(recorded) {
		if known[v] {
			continue
		}
		if strings.Contains(strings.ToLower(recorded[v]), "byok") {
			newer = append(newer, v+"_"+recorded[v])
		} else {
			others++
		}
	}
	if len(newer) > 0 {
		r.warn("recorded but unknown to this build: "+strings.Join(newer, ", ")+" (written by a newer byok?)",
			"go install github.com/byok-go/byok/cmd/byok@latest")
	}
	if others > 0 {
		r.note("%d other recorded migrations are not byok's and were not judged", others)
	}
}

// readHistory returns the recorded versions and their names, and whether the history table
// exists. It writes nothing.
func readHistory(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) (map[string]string, bool, error) {
	var exists bool
	if err := q.QueryRow(ctx, `select to_regclass('supabase_migrations.schema_migrations') is not null`).Scan(&exists); err != nil {
		return nil, false, err
	}
	if !exists {
		return nil, false, nil
	}
	rows, err := q.Query(ctx, `select version, coalesce(name, '') from supabase_migrations.schema_migrations`)
	if err != nil {
		return nil, true, err
	}
	recorded := map[string]string{}
	var v, name string
	_, err = pgx.ForEachRow(rows, []any{&v, &name}, func() error {
		recorded[v] = name
		return nil
	})
	return recorded, true, err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkVault: the extension, a probe secret round trip as service_role, and the triggers
// that delete a key's secret with its row.
func (d *doctor) checkVault(ctx context.Context, r *result) {
	const enable = "enable Vault: Supabase Dashboard, Database, Extensions, supabase_vault (or: create extension supabase_vault;)"
	var version *string
	var standIn bool
	err := d.pool.QueryRow(ctx, `
		select (select extversion from pg_extension where extname = 'supabase_vault'),
		       to_regprocedure('vault.create_secret(text,text,text,uuid)') is not null`).Scan(&version, &standIn)
	if err != nil {
		r.fail("cannot query pg_extension: "+d.errText(err), "")
		return
	}
	extension := ""
	switch {
	case version != nil:
		extension = "supabase_vault " + *version
	case standIn:
		r.warn("the supabase_vault extension is not installed, but a vault schema with create_secret is: not Supabase's Vault", enable)
	default:
		r.fail("Vault is not enabled: the supabase_vault extension is not installed", enable)
		return
	}
	switch {
	case !d.roles["service_role"]:
		r.fail("no service_role: the probe cannot run as it", "")
	case !d.canBeServiceRole:
		r.fail("this role may not SET ROLE service_role, so the probe cannot run as it",
			"connect as postgres, which is a member of service_role on Supabase")
	default:
		err := vault.New(pgcall.New(d.pool)).Health(ctx)
		switch {
		case err == nil:
			if extension != "" {
				r.pass("%s; a probe secret was stored, read back decrypted and deleted as service_role", extension)
			} else {
				r.pass("a probe secret was stored, read back decrypted and deleted as service_role")
			}
		case supabase.IsNotFound(err):
			r.fail("check_vault_health is missing: "+d.errText(err), migrateFix)
		default:
			r.fail("the probe secret round trip failed: "+d.errText(err), "")
		}
	}
	d.checkTriggers(ctx, r, "vault")
}

// ownerReachableSQL lists the API roles ($2) that can act as the owner (the %s column):
// the owner itself, or a role that is a member of it.
const ownerReachableSQL = `array(select r.rolname::text from pg_roles r
	 where r.rolname = any($2) and pg_has_role(r.oid, %s, 'MEMBER') order by 1)`

// checkRLS: the byok tables, row level security, their owners, their policies, and the
// consent default.
func (d *doctor) checkRLS(ctx context.Context, r *result) {
	if len(d.schema.tables) == 0 {
		r.fail("the migrations create no table: a broken build", "")
		return
	}
	var names []string
	for _, t := range d.schema.tables {
		names = append(names, t.name)
	}
	type tableRow struct {
		Name      string
		RLS       bool
		Owner     string
		Reachable []string
	}
	rows, err := d.pool.Query(ctx, fmt.Sprintf(`
		select c.relname::text, c.relrowsecurity, pg_get_userbyid(c.relowner)::text, `+ownerReachableSQL+`
		  from pg_class c
		 where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and c.relname = any($1)`, "c.relowner"),
		names, apiRoles)
	if err != nil {
		r.fail("cannot read pg_class: "+d.errText(err), "")
		return
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tableRow])
	if err != nil {
		r.fail("cannot read pg_class: "+d.errText(err), "")
		return
	}
	tables := map[string]tableRow{}
	for _, t := range got {
		tables[t.Name] = t
	}
	ok := 0
	for _, t := range d.schema.tables {
		row, found := tables[t.name]
		switch {
		case !found:
			r.fail(fmt.Sprintf("public.%s is missing (migration %s)", t.name, t.migration), migrateFix)
			continue
		case !row.RLS:
			r.fail(fmt.Sprintf("public.%s: row level security is disabled", t.name),
				fmt.Sprintf("alter table public.%s enable row level security;", t.name))
		case len(row.Reachable) > 0:
			r.fail(fmt.Sprintf("public.%s: owned by %s, a role API requests can become (%s); row level security does not apply to the owner",
				t.name, row.Owner, strings.Join(row.Reachable, ", ")),
				fmt.Sprintf("alter table public.%s owner to postgres;", t.name))
		default:
			ok++
		}
	}

	policies := d.checkPolicies(ctx, r, names)
	d.checkConsentDefault(ctx, r)
	d.checkTriggers(ctx, r, "rls")
	if r.status.rank() <= statusPass.rank() {
		summary := []string{fmt.Sprintf("%d tables with row level security, an owner no API request can become, and their %d policies: %s",
			ok, policies, strings.Join(names, ", "))}
		if d.schema.table("user_settings") != nil {
			summary = append(summary, "user_settings.allow_gateway_fallback defaults to true")
		}
		r.raise(statusPass)
		r.detail = append(summary, r.detail...)
	}
}

// checkPolicies compares the policies on the byok tables with the migrations' and
// returns how many matched.
func (d *doctor) checkPolicies(ctx context.Context, r *result, tables []string) int {
	type policyRow struct {
		Table, Name, Permissive, Cmd string
		Roles                        []string
		Using, Check                 string
	}
	rows, err := d.pool.Query(ctx, `
		select tablename::text, policyname::text, permissive, cmd, roles::text[], coalesce(qual, ''), coalesce(with_check, '')
		  from pg_policies where schemaname = 'public' and tablename = any($1) order by 1, 2`, tables)
	if err != nil {
		r.fail("cannot read pg_policies: "+d.errText(err), "")
		return 0
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[policyRow])
	if err != nil {
		r.fail("cannot read pg_policies: "+d.errText(err), "")
		return 0
	}
	matched := 0
	for _, want := range d.schema.policies {
		i := slices.IndexFunc(got, func(p policyRow) bool { return p.Table == want.table && p.Name == want.name })
		if i < 0 {
			if slices.ContainsFunc(d.schema.tables, func(t *sqlTable) bool { return t.name == want.table }) {
				r.fail(fmt.Sprintf("public.%s: policy %s is missing", want.table, want.name), oneLine(want.stmt)+";")
			}
			continue
		}
		p := got[i]
		slices.Sort(p.Roles)
		recreate := fmt.Sprintf("drop policy %s on public.%s; %s;", want.name, want.table, oneLine(want.stmt))
		var diffs []string
		if (p.Permissive == "PERMISSIVE") != want.permissive {
			diffs = append(diffs, "is "+strings.ToLower(p.Permissive))
		}
		if p.Cmd != want.cmd {
			diffs = append(diffs, fmt.Sprintf("is for %s, not %s", p.Cmd, want.cmd))
		}
		if !slices.Equal(p.Roles, want.roles) {
			diffs = append(diffs, fmt.Sprintf("applies to %s, not %s", strings.Join(p.Roles, ", "), strings.Join(want.roles, ", ")))
		}
		if len(diffs) > 0 {
			r.fail(fmt.Sprintf("public.%s: policy %s %s", want.table, want.name, strings.Join(diffs, ", ")), recreate)
			continue
		}
		if normExpr(p.Using) != normExpr(want.using) || normExpr(p.Check) != normExpr(want.check) {
			r.warn(fmt.Sprintf("public.%s: policy %s has other USING or WITH CHECK expressions than its migration (%s)", want.table, want.name, want.migration), recreate)
			continue
		}
		matched++
	}
	for _, p := range got {
		if slices.ContainsFunc(d.schema.policies, func(w *sqlPolicy) bool { return w.table == p.Table && w.name == p.Name }) {
			continue
		}
		if p.Permissive == "PERMISSIVE" {
			r.warn(fmt.Sprintf("public.%s: policy %s is not byok's, and as a permissive policy it widens what %s may do", p.Table, p.Name, strings.Join(p.Roles, ", ")),
				fmt.Sprintf("drop policy %s on public.%s; -- unless you mean it", quoteIdent(p.Name), p.Table))
		} else {
			r.note("public.%s: policy %s (restrictive) is not byok's", p.Table, p.Name)
		}
	}
	return matched
}

// checkConsentDefault: user_settings.allow_gateway_fallback defaults to TRUE, as the
// runbook says, when the migrations create user_settings.
func (d *doctor) checkConsentDefault(ctx context.Context, r *result) {
	if d.schema.table("user_settings") == nil {
		return
	}
	var exists bool
	var def *string
	err := d.pool.QueryRow(ctx, `
		select true, pg_get_expr(ad.adbin, ad.adrelid)
		  from pg_attribute a left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
		 where a.attrelid = to_regclass('public.user_settings') and a.attname = 'allow_gateway_fallback' and not a.attisdropped`).
		Scan(&exists, &def)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		r.fail("cannot read the default of user_settings.allow_gateway_fallback: "+d.errText(err), "")
		return
	}
	const fix = "alter table public.user_settings alter column allow_gateway_fallback set default true;"
	switch {
	case !exists:
		var table bool
		if err := d.pool.QueryRow(ctx, `select to_regclass('public.user_settings') is not null`).Scan(&table); err == nil && table {
			r.fail("public.user_settings has no column allow_gateway_fallback", migrateFix)
		}
	case def == nil:
		r.fail("public.user_settings.allow_gateway_fallback has no default; the runbook's is TRUE", fix)
	case *def != "true":
		r.fail(fmt.Sprintf("public.user_settings.allow_gateway_fallback defaults to %s; the runbook's default is TRUE", *def), fix)
	}
}

// checkRPCACL: every SECURITY DEFINER function of the migrations: EXECUTE, search_path,
// owner.
func (d *doctor) checkRPCACL(ctx context.Context, r *result) {
	definers := d.schema.definers()
	if len(definers) == 0 {
		r.fail("the migrations define no SECURITY DEFINER function: a broken build", "")
		return
	}
	var names []string
	for _, f := range definers {
		names = append(names, f.name)
	}
	// exposed: the grantees of EXECUTE that give it to anon or authenticated (PUBLIC, the
	// roles themselves, or a role they inherit privileges from).
	type fnRow struct {
		Name, Signature string
		Definer         bool
		Trigger         bool
		Owner           string
		SearchPath      string
		Exposed         []string
		ServiceRole     *bool
		Reachable       []string
	}
	rows, err := d.pool.Query(ctx, fmt.Sprintf(`
		select p.proname::text,
		       'public.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
		       p.prosecdef, p.prorettype = 'trigger'::regtype, pg_get_userbyid(p.proowner)::text,
		       coalesce((select c from unnest(p.proconfig) c where c like 'search_path=%%' limit 1), ''),
		       array(select case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee)::text end
		               from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
		              where a.privilege_type = 'EXECUTE'
		                and (a.grantee = 0 or exists (
		                      select from pg_roles r
		                       where r.rolname in ('anon', 'authenticated') and pg_has_role(r.oid, a.grantee, 'USAGE')))
		              order by 1),
		       has_function_privilege((select oid from pg_roles where rolname = 'service_role'), p.oid, 'EXECUTE'),
		       `+ownerReachableSQL+`
		  from pg_proc p
		 where p.pronamespace = 'public'::regnamespace and p.proname = any($1)
		 order by 2`, "p.proowner"), names, apiRoles)
	if err != nil {
		r.fail("cannot read pg_proc: "+d.errText(err), "")
		return
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fnRow])
	if err != nil {
		r.fail("cannot read pg_proc: "+d.errText(err), "")
		return
	}
	rpcs, triggers := 0, 0
	owners := map[string]bool{}
	for _, f := range definers {
		if !slices.ContainsFunc(got, func(g fnRow) bool { return g.Name == f.name }) {
			r.fail(fmt.Sprintf("public.%s is missing (migration %s)", f.name, f.migration), migrateFix)
		}
	}
	for _, g := range got {
		owners[g.Owner] = true
		if !g.Definer {
			r.fail(g.Signature+" is SECURITY INVOKER; its migration makes it SECURITY DEFINER, and the service's calls need it",
				"alter function "+g.Signature+" security definer;")
			continue
		}
		bad := false
		for _, who := range g.Exposed {
			bad = true
			r.fail(fmt.Sprintf("%s: EXECUTE held by %s", g.Signature, exposedBy(who)),
				fmt.Sprintf("revoke execute on function %s from %s;", g.Signature, quoteGrantee(who)))
		}
		if g.SearchPath == "" {
			bad = true
			r.fail(g.Signature+": search_path is not pinned", "alter function "+g.Signature+" set search_path = '';")
		}
		if len(g.Reachable) > 0 {
			bad = true
			r.fail(fmt.Sprintf("%s: owned by %s, a role API requests can become (%s)", g.Signature, g.Owner, strings.Join(g.Reachable, ", ")),
				"alter function "+g.Signature+" owner to postgres;")
		}
		switch {
		case g.Trigger && g.ServiceRole != nil && *g.ServiceRole:
			r.warn(g.Signature+": a trigger function that service_role may execute; nobody needs to",
				"revoke execute on function "+g.Signature+" from service_role;")
		case !g.Trigger && (g.ServiceRole == nil || !*g.ServiceRole):
			bad = true
			r.fail(g.Signature+": service_role may not execute it, so the service's calls fail with 42501",
				"grant execute on function "+g.Signature+" to service_role;")
		}
		if !bad {
			if g.Trigger {
				triggers++
			} else {
				rpcs++
			}
		}
	}
	if r.status.rank() <= statusPass.rank() {
		r.pass("%d SECURITY DEFINER functions: %d RPCs executable by service_role only, %d trigger functions by nobody; search_path pinned; owner %s",
			len(got), rpcs, triggers, strings.Join(sortedSet(owners), ", "))
	}
}

// exposedBy names a grantee that gives EXECUTE to an API role.
func exposedBy(grantee string) string {
	switch grantee {
	case "PUBLIC":
		return "PUBLIC (every role, anon and authenticated included)"
	case "anon", "authenticated":
		return grantee
	}
	return grantee + " (anon or authenticated inherit its privileges)"
}

func quoteGrantee(g string) string {
	if g == "PUBLIC" {
		return "public"
	}
	return quoteIdent(g)
}

func sortedSet(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkNotify: the invalidation triggers, and LISTEN on this connection.
func (d *doctor) checkNotify(ctx context.Context, r *result) {
	n := d.checkTriggers(ctx, r, "notify")
	if n > 0 && r.status.rank() <= statusPass.rank() {
		r.pass("%d invalidation triggers on %s", n, strings.Join(d.triggerTables("notify"), ", "))
	}
	if d.t.transactionPooler() {
		r.warn(fmt.Sprintf("%s is Supavisor's transaction mode (port 6543): it lends a server session for one transaction at a time, so a LISTEN ends with its transaction and notifications never reach the listener; caches then invalidate only by their TTL", d.t.name),
			"give supabase/pgnotify a direct connection (db.<ref>.supabase.co:5432) or Supavisor's session mode (port 5432); the doctor's other checks work on either")
		return
	}
	conn, err := pgx.ConnectConfig(ctx, d.t.cfg.ConnConfig.Copy())
	if err != nil {
		r.fail("cannot open a connection to LISTEN on: "+connectError(err, d.red), "")
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var b [6]byte
	_, _ = rand.Read(b[:])
	channel := "byok_doctor_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "listen "+channel); err != nil {
		r.fail("LISTEN failed: "+d.errText(err), "")
		return
	}
	if _, err := conn.Exec(ctx, `select pg_notify($1, 'probe')`, channel); err != nil {
		r.fail("NOTIFY failed: "+d.errText(err), "")
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	note, err := conn.WaitForNotification(wctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.fail("LISTEN succeeded, but the probe notification did not come back within 5 s: a transaction-mode pooler between here and the database?",
			"give supabase/pgnotify a direct connection (db.<ref>.supabase.co:5432) or Supavisor's session mode (port 5432)")
	case err != nil:
		r.fail("LISTEN probe: "+d.errText(err), "")
	case note.Channel != channel:
		r.fail("LISTEN probe: a notification on another channel arrived", "")
	default:
		r.pass("this connection can LISTEN: a NOTIFY round trip on a probe channel worked")
	}
}

// triggerKind sorts a migration's trigger into the check that judges it: cache
// invalidation (notify), Vault secret cleanup (vault), anything else (rls).
func triggerKind(t *sqlTrigger) string {
	switch {
	case strings.Contains(t.function, "notify"):
		return "notify"
	case strings.Contains(t.function, "secret"):
		return "vault"
	}
	return "rls"
}

func (d *doctor) triggerTables(kind string) []string {
	var tables []string
	for _, t := range d.schema.triggers {
		if triggerKind(t) == kind && !slices.Contains(tables, t.table) {
			tables = append(tables, t.table)
		}
	}
	return tables
}

// checkTriggers checks that the migrations' triggers of one kind exist, enabled, on their
// tables and with their functions, and returns how many did.
func (d *doctor) checkTriggers(ctx context.Context, r *result, kind string) int {
	var want []*sqlTrigger
	var tables []string
	for _, t := range d.schema.triggers {
		if triggerKind(t) == kind {
			want = append(want, t)
			tables = append(tables, t.table)
		}
	}
	if len(want) == 0 {
		return 0
	}
	type trigRow struct {
		Table, Name, Enabled, Function string
	}
	rows, err := d.pool.Query(ctx, `
		select c.relname::text, t.tgname::text, t.tgenabled::text, p.proname::text
		  from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_proc p on p.oid = t.tgfoid
		 where c.relnamespace = 'public'::regnamespace and not t.tgisinternal and c.relname = any($1)`, tables)
	if err != nil {
		r.fail("cannot read pg_trigger: "+d.errText(err), "")
		return 0
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[trigRow])
	if err != nil {
		r.fail("cannot read pg_trigger: "+d.errText(err), "")
		return 0
	}
	ok := 0
	for _, w := range want {
		i := slices.IndexFunc(got, func(g trigRow) bool { return g.Table == w.table && g.Name == w.name })
		switch {
		case i < 0:
			r.fail(fmt.Sprintf("trigger %s on public.%s is missing (migration %s)", w.name, w.table, w.migration), oneLine(w.stmt)+";")
		case got[i].Enabled == "D":
			r.fail(fmt.Sprintf("trigger %s on public.%s is disabled", w.name, w.table),
				fmt.Sprintf("alter table public.%s enable trigger %s;", w.table, w.name))
		case got[i].Function != w.function:
			r.fail(fmt.Sprintf("trigger %s on public.%s runs %s, not public.%s", w.name, w.table, got[i].Function, w.function),
				oneLine(w.stmt)+";")
		default:
			ok++
		}
	}
	if kind == "vault" && ok == len(want) {
		r.note("%d triggers delete a key's Vault secret with its row", ok)
	}
	return ok
}

var (
	reSpace = regexp.MustCompile(`\s+`)
	reAlias = regexp.MustCompile(`\s+as\s+[a-z_][a-z0-9_]*`)
)

// oneLine collapses a statement's white space.
func oneLine(s string) string { return strings.TrimSpace(reSpace.ReplaceAllString(s, " ")) }

// normExpr reduces a policy expression to compare the migration's text with the
// server's deparsed one: lower case, no column aliases the server adds to sub-selects,
// no white space and no parentheses.
func normExpr(s string) string {
	s = reAlias.ReplaceAllString(strings.ToLower(s), "")
	return strings.NewReplacer(" ", "", "\t", "", "\n", "", "(", "", ")", "").Replace(s)
}

var rePlainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// quoteIdent quotes an identifier when it is not a plain lower-case one.
func quoteIdent(s string) string {
	if rePlainIdent.MatchString(s) {
		return s
	}
	return pgx.Identifier{s}.Sanitize()
}
