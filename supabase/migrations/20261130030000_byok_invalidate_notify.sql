-- Cross-instance cache invalidation.
--
-- Every change to what a credential resolution reads sends
--   pg_notify('byok_invalidate', <user id>)
-- so that every replica's cache can drop that user's entries (the Go package
-- supabase/pgnotify listens and calls Resolver.Invalidate). The payload is the user id as
-- text, nothing else: never a key, a URL or a setting.
--
-- Resolution reads public.api_keys (which keys exist, and through vault_secret_name their
-- Vault secrets), public.api_gateway_configs (the gateway base URL) and public.user_settings
-- (the consent). Triggers on those three tables notify on:
--   * INSERT and DELETE of a row;
--   * an UPDATE that changes the row, except one that changes only api_keys.last_used: a key
--     being used is not a change, and resolutions touch it (get_user_byok_snapshot). Rotating
--     a key replaces its Vault secret in place and sets created_at = now() on its row, so a
--     rotation notifies. An UPDATE that changes nothing notifies nobody;
--   * TRUNCATE: one notification per user who had a row.
-- Deleting a user from auth.users deletes their rows through the foreign keys' ON DELETE
-- CASCADE, which fires these row triggers, so a user's deletion notifies without a trigger on
-- auth.users (a table owned by supabase_auth_admin; a user without rows here had nothing of
-- their own cached).
--
-- NOTIFY is transactional: the notification is delivered when the writing transaction
-- commits, and not at all when it rolls back, so a listener never invalidates before the change
-- is visible. Notifications of one transaction with the same payload are delivered once.
--
-- Builds on 20251101000000_user_api_keys.sql and 20251113000000_gateway_user_byok.sql. Safe to
-- run more than once. Needs no privilege beyond owning the three tables: the trigger functions
-- are SECURITY DEFINER, so a user writing their own user_settings row through the Data API
-- notifies even if pg_notify's default grant to PUBLIC was revoked.

create or replace function public.byok_notify_invalidate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    perform pg_catalog.pg_notify('byok_invalidate', old.user_id::text);
    return null;
  end if;
  perform pg_catalog.pg_notify('byok_invalidate', new.user_id::text);
  if tg_op = 'UPDATE' and old.user_id is distinct from new.user_id then
    perform pg_catalog.pg_notify('byok_invalidate', old.user_id::text);
  end if;
  return null;
end;
$$;

-- TRUNCATE fires no row triggers: notify every user who has a row, before the rows go.
create or replace function public.byok_notify_invalidate_truncate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
begin
  for v_user in execute format('select distinct user_id from %I.%I', tg_table_schema, tg_table_name) loop
    perform pg_catalog.pg_notify('byok_invalidate', v_user::text);
  end loop;
  return null;
end;
$$;

revoke all on function public.byok_notify_invalidate() from public, anon, authenticated, service_role;
revoke all on function public.byok_notify_invalidate_truncate() from public, anon, authenticated, service_role;

-- api_keys: any change but a last_used touch.
create or replace trigger api_keys_notify_invalidate
  after insert or delete on public.api_keys
  for each row execute function public.byok_notify_invalidate();

create or replace trigger api_keys_notify_invalidate_update
  after update on public.api_keys
  for each row
  when ((to_jsonb(old) - 'last_used') is distinct from (to_jsonb(new) - 'last_used'))
  execute function public.byok_notify_invalidate();

create or replace trigger api_keys_notify_invalidate_truncate
  before truncate on public.api_keys
  for each statement execute function public.byok_notify_invalidate_truncate();

-- api_gateway_configs and user_settings: any change.
create or replace trigger api_gateway_configs_notify_invalidate
  after insert or delete on public.api_gateway_configs
  for each row execute function public.byok_notify_invalidate();

create or replace trigger api_gateway_configs_notify_invalidate_update
  after update on public.api_gateway_configs
  for each row
  when (old.* is distinct from new.*)
  execute function public.byok_notify_invalidate();

create or replace trigger api_gateway_configs_notify_invalidate_truncate
  before truncate on public.api_gateway_configs
  for each statement execute function public.byok_notify_invalidate_truncate();

create or replace trigger user_settings_notify_invalidate
  after insert or delete on public.user_settings
  for each row execute function public.byok_notify_invalidate();

create or replace trigger user_settings_notify_invalidate_update
  after update on public.user_settings
  for each row
  when (old.* is distinct from new.*)
  execute function public.byok_notify_invalidate();

create or replace trigger user_settings_notify_invalidate_truncate
  before truncate on public.user_settings
  for each statement execute function public.byok_notify_invalidate_truncate();
