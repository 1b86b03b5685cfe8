package main

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/supabase/migrations"
)

func names[T any](list []T, name func(T) string) []string {
	var out []string
	for _, v := range list {
		out = append(out, name(v))
	}
	return out
}

func TestParseSchema_embeddedMigrations(t *testing.T) {
	s := parseSchema(migrations.All())

	// Subsets: later migrations add objects; these are the ones the runbook and the first
	// migrations name.
	assert.Subset(t, names(s.tables, func(t *sqlTable) string { return t.name }),
		[]string{"api_keys", "api_gateway_configs", "user_settings", "byok_rate_limits", "byok_team_usage", "byok_consent_events"})
	assert.Equal(t, "20251113000000_gateway_user_byok", s.table("user_settings").migration)

	// The SECURITY DEFINER functions: the RPCs and the trigger functions, not the helpers.
	definers := names(s.definers(), func(f *sqlFunction) string { return f.name })
	slices.Sort(definers)
	assert.Subset(t, definers, []string{
		"byok_delete_api_key_secret", "byok_notify_invalidate", "byok_notify_invalidate_truncate",
		"byok_truncate_api_key_secrets", "check_vault_health", "delete_user_api_key",
		"delete_user_gateway_config", "delete_user_gateway_key", "get_user_allow_gateway_fallback",
		"get_user_api_key", "get_user_byok_snapshot", "get_user_gateway_base_url", "insert_user_api_key",
		"list_user_api_keys", "put_user_gateway_key", "set_user_allow_gateway_fallback",
		"take_user_rate_limit", "touch_user_api_key", "upsert_user_gateway_config",
		"record_byok_team_usage", "get_user_byok_team_usage", "get_user_byok_consent_events",
		"byok_record_consent_event", "byok_record_consent_event_truncate", "byok_consent_events_append_only",
	})
	for _, helper := range []string{"byok_require_service_role", "byok_normalize_service", "byok_lock_user", "byok_check_api_key", "byok_consent_source"} {
		i := slices.IndexFunc(s.functions, func(f *sqlFunction) bool { return f.name == helper })
		require.GreaterOrEqual(t, i, 0, helper)
		assert.False(t, s.functions[i].definer, helper)
	}

	// The policies, as TestSchema_ownerPolicies in supabase/migrations sees them in the catalog.
	type pol struct {
		Table, Name, Cmd string
		Permissive       bool
		Roles            []string
		Using, Check     string
	}
	var got []pol
	for _, p := range s.policies {
		got = append(got, pol{p.table, p.name, p.cmd, p.permissive, p.roles, p.using, p.check})
	}
	owner := "(select auth.uid()) = user_id"
	assert.Subset(t, got, []pol{
		{"api_keys", "api_keys_select_own", "SELECT", true, []string{"authenticated"}, owner, ""},
		{"api_gateway_configs", "api_gateway_configs_select_own", "SELECT", true, []string{"authenticated"}, owner, ""},
		{"user_settings", "user_settings_all_own", "ALL", true, []string{"authenticated"}, owner, owner},
		{"byok_rate_limits", "byok_rate_limits_no_api_access", "ALL", false, []string{"anon", "authenticated"}, "false", "false"},
	})
	assert.Contains(t, oneLine(s.policies[0].stmt), "create policy api_keys_select_own on public.api_keys for select to authenticated using ((select auth.uid()) = user_id)")

	// Triggers: 2 for Vault cleanup, 9 for invalidation.
	kinds := map[string]int{}
	for _, tr := range s.triggers {
		kinds[triggerKind(tr)]++
	}
	assert.GreaterOrEqual(t, kinds["vault"], 2)
	assert.GreaterOrEqual(t, kinds["notify"], 9)
	i := slices.IndexFunc(s.triggers, func(tr *sqlTrigger) bool { return tr.name == "api_keys_notify_invalidate_update" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "api_keys", s.triggers[i].table)
	assert.Equal(t, "byok_notify_invalidate", s.triggers[i].function)
}

// A migration written later, in the style of the existing ones, is picked up without a
// change to the doctor; drops and redefinitions count.
func TestParseSchema_laterMigration(t *testing.T) {
	ms := append(migrations.All(), migrations.Migration{Version: "29990101000000", Name: "byok_later", SQL: `
-- A comment with a ; and a create table public.not_a_table (x int);
/* nested /* comment */ create table public.nor_this (x int); */
create table if not exists public.byok_future_ledger (
  user_id uuid not null references auth.users (id) on delete cascade,
  note text default 'a ; in a string',
  primary key (user_id)
);
alter table public.byok_future_ledger enable row level security;
create policy "byok_future_ledger_select_own" on public.byok_future_ledger
  as permissive for select to authenticated using ((select auth.uid()) = user_id);

CREATE OR REPLACE FUNCTION public.record_team_usage(p_user_id uuid)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $body$
begin
  -- create table public.in_a_body (x int); security definer
  perform 1;
end;
$body$;

create or replace function public.byok_usage_helper() returns int language sql
set search_path = '' as $$ select 1 $$;

-- The earlier migration's touch RPC goes away; the snapshot becomes invoker.
drop function if exists public.touch_user_api_key(uuid, text);
alter function public.get_user_byok_snapshot(uuid, text[]) security invoker;
drop policy if exists api_gateway_configs_select_own on public.api_gateway_configs;
drop trigger if exists user_settings_notify_invalidate on public.user_settings;
select E'it''s \' ; still a string';
`})
	s := parseSchema(ms)
	tables := names(s.tables, func(t *sqlTable) string { return t.name })
	assert.Equal(t, "byok_future_ledger", tables[len(tables)-1])
	assert.NotContains(t, tables, "not_a_table")
	assert.NotContains(t, tables, "nor_this")
	assert.NotContains(t, tables, "in_a_body")

	fn := func(name string) *sqlFunction {
		i := slices.IndexFunc(s.functions, func(f *sqlFunction) bool { return f.name == name })
		if i < 0 {
			return nil
		}
		return s.functions[i]
	}
	require.NotNil(t, fn("record_team_usage"))
	assert.True(t, fn("record_team_usage").definer)
	assert.Equal(t, "29990101000000_byok_later", fn("record_team_usage").migration)
	require.NotNil(t, fn("byok_usage_helper"))
	assert.False(t, fn("byok_usage_helper").definer)
	assert.Nil(t, fn("touch_user_api_key"), "dropped")
	assert.False(t, fn("get_user_byok_snapshot").definer, "altered to invoker")

	i := slices.IndexFunc(s.policies, func(p *sqlPolicy) bool { return p.name == "byok_future_ledger_select_own" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "byok_future_ledger", s.policies[i].table)
	assert.Equal(t, "SELECT", s.policies[i].cmd)
	assert.Equal(t, []string{"authenticated"}, s.policies[i].roles)
	assert.False(t, slices.ContainsFunc(s.policies, func(p *sqlPolicy) bool { return p.name == "api_gateway_configs_select_own" }), "dropped")
	assert.False(t, slices.ContainsFunc(s.triggers, func(tr *sqlTrigger) bool { return tr.name == "user_settings_notify_invalidate" }), "dropped")
	assert.Len(t, s.triggers, len(parseSchema(migrations.All()).triggers)-1)
}

func TestSplitSQL(t *testing.T) {
	got := splitSQL(`select 1; -- one ; comment
select 'a;b' , "x;y" ; /* c ; */ select $$ ; $$, $t$ $$ ; $t$, $1;select E'\';'` + "\n")
	assert.Equal(t, []string{
		"select 1",
		`select 'a;b' , "x;y"`,
		"select $$, $$, $1",
		`select e'\';'`,
	}, names(got, func(s statement) string { return s.head }))
	assert.Equal(t, "select $$ ; $$, $t$ $$ ; $t$, $1", got[2].text)
}

func TestNormExpr(t *testing.T) {
	// What the server deparses for the migrations' owner policy.
	assert.Equal(t, normExpr("(select auth.uid()) = user_id"), normExpr("(( SELECT auth.uid() AS uid) = user_id)"))
	assert.NotEqual(t, normExpr("(select auth.uid()) = user_id"), normExpr("true"))
	assert.Equal(t, normExpr("false"), normExpr("false"))
}
