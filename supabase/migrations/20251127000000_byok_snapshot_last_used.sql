-- get_user_byok_snapshot, second version: the same answer with fewer statements and at most
-- one write a minute per key.
--
-- The first version updated api_keys.last_used on every call, so every credential resolution
-- was a write transaction (a row version, WAL, a commit flush) on the path of every LLM
-- request. last_used is now written only when it is NULL or more than a minute old, so it is
-- accurate to one minute, and a resolution within that minute is read-only. The key row, the
-- gateway base URL and the consent are read by one statement instead of four.
--
-- Builds on 20251120000000_byok_project_rpcs.sql. Safe to run more than once.
create or replace function public.get_user_byok_snapshot(p_user_id uuid, p_services text[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_services text[];
  v_service text;
  v_last_used timestamptz;
  v_key text;
  v_base_url text;
  v_allow boolean;
begin
  perform public.byok_require_service_role();

  -- Normalize every element first, so an unknown service raises 22023 whether or not the
  -- user has keys.
  select coalesce(array_agg(public.byok_normalize_service(u.s) order by u.n), '{}')
    into v_services
    from unnest(p_services) with ordinality as u(s, n);

  -- One statement reads the first stored key in the caller's order (decrypting that one
  -- secret only), the gateway base URL and the consent.
  select f.service, f.last_used, d.decrypted_secret,
         (select c.base_url from public.api_gateway_configs c where c.user_id = p_user_id),
         coalesce((select s.allow_gateway_fallback from public.user_settings s where s.user_id = p_user_id), true)
    into v_service, v_last_used, v_key, v_base_url, v_allow
    from (select) as one
    left join lateral (
      select k.service, k.vault_secret_name, k.last_used
        from unnest(v_services) with ordinality as u(service, n)
        join public.api_keys k on k.user_id = p_user_id and k.service = u.service
       order by u.n
       limit 1) f on true
    left join vault.decrypted_secrets d on d.name = f.vault_secret_name;

  if v_key is not null and (v_last_used is null or v_last_used < now() - interval '1 minute') then
    update public.api_keys k set last_used = now()
     where k.user_id = p_user_id and k.service = v_service;
  end if;

  return jsonb_build_object(
    'service', case when v_key is null then null else v_service end,
    'api_key', v_key,
    'gateway_base_url', v_base_url,
    'allow_gateway_fallback', v_allow);
end;
$$;

revoke all on function public.get_user_byok_snapshot(uuid, text[]) from public, anon, authenticated;
grant execute on function public.get_user_byok_snapshot(uuid, text[]) to service_role;
