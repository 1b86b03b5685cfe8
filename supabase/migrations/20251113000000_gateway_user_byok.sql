-- User Vercel AI Gateway settings and consent to team fallback.
--
-- public.api_gateway_configs: the user's gateway base URL (their gateway key itself is the
--   'gateway' row of public.api_keys, in Vault). Owners may SELECT their own row.
-- public.user_settings: allow_gateway_fallback, the user's consent to be served by the team's
--   credentials when they have none of their own. Default TRUE; a missing row also means TRUE.
--   Owners may read and write their own row.
-- RPCs: upsert_user_gateway_config, get_user_gateway_base_url, delete_user_gateway_config and
--   get_user_allow_gateway_fallback, SECURITY DEFINER and callable by service_role only.
--
-- Builds on 20251101000000_user_api_keys.sql (public.byok_require_service_role). Prerequisites
-- as there. Safe to run more than once.

-- Tables ----------------------------------------------------------------------------------------

create table if not exists public.api_gateway_configs (
  user_id uuid primary key references auth.users (id) on delete cascade,
  base_url text not null,
  constraint api_gateway_configs_base_url_check
    check (base_url ~* '^https://[^[:space:]]+$' and length(base_url) <= 2048)
);

comment on table public.api_gateway_configs is
  'BYOK: the user''s Vercel AI Gateway base URL (their gateway key is in api_keys/Vault).';

create table if not exists public.user_settings (
  user_id uuid primary key references auth.users (id) on delete cascade,
  allow_gateway_fallback boolean not null default true
);

comment on table public.user_settings is
  'BYOK: allow_gateway_fallback is the user''s consent to team credentials; no row means TRUE.';

alter table public.api_gateway_configs enable row level security;
alter table public.user_settings enable row level security;

-- TRUNCATE is revoked with everything else: it bypasses row level security.
revoke all on table public.api_gateway_configs from anon, authenticated;
grant select on table public.api_gateway_configs to authenticated;

revoke all on table public.user_settings from anon, authenticated;
grant select, insert, update, delete on table public.user_settings to authenticated;

drop policy if exists api_gateway_configs_select_own on public.api_gateway_configs;
create policy api_gateway_configs_select_own on public.api_gateway_configs
  for select to authenticated
  using ((select auth.uid()) = user_id);

drop policy if exists user_settings_all_own on public.user_settings;
create policy user_settings_all_own on public.user_settings
  for all to authenticated
  using ((select auth.uid()) = user_id)
  with check ((select auth.uid()) = user_id);

-- RPCs (service_role only) ----------------------------------------------------------------------

-- Stores the user's gateway base URL (an https URL of at most 2048 characters; the application
-- applies its full URL policy before calling). Replaces any previous URL.
create or replace function public.upsert_user_gateway_config(p_user_id uuid, p_base_url text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.byok_require_service_role();
  if p_user_id is null then
    raise exception 'byok: user id is required' using errcode = '22023';
  end if;
  if p_base_url is null or p_base_url !~* '^https://[^[:space:]]+$' or length(p_base_url) > 2048 then
    raise exception 'byok: gateway base url must be an https url' using errcode = '22023';
  end if;
  insert into public.api_gateway_configs (user_id, base_url)
  values (p_user_id, p_base_url)
  on conflict (user_id) do update set base_url = excluded.base_url;
end;
$$;

-- Returns the user's gateway base URL, or NULL when none is stored.
create or replace function public.get_user_gateway_base_url(p_user_id uuid)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_base_url text;
begin
  perform public.byok_require_service_role();
  select c.base_url into v_base_url from public.api_gateway_configs c where c.user_id = p_user_id;
  return v_base_url;
end;
$$;

-- Deletes the user's gateway base URL. Deleting nothing is not an error.
create or replace function public.delete_user_gateway_config(p_user_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.byok_require_service_role();
  delete from public.api_gateway_configs c where c.user_id = p_user_id;
end;
$$;

-- Returns the user's consent to team fallback: TRUE when they have no settings row.
create or replace function public.get_user_allow_gateway_fallback(p_user_id uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_allow boolean;
begin
  perform public.byok_require_service_role();
  select s.allow_gateway_fallback into v_allow from public.user_settings s where s.user_id = p_user_id;
  return coalesce(v_allow, true);
end;
$$;

revoke all on function public.upsert_user_gateway_config(uuid, text) from public, anon, authenticated;
revoke all on function public.get_user_gateway_base_url(uuid) from public, anon, authenticated;
revoke all on function public.delete_user_gateway_config(uuid) from public, anon, authenticated;
revoke all on function public.get_user_allow_gateway_fallback(uuid) from public, anon, authenticated;

grant execute on function public.upsert_user_gateway_config(uuid, text) to service_role;
grant execute on function public.get_user_gateway_base_url(uuid) to service_role;
grant execute on function public.delete_user_gateway_config(uuid) to service_role;
grant execute on function public.get_user_allow_gateway_fallback(uuid) to service_role;
