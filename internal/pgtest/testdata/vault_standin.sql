-- TEST-ONLY stand-in for Supabase Vault (the supabase_vault extension, 0.3.x), for a throwaway
-- PostgreSQL that cannot install the real extension. Never apply it to a real database.
--
-- Same SQL surface as supabase_vault 0.3.x, which is all this project's migrations use:
--   vault.secrets(id, name, description, secret, key_id, nonce, created_at, updated_at), with
--     a unique index on name and the ciphertext, base64-encoded, in the secret column;
--   vault.create_secret(new_secret, new_name, new_description, new_key_id) returns uuid;
--   vault.update_secret(secret_id, new_secret, new_name, new_description, new_key_id);
--   the view vault.decrypted_secrets: every column of vault.secrets plus decrypted_secret, the
--     plaintext.
-- As in the real extension new_key_id is ignored, the functions are SECURITY INVOKER, and the API
-- roles (anon, authenticated, service_role) get no access: only the owner (postgres) and
-- SECURITY DEFINER functions it owns can reach the secrets.
--
-- How it differs: the real extension encrypts with libsodium's deterministic AEAD under a root
-- key kept outside the database. This stand-in encrypts with pgcrypto (AES-256-CBC, a random IV
-- per write kept in nonce) under a random key stored in the private table vault._standin_key,
-- i.e. inside the database. The ciphertext is real, so a test can still check that no plaintext
-- reaches vault.secrets.secret; the key management is not comparable.

create schema if not exists vault;
revoke all on schema vault from public;

create table if not exists vault._standin_key (
  key bytea not null
);
revoke all on table vault._standin_key from public;
insert into vault._standin_key (key)
select extensions.gen_random_bytes(32)
where not exists (select from vault._standin_key);

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;
revoke all on table vault.secrets from public;

create or replace function vault._standin_encrypt(plaintext text, iv bytea)
returns text
language sql
stable
set search_path = ''
as $$
  select encode(
    extensions.encrypt_iv(convert_to(plaintext, 'utf8'), (select k.key from vault._standin_key k),
                          iv, 'aes-cbc/pad:pkcs'),
    'base64')
$$;

create or replace function vault._standin_decrypt(ciphertext text, iv bytea)
returns text
language sql
stable
set search_path = ''
as $$
  select convert_from(
    extensions.decrypt_iv(decode(ciphertext, 'base64'), (select k.key from vault._standin_key k),
                          iv, 'aes-cbc/pad:pkcs'),
    'utf8')
$$;

create or replace view vault.decrypted_secrets as
select s.id,
       s.name,
       s.description,
       s.secret,
       vault._standin_decrypt(s.secret, s.nonce) as decrypted_secret,
       s.key_id,
       s.nonce,
       s.created_at,
       s.updated_at
  from vault.secrets s;
revoke all on table vault.decrypted_secrets from public;

create or replace function vault.create_secret(
  new_secret text,
  new_name text = null,
  new_description text = '',
  new_key_id uuid = null -- unused, as in the real extension
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_iv bytea := extensions.gen_random_bytes(16);
  v_id uuid;
begin
  insert into vault.secrets (secret, name, description, nonce)
  values (vault._standin_encrypt(new_secret, v_iv), new_name, new_description, v_iv)
  returning id into v_id;
  return v_id;
end;
$$;

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text = null,
  new_name text = null,
  new_description text = null,
  new_key_id uuid = null -- unused, as in the real extension
)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_iv bytea := extensions.gen_random_bytes(16);
begin
  update vault.secrets s
     set secret = case when new_secret is null then s.secret
                       else vault._standin_encrypt(new_secret, v_iv) end,
         nonce = case when new_secret is null then s.nonce else v_iv end,
         name = coalesce(new_name, s.name),
         description = coalesce(new_description, s.description),
         updated_at = now()
   where s.id = secret_id;
end;
$$;

revoke all on all functions in schema vault from public;
