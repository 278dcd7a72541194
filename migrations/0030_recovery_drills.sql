-- Recovery drills (docs/restore.md, "Drills"): per connection, a scheduled restore of its latest
-- complete backup into a sandbox connection of the same team, with measured RTO, RPO and a
-- fidelity diff, kept as a history of reports.
--
-- Connections carry an environment: a drill only ever writes into one marked `sandbox`, and a
-- restore into a sandbox needs no second approver. Members read drill settings and reports of
-- their teams under RLS (`backup.read`) and write nothing: every change is one function,
-- executable by the service role only, that makes it and writes its activity row together.

insert into public.role_permissions (role, action) values
  ('owner', 'drill.manage'), ('admin', 'drill.manage'),
  ('owner', 'drill.run'), ('admin', 'drill.run'), ('operator', 'drill.run')
  on conflict do nothing;

insert into public.scope_permissions (scope, action) values
  ('admin', 'drill.manage'), ('admin', 'drill.run'), ('restore', 'drill.run')
  on conflict do nothing;

alter table public.okta_connections
  add column environment text not null default 'production'
    check (environment in ('production', 'sandbox'));
grant select (environment) on public.okta_connections to authenticated;

-- Marks a connection production or sandbox.
create function public.connection_set_environment(p_connection uuid, p_environment text,
  p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.okta_connections;
begin
  if p_environment = 'production' and exists (
       select 1 from public.drill_settings s where s.sandbox_connection_id = p_connection) then
    -- A drill writes into it: it stays a sandbox until no drill names it.
    raise exception 'a drill targets this connection' using errcode = 'unique_violation';
  end if;
  update public.okta_connections c set environment = p_environment, updated_at = now()
   where c.id = p_connection and c.status <> 'deleted'
  returning * into v;
  if not found then
    raise exception 'no such connection' using errcode = 'foreign_key_violation';
  end if;
  perform public.audit_team(p_audit, v.team_id);
  return jsonb_build_object('id', v.id, 'environment', v.environment);
end
$$;

-- A connection's drill settings: the sandbox it restores into, whether the weekly cron runs it,
-- and the team's recovery time objective. `configured_by` is the member scheduled drills apply as.
create table public.drill_settings (
  connection_id uuid primary key references public.okta_connections (id) on delete cascade,
  team_id uuid not null references public.teams (id) on delete cascade,
  sandbox_connection_id uuid not null references public.okta_connections (id) on delete cascade,
  enabled boolean not null default true,
  rto_objective_seconds integer not null default 3600
    check (rto_objective_seconds between 60 and 604800),
  configured_by uuid not null references auth.users (id) on delete cascade,
  updated_at timestamptz not null default now(),
  check (sandbox_connection_id <> connection_id)
);
alter table public.drill_settings enable row level security;
revoke all on public.drill_settings from anon, authenticated;
grant select on public.drill_settings to authenticated;
grant select, insert, update, delete on public.drill_settings to service_role;
create policy drill_settings_select on public.drill_settings for select to authenticated
  using (public.can(team_id, 'backup.read'));

-- One drill and its report. At most one runs per connection.
create table public.drills (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  sandbox_connection_id uuid not null references public.okta_connections (id) on delete cascade,
  source_backup_id uuid references public.backups (id) on delete set null,
  restore_plan_id uuid references public.restore_plans (id) on delete set null,
  trigger text not null check (trigger in ('scheduled', 'manual')),
  requested_by uuid references auth.users (id) on delete set null,
  status text not null default 'running' check (status in ('running', 'passed', 'failed')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  -- Start to verified end, and the age of the restored backup when the drill started.
  rto_seconds integer check (rto_seconds >= 0),
  rpo_seconds integer check (rpo_seconds >= 0),
  rto_objective_seconds integer not null check (rto_objective_seconds > 0),
  -- The fidelity summary per type and every listed difference (types, keys and reasons; no
  -- tenant content).
  report jsonb check (report is null or jsonb_typeof(report) = 'object'),
  error text check (char_length(error) <= 500),
  alerted boolean not null default false,
  check ((status = 'running') = (finished_at is null))
);
create unique index drills_one_running_per_connection on public.drills (connection_id)
  where status = 'running';
create index drills_connection_idx on public.drills (connection_id, started_at desc);
alter table public.drills enable row level security;
revoke all on public.drills from anon, authenticated;
grant select on public.drills to authenticated;
grant select, insert, update, delete on public.drills to service_role;
create policy drills_select on public.drills for select to authenticated
  using (public.can(team_id, 'backup.read'));

-- Sets a connection's drill settings. The sandbox must be another active connection of the same
-- team, marked `sandbox`: a drill can never write into a production org.
create function public.drill_settings_set(p_connection uuid, p_sandbox uuid, p_enabled boolean,
  p_rto_objective integer, p_user uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
  v public.drill_settings;
begin
  select c.team_id into v_team from public.okta_connections c
   where c.id = p_connection and c.status <> 'deleted';
  if not found then
    raise exception 'no such connection' using errcode = 'foreign_key_violation';
  end if;
  if not exists (select 1 from public.okta_connections s
                  where s.id = p_sandbox and s.team_id = v_team and s.status = 'active'
                    and s.environment = 'sandbox' and s.id <> p_connection) then
    raise exception 'the target is not a sandbox of this team' using errcode = 'check_violation';
  end if;
  insert into public.drill_settings as s (connection_id, team_id, sandbox_connection_id, enabled,
    rto_objective_seconds, configured_by)
  values (p_connection, v_team, p_sandbox, p_enabled, p_rto_objective, p_user)
  on conflict (connection_id) do update
     set sandbox_connection_id = excluded.sandbox_connection_id, enabled = excluded.enabled,
         rto_objective_seconds = excluded.rto_objective_seconds,
         configured_by = excluded.configured_by, updated_at = now()
  returning * into v;
  perform public.audit_team(p_audit, v_team);
  return to_jsonb(v);
end
$$;

-- Opens a drill with its job checkpoint; unique_violation while one of the connection runs.
-- The sandbox is checked again: it may have been relabelled since the settings were made.
create function public.drill_open(p_id uuid, p_connection uuid, p_backup uuid, p_trigger text,
  p_user uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  s public.drill_settings;
  v public.drills;
begin
  select * into s from public.drill_settings where connection_id = p_connection;
  if not found or not exists (
       select 1 from public.okta_connections c
        where c.id = s.sandbox_connection_id and c.environment = 'sandbox'
          and c.status = 'active') then
    raise exception 'no sandbox configured' using errcode = 'check_violation';
  end if;
  insert into public.drills (id, team_id, connection_id, sandbox_connection_id, source_backup_id,
    trigger, requested_by, rto_objective_seconds)
  values (p_id, s.team_id, p_connection, s.sandbox_connection_id, p_backup, p_trigger, p_user,
    s.rto_objective_seconds)
  returning * into v;
  insert into public.job_checkpoints (job_kind, job_id, team_id) values ('drill', p_id, s.team_id);
  perform public.audit_team(p_audit, s.team_id);
  return to_jsonb(v);
end
$$;

-- Records the restore plan a drill applies.
create function public.drill_set_plan(p_id uuid, p_plan uuid) returns boolean
language sql set search_path = '' as $$
  with u as (update public.drills set restore_plan_id = p_plan
              where id = p_id and status = 'running' returning 1)
  select exists (select 1 from u);
$$;

-- Ends a running drill with its report and finishes its checkpoint. False when it had already
-- ended, so its alert goes out once.
create function public.drill_finish(p_id uuid, p_status text, p_rto integer, p_rpo integer,
  p_report jsonb, p_error text, p_alerted boolean, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  if p_status not in ('passed', 'failed') then
    raise exception 'invalid status' using errcode = 'check_violation';
  end if;
  update public.drills
     set status = p_status, finished_at = now(), rto_seconds = p_rto, rpo_seconds = p_rpo,
         report = p_report, error = p_error, alerted = p_alerted
   where id = p_id and status = 'running'
  returning team_id into v_team;
  if not found then
    return false;
  end if;
  perform public.job_finish('drill', p_id);
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

do $$
declare
  f text;
begin
  foreach f in array (array[
    'connection_set_environment(uuid, text, jsonb)',
    'drill_settings_set(uuid, uuid, boolean, integer, uuid, jsonb)',
    'drill_open(uuid, uuid, uuid, text, uuid, jsonb)',
    'drill_set_plan(uuid, uuid)',
    'drill_finish(uuid, text, integer, integer, jsonb, text, boolean, jsonb)'])
  loop
    execute format('revoke all on function public.%s from public, anon, authenticated', f);
    execute format('grant execute on function public.%s to service_role', f);
  end loop;
end
$$;
