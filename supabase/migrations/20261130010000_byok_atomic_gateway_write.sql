-- Atomic gateway writes, one lock order for every writer, and the one key rule in SQL.
--
--   put_user_gateway_key     the user's gateway key and base URL in one transaction
--   delete_user_gateway_key  the gateway key, its Vault secret and the base URL in one transaction
--
-- and new versions of every other writer (insert_user_api_key, delete_user_api_key,
-- upsert_user_gateway_config, delete_user_gateway_config, set_user_allow_gateway_fallback) that
-- take their locks in the order below and refuse the keys the Go code refuses.
--
-- Why one gateway RPC. The gateway key and its base URL used to be written by two calls. When
-- the key write failed after the URL write, the new URL stayed, and resolution then sent the
-- user's old key to the new host. Here both change in one transaction or neither does.
--
-- Why a lock order: deleting a user deadlocked with key writes (40P01), and the deletion failed.
-- `delete from auth.users` (Supabase Auth's admin API does exactly this) takes, in this order:
--   D1. the auth.users row, FOR UPDATE (a delete), waiting for every FOR KEY SHARE holder;
--   D2. the cascade: the user's public.api_keys rows, then api_gateway_configs, user_settings;
--   D3. for each deleted api_keys row the trigger api_keys_delete_secret deletes its row in
--       vault.secrets.
-- The old insert_user_api_key, rotating a stored key, took
--   W1. the advisory lock of (user, service), which D never takes;
--   W2. the vault.secrets row (vault.update_secret);
--   W3. the api_keys row (insert ... on conflict do update); a first key instead takes the
--       auth.users row FOR KEY SHARE here, through the foreign key check.
-- A writer between W2 and W3 holds the secret and waits for the key row; the deletion past D2
-- holds the key row and, in D3, waits for the secret: a cycle. A first key, or a base URL or
-- consent row written after another row, waits in W3 for the auth.users row that D holds while D
-- waits for a row the writer holds: another cycle.
--
-- The fix: every writer's first lock is the user's auth.users row, FOR KEY SHARE
-- (public.byok_lock_user), before the advisory lock and before any row of ours. KEY SHARE is the
-- foreign key check's own lock: writers share it with each other and with Supabase Auth's
-- updates of the row (sign-ins), and only a deletion of the user (or a change of its id)
-- conflicts with it. So either a writer holds it first, and the deletion waits in D1 for the
-- writer to commit, then deletes what the writer wrote (no orphaned Vault secret), or the
-- deletion holds the row first, and the writer waits, finds the user gone, and fails with
-- SQLSTATE 23503 "user does not exist" before it writes anything. After that first lock each
-- writer takes the advisory lock of its (user, service), then rows of one user only, so writers
-- wait for each other but never in a cycle (the deletion, waiting in D1, holds nothing of
-- theirs). Readers (get_user_byok_snapshot, touch_user_api_key) keep no lock but their one
-- api_keys row and wait for nothing else, so they cannot close a cycle either; they do not lock
-- auth.users, because a row lock is a write of that row and resolutions must stay read-only.
--
-- Vault: supabase_vault 0.3.1's vault.create_secret(secret, ...) inserts the plaintext and then
-- updates it to ciphertext, which leaves the key in plaintext in a dead row version and in the
-- WAL. Every secret written here is therefore created empty and given its value by
-- vault.update_secret, which encrypts in its one UPDATE:
--   vault.update_secret(vault.create_secret('', v_name, v_description), p_api_key)
--
-- The key rule is providers.CheckKey's: 1 to 1024 bytes of printable ASCII without white space
-- (SQLSTATE 22023 otherwise). No real key is anything else; a control character could split a
-- header and an invisible or look-alike character would store a key other than the one meant.
--
-- Builds on 20251101000000_user_api_keys.sql, 20251113000000_gateway_user_byok.sql and
-- 20251120000000_byok_project_rpcs.sql, and replaces the functions named above wholesale. Safe
-- to run more than once.

-- Helpers (internal: nobody but their owner may execute them) -----------------------------------

-- Raises SQLSTATE 22023 unless p_api_key is 1 to 1024 bytes of printable ASCII (0x21-0x7e). The
-- message never echoes the key.
create or replace function public.byok_check_api_key(p_api_key text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  -- Bytes equal to characters means ASCII only in the UTF-8 databases Supabase uses; the class
  -- then leaves out controls, DEL and the space.
  if p_api_key is null
     or octet_length(p_api_key) > 1024
     or octet_length(p_api_key) <> length(p_api_key)
     or p_api_key !~ '^[!-~]+$' then
    raise exception 'byok: api key must be 1 to 1024 printable ASCII characters without white space'
      using errcode = '22023';
  end if;
end;
$$;

-- Takes the user's auth.users row FOR KEY SHARE: the first lock of every writer (see the header).
-- Returns whether the user exists; raises SQLSTATE 23503 instead when p_must_exist and the user
-- does not exist or was deleted while this waited. A row lock needs the UPDATE privilege on
-- auth.users, which Supabase grants the postgres role that owns these functions; without it
-- every writer fails with SQLSTATE 42501 and writes nothing.
create or replace function public.byok_lock_user(p_user_id uuid, p_must_exist boolean)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if p_user_id is null then
    raise exception 'byok: user id is required' using errcode = '22023';
  end if;
  perform 1 from auth.users u where u.id = p_user_id for key share;
  if not found and p_must_exist then
    raise exception 'byok: user does not exist' using errcode = '23503';
  end if;
  return found;
end;
$$;

-- Stores p_api_key as the Vault secret of (p_user_id, p_service), creating the secret or
-- replacing its value in place, and upserts the api_keys row. The caller has validated the
-- arguments and holds the user's lock and the (user, service) advisory lock.
create or replace function public.byok_store_api_key(p_user_id uuid, p_service text, p_api_key text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_name text := p_service || '_api_key_' || p_user_id::text;
  v_secret_id uuid;
begin
  select s.id into v_secret_id from vault.secrets s where s.name = v_name;
  if v_secret_id is null then
    -- Created empty, then encrypted by update_secret's one UPDATE: create_secret with the key
    -- would leave it in plaintext in a dead row version and the WAL (see the header).
    perform vault.update_secret(
      vault.create_secret('', v_name, 'BYOK ' || p_service || ' API key'), p_api_key);
  else
    perform vault.update_secret(v_secret_id, p_api_key);
  end if;

  insert into public.api_keys (user_id, service, vault_secret_name)
  values (p_user_id, p_service, v_name)
  on conflict (user_id, service) do update
    set created_at = now(), last_used = null;
end;
$$;

-- Serializes writers of one (user, service) for the rest of the transaction: two first-time
-- writers would otherwise both miss the secret and race on its unique name.
create or replace function public.byok_lock_key(p_user_id uuid, p_service text)
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended('byok.api_keys:' || p_service || '_api_key_' || p_user_id::text, 0))
$$;

-- Returns NULL for a blank base URL ("the default"), p_base_url when it is an https URL of at
-- most 2048 characters; raises SQLSTATE 22023 otherwise. The application applies its full URL
-- policy before calling.
create or replace function public.byok_check_base_url(p_base_url text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_base_url is null or btrim(p_base_url) = '' then
    return null;
  end if;
  if p_base_url !~* '^https://[^[:space:]]+$' or length(p_base_url) > 2048 then
    raise exception 'byok: gateway base url must be an https url' using errcode = '22023';
  end if;
  return p_base_url;
end;
$$;

revoke all on function public.byok_check_api_key(text) from public, anon, authenticated, service_role;
revoke all on function public.byok_lock_user(uuid, boolean) from public, anon, authenticated, service_role;
revoke all on function public.byok_store_api_key(uuid, text, text) from public, anon, authenticated, service_role;
revoke all on function public.byok_lock_key(uuid, text) from public, anon, authenticated, service_role;
revoke all on function public.byok_check_base_url(text) from public, anon, authenticated, service_role;

-- Key writers -----------------------------------------------------------------------------------

-- Stores or rotates a user's key for one service (see 20251101000000_user_api_keys.sql). A user
-- that does not exist, or is deleted meanwhile, is SQLSTATE 23503.
create or replace function public.insert_user_api_key(p_user_id uuid, p_service text, p_api_key text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_service text;
begin
  perform public.byok_require_service_role();
  if p_user_id is null then
    raise exception 'byok: user id is required' using errcode = '22023';
  end if;
  v_service := public.byok_normalize_service(p_service);
  perform public.byok_check_api_key(p_api_key);

  perform public.byok_lock_user(p_user_id, true);
  perform public.byok_lock_key(p_user_id, v_service);
  perform public.byok_store_api_key(p_user_id, v_service, p_api_key);
end;
$$;

-- Deletes the user's key for one service and its Vault secret. Deleting nothing, for a user
-- that does not exist too, is not an error.
create or replace function public.delete_user_api_key(p_user_id uuid, p_service text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_service text;
  v_name text;
begin
  perform public.byok_require_service_role();
  v_service := public.byok_normalize_service(p_service);
  if p_user_id is null then
    return;
  end if;
  v_name := v_service || '_api_key_' || p_user_id::text;
  perform public.byok_lock_user(p_user_id, false);
  perform public.byok_lock_key(p_user_id, v_service);
  delete from public.api_keys k where k.vault_secret_name = v_name; -- the trigger drops the secret
  delete from vault.secrets s where s.name = v_name;                -- a secret without a row, if any
end;
$$;

-- Stores the user's gateway key and base URL in one transaction: both change, or, on any
-- error, neither does (a failing Vault write after the URL write undoes the URL write too). A
-- NULL or blank p_base_url means the default gateway URL and deletes a stored one.
create or replace function public.put_user_gateway_key(p_user_id uuid, p_api_key text, p_base_url text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_base_url text;
begin
  perform public.byok_require_service_role();
  if p_user_id is null then
    raise exception 'byok: user id is required' using errcode = '22023';
  end if;
  perform public.byok_check_api_key(p_api_key);
  v_base_url := public.byok_check_base_url(p_base_url);

  perform public.byok_lock_user(p_user_id, true);
  perform public.byok_lock_key(p_user_id, 'gateway');
  if v_base_url is null then
    delete from public.api_gateway_configs c where c.user_id = p_user_id;
  else
    insert into public.api_gateway_configs (user_id, base_url)
    values (p_user_id, v_base_url)
    on conflict (user_id) do update set base_url = excluded.base_url;
  end if;
  perform public.byok_store_api_key(p_user_id, 'gateway', p_api_key);
end;
$$;

-- Deletes the user's gateway key, its Vault secret and the gateway base URL in one transaction.
-- Deleting nothing is not an error.
create or replace function public.delete_user_gateway_key(p_user_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_name text;
begin
  perform public.byok_require_service_role();
  if p_user_id is null then
    return;
  end if;
  v_name := 'gateway_api_key_' || p_user_id::text;
  perform public.byok_lock_user(p_user_id, false);
  perform public.byok_lock_key(p_user_id, 'gateway');
  delete from public.api_keys k where k.vault_secret_name = v_name; -- the trigger drops the secret
  delete from vault.secrets s where s.name = v_name;                -- a secret without a row, if any
  delete from public.api_gateway_configs c where c.user_id = p_user_id;
end;
$$;

-- Base URL and consent writers ------------------------------------------------------------------

-- Stores the user's gateway base URL (see 20251113000000_gateway_user_byok.sql); a user that
-- does not exist is SQLSTATE 23503.
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
  if public.byok_check_base_url(p_base_url) is null then
    raise exception 'byok: gateway base url must be an https url' using errcode = '22023';
  end if;
  perform public.byok_lock_user(p_user_id, true);
  insert into public.api_gateway_configs (user_id, base_url)
  values (p_user_id, p_base_url)
  on conflict (user_id) do update set base_url = excluded.base_url;
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
  if p_user_id is null then
    return;
  end if;
  perform public.byok_lock_user(p_user_id, false);
  delete from public.api_gateway_configs c where c.user_id = p_user_id;
end;
$$;

-- Sets the user's consent to team fallback (see 20251120000000_byok_project_rpcs.sql); a user
-- that does not exist is SQLSTATE 23503.
create or replace function public.set_user_allow_gateway_fallback(p_user_id uuid, p_allow boolean)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform public.byok_require_service_role();
  if p_user_id is null or p_allow is null then
    raise exception 'byok: user id and consent are required' using errcode = '22023';
  end if;
  perform public.byok_lock_user(p_user_id, true);
  insert into public.user_settings (user_id, allow_gateway_fallback)
  values (p_user_id, p_allow)
  on conflict (user_id) do update set allow_gateway_fallback = excluded.allow_gateway_fallback;
end;
$$;

revoke all on function public.insert_user_api_key(uuid, text, text) from public, anon, authenticated;
revoke all on function public.delete_user_api_key(uuid, text) from public, anon, authenticated;
revoke all on function public.put_user_gateway_key(uuid, text, text) from public, anon, authenticated;
revoke all on function public.delete_user_gateway_key(uuid) from public, anon, authenticated;
revoke all on function public.upsert_user_gateway_config(uuid, text) from public, anon, authenticated;
revoke all on function public.delete_user_gateway_config(uuid) from public, anon, authenticated;
revoke all on function public.set_user_allow_gateway_fallback(uuid, boolean) from public, anon, authenticated;

grant execute on function public.insert_user_api_key(uuid, text, text) to service_role;
grant execute on function public.delete_user_api_key(uuid, text) to service_role;
grant execute on function public.put_user_gateway_key(uuid, text, text) to service_role;
grant execute on function public.delete_user_gateway_key(uuid) to service_role;
grant execute on function public.upsert_user_gateway_config(uuid, text) to service_role;
grant execute on function public.delete_user_gateway_config(uuid) to service_role;
grant execute on function public.set_user_allow_gateway_fallback(uuid, boolean) to service_role;
