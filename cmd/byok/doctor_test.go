package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/supabase/migrations"
)

// TestDoctor_healthyDatabase runs doctor --json and the plain output on a migrated
// database, with canaries in every variable it reads. On the real stack every check
// passes; .ci/run runs this test to fail CI on any FAIL there.
func TestDoctor_healthyDatabase(t *testing.T) {
	db := pgtest.Fresh(t, true)
	bin := binary(t, false)
	dbURL := withPassword(t, db.DSN)
	users := userCount(t, db)

	r := byok(t, bin, healthyEnv(), "doctor", "--json", "--db-url", dbURL)
	rep := parse(t, r)
	t.Logf("byok doctor --json:\n%s", r.stdout)
	assert.Equal(t, 0, r.code, r.stdout)
	assert.True(t, rep.OK)
	assert.Equal(t, healthy(false), rep.statuses(), r.stdout)
	for _, c := range rep.Checks {
		assert.NotEqual(t, "fail", c.Status, "%s: %s", c.ID, c.Detail)
	}
	_, detail, _ := rep.check("rpc-acl")
	assert.Regexp(t, `^\d+ SECURITY DEFINER functions: \d+ RPCs executable by service_role only`, detail)
	_, detail, _ = rep.check("migrations")
	assert.Contains(t, detail, fmt.Sprintf("all %d applied", len(migrations.All())))
	if pgtest.Real() {
		_, detail, _ = rep.check("vault")
		assert.Contains(t, detail, "supabase_vault 0.3.1")
		_, detail, _ = rep.check("connect")
		assert.Contains(t, detail, "as postgres (not a superuser)")
	}
	assert.Contains(t, r.stderr, "checking vault", "progress goes to stderr")
	assert.NotContains(t, r.stdout, "checking vault")

	// The plain output: aligned rows, no colour when stdout is not a terminal.
	r = byok(t, bin, healthyEnv(), "doctor", "--db-url", dbURL)
	t.Logf("byok doctor:\n%s", r.stdout)
	assert.Equal(t, 0, r.code)
	assert.NotContains(t, r.stdout, "\x1b[")
	for _, id := range checkIDs {
		assert.Regexp(t, `(?m)^(PASS|WARN|FAIL|SKIP)  `+regexp.QuoteMeta(id)+strings.Repeat(" ", len("migrations")-len(id))+`  \S`, r.stdout)
	}
	assert.Regexp(t, `(?m)^\d+ passed, \d+ warnings, 0 failed, 1 skipped$`, r.stdout)

	// The scenarios: the runbook's four checks, and every throwaway user deleted.
	r = byok(t, bin, healthyEnv(), "doctor", "--scenarios", "--db-url", dbURL)
	t.Logf("byok doctor --scenarios:\n%s", r.stdout)
	assert.Equal(t, 0, r.code)
	assert.Regexp(t, `(?m)^PASS  scenarios   the runbook's 4 checks pass; 4 throwaway users made and deleted$`, r.stdout)
	r = byok(t, bin, healthyEnv(), "doctor", "--json", "--scenarios", "--db-url", dbURL)
	rep = parse(t, r)
	assert.Equal(t, 0, r.code, r.stdout)
	assert.Equal(t, healthy(true), rep.statuses(), r.stdout)
	_, detail, _ = rep.check("scenarios")
	for _, want := range []string{"1. user gateway BYOK: user-gateway/gateway", "2. provider BYOK: user-provider/openai",
		"3. team gateway fallback: team-gateway/gateway", "4. consent enforcement: error fallback_disabled", "4 throwaway users made and deleted"} {
		assert.Contains(t, detail, want)
	}
	assert.Equal(t, users, userCount(t, db), "the throwaway users are deleted")
}

// TestDoctor_faults injects each fault in a database of its own and checks that the named
// check fails (or warns), naming what is wrong, with the fix, and nothing else fails.
func TestDoctor_faults(t *testing.T) {
	bin := binary(t, false)
	for _, tc := range []struct {
		name   string
		sql    string            // run as postgres, the project's owner role
		env    map[string]string // on top of healthyEnv
		id     string
		status string
		detail []string
		fix    []string
		also   map[string]string // other checks' statuses the fault changes
	}{
		{
			name: "EXECUTE granted to anon", id: "rpc-acl", status: "fail",
			sql:    `grant execute on function public.get_user_api_key(uuid, text) to anon`,
			detail: []string{"public.get_user_api_key(p_user_id uuid, p_service text): EXECUTE held by anon"},
			fix:    []string{"revoke execute on function public.get_user_api_key(p_user_id uuid, p_service text) from anon;"},
		},
		{
			name: "EXECUTE granted to authenticated", id: "rpc-acl", status: "fail",
			sql:    `grant execute on function public.check_vault_health() to authenticated`,
			detail: []string{"public.check_vault_health(): EXECUTE held by authenticated"},
			fix:    []string{"revoke execute on function public.check_vault_health() from authenticated;"},
		},
		{
			name: "EXECUTE granted to PUBLIC on a trigger function", id: "rpc-acl", status: "fail",
			sql:    `grant execute on function public.byok_notify_invalidate() to public`,
			detail: []string{"public.byok_notify_invalidate(): EXECUTE held by PUBLIC"},
			fix:    []string{"revoke execute on function public.byok_notify_invalidate() from public;"},
		},
		{
			name: "EXECUTE revoked from service_role", id: "rpc-acl", status: "fail",
			sql:    `revoke execute on function public.list_user_api_keys(uuid) from service_role`,
			detail: []string{"public.list_user_api_keys(p_user_id uuid): service_role may not execute it"},
			fix:    []string{"grant execute on function public.list_user_api_keys(p_user_id uuid) to service_role;"},
		},
		{
			name: "search_path reset", id: "rpc-acl", status: "fail",
			sql:    `alter function public.get_user_byok_snapshot(uuid, text[]) reset search_path`,
			detail: []string{"public.get_user_byok_snapshot(p_user_id uuid, p_services text[]): search_path is not pinned"},
			fix:    []string{"alter function public.get_user_byok_snapshot(p_user_id uuid, p_services text[]) set search_path = '';"},
		},
		{
			name: "function owned by service_role", id: "rpc-acl", status: "fail",
			sql:    `grant create on schema public to service_role; alter function public.touch_user_api_key(uuid, text) owner to service_role`,
			detail: []string{"public.touch_user_api_key(p_user_id uuid, p_service text): owned by service_role, a role API requests can become (authenticator, service_role)"},
			fix:    []string{"alter function public.touch_user_api_key(p_user_id uuid, p_service text) owner to postgres;"},
		},
		{
			name: "RLS disabled", id: "rls", status: "fail",
			sql:    `alter table public.user_settings disable row level security`,
			detail: []string{"public.user_settings: row level security is disabled"},
			fix:    []string{"alter table public.user_settings enable row level security;"},
		},
		{
			name: "owner policy dropped", id: "rls", status: "fail",
			sql:    `drop policy api_gateway_configs_select_own on public.api_gateway_configs`,
			detail: []string{"public.api_gateway_configs: policy api_gateway_configs_select_own is missing"},
			fix:    []string{"create policy api_gateway_configs_select_own on public.api_gateway_configs for select to authenticated using ((select auth.uid()) = user_id);"},
		},
		{
			name: "owner policy widened to anon", id: "rls", status: "fail",
			sql:    `alter policy api_keys_select_own on public.api_keys to anon, authenticated`,
			detail: []string{"public.api_keys: policy api_keys_select_own applies to anon, authenticated, not authenticated"},
			fix:    []string{"drop policy api_keys_select_own on public.api_keys; create policy api_keys_select_own"},
		},
		{
			name: "owner policy opened up", id: "rls", status: "warn",
			sql:    `alter policy user_settings_all_own on public.user_settings using (true)`,
			detail: []string{"public.user_settings: policy user_settings_all_own has other USING or WITH CHECK expressions"},
			fix:    []string{"drop policy user_settings_all_own on public.user_settings;"},
		},
		{
			name: "a permissive policy that is not byok's", id: "rls", status: "warn",
			sql:    `create policy "anyone reads" on public.api_keys for select to anon using (true)`,
			detail: []string{`public.api_keys: policy anyone reads is not byok's, and as a permissive policy it widens what anon may do`},
			fix:    []string{`drop policy "anyone reads" on public.api_keys;`},
		},
		{
			name: "consent default changed", id: "rls", status: "fail",
			sql:    `alter table public.user_settings alter column allow_gateway_fallback set default false`,
			detail: []string{"public.user_settings.allow_gateway_fallback defaults to false; the runbook's default is TRUE"},
			fix:    []string{"alter table public.user_settings alter column allow_gateway_fallback set default true;"},
		},
		{
			name: "migration row removed", id: "migrations", status: "fail",
			sql:    `delete from supabase_migrations.schema_migrations where version = '20261130020000'`,
			detail: []string{fmt.Sprintf("1 of %d not applied: 20261130020000_byok_rate_limit", len(migrations.All()))},
			fix:    []string{"byok migrate"},
		},
		{
			name: "a newer byok's migration recorded", id: "migrations", status: "warn",
			sql: `insert into supabase_migrations.schema_migrations (version, name) values ('29991231000000', 'byok_from_the_future'),
			                                                                          ('29991231000001', 'my_app_tables')`,
			detail: []string{"recorded but unknown to this build: 29991231000000_byok_from_the_future", "1 other recorded migrations are not byok's"},
			fix:    []string{"go install github.com/byok-go/byok/cmd/byok@latest"},
		},
		{
			name: "invalidation trigger dropped", id: "notify", status: "fail",
			sql:    `drop trigger user_settings_notify_invalidate on public.user_settings`,
			detail: []string{"trigger user_settings_notify_invalidate on public.user_settings is missing (migration 20261130030000_byok_invalidate_notify)"},
			fix:    []string{"create or replace trigger user_settings_notify_invalidate after insert or delete on public.user_settings"},
		},
		{
			name: "secret cleanup trigger disabled", id: "vault", status: "fail",
			sql:    `alter table public.api_keys disable trigger api_keys_delete_secret`,
			detail: []string{"trigger api_keys_delete_secret on public.api_keys is disabled"},
			fix:    []string{"alter table public.api_keys enable trigger api_keys_delete_secret;"},
		},
		{
			name: "health RPC missing", id: "vault", status: "fail",
			sql:    `drop function public.check_vault_health()`,
			detail: []string{"check_vault_health is missing"},
			fix:    []string{"byok migrate"},
			also:   map[string]string{"rpc-acl": "fail"},
		},
		{
			name: "publishable key as the service key", id: "env", status: "fail",
			env:    map[string]string{"SUPABASE_SERVICE_ROLE_KEY": "sb_publishable_canary_publishable_key"},
			detail: []string{"SUPABASE_SERVICE_ROLE_KEY is a publishable key (sb_publishable_...)"},
			fix:    []string{"set SUPABASE_SERVICE_ROLE_KEY to the project's secret key (sb_secret_...) or legacy service_role key"},
		},
		{
			name: "anon JWT as the secret key", id: "env", status: "fail",
			env:    map[string]string{"SUPABASE_SECRET_KEY": jwt(`{"role":"anon","ref":"canary-ref"}`)},
			detail: []string{"SUPABASE_SECRET_KEY is a legacy JWT with role anon, not service_role"},
		},
		{
			name: "no team gateway key", id: "env", status: "warn",
			env:    map[string]string{"AI_GATEWAY_API_KEY": ""},
			detail: []string{"AI_GATEWAY_API_KEY is not set: no team gateway fallback"},
		},
		{
			name: "team gateway URL on a host not allowed", id: "env", status: "fail",
			env:    map[string]string{"AI_GATEWAY_ALLOWED_HOSTS": ""},
			detail: []string{"AI_GATEWAY_URL breaks the gateway URL policy (host_not_allowed)"},
			fix:    []string{"add its host to AI_GATEWAY_ALLOWED_HOSTS"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := pgtest.Fresh(t, true)
			if tc.sql != "" {
				_, err := db.Pool.Exec(t.Context(), tc.sql)
				require.NoError(t, err)
			}
			env := healthyEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			r := byok(t, bin, env, "doctor", "--json", "--db-url", withPassword(t, db.DSN))
			rep := parse(t, r)
			status, detail, fix := rep.check(tc.id)
			assert.Equal(t, tc.status, status, r.stdout)
			for _, want := range tc.detail {
				assert.Contains(t, detail, want)
			}
			for _, want := range tc.fix {
				assert.Contains(t, fix, want)
			}
			// Nothing else fails, and the exit status says whether anything did.
			want := healthy(false)
			want[tc.id] = tc.status
			for id, s := range tc.also {
				want[id] = s
			}
			assert.Equal(t, want, rep.statuses(), r.stdout)
			if tc.status == "fail" {
				assert.Equal(t, 1, r.code)
				assert.False(t, rep.OK)
			} else {
				assert.Equal(t, 0, r.code)
			}

			// The plain output names the same fault and fix.
			plain := byok(t, bin, env, "doctor", "--db-url", withPassword(t, db.DSN))
			assert.Equal(t, r.code, plain.code)
			assert.Regexp(t, `(?m)^`+strings.ToUpper(tc.status)+`  `+regexp.QuoteMeta(tc.id)+` `, plain.stdout)
			for _, want := range tc.detail {
				assert.Contains(t, plain.stdout, want)
			}
			if len(tc.fix) > 0 {
				assert.Contains(t, plain.stdout, "fix:  ")
			}
		})
	}
}

// A migration's row removed from the history is what byok migrate puts back; the doctor
// then passes again (the migrations may run more than once).
func TestDoctor_migrateFixesAMissingRow(t *testing.T) {
	db := pgtest.Fresh(t, true)
	bin := binary(t, false)
	dbURL := withPassword(t, db.DSN)
	_, err := db.Pool.Exec(t.Context(), `delete from supabase_migrations.schema_migrations where version = '20251113000000'`)
	require.NoError(t, err)
	assert.Equal(t, 1, byok(t, bin, healthyEnv(), "doctor", "--db-url", dbURL).code)

	r := byok(t, bin, nil, "migrate", "--db-url", dbURL)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Regexp(t, `(?m)^applied +20251113000000_gateway_user_byok$`, r.stdout)
	assert.Contains(t, r.stdout, fmt.Sprintf("1 applied, %d already applied", len(migrations.All())-1))

	rep := parse(t, byok(t, bin, healthyEnv(), "doctor", "--json", "--db-url", dbURL))
	assert.Equal(t, healthy(false), rep.statuses())
}

// With --scenarios, a scenario that fails (service_role lost EXECUTE on the gateway key
// writer) is a FAIL, and its throwaway user is deleted all the same.
func TestDoctor_failingScenarioDeletesItsUsers(t *testing.T) {
	db := pgtest.Fresh(t, true)
	bin := binary(t, false)
	_, err := db.Pool.Exec(t.Context(), `revoke execute on function public.put_user_gateway_key(uuid, text, text) from service_role`)
	require.NoError(t, err)
	users := userCount(t, db)

	r := byok(t, bin, healthyEnv(), "doctor", "--json", "--scenarios", "--db-url", withPassword(t, db.DSN))
	rep := parse(t, r)
	assert.Equal(t, 1, r.code)
	status, detail, _ := rep.check("scenarios")
	assert.Equal(t, "fail", status)
	assert.Contains(t, detail, "1. user gateway BYOK: set up")
	assert.Contains(t, detail, "42501")
	assert.Contains(t, detail, "1 throwaway users made and deleted")
	status, _, _ = rep.check("rpc-acl")
	assert.Equal(t, "fail", status)
	assert.Equal(t, users, userCount(t, db), "the throwaway user is deleted")
}

// An interrupt (SIGINT) while a scenario holds a throwaway user: the user is deleted, the
// report still comes out, as JSON that parses, and the status is 1.
func TestDoctor_interruptedScenariosDeleteTheirUsers(t *testing.T) {
	db := pgtest.Fresh(t, true)
	bin := binary(t, true)
	users := userCount(t, db)

	cmd := exec.Command(bin, "doctor", "--json", "--scenarios", "--db-url", withPassword(t, db.DSN))
	env := healthyEnv()
	env["BYOK_TEST_PAUSE_SCENARIO"] = "1"
	cmd.Env = environ(env)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Wait for the pause: the first scenario's user exists and holds a key.
	var errOut strings.Builder
	sc := bufio.NewScanner(stderr)
	paused := false
	for sc.Scan() {
		errOut.WriteString(sc.Text() + "\n")
		if sc.Text() == "byok-test: scenario paused" {
			paused = true
			break
		}
	}
	require.True(t, paused, errOut.String())
	assert.Equal(t, users+1, userCount(t, db), "the throwaway user exists while paused")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	rest, _ := io.ReadAll(stderr)
	errOut.Write(rest)
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, errOut.String())
	assert.Equal(t, 1, exit.ExitCode())

	r := output{stdout: stdout.String(), stderr: errOut.String()}
	noCanary(t, r)
	rep := parse(t, r)
	status, detail, _ := rep.check("scenarios")
	assert.Equal(t, "fail", status)
	assert.Contains(t, detail, "stopped: interrupted; 1 throwaway users made and deleted")
	assert.Equal(t, users, userCount(t, db), "the throwaway user is deleted after the interrupt")
	var secrets int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from vault.secrets where name like 'gateway_api_key_%'`).Scan(&secrets))
	assert.Zero(t, secrets, "and its Vault secret with it")
}

// No connection at all: exit 2, the JSON still parses, connect names the target and the
// cause, and neither the password nor any key appears.
func TestDoctor_cannotConnect(t *testing.T) {
	bin := binary(t, false)
	for name, tc := range map[string]struct {
		args   []string
		env    map[string]string
		detail string
	}{
		"closed port": {
			args:   []string{"--db-url", "postgresql://postgres:" + canaryPassword + "@127.0.0.1:" + freePort(t) + "/postgres?connect_timeout=5"},
			detail: "cannot connect: 127.0.0.1",
		},
		"no URL": {
			detail: "no database URL: pass --db-url or set DATABASE_URL or SUPABASE_DB_URL",
		},
		"URL that does not parse": {
			args:   []string{"--db-url", "postgresql://postgres:" + canaryPassword + "@[::1/x"},
			detail: "does not parse",
		},
		"URL from DATABASE_URL": {
			env:    map[string]string{"DATABASE_URL": "postgres://postgres:" + canaryPassword + "@127.0.0.1:" + freePort(t) + "/somedb?connect_timeout=5"},
			detail: "cannot connect",
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := healthyEnv()
			delete(env, "SUPABASE_DB_URL")
			for k, v := range tc.env {
				env[k] = v
			}
			r := byok(t, bin, env, append([]string{"doctor", "--json"}, tc.args...)...)
			assert.Equal(t, 2, r.code, r.stdout+r.stderr)
			rep := parse(t, r)
			assert.False(t, rep.OK)
			status, detail, _ := rep.check("connect")
			assert.Equal(t, "fail", status)
			assert.Contains(t, detail, tc.detail)
			for _, id := range []string{"migrations", "vault", "rls", "rpc-acl", "notify", "scenarios"} {
				s, d, _ := rep.check(id)
				assert.Equal(t, "skip", s, id)
				assert.Equal(t, "no connection", d)
			}
			s, _, _ := rep.check("env")
			assert.Equal(t, "pass", s, "the environment is checked all the same")

			plain := byok(t, bin, env, append([]string{"doctor"}, tc.args...)...)
			assert.Equal(t, 2, plain.code)
			assert.Contains(t, plain.stdout, "FAIL  connect")
		})
	}

	// A database that does not exist: the server's error, scrubbed.
	db := pgtest.New(t)
	u, err := url.Parse(withPassword(t, db.DSN))
	require.NoError(t, err)
	u.Path = "/no_such_database"
	r := byok(t, bin, nil, "doctor", "--json", "--db-url", u.String())
	assert.Equal(t, 2, r.code)
	_, detail, _ := parse(t, r).check("connect")
	assert.Contains(t, detail, `database "no_such_database" does not exist (SQLSTATE 3D000)`)
}

// The URL comes from --db-url, else DATABASE_URL, else SUPABASE_DB_URL.
func TestDoctor_urlPrecedence(t *testing.T) {
	db := pgtest.New(t)
	bin := binary(t, false)
	dead := "postgres://postgres:" + canaryPassword + "@127.0.0.1:" + freePort(t) + "/postgres?connect_timeout=5"
	good := withPassword(t, db.DSN)
	u, err := url.Parse(good)
	require.NoError(t, err)
	name := u.Host + u.Path

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		ok   bool
	}{
		{"flag wins", map[string]string{"DATABASE_URL": dead, "SUPABASE_DB_URL": dead}, []string{"--db-url", good}, true},
		{"DATABASE_URL before SUPABASE_DB_URL", map[string]string{"DATABASE_URL": good, "SUPABASE_DB_URL": dead}, nil, true},
		{"SUPABASE_DB_URL last", map[string]string{"SUPABASE_DB_URL": good}, nil, true},
		{"DATABASE_URL dead", map[string]string{"DATABASE_URL": dead, "SUPABASE_DB_URL": good}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := healthyEnv()
			delete(env, "SUPABASE_DB_URL")
			for k, v := range tc.env {
				env[k] = v
			}
			r := byok(t, bin, env, append([]string{"doctor", "--json"}, tc.args...)...)
			rep := parse(t, r)
			status, detail, _ := rep.check("connect")
			if tc.ok {
				assert.NotEqual(t, "fail", status, detail)
				assert.Contains(t, detail, name)
			} else {
				assert.Equal(t, 2, r.code)
			}
		})
	}
}

// Port 6543 is Supavisor's transaction mode: notify warns that LISTEN cannot work there,
// and every other check runs as usual. A TCP relay on 127.0.0.1:6543 stands in for the
// pooler.
func TestDoctor_transactionPoolerPortWarns(t *testing.T) {
	db := pgtest.Fresh(t, true)
	bin := binary(t, false)
	u, err := url.Parse(withPassword(t, db.DSN))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:6543")
	if err != nil {
		t.Skipf("port 6543 is taken here: %v", err)
	}
	defer ln.Close()
	upstream := u.Host
	go relay(t.Context(), ln, upstream)
	u.Host = "127.0.0.1:6543"

	r := byok(t, bin, healthyEnv(), "doctor", "--json", "--db-url", u.String())
	rep := parse(t, r)
	want := healthy(false)
	want["notify"] = "warn"
	assert.Equal(t, want, rep.statuses(), r.stdout)
	_, detail, fix := rep.check("notify")
	assert.Contains(t, detail, "127.0.0.1:6543/"+strings.TrimPrefix(u.Path, "/")+" is Supavisor's transaction mode (port 6543)")
	assert.Contains(t, detail, "9 invalidation triggers")
	assert.Contains(t, fix, "session mode (port 5432)")
	assert.Equal(t, 0, r.code)
}

// relay forwards each connection accepted on ln to upstream until ctx ends.
func relay(ctx context.Context, ln net.Listener, upstream string) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var d net.Dialer
			up, err := d.DialContext(ctx, "tcp", upstream)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
			select {
			case <-done:
			case <-ctx.Done():
			}
		}()
	}
}

func TestUsage(t *testing.T) {
	bin := binary(t, false)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"help"}, 0, "byok doctor  [--db-url URL] [--json] [--scenarios]", ""},
		{[]string{"--help"}, 0, "Usage:", ""},
		{[]string{"help", "doctor"}, 0, "Checks: connect, migrations, vault, rls, rpc-acl, notify, env, scenarios", ""},
		{[]string{"help", "migrate"}, 0, "--dry-run", ""},
		{[]string{"postgres://u:canary-arg@h/db"}, 2, "", "byok: unknown command"},
		{[]string{"doctor", "--bogus"}, 2, "", "flag provided but not defined"},
		{[]string{"doctor", "extra"}, 2, "", "unexpected arguments"},
		{[]string{"doctor", "-h"}, 0, "", "Usage: byok doctor"},
		{[]string{"migrate", "--bogus"}, 2, "", "Usage: byok migrate"},
		{[]string{"migrate"}, 2, "", "no database URL"},
	} {
		r := byok(t, bin, nil, tc.args...)
		assert.Equal(t, tc.code, r.code, "%q: %s%s", tc.args, r.stdout, r.stderr)
		assert.Contains(t, r.stdout, tc.stdout, "%q", tc.args)
		assert.Contains(t, r.stderr, tc.stderr, "%q", tc.args)
	}
}

// Colour only on a terminal, never with NO_COLOR: exercised on writeText directly, since
// the tests' stdout is a pipe.
func TestWriteText_colour(t *testing.T) {
	results := []*result{
		{id: "connect", status: statusPass, detail: []string{"ok"}},
		{id: "rpc-acl", status: statusFail, detail: []string{"a", "b"}, fix: []string{"x;", "y;"}},
	}
	var plain, coloured strings.Builder
	require.NoError(t, writeText(&plain, "h:1/d", results, false))
	require.NoError(t, writeText(&coloured, "h:1/d", results, true))
	assert.NotContains(t, plain.String(), "\x1b")
	assert.Contains(t, coloured.String(), "\x1b[31mFAIL\x1b[0m  rpc-acl  a\n")
	assert.Equal(t, "byok doctor: h:1/d\n\n"+
		"PASS  connect  ok\n"+
		"FAIL  rpc-acl  a\n"+
		"               b\n"+
		"               fix:  x;\n"+
		"                     y;\n"+
		"\n1 passed, 0 warnings, 1 failed, 0 skipped\n", plain.String())
}

// A later migration (here added through the test build's hook) is applied by migrate and
// judged by doctor with no change to either: its table, policy and SECURITY DEFINER RPC.
func TestDoctor_coversALaterMigration(t *testing.T) {
	db := pgtest.Fresh(t, true)
	bin := binary(t, true)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "29990101000000_byok_future_ledger.sql"), []byte(`
create table if not exists public.byok_future_ledger (
  user_id uuid primary key references auth.users (id) on delete cascade,
  requests bigint not null default 0
);
alter table public.byok_future_ledger enable row level security;
revoke all on table public.byok_future_ledger from anon, authenticated;
grant select on table public.byok_future_ledger to authenticated;
drop policy if exists byok_future_ledger_select_own on public.byok_future_ledger;
create policy byok_future_ledger_select_own on public.byok_future_ledger
  for select to authenticated using ((select auth.uid()) = user_id);

create or replace function public.count_future_ledger(p_user_id uuid)
returns void language plpgsql security definer set search_path = '' as $$
begin
  perform public.byok_require_service_role();
  insert into public.byok_future_ledger (user_id, requests) values (p_user_id, 1)
  on conflict (user_id) do update set requests = public.byok_future_ledger.requests + 1;
end;
$$;
revoke all on function public.count_future_ledger(uuid) from public, anon, authenticated;
grant execute on function public.count_future_ledger(uuid) to service_role;
`), 0o600))
	env := healthyEnv()
	env["BYOK_TEST_EXTRA_MIGRATIONS"] = dir
	dbURL := withPassword(t, db.DSN)

	rep := parse(t, byok(t, bin, env, "doctor", "--json", "--db-url", dbURL))
	status, detail, fix := rep.check("migrations")
	assert.Equal(t, "fail", status)
	assert.Contains(t, detail, "not applied: 29990101000000_byok_future_ledger")
	assert.Equal(t, "byok migrate", fix)
	status, detail, _ = rep.check("rls")
	assert.Equal(t, "fail", status)
	assert.Contains(t, detail, "public.byok_future_ledger is missing (migration 29990101000000_byok_future_ledger)")
	status, detail, _ = rep.check("rpc-acl")
	assert.Equal(t, "fail", status)
	assert.Contains(t, detail, "public.count_future_ledger is missing")

	r := byok(t, bin, env, "migrate", "--db-url", dbURL)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Regexp(t, `(?m)^applied +29990101000000_byok_future_ledger$`, r.stdout)
	rep = parse(t, byok(t, bin, env, "doctor", "--json", "--db-url", dbURL))
	assert.Equal(t, healthy(false), rep.statuses())
	_, detail, _ = rep.check("rls")
	assert.Contains(t, detail, "byok_future_ledger")

	_, err := db.Pool.Exec(t.Context(), `
		grant execute on function public.count_future_ledger(uuid) to anon;
		drop policy byok_future_ledger_select_own on public.byok_future_ledger`)
	require.NoError(t, err)
	rep = parse(t, byok(t, bin, env, "doctor", "--json", "--db-url", dbURL))
	_, detail, _ = rep.check("rpc-acl")
	assert.Contains(t, detail, "public.count_future_ledger(p_user_id uuid): EXECUTE held by anon")
	_, detail, fix = rep.check("rls")
	assert.Contains(t, detail, "public.byok_future_ledger: policy byok_future_ledger_select_own is missing")
	assert.Contains(t, fix, "create policy byok_future_ledger_select_own on public.byok_future_ledger for select to authenticated")
}
