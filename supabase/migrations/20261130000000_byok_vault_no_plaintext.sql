-- No key's plaintext in a heap tuple or a WAL record.
--
-- Supabase Vault's vault.create_secret (supabase_vault 0.3.x) first INSERTs the plaintext into
-- vault.secrets.secret and then UPDATEs that row to the ciphertext. The inserted row version stays
-- on disk as a dead tuple until vacuum reclaims it, and its WAL record stays in the WAL segments,
-- so a backup, a replica or a disk image holds the key. vault.update_secret instead encrypts in
-- the one UPDATE it makes.
--
-- Every path here that creates a secret therefore creates it with an empty value and then sets
-- the value with update_secret:
--
--   v_id := vault.create_secret('', v_name, v_description);
--   perform vault.update_secret(v_id, p_secret);
--
-- The empty value's row version is the only one written before the ciphertext. Rotation already
-- used update_secret alone. This file re-creates the two functions that created secrets with the
-- plaintext: insert_user_api_key (a user's first key for a service) and check_vault_health (its
-- probe secret). Their behaviour and privileges are otherwise unchanged.
--
-- Builds on 20251101000000_user_api_keys.sql and 20251120000000_byok_project_rpcs.sql.
-- Safe to run more than once.

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
    -- Never hand the key to create_secret: it writes its argument in plaintext first.
    v_secret_id := vault.create_secret('', v_name, 'BYOK ' || v_service || ' API key');
  end if;
  perform vault.update_secret(v_secret_id, p_api_key);

  insert into public.api_keys (user_id, service, vault_secret_name)
  values (p_user_id, v_service, v_name)
  on conflict (user_id, service) do update
    set created_at = now(), last_used = null;
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
  -- Empty first, as for keys: the probe value is random, but it is written the way keys are.
  v_id := vault.create_secret('', 'byok_health_probe_' || gen_random_uuid()::text,
                              'BYOK health probe; deleted by the same transaction');
  perform vault.update_secret(v_id, v_probe);
  select d.decrypted_secret into v_read from vault.decrypted_secrets d where d.id = v_id;
  delete from vault.secrets s where s.id = v_id;
  if v_read is distinct from v_probe then
    raise exception 'byok: vault returned a different value for the health probe'
      using errcode = 'XX001';
  end if;
  return true;
end;
$$;

revoke all on function public.insert_user_api_key(uuid, text, text) from public, anon, authenticated;
revoke all on function public.check_vault_health() from public, anon, authenticated;

grant execute on function public.insert_user_api_key(uuid, text, text) to service_role;
grant execute on function public.check_vault_health() to service_role;
