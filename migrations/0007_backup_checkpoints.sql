-- Resumable backups. A backup runs as a chain of bounded invocations ("slices"); each holds a
-- lease on the backup's checkpoint row and commits its progress there. A commit names the
-- sequence number it builds on, so an invocation that lost its lease (it was too slow and
-- another took over) can never overwrite newer progress. Only the service role (the worker's
-- job runner) touches checkpoints; users see progress through `backups.heartbeat_at/slices`.

alter table public.backups
  add column heartbeat_at timestamptz,
  add column slices integer not null default 0 check (slices >= 0);

-- Progress columns are the worker's: a user's insert cannot pre-fill them (a future heartbeat
-- would keep the stale-run sweep from ever failing a run no job is working on).
drop policy backups_insert on public.backups;
create policy backups_insert on public.backups for insert to authenticated
  with check (
    trigger = 'manual'
    and status = 'running'
    and requested_by = auth.uid()
    and public.can(team_id, 'backup.run')
    and exists (
      select 1 from public.okta_connections c
      where c.id = connection_id and c.team_id = backups.team_id and c.status = 'active'
    )
    and heartbeat_at is null
    and slices = 0
  );

create table public.backup_checkpoints (
  backup_id uuid primary key references public.backups (id) on delete cascade,
  seq bigint not null default 0 check (seq >= 0),
  lease_token text check (lease_token ~ '^[0-9a-f]{32}$'),
  lease_until timestamptz,
  -- The collector's progress (snapshot::progress::Progress); '{}' before the first commit.
  state jsonb not null default '{}'::jsonb,
  updated_at timestamptz not null default now(),
  constraint backup_checkpoints_lease check ((lease_token is null) = (lease_until is null))
);

alter table public.backup_checkpoints enable row level security;
-- No policy: users and API keys never read or write checkpoints.
revoke all on public.backup_checkpoints from anon, authenticated;
grant select, insert, update, delete on public.backup_checkpoints to service_role;

-- Takes the lease of a running backup for `p_lease_seconds`, unless another invocation holds an
-- unexpired one. Returns the checkpoint to resume from, or no row (busy, or not running).
create function public.backup_claim(p_backup uuid, p_token text, p_lease_seconds integer)
returns table (seq bigint, state jsonb, started_at timestamptz)
language plpgsql volatile set search_path = public, pg_temp as $$
#variable_conflict use_column
begin
  if p_lease_seconds not between 10 and 3600 or p_token !~ '^[0-9a-f]{32}$' then
    raise exception 'lease or token out of range' using errcode = 'check_violation';
  end if;
  insert into backup_checkpoints (backup_id)
    select b.id from backups b where b.id = p_backup and b.status = 'running'
  on conflict (backup_id) do nothing;
  return query
    with claimed as (
      update backup_checkpoints c
         set lease_token = p_token,
             lease_until = now() + make_interval(secs => p_lease_seconds),
             updated_at = now()
        from backups b
       where c.backup_id = p_backup and b.id = c.backup_id and b.status = 'running'
         and (c.lease_until is null or c.lease_until < now() or c.lease_token = p_token)
      returning c.seq, c.state, b.started_at
    ), counted as (
      update backups b set slices = b.slices + 1, heartbeat_at = now()
        from claimed where b.id = p_backup
      returning b.id
    )
    select claimed.seq, claimed.state, claimed.started_at from claimed, counted;
end
$$;

-- Replaces the checkpoint if the caller still holds the lease and builds on the current
-- sequence number; renews the lease, or gives it up when `p_release`. Returns the new sequence
-- number, or null when the lease was lost (nothing is written then).
create function public.backup_commit(
  p_backup uuid, p_token text, p_seq bigint, p_state jsonb, p_lease_seconds integer,
  p_release boolean
) returns bigint
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v_seq bigint;
begin
  if p_lease_seconds not between 10 and 3600 or p_token !~ '^[0-9a-f]{32}$' then
    raise exception 'lease or token out of range' using errcode = 'check_violation';
  end if;
  update backup_checkpoints
     set seq = seq + 1,
         state = p_state,
         lease_token = case when p_release then null else p_token end,
         lease_until = case when p_release then null
                            else now() + make_interval(secs => p_lease_seconds) end,
         updated_at = now()
   where backup_id = p_backup and lease_token = p_token and seq = p_seq
  returning seq into v_seq;
  if v_seq is not null then
    update backups set heartbeat_at = now() where id = p_backup and status = 'running';
  end if;
  return v_seq;
end
$$;

revoke all on function public.backup_claim(uuid, text, integer) from public;
revoke all on function public.backup_commit(uuid, text, bigint, jsonb, integer, boolean) from public;
grant execute on function public.backup_claim(uuid, text, integer) to service_role;
grant execute on function public.backup_commit(uuid, text, bigint, jsonb, integer, boolean)
  to service_role;
