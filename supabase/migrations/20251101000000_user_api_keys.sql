-- Per-user provider API keys (BYOK).
--
-- public.api_keys holds metadata only; the key itself is a Supabase Vault secret named
-- '<service>_api_key_<user uuid>'. Keys are written and read only through the SECURITY DEFINER
-- RPCs below, which only the service_role may call. Owners may SELECT their own metadata rows.
--
-- Prerequisites (present on every Supabase project; not created here): the roles anon,
-- authenticated and service_role, the auth schema with auth.users and auth.uid(), and Vault
-- (the supabase_vault extension, schema vault).
--
-- Safe to run more than once.

-- Helpers ---------------------------------------------------------------------------------------

-- Raises SQLSTATE 42501 unless the request's JWT claims carry role = service_role. PostgREST sets
-- request.jwt.claims for every request; a direct connection sets it with set_config. Every RPC
-- calls this first, so a grant made by mistake (or a default ACL) still cannot expose a key.
create or replace function public.byok_require_service_role()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '')
     <> 'service_role' then
    raise exception 'byok: service_role required' using errcode = '42501';
  end if;
end;
$$;

-- Returns lower(trim(p_service)) when it names one of the five services; raises SQLSTATE 22023
-- otherwise. The message never echoes the argument (a caller may have swapped it with a key).
create or replace function public.byok_normalize_service(p_service text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_service text := lower(trim(p_service));
begin
  if v_service is null
     or v_service not in ('gateway', 'openai', 'openrouter', 'anthropic', 'xai') then
    raise exception 'byok: unsupported service' using errcode = '22023';
  end if;
  return v_service;
end;
$$;

revoke all on function public.byok_require_service_role() from public, anon, authenticated, service_role;
revoke all on function public.byok_normalize_service(text) from public, anon, authenticated, service_role;

-- Table -----------------------------------------------------------------------------------------

create table if not exists public.api_keys (
  user_id uuid not null references auth.users (id) on delete cascade,
  service text not null,
  vault_secret_name text not null,
  created_at timestamptz not null default now(),
  last_used timestamptz,
  constraint api_keys_pkey primary key (user_id, service),
  constraint api_keys_service_check
    check (service in ('gateway', 'openai', 'openrouter', 'anthropic', 'xai')),
  constraint api_keys_vault_secret_name_check
    check (vault_secret_name = service || '_api_key_' || user_id::text)
);

comment on table public.api_keys is
  'BYOK key metadata; the key is the Vault secret named vault_secret_name. Never holds a key.';

alter table public.api_keys enable row level security;

-- Owners read their own metadata; nobody but the RPCs (and the table owner) writes it. TRUNCATE is
-- revoked too: it bypasses row level security.
revoke all on table public.api_keys from anon, authenticated;
grant select on table public.api_keys to authenticated;

drop policy if exists api_keys_select_own on public.api_keys;
create policy api_keys_select_own on public.api_keys
  for select to authenticated
  using ((select auth.uid()) = user_id);

-- Vault cleanup ---------------------------------------------------------------------------------

-- Deletes the Vault secret of every deleted api_keys row, including rows removed by the cascade
-- from auth.users, so no secret outlives its key.
create or replace function public.byok_delete_api_key_secret()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from vault.secrets s where s.name = old.vault_secret_name;
  return old;
end;
$$;

-- TRUNCATE does not fire row triggers: remove every key's secret before the rows go.
create or replace function public.byok_truncate_api_key_secrets()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from vault.secrets s using public.api_keys k where s.name = k.vault_secret_name;
  return null;
end;
$$;

revoke all on function public.byok_delete_api_key_secret() from public, anon, authenticated, service_role;
revoke all on function public.byok_truncate_api_key_secrets() from public, anon, authenticated, service_role;

create or replace trigger api_keys_delete_secret
  after delete on public.api_keys
  for each row execute function public.byok_delete_api_key_secret();

create or replace trigger api_keys_truncate_secrets
  before truncate on public.api_keys
  for each statement execute function public.byok_truncate_api_key_secrets();

-- RPCs (service_role only) ----------------------------------------------------------------------

-- Stores or rotates a user's key for one service. The first write creates the Vault secret; a
-- later write replaces its value in place, so exactly one secret per (user, service) remains.
-- Rotation resets created_at and last_used: they describe the key now stored.
create or replace function public.insert_user_api_key(p_user_id uuid, p_service text, p_api_key text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_service text;
  v_name text;
  v_secret_id uuid;
begin
  perform public.byok_require_service_role();
  if p_user_id is null then
    raise exception 'byok: user id is required' using errcode = '22023';
  end if;
  v_service := public.byok_normalize_service(p_service);
  if p_api_key is null or p_api_key !~ '[^[:space:]]' or length(p_api_key) > 2048 then
    raise exception 'byok: api key must be 1 to 2048 characters and not blank' using errcode = '22023';
  end if;
  v_name := v_service || '_api_key_' || p_user_id::text;

  -- Two first-time writers would both miss the secret and race on its unique name: serialize
  -- writers of one (user, service) for the rest of the transaction.
  perform pg_advisory_xact_lock(hashtextextended('byok.api_keys:' || v_name, 0));

  select s.id into v_secret_id from vault.secrets s where s.name = v_name;
  if v_secret_id is null then
    perform vault.create_secret(p_api_key, v_name, 'BYOK ' || v_service || ' API key');
  else
    perform vault.update_secret(v_secret_id, p_api_key);
  end if;

  insert into public.api_keys (user_id, service, vault_secret_name)
  values (p_user_id, v_service, v_name)
  on conflict (user_id, service) do update
    set created_at = now(), last_used = null;
end;
$$;

-- Returns the user's key for one service, or NULL when none is stored.
create or replace function public.get_user_api_key(p_user_id uuid, p_service text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_service text;
  v_key text;
begin
  perform public.byok_require_service_role();
  v_service := public.byok_normalize_service(p_service);
  select d.decrypted_secret into v_key
    from public.api_keys k
    join vault.decrypted_secrets d on d.name = k.vault_secret_name
   where k.user_id = p_user_id and k.service = v_service;
  return v_key;
end;
$$;

-- Deletes the user's key for one service and its Vault secret. Deleting nothing is not an error.
create or replace function public.delete_user_api_key(p_user_id uuid, p_service text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_name text;
begin
  perform public.byok_require_service_role();
  v_name := public.byok_normalize_service(p_service) || '_api_key_' || p_user_id::text;
  perform pg_advisory_xact_lock(hashtextextended('byok.api_keys:' || v_name, 0));
  delete from public.api_keys k where k.vault_secret_name = v_name; -- the trigger drops the secret
  delete from vault.secrets s where s.name = v_name;                -- a secret without a row, if any
end;
$$;

-- Records that the user's key for one service was just used.
create or replace function public.touch_user_api_key(p_user_id uuid, p_service text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_service text;
begin
  perform public.byok_require_service_role();
  v_service := public.byok_normalize_service(p_service);
  update public.api_keys k set last_used = now()
   where k.user_id = p_user_id and k.service = v_service;
end;
$$;

revoke all on function public.insert_user_api_key(uuid, text, text) from public, anon, authenticated;
revoke all on function public.get_user_api_key(uuid, text) from public, anon, authenticated;
revoke all on function public.delete_user_api_key(uuid, text) from public, anon, authenticated;
revoke all on function public.touch_user_api_key(uuid, text) from public, anon, authenticated;

grant execute on function public.insert_user_api_key(uuid, text, text) to service_role;
grant execute on function public.get_user_api_key(uuid, text) to service_role;
grant execute on function public.delete_user_api_key(uuid, text) to service_role;
grant execute on function public.touch_user_api_key(uuid, text) to service_role;
