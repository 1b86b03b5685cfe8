-- Key health: a broken mark on each stored key.
--
-- When a provider answers that a user's key is invalid, out of credit or without permission,
-- the Go Resolver (resolve.WithKeyHealth) calls report_user_api_key_failure, which marks the
-- key's row of public.api_keys (the user's gateway key is its 'gateway' row):
--   failure    'invalid_key' | 'insufficient_credit' | 'permission_denied', NULL when healthy
--   failed_at  when it was marked, NULL when healthy
-- Resolution then refuses the key instead of using it, and the owner sees why. Storing the key
-- again (insert_user_api_key, put_user_gateway_key) clears the mark.
--
--   report_user_api_key_failure  marks a key; writes only when the mark changes
--   get_user_byok_snapshot       (fourth version) says which keys of the order are marked
--   list_user_api_keys           (second version) shows each key's mark
--
-- Writes. The mark is written only when it changes: reporting the mark a key already has is a
-- read, no row version, no WAL, no notification. The Go side reports a key at most once a minute
-- per process. A mark that changes the row fires the api_keys invalidation trigger of
-- 20261130030000_byok_invalidate_notify.sql, like any change but a last_used touch, so every
-- replica drops the user's cached credential.
--
-- Locks. report_user_api_key_failure updates one api_keys row and takes no other lock, like
-- touch_user_api_key: it waits for nothing but that row, so it closes no cycle with the writers
-- and the user's deletion (see 20261130010000_byok_atomic_gateway_write.sql).
--
-- The snapshot answers exactly as before while the first key of the order is healthy (or there
-- is none), and keeps its four members as before otherwise, for a replica that does not know of
-- marks: service and api_key are still the first key of the order, marked or not. When that key
-- is marked, four members tell the rest:
--   failure       that key's mark
--   broken        [{"service","failure"}, ...]: the marked keys of the order, in order, before
--                 the first one that is not marked (the first key among them)
--   next_service  the first key of the order that is not marked, and
--   next_api_key  its key; both NULL when every key of the order is marked
-- A second key is decrypted only when the first is marked. last_used is set on the key the
-- answer offers for use: the first key when healthy, otherwise next_service's.
--
-- Builds on 20251101000000_user_api_keys.sql, 20251120000000_byok_project_rpcs.sql,
-- 20251127000000_byok_snapshot_last_used.sql and 20261130010000_byok_atomic_gateway_write.sql.
-- Safe to run more than once.

-- Storing a key clears its mark -----------------------------------------------------------------

-- Stores p_api_key as the Vault secret of (p_user_id, p_service), creating the secret or
-- replacing its value in place, and upserts the api_keys row; a stored key starts healthy. As in
-- 20261130010000_byok_atomic_gateway_write.sql, plus the two columns above.
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
    -- would leave it in plaintext in a dead row version and the WAL.
    perform vault.update_secret(
      vault.create_secret('', v_name, 'BYOK ' || p_service || ' API key'), p_api_key);
  else
    perform vault.update_secret(v_secret_id, p_api_key);
  end if;

  insert into public.api_keys (user_id, service, vault_secret_name)
  values (p_user_id, p_service, v_name)
  on conflict (user_id, service) do update
    set created_at = now(), last_used = null, failure = null, failed_at = null;
end;
$$;

revoke all on function public.byok_store_api_key(uuid, text, text) from public, anon, authenticated, service_role;

-- RPCs (service_role only) ----------------------------------------------------------------------

-- Marks the user's stored key for one service as broken with p_failure ('invalid_key',
-- 'insufficient_credit' or 'permission_denied'; anything else is SQLSTATE 22023) and the time.
-- Writes only when the mark changes; returns whether it did. A key that is not stored is not an
-- error (FALSE).
create or replace function public.report_user_api_key_failure(p_user_id uuid, p_service text, p_failure text)
returns boolean
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
  if p_failure is null or p_failure not in ('invalid_key', 'insufficient_credit', 'permission_denied') then
    raise exception 'byok: unsupported key failure' using errcode = '22023';
  end if;
  update public.api_keys k set failure = p_failure, failed_at = now()
   where k.user_id = p_user_id and k.service = v_service and k.failure is distinct from p_failure;
  return found;
end;
$$;

-- Returns, in one call, the answer of 20251127000000_byok_snapshot_last_used.sql,
--   {"service", "api_key", "gateway_base_url", "allow_gateway_fallback"},
-- with the members of key health described in this file's header:
--   "failure", "broken", "next_service", "next_api_key", present only when the first key is
--   marked.
create or replace function public.get_user_byok_snapshot(p_user_id uuid, p_services text[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_services text[];
  v_service text;
  v_failure text;
  v_last_used timestamptz;
  v_key text;
  v_base_url text;
  v_allow boolean;
  v_next_n bigint;
  v_next_service text;
  v_next_last_used timestamptz;
  v_next_key text;
  v_broken jsonb := '[]'::jsonb;
begin
  perform public.byok_require_service_role();

  -- Normalize every element first, so an unknown service raises 22023 whether or not the
  -- user has keys.
  select coalesce(array_agg(public.byok_normalize_service(u.s) order by u.n), '{}')
    into v_services
    from unnest(p_services) with ordinality as u(s, n);

  -- One statement reads the first stored key in the caller's order (decrypting that one
  -- secret only) with its mark, the gateway base URL and the consent.
  select f.service, f.failure, f.last_used, d.decrypted_secret,
         (select c.base_url from public.api_gateway_configs c where c.user_id = p_user_id),
         coalesce((select s.allow_gateway_fallback from public.user_settings s where s.user_id = p_user_id), true)
    into v_service, v_failure, v_last_used, v_key, v_base_url, v_allow
    from (select) as one
    left join lateral (
      select k.service, k.vault_secret_name, k.last_used, k.failure
        from unnest(v_services) with ordinality as u(service, n)
        join public.api_keys k on k.user_id = p_user_id and k.service = u.service
       order by u.n
       limit 1) f on true
    left join vault.decrypted_secrets d on d.name = f.vault_secret_name;

  if v_key is null then
    v_failure := null;
  elsif v_failure is not null then
    -- The first key is marked: find the first one that is not, and list the marked ones before it.
    select h.n, h.service, h.last_used, d.decrypted_secret
      into v_next_n, v_next_service, v_next_last_used, v_next_key
      from (select u.n, k.service, k.vault_secret_name, k.last_used
              from unnest(v_services) with ordinality as u(service, n)
              join public.api_keys k on k.user_id = p_user_id and k.service = u.service
             where k.failure is null
             order by u.n
             limit 1) h
      join vault.decrypted_secrets d on d.name = h.vault_secret_name;

    select coalesce(jsonb_agg(jsonb_build_object('service', k.service, 'failure', k.failure) order by u.n), '[]'::jsonb)
      into v_broken
      from unnest(v_services) with ordinality as u(service, n)
      join public.api_keys k on k.user_id = p_user_id and k.service = u.service
     where k.failure is not null and (v_next_n is null or u.n < v_next_n);
  end if;

  -- last_used of the key offered for use, at most once a minute.
  if v_failure is null and v_key is not null
     and (v_last_used is null or v_last_used < now() - interval '1 minute') then
    update public.api_keys k set last_used = now()
     where k.user_id = p_user_id and k.service = v_service;
  elsif v_failure is not null and v_next_key is not null
     and (v_next_last_used is null or v_next_last_used < now() - interval '1 minute') then
    update public.api_keys k set last_used = now()
     where k.user_id = p_user_id and k.service = v_next_service;
  end if;

  if v_failure is null then
    return jsonb_build_object(
      'service', case when v_key is null then null else v_service end,
      'api_key', v_key,
      'gateway_base_url', v_base_url,
      'allow_gateway_fallback', v_allow);
  end if;
  return jsonb_build_object(
    'service', v_service,
    'api_key', v_key,
    'gateway_base_url', v_base_url,
    'allow_gateway_fallback', v_allow,
    'failure', v_failure,
    'broken', v_broken,
    'next_service', case when v_next_key is null then null else v_next_service end,
    'next_api_key', v_next_key);
end;
$$;

-- Returns the user's stored keys' metadata as a JSON array sorted by service, [] when none:
--   [{"service": text, "created_at": timestamptz, "last_used": timestamptz|null,
--     "failure": text|null, "failed_at": timestamptz|null}, ...]
-- Never a key.
create or replace function public.list_user_api_keys(p_user_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_list jsonb;
begin
  perform public.byok_require_service_role();
  select coalesce(
           jsonb_agg(
             jsonb_build_object('service', k.service, 'created_at', k.created_at, 'last_used', k.last_used,
                                'failure', k.failure, 'failed_at', k.failed_at)
             order by k.service),
           '[]'::jsonb)
    into v_list
    from public.api_keys k
   where k.user_id = p_user_id;
  return v_list;
end;
$$;

revoke all on function public.report_user_api_key_failure(uuid, text, text) from public, anon, authenticated;
revoke all on function public.get_user_byok_snapshot(uuid, text[]) from public, anon, authenticated;
revoke all on function public.list_user_api_keys(uuid) from public, anon, authenticated;

grant execute on function public.report_user_api_key_failure(uuid, text, text) to service_role;
grant execute on function public.get_user_byok_snapshot(uuid, text[]) to service_role;
grant execute on function public.list_user_api_keys(uuid) to service_role;

-- Columns ---------------------------------------------------------------------------------------

-- Last, and in one statement: adding the columns takes api_keys' ACCESS EXCLUSIVE lock, which
-- every resolution waits for until the migration commits, so nothing else runs after it, and it
-- gives up rather than queue behind a long transaction (and every resolution behind itself). The
-- functions above are PL/pgSQL: their bodies are resolved when they first run, after the commit.
-- A mark is one of the three failures that break a key, with its time; no mark has neither.
set local lock_timeout = '10s';
alter table public.api_keys
  add column if not exists failed_at timestamptz,
  add column if not exists failure text constraint api_keys_failure_check check (
    (failure is null and failed_at is null)
    or (failure is not null and failure in ('invalid_key', 'insufficient_credit', 'permission_denied')
        and failed_at is not null));
