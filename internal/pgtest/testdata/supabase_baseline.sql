-- TEST-ONLY stand-in for the parts of a Supabase project that this project's migrations assume
-- exist. It is loaded into a throwaway PostgreSQL before the real migrations; never apply it to a
-- real database.
--
-- What it reproduces:
--   * the API roles: anon and authenticated (nologin), service_role (nologin, bypassrls), and
--     authenticator (login, noinherit, member of the three) which PostgREST connects as and from
--     which it switches role per request;
--   * schema auth with auth.users and auth.uid() as Supabase defines it (the JWT "sub" claim from
--     request.jwt.claims, or the legacy request.jwt.claim.sub setting);
--   * schema extensions with pgcrypto;
--   * Supabase's default privileges: every table, function and sequence created in schema public
--     is granted to anon, authenticated and service_role (and functions, as always in
--     PostgreSQL, to PUBLIC), so the migrations' REVOKEs are exercised for real.
--
-- How it differs from a real project: auth.users has only id, email and created_at (GoTrue's
-- table has many more columns and is owned by supabase_auth_admin); there is no GoTrue,
-- PostgREST, storage or realtime; roles have no passwords (the test cluster trusts local
-- connections); the migrations run as the superuser postgres, where Supabase runs them as the
-- non-superuser role postgres.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end;
$$;

grant anon, authenticated, service_role to authenticator;

-- extensions ------------------------------------------------------------------------------------

create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
grant usage on schema extensions to anon, authenticated, service_role;

-- auth ------------------------------------------------------------------------------------------

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text,
  created_at timestamptz not null default now()
);

create or replace function auth.uid()
returns uuid
language sql
stable
as $$
  select nullif(
    coalesce(
      current_setting('request.jwt.claim.sub', true),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    ),
    ''
  )::uuid
$$;

create or replace function auth.role()
returns text
language sql
stable
as $$
  select nullif(
    coalesce(
      current_setting('request.jwt.claim.role', true),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    ),
    ''
  )::text
$$;

grant execute on function auth.uid() to anon, authenticated, service_role;
grant execute on function auth.role() to anon, authenticated, service_role;

-- public ----------------------------------------------------------------------------------------

grant usage on schema public to anon, authenticated, service_role;

alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
