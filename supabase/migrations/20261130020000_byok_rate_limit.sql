-- A rate limiter shared by every instance of a service: one token bucket per (subject, limit)
-- in public.byok_rate_limits, and the RPC take_user_rate_limit that decides and counts one
-- request in one statement. httpapi.NewPostgresLimiter calls it once per request.
--
-- Semantics are those of httpapi.MemoryLimiter: a bucket holds p_requests tokens and refills
-- continuously at p_requests per p_window_ms; a request takes one token or, when less than one
-- is left, is refused and counts nothing. A row is dropped once its bucket would be full again,
-- since a full bucket and no row mean the same; each call deletes at most 8 such rows, so no
-- cron job is needed and no call does unbounded work.
--
-- The table is UNLOGGED: a bucket lives a few minutes at most and is not worth a WAL record per
-- request. A crash or a failover to a standby empties it, which gives every user a full budget
-- once; nothing else depends on it.
--
-- Builds on 20251101000000_user_api_keys.sql (public.byok_require_service_role). Safe to run
-- more than once.

create unlogged table if not exists public.byok_rate_limits (
  subject text not null,              -- the user id the handler authenticated
  name text not null,                 -- the limit's name; routes that share it share a budget
  tokens double precision not null,   -- tokens left at "at"
  at timestamptz not null,            -- when tokens was computed
  full_at timestamptz not null,       -- when the bucket is full again if untouched: the row may go
  allowed boolean not null,           -- the last decision, for the RPC's RETURNING
  constraint byok_rate_limits_pkey primary key (subject, name)
);

create index if not exists byok_rate_limits_full_at_idx on public.byok_rate_limits (full_at);

comment on table public.byok_rate_limits is
  'BYOK rate limits: one token bucket per (subject, limit), written only by take_user_rate_limit.';

-- Only the RPC reads or writes it; TRUNCATE is revoked too: it bypasses row level security.
alter table public.byok_rate_limits enable row level security;
revoke all on table public.byok_rate_limits from anon, authenticated, service_role;
-- Row level security without a policy already denies every row to the API roles; this policy
-- says so explicitly, for readers and for Supabase's advisors (rls_enabled_no_policy).
drop policy if exists byok_rate_limits_no_api_access on public.byok_rate_limits;
create policy byok_rate_limits_no_api_access on public.byok_rate_limits
  as restrictive for all to anon, authenticated
  using (false) with check (false);

-- Charges one request of p_subject against the limit p_name of p_requests per p_window_ms
-- milliseconds and returns the decision:
--   {"allowed": boolean, "remaining": integer, "reset_ms": bigint, "retry_after_ms": bigint}
-- remaining is the whole tokens left, reset_ms the Unix time in milliseconds when the bucket is
-- full again, retry_after_ms (0 when allowed) how long until one request is allowed. Times are
-- the database's clock, so every instance agrees. Arguments out of range (an empty or over 256
-- character subject or name, p_requests outside 1..1000000, p_window_ms outside 1 ms..31 days)
-- raise SQLSTATE 22023.
create or replace function public.take_user_rate_limit(
  p_subject text, p_name text, p_requests integer, p_window_ms bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_capacity double precision;
  v_rate double precision; -- tokens per second
  v_tokens double precision;
  v_full_at timestamptz;
  v_allowed boolean;
begin
  perform public.byok_require_service_role();
  if p_subject is null or p_subject = '' or length(p_subject) > 256
     or p_name is null or p_name = '' or length(p_name) > 256
     or p_requests is null or p_requests < 1 or p_requests > 1000000
     or p_window_ms is null or p_window_ms < 1 or p_window_ms > 31::bigint * 24 * 3600 * 1000 then
    raise exception 'byok: rate limit arguments out of range' using errcode = '22023';
  end if;
  v_capacity := p_requests;
  v_rate := p_requests / (p_window_ms / 1000.0)::double precision;

  -- One statement decides and counts. A new bucket is full, so its first request is allowed.
  -- An existing one is locked by ON CONFLICT, refilled for the time since it was computed, and
  -- charged when it has a whole token. Concurrent calls for one bucket queue on its row and
  -- each sees the one before; "at" never goes back, so a call that took its time before a
  -- concurrent one committed refills nothing.
  insert into public.byok_rate_limits as b (subject, name, tokens, at, full_at, allowed)
  values (p_subject, p_name, v_capacity - 1, v_now,
          v_now + make_interval(secs => 1 / v_rate), true)
  on conflict (subject, name) do update
    set (tokens, at, full_at, allowed) = (
      select c.left_over, c.at, c.at + make_interval(secs => (v_capacity - c.left_over) / v_rate), c.ok
        from (select case when r.tokens >= 1 then r.tokens - 1 else r.tokens end as left_over,
                     r.tokens >= 1 as ok, r.at
                from (select least(v_capacity,
                                   b.tokens + greatest(0, extract(epoch from v_now - b.at)::double precision) * v_rate)
                               as tokens,
                             greatest(b.at, v_now) as at) r) c)
  returning b.tokens, b.full_at, b.allowed into v_tokens, v_full_at, v_allowed;

  -- Bounded cleanup: at most 8 rows whose bucket is full again, skipping rows another call
  -- holds (so this never waits), oldest first through the full_at index.
  delete from public.byok_rate_limits d
   where (d.subject, d.name) in (
           select e.subject, e.name from public.byok_rate_limits e
            where e.full_at < v_now
            order by e.full_at
            limit 8
              for update skip locked);

  return jsonb_build_object(
    'allowed', v_allowed,
    'remaining', floor(v_tokens)::integer,
    'reset_ms', floor(extract(epoch from v_full_at) * 1000)::bigint,
    'retry_after_ms', case when v_allowed then 0
                           else ceil((1 - v_tokens) / v_rate * 1000)::bigint end);
end;
$$;

revoke all on function public.take_user_rate_limit(text, text, integer, bigint) from public, anon, authenticated;
grant execute on function public.take_user_rate_limit(text, text, integer, bigint) to service_role;
