-- Who paid: a record of the requests the team paid for, and of every change of consent.
--
-- public.byok_team_usage: one counter per (user, UTC day, path, provider) of requests sent on
--   team credentials (paths team-gateway, server-provider, gateway-byok). resolve.WithTeamUsage
--   counts them in the service and flushes them, through the Go package usage, with
--   record_byok_team_usage: many rows in one call, added atomically.
-- public.byok_consent_events: one row per change of user_settings.allow_gateway_fallback,
--   appended by a trigger on user_settings, whoever writes it: the service's RPC (source
--   'api'), the user's own token through the Data API ('user'), or SQL without JWT claims,
--   such as the dashboard's SQL editor ('sql'). It holds the new value and the time. Which
--   writes are events:
--     * every INSERT of a settings row: it is the user's first explicit choice, even when it
--       equals the default (TRUE);
--     * an UPDATE that changes the value (an upsert that writes the same value is none);
--     * a DELETE of a row whose value was FALSE: without a row consent is TRUE again, so that
--       is a change to TRUE. A row deleted because its user is deleted records nothing;
--     * TRUNCATE: one event (TRUE) per user whose row was FALSE.
--   No role may UPDATE or DELETE its rows, the table owner included (a trigger refuses it);
--   the only way rows go is the user's own deletion from auth.users, whose foreign key
--   cascade the trigger lets through. No API role may TRUNCATE it; the owner still can, so
--   that `truncate auth.users cascade` keeps working.
--
-- Both tables: owners read their own rows through the Data API (row level security on
-- auth.uid()); nothing else is granted to anon, authenticated or service_role. The RPCs are
-- SECURITY DEFINER, pinned to search_path '', and executable by service_role only:
--   record_byok_team_usage(uuid[], date[], text[], text[], bigint[])  adds a batch of counts
--   get_user_byok_team_usage(uuid, date)                              a user's counters since a day
--   get_user_byok_consent_events(uuid, timestamptz, integer)          a user's latest consent events
--
-- Builds on 20251101000000_user_api_keys.sql (public.byok_require_service_role) and
-- 20251113000000_gateway_user_byok.sql (public.user_settings). Safe to run more than once.

-- Tables ----------------------------------------------------------------------------------------

create table if not exists public.byok_team_usage (
  user_id uuid not null references auth.users (id) on delete cascade,
  day date not null,                  -- the UTC day the requests were sent
  path text not null,                 -- the team path
  provider text not null,             -- the Provider.ID the requests went to
  requests bigint not null,
  updated_at timestamptz not null default now(),
  constraint byok_team_usage_pkey primary key (user_id, day, path, provider),
  constraint byok_team_usage_path_check check (path in ('team-gateway', 'server-provider', 'gateway-byok')),
  constraint byok_team_usage_provider_check
    check (provider in ('gateway', 'openai', 'openrouter', 'anthropic', 'xai')),
  constraint byok_team_usage_requests_check check (requests >= 0)
);

comment on table public.byok_team_usage is
  'BYOK: requests the team paid for, per user, UTC day, path and provider; written only by record_byok_team_usage.';

create table if not exists public.byok_consent_events (
  id bigint generated always as identity,
  user_id uuid not null references auth.users (id) on delete cascade,
  allow_gateway_fallback boolean not null, -- the new value
  at timestamptz not null default clock_timestamp(),
  source text not null,                    -- 'api', 'user' or 'sql'
  constraint byok_consent_events_pkey primary key (id),
  constraint byok_consent_events_source_check check (source in ('api', 'user', 'sql'))
);

create index if not exists byok_consent_events_user_at_idx on public.byok_consent_events (user_id, at);

comment on table public.byok_consent_events is
  'BYOK: every change of user_settings.allow_gateway_fallback, appended by a trigger; append-only.';

alter table public.byok_team_usage enable row level security;
alter table public.byok_consent_events enable row level security;

-- Owners read their own rows; nobody but the RPCs and the trigger (as the owner) writes them.
-- TRUNCATE is revoked with everything else: it bypasses row level security. service_role,
-- which bypasses row level security, gets nothing: the service reads through the RPCs.
revoke all on table public.byok_team_usage from anon, authenticated, service_role;
grant select on table public.byok_team_usage to authenticated;

revoke all on table public.byok_consent_events from anon, authenticated, service_role;
grant select on table public.byok_consent_events to authenticated;

drop policy if exists byok_team_usage_select_own on public.byok_team_usage;
create policy byok_team_usage_select_own on public.byok_team_usage
  for select to authenticated
  using ((select auth.uid()) = user_id);

drop policy if exists byok_consent_events_select_own on public.byok_consent_events;
create policy byok_consent_events_select_own on public.byok_consent_events
  for select to authenticated
  using ((select auth.uid()) = user_id);

-- Consent events --------------------------------------------------------------------------------

-- The source of a write, from the request's JWT claims: 'api' for the service role, 'user' for
-- a signed-in user's own token, 'sql' for anything else (no claims: SQL, the dashboard).
create or replace function public.byok_consent_source()
returns text
language sql
stable
set search_path = ''
as $$
  select case coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '')
           when 'service_role' then 'api'
           when 'authenticated' then 'user'
           else 'sql'
         end
$$;

revoke all on function public.byok_consent_source() from public, anon, authenticated, service_role;

-- Appends the consent events of one user_settings row change (see the top of this file).
-- SECURITY DEFINER: the writer (a user through the Data API, say) may not insert events.
create or replace function public.byok_record_consent_event()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_source text := public.byok_consent_source();
begin
  -- The row leaves its user: a DELETE, or an UPDATE that moves it to another user.
  if tg_op = 'DELETE' or (tg_op = 'UPDATE' and old.user_id is distinct from new.user_id) then
    if old.allow_gateway_fallback is distinct from true
       and exists (select from auth.users u where u.id = old.user_id) then
      insert into public.byok_consent_events (user_id, allow_gateway_fallback, source)
      values (old.user_id, true, v_source);
    end if;
  end if;
  -- The row arrives for its user: an INSERT, an UPDATE that moves it, or one that changes it.
  if tg_op = 'INSERT'
     or (tg_op = 'UPDATE' and (old.user_id is distinct from new.user_id
                               or old.allow_gateway_fallback is distinct from new.allow_gateway_fallback)) then
    insert into public.byok_consent_events (user_id, allow_gateway_fallback, source)
    values (new.user_id, new.allow_gateway_fallback, v_source);
  end if;
  return null;
end;
$$;

-- TRUNCATE fires no row triggers: every user whose row said FALSE is back to TRUE.
create or replace function public.byok_record_consent_event_truncate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.byok_consent_events (user_id, allow_gateway_fallback, source)
  select s.user_id, true, public.byok_consent_source()
    from public.user_settings s
   where s.allow_gateway_fallback is distinct from true;
  return null;
end;
$$;

-- Refuses every UPDATE and DELETE of consent events, whoever runs it, except the DELETE of a
-- deleted user's events: the foreign key's ON DELETE CASCADE from auth.users, which runs once
-- the user's row is gone.
create or replace function public.byok_consent_events_append_only()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and not exists (select from auth.users u where u.id = old.user_id) then
    return old;
  end if;
  raise exception 'byok: consent events are append-only' using errcode = '42501';
end;
$$;

revoke all on function public.byok_record_consent_event() from public, anon, authenticated, service_role;
revoke all on function public.byok_record_consent_event_truncate() from public, anon, authenticated, service_role;
revoke all on function public.byok_consent_events_append_only() from public, anon, authenticated, service_role;

create or replace trigger user_settings_consent_event
  after insert or delete on public.user_settings
  for each row execute function public.byok_record_consent_event();

create or replace trigger user_settings_consent_event_update
  after update on public.user_settings
  for each row
  when (old.allow_gateway_fallback is distinct from new.allow_gateway_fallback
        or old.user_id is distinct from new.user_id)
  execute function public.byok_record_consent_event();

create or replace trigger user_settings_consent_event_truncate
  before truncate on public.user_settings
  for each statement execute function public.byok_record_consent_event_truncate();

create or replace trigger byok_consent_events_append_only
  before update or delete on public.byok_consent_events
  for each row execute function public.byok_consent_events_append_only();

-- RPCs (service_role only) ----------------------------------------------------------------------

-- Adds a batch of team usage counts and returns the number of counters written. The batch is
-- five arrays of equal length, at most 10000, one element per use:
--   p_user_ids uuid[], p_days date[] (UTC days), p_paths text[] (team-gateway, server-provider or
--   gateway-byok), p_providers text[] (one of the five services), p_requests bigint[] (at least 1).
-- Anything else (arrays of different lengths, a NULL element, an unknown path or provider)
-- raises SQLSTATE 22023 and stores nothing. Uses naming the same counter are added together. A
-- user who no longer exists is skipped: their record went with them. The batch is one statement:
-- it is stored whole or not at all. It is not idempotent: a retried batch is added again.
-- Counters are written in key order, so concurrent batches from several replicas do not deadlock.
create or replace function public.record_byok_team_usage(
  p_user_ids uuid[], p_days date[], p_paths text[], p_providers text[], p_requests bigint[])
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_n integer := coalesce(cardinality(p_user_ids), -1);
  v_written integer;
begin
  perform public.byok_require_service_role();
  if v_n < 0 or v_n > 10000
     or coalesce(cardinality(p_days), -1) <> v_n or coalesce(cardinality(p_paths), -1) <> v_n
     or coalesce(cardinality(p_providers), -1) <> v_n or coalesce(cardinality(p_requests), -1) <> v_n
     or array_ndims(p_user_ids) > 1 or array_ndims(p_days) > 1 or array_ndims(p_paths) > 1
     or array_ndims(p_providers) > 1 or array_ndims(p_requests) > 1 then
    raise exception 'byok: team usage arrays must have one equal length of at most 10000' using errcode = '22023';
  end if;
  if exists (
    select from unnest(p_user_ids, p_days, p_paths, p_providers, p_requests) as u(user_id, day, path, provider, requests)
     where u.user_id is null or u.day is null
        or u.path is null or u.path not in ('team-gateway', 'server-provider', 'gateway-byok')
        or u.provider is null or u.provider not in ('gateway', 'openai', 'openrouter', 'anthropic', 'xai')
        or u.requests is null or u.requests < 1) then
    raise exception 'byok: malformed team usage' using errcode = '22023';
  end if;

  insert into public.byok_team_usage as t (user_id, day, path, provider, requests)
  select u.user_id, u.day, u.path, u.provider, sum(u.requests)
    from unnest(p_user_ids, p_days, p_paths, p_providers, p_requests) as u(user_id, day, path, provider, requests)
   where exists (select from auth.users a where a.id = u.user_id)
   group by u.user_id, u.day, u.path, u.provider
   order by u.user_id, u.day, u.path, u.provider
  on conflict (user_id, day, path, provider) do update
    set requests = t.requests + excluded.requests, updated_at = now();
  get diagnostics v_written = row_count;
  return v_written;
end;
$$;

-- Returns the user's team usage counters from p_since (a UTC day) on, as a JSON array ordered by
-- day, path and provider, [] when none:
--   [{"day": "YYYY-MM-DD", "path": text, "provider": text, "requests": bigint}, ...]
-- A NULL p_since raises SQLSTATE 22023.
create or replace function public.get_user_byok_team_usage(p_user_id uuid, p_since date)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_list jsonb;
begin
  perform public.byok_require_service_role();
  if p_user_id is null or p_since is null then
    raise exception 'byok: user id and first day are required' using errcode = '22023';
  end if;
  select coalesce(
           jsonb_agg(
             jsonb_build_object('day', t.day, 'path', t.path, 'provider', t.provider, 'requests', t.requests)
             order by t.day, t.path, t.provider),
           '[]'::jsonb)
    into v_list
    from public.byok_team_usage t
   where t.user_id = p_user_id and t.day >= p_since;
  return v_list;
end;
$$;

-- Returns the user's latest p_limit (1 to 1000) consent events at or after p_since, oldest first,
-- [] when none:
--   [{"allow_gateway_fallback": boolean, "at": timestamptz, "source": text}, ...]
-- Arguments out of range raise SQLSTATE 22023.
create or replace function public.get_user_byok_consent_events(p_user_id uuid, p_since timestamptz, p_limit integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_list jsonb;
begin
  perform public.byok_require_service_role();
  if p_user_id is null or p_since is null or p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception 'byok: consent events arguments out of range' using errcode = '22023';
  end if;
  select coalesce(
           jsonb_agg(
             jsonb_build_object('allow_gateway_fallback', e.allow_gateway_fallback, 'at', e.at, 'source', e.source)
             order by e.at, e.id),
           '[]'::jsonb)
    into v_list
    from (select c.id, c.allow_gateway_fallback, c.at, c.source
            from public.byok_consent_events c
           where c.user_id = p_user_id and c.at >= p_since
           order by c.at desc, c.id desc
           limit p_limit) e;
  return v_list;
end;
$$;

revoke all on function public.record_byok_team_usage(uuid[], date[], text[], text[], bigint[]) from public, anon, authenticated;
revoke all on function public.get_user_byok_team_usage(uuid, date) from public, anon, authenticated;
revoke all on function public.get_user_byok_consent_events(uuid, timestamptz, integer) from public, anon, authenticated;

grant execute on function public.record_byok_team_usage(uuid[], date[], text[], text[], bigint[]) to service_role;
grant execute on function public.get_user_byok_team_usage(uuid, date) to service_role;
grant execute on function public.get_user_byok_consent_events(uuid, timestamptz, integer) to service_role;
