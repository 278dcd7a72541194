-- Backup runs. Status moves running -> complete | failed exactly once; a complete row always
-- carries its manifest hash, so an interrupted run can never look complete.

create table public.backups (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  requested_by uuid references auth.users (id),
  trigger text not null check (trigger in ('manual', 'schedule')),
  status text not null default 'running' check (status in ('running', 'complete', 'failed')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  r2_prefix text not null,
  counts jsonb not null default '{}'::jsonb,
  object_count integer,
  sealed_bytes bigint,
  manifest_sha256 text check (manifest_sha256 ~ '^[0-9a-f]{64}$'),
  error text check (char_length(error) <= 500),
  constraint backups_state check (
    (status = 'running' and finished_at is null and manifest_sha256 is null)
    or (status = 'complete' and finished_at is not null and manifest_sha256 is not null and error is null)
    or (status = 'failed' and finished_at is not null and error is not null)
  ),
  constraint backups_manual_has_requester check (trigger <> 'manual' or requested_by is not null)
);
create index backups_connection_idx on public.backups (connection_id, started_at desc);
create index backups_team_idx on public.backups (team_id, started_at desc);
-- At most one run in flight per connection: two schedulers racing cannot both start one.
create unique index backups_one_running_per_connection
  on public.backups (connection_id) where status = 'running';

create function public.backups_guard_transition() returns trigger
language plpgsql as $$
begin
  if old.status <> 'running' then
    raise exception 'backup % is already %', old.id, old.status using errcode = 'check_violation';
  end if;
  if new.id <> old.id or new.team_id <> old.team_id or new.connection_id <> old.connection_id
     or new.r2_prefix <> old.r2_prefix or new.started_at <> old.started_at
     or new.trigger <> old.trigger or new.requested_by is distinct from old.requested_by then
    raise exception 'backup identity columns are immutable' using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger backups_guard_transition before update on public.backups
  for each row execute function public.backups_guard_transition();

alter table public.backups enable row level security;

create policy backups_select on public.backups for select to authenticated
  using (public.is_team_member(team_id));
-- Users may only request a manual run of a live connection of their own team; the worker (service
-- role) records progress and outcome.
create policy backups_insert on public.backups for insert to authenticated
  with check (
    trigger = 'manual'
    and status = 'running'
    and requested_by = auth.uid()
    and public.has_team_role(team_id, array['owner', 'admin', 'operator']::public.team_role[])
    and exists (
      select 1 from public.okta_connections c
      where c.id = connection_id and c.team_id = backups.team_id and c.status = 'active'
    )
  );

revoke all on public.backups from anon, authenticated;
grant select, insert on public.backups to authenticated;
grant select, insert, update on public.backups to service_role;
