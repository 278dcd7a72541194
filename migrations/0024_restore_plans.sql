-- Restore plans (docs/restore.md): a dry run of restoring a backup into a connection's live
-- tenant. The row holds what the API lists (status, digest, counts, checks); the plan itself
-- (operations with field diffs and tenant data) is sealed in R2 under the source backup's
-- snapshot key at `r2_key`, so crypto-shredding the backup shreds its plans too.
--
-- Members read plans of their teams under RLS (`backup.read`); nobody but the service role
-- writes, and only through `restore_plan_create`, which writes the activity row with it.

insert into public.role_permissions (role, action) values
  ('owner', 'restore.plan'), ('admin', 'restore.plan'), ('operator', 'restore.plan');

insert into public.scope_permissions (scope, action) values
  ('restore', 'restore.plan'), ('admin', 'restore.plan');

create table public.restore_plans (
  id uuid primary key,
  team_id uuid not null references public.teams(id) on delete cascade,
  target_connection_id uuid not null references public.okta_connections(id) on delete cascade,
  source_backup_id uuid not null references public.backups(id) on delete cascade,
  requested_by uuid,
  status text not null check (status in ('ready', 'blocked')),
  digest text not null check (digest ~ '^[0-9a-f]{64}$'),
  r2_key text not null check (length(r2_key) between 1 and 1024),
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  overview jsonb not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  check (expires_at > created_at)
);

create index restore_plans_team_created on public.restore_plans (team_id, created_at desc);

alter table public.restore_plans enable row level security;
revoke all on public.restore_plans from anon, authenticated;
grant select on public.restore_plans to authenticated;
grant select on public.restore_plans to service_role;

create policy restore_plans_read on public.restore_plans for select to authenticated
  using (public.can(team_id, 'backup.read'));

-- Stores a plan and its `restore.plan` activity row in one transaction. The source backup
-- and the target connection must be the team's own; the backup complete; the connection
-- active. The database sets the creation time.
create function public.restore_plan_create(p_row jsonb, p_ttl_seconds integer, p_audit jsonb)
returns jsonb
language plpgsql set search_path = '' as $$
declare
  v_team uuid := (p_row ->> 'team_id')::uuid;
  v public.restore_plans;
begin
  if p_ttl_seconds not between 60 and 86400 then
    raise exception 'plan lifetime out of range' using errcode = 'check_violation';
  end if;
  perform 1 from public.okta_connections c
   where c.id = (p_row ->> 'target_connection_id')::uuid and c.team_id = v_team
     and c.status = 'active';
  if not found then
    raise exception 'target connection is not an active connection of the team'
      using errcode = 'check_violation';
  end if;
  perform 1 from public.backups b
   where b.id = (p_row ->> 'source_backup_id')::uuid and b.team_id = v_team
     and b.status = 'complete';
  if not found then
    raise exception 'source is not a complete backup of the team' using errcode = 'check_violation';
  end if;
  insert into public.restore_plans (id, team_id, target_connection_id, source_backup_id,
    requested_by, status, digest, r2_key, sha256, overview, created_at, expires_at)
  values ((p_row ->> 'id')::uuid, v_team, (p_row ->> 'target_connection_id')::uuid,
    (p_row ->> 'source_backup_id')::uuid, (p_row ->> 'requested_by')::uuid,
    p_row ->> 'status', p_row ->> 'digest', p_row ->> 'r2_key', p_row ->> 'sha256',
    p_row -> 'overview', now(), now() + make_interval(secs => p_ttl_seconds))
  returning * into v;
  perform public.audit_team(p_audit, v_team);
  return to_jsonb(v);
end
$$;

revoke all on function public.restore_plan_create(jsonb, integer, jsonb) from public, anon, authenticated;
grant execute on function public.restore_plan_create(jsonb, integer, jsonb) to service_role;
