-- RPCs this project's Go stores use besides the per-item ones of the two earlier migrations:
--   get_user_byok_snapshot          one round trip for a whole credential resolution
--   set_user_allow_gateway_fallback the consent setter
--   list_user_api_keys              key metadata for a settings page (never a key)
--   check_vault_health              a Vault round trip for health checks
-- All return a scalar or jsonb (a single JSON value over PostgREST), are SECURITY DEFINER and
-- callable by service_role only.
--
-- Builds on 20251101000000_user_api_keys.sql and 20251113000000_gateway_user_byok.sql.
-- Safe to run more than once.

-- Returns, in one call,
--   {"service": text|null, "api_key": text|null, "gateway_base_url": text|null,
--    "allow_gateway_fallback": boolean}
-- where service/api_key are those of the first element of p_services (array order, each
-- normalized like p_service elsewhere) for which the user has a stored key, gateway_base_url is
-- the user's stored base URL and allow_gateway_fallback their consent (TRUE without a settings
-- row). The returned key's last_used is set to now(). An unknown service raises SQLSTATE 22023;
-- an empty or NULL array asks for no key.
create or replace function public.get_user_byok_snapshot(p_user_id uuid, p_services text[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_services text[];
  v_service text;
  v_key text;
  v_base_url text;
  v_allow boolean;
begin
  perform public.byok_require_service_role();

  select coalesce(array_agg(public.byok_normalize_service(u.s) order by u.n), '{}')
    into v_services
    from unnest(p_services) with ordinality as u(s, n);

  select k.service, d.decrypted_secret into v_service, v_key
    from unnest(v_services) with ordinality as u(service, n)
    join public.api_keys k on k.user_id = p_user_id and k.service = u.service
    join vault.decrypted_secrets d on d.name = k.vault_secret_name
   order by u.n
   limit 1;

  if v_service is not null then
    update public.api_keys k set last_used = now()
     where k.user_id = p_user_id and k.service = v_service;
  end if;

  select c.base_url into v_base_url from public.api_gateway_configs c where c.user_id = p_user_id;
  select s.allow_gateway_fallback into v_allow from public.user_settings s where s.user_id = p_user_id;

  return jsonb_build_object(
    'service', v_service,
    'api_key', v_key,
    'gateway_base_url', v_base_url,
    'allow_gateway_fallback', coalesce(v_allow, true));
end;
$$;

-- Sets the user's consent to team fallback. NULL is rejected with SQLSTATE 22023: "unset" is
-- not a state a user can choose.
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
  insert into public.user_settings (user_id, allow_gateway_fallback)
  values (p_user_id, p_allow)
  on conflict (user_id) do update set allow_gateway_fallback = excluded.allow_gateway_fallback;
end;
$$;

-- Returns the user's stored keys' metadata as a JSON array sorted by service, [] when none:
--   [{"service": text, "created_at": timestamptz, "last_used": timestamptz|null}, ...]
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
             jsonb_build_object('service', k.service, 'created_at', k.created_at, 'last_used', k.last_used)
             order by k.service),
           '[]'::jsonb)
    into v_list
    from public.api_keys k
   where k.user_id = p_user_id;
  return v_list;
end;
$$;

-- Creates a probe secret with a random value, reads it back through vault.decrypted_secrets and
-- deletes it. Returns TRUE; raises (SQLSTATE XX001) if the value read back differs, and passes on
-- any Vault error.
create or replace function public.check_vault_health()
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_probe text := gen_random_uuid()::text;
  v_id uuid;
  v_read text;
begin
  perform public.byok_require_service_role();
  v_id := vault.create_secret(v_probe, 'byok_health_probe_' || gen_random_uuid()::text,
                              'BYOK health probe; deleted by the same transaction');
  select d.decrypted_secret into v_read from vault.decrypted_secrets d where d.id = v_id;
  delete from vault.secrets s where s.id = v_id;
  if v_read is distinct from v_probe then
    raise exception 'byok: vault returned a different value for the health probe'
      using errcode = 'XX001';
  end if;
  return true;
end;
$$;

revoke all on function public.get_user_byok_snapshot(uuid, text[]) from public, anon, authenticated;
revoke all on function public.set_user_allow_gateway_fallback(uuid, boolean) from public, anon, authenticated;
revoke all on function public.list_user_api_keys(uuid) from public, anon, authenticated;
revoke all on function public.check_vault_health() from public, anon, authenticated;

grant execute on function public.get_user_byok_snapshot(uuid, text[]) to service_role;
grant execute on function public.set_user_allow_gateway_fallback(uuid, boolean) to service_role;
grant execute on function public.list_user_api_keys(uuid) to service_role;
grant execute on function public.check_vault_health() to service_role;
