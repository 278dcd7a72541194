-- The write path. Everything the product audits is written only by the worker, through one
-- function per mutation that makes the change and writes its activity_logs row in the same
-- transaction; users keep SELECT (row-level security decides tenancy) and lose every INSERT,
-- UPDATE and DELETE on those tables, so nothing audited can be written around the worker (by a
-- direct PostgREST call with a user's own JWT, or an API key's). The functions are the service
-- role's alone: the worker calls them after it has authorised the caller itself.
--
-- Also: constraints on the okta_connections columns the worker owns (a forged key version
-- once stopped the scheduler for every tenant), backup runs that start when the database says
-- (never a caller's far-future start time), API-key revocation that cannot be undone, audit rows
-- that name an API key and both request ids, and the backups' lease/checkpoint generalised
-- into job_checkpoints for every long job.

-- ---------------------------------------------------------------------------------------------
-- The audit trail: who acted (an API key by its id), the worker's request id and the client's
-- beside it. audit_insert is the one place rows are written (a chain trigger fits there); even
-- the service role no longer inserts directly.

alter table public.activity_logs
  add column key_id uuid,
  add column client_request_id text check (char_length(client_request_id) <= 100);
alter table public.activity_logs drop constraint activity_logs_actor_type_check;
alter table public.activity_logs
  add constraint activity_logs_actor_type_check
    check (actor_type in ('user', 'api_key', 'system', 'anonymous')),
  add constraint activity_logs_key_actor check ((actor_type = 'api_key') = (key_id is not null));

create function public.audit_insert(p_audit jsonb) returns void
language plpgsql security definer set search_path = '' as $$
begin
  insert into public.activity_logs (team_id, actor_type, actor_id, actor_email, actor_name, key_id,
    action, target_type, target_id, request_id, client_request_id, source_ip, details)
  values (
    (p_audit ->> 'team_id')::uuid,
    p_audit ->> 'actor_type',
    p_audit ->> 'actor_id',
    p_audit ->> 'actor_email',
    p_audit ->> 'actor_name',
    (p_audit ->> 'key_id')::uuid,
    p_audit ->> 'action',
    p_audit ->> 'target_type',
    p_audit ->> 'target_id',
    p_audit ->> 'request_id',
    p_audit ->> 'client_request_id',
    (p_audit ->> 'source_ip')::inet,
    coalesce(p_audit -> 'details', '{}'::jsonb)
  );
end
$$;

-- The audit row of a change to one team's row: the team is the row's, whatever the payload says.
create function public.audit_team(p_audit jsonb, p_team uuid) returns void
language sql set search_path = '' as $$
  select public.audit_insert(p_audit || jsonb_build_object('team_id', p_team))
$$;

-- A row the database sweeps on the caller's behalf (a stale run): recorded as the system's.
create function public.audit_sweep(p_audit jsonb, p_team uuid, p_action text, p_target_type text,
  p_target uuid, p_reason text) returns void
language sql set search_path = '' as $$
  select public.audit_insert(p_audit || jsonb_build_object(
    'team_id', p_team, 'actor_type', 'system', 'actor_id', 'stale-sweep', 'key_id', null,
    'action', p_action, 'target_type', p_target_type, 'target_id', p_target,
    'details', jsonb_build_object('reason', p_reason)))
$$;

revoke insert on public.activity_logs from service_role;

-- ---------------------------------------------------------------------------------------------
-- Okta connections: the worker owns key_version, sealed_token and status; both must have the
-- shape it writes. Rows written around the worker before this migration are repaired first: a
-- key version that disagrees with its sealed token takes the token's; a credential the worker
-- could not have sealed is retired (it can never be opened) and the retirement audited.

alter table public.okta_connections
  add column last_error text check (char_length(last_error) <= 500);

update public.okta_connections
   set key_version = split_part(sealed_token, '.', 2)::integer
 where status <> 'deleted'
   and sealed_token ~ '^v1\.[1-9][0-9]{0,8}\.[A-Za-z0-9_-]+$'
   and key_version is distinct from split_part(sealed_token, '.', 2)::integer;

with retired as (
  update public.okta_connections
     set status = 'deleted', sealed_token = null, key_version = null, deleted_at = now(),
         updated_at = now(), last_error = 'retired: its credential was not sealed by the worker'
   where status <> 'deleted'
     and sealed_token !~ '^v1\.[1-9][0-9]{0,8}\.[A-Za-z0-9_-]+$'
  returning id, team_id
)
select public.audit_insert(jsonb_build_object(
  'team_id', team_id, 'actor_type', 'system', 'actor_id', 'migration', 'action',
  'connection.retire', 'target_type', 'okta_connection', 'target_id', id,
  'details', jsonb_build_object('reason', 'its credential was not sealed by the worker')))
from retired;

update public.okta_connections set key_version = null
 where status = 'deleted' and key_version <= 0;

alter table public.okta_connections
  add constraint okta_connections_key_version check (key_version > 0),
  add constraint okta_connections_sealed_token check (
    sealed_token is null
    or case when char_length(sealed_token) <= 4096
                 and sealed_token ~ '^v1\.[1-9][0-9]{0,8}\.[A-Za-z0-9_-]+$'
            then key_version = split_part(sealed_token, '.', 2)::integer
            else false end
  );

drop policy okta_connections_insert on public.okta_connections;
drop policy okta_connections_update on public.okta_connections;
revoke insert, update, delete on public.okta_connections from authenticated;
grant select (last_error) on public.okta_connections to authenticated;

create function public.connection_create(p_row jsonb, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.okta_connections;
begin
  insert into public.okta_connections (id, team_id, created_by, org_domain, auth_type,
    granted_scopes, sealed_token, key_version, status, verified_at)
  values ((p_row ->> 'id')::uuid, (p_row ->> 'team_id')::uuid, (p_row ->> 'created_by')::uuid,
    p_row ->> 'org_domain', p_row ->> 'auth_type',
    array(select jsonb_array_elements_text(p_row -> 'granted_scopes')),
    p_row ->> 'sealed_token', (p_row ->> 'key_version')::integer, 'active',
    (p_row ->> 'verified_at')::timestamptz)
  returning * into v;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(v) - 'sealed_token' - 'deleted_at';
end
$$;

-- Marks a connection deleted and drops its credential; false if there was none to delete.
create function public.connection_delete(p_id uuid, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.okta_connections
     set status = 'deleted', sealed_token = null, deleted_at = now(), updated_at = now()
   where id = p_id and status <> 'deleted'
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- Why the worker could not schedule a connection's job (cleared by its next run).
create function public.connection_note_error(p_id uuid, p_error text, p_audit jsonb)
returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.okta_connections set last_error = left(p_error, 500)
   where id = p_id
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Long jobs: a lease held by one invocation at a time and the checkpoint it commits, for every
-- kind of job (backups first). A commit names the lease token and the sequence number it builds
-- on, so an invocation that lost its lease writes nothing. `failures` counts the invocations in
-- a row that ended in a transient failure. Users never read or write it.

create table public.job_checkpoints (
  job_kind text not null check (job_kind ~ '^[a-z_]{1,32}$'),
  job_id uuid not null,
  team_id uuid not null references public.teams (id) on delete cascade,
  seq bigint not null default 0 check (seq >= 0),
  lease_token text check (lease_token ~ '^[0-9a-f]{32}$'),
  lease_until timestamptz,
  state jsonb not null default '{}'::jsonb,
  failures integer not null default 0 check (failures >= 0),
  -- Invocations that claimed it, and the last sign of life (a claim or a commit).
  slices integer not null default 0 check (slices >= 0),
  heartbeat_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Set when the job ends: nobody claims it again.
  finished_at timestamptz,
  primary key (job_kind, job_id),
  constraint job_checkpoints_lease check ((lease_token is null) = (lease_until is null))
);
alter table public.job_checkpoints enable row level security;
revoke all on public.job_checkpoints from anon, authenticated;
grant select, insert, update, delete on public.job_checkpoints to service_role;

-- Running backups move over with their progress and lease (the transient-failure count left
-- the collector's state for its own column).
insert into public.job_checkpoints (job_kind, job_id, team_id, seq, lease_token, lease_until,
  state, failures, slices, heartbeat_at, created_at, updated_at)
select 'backup', b.id, b.team_id, coalesce(c.seq, 0), c.lease_token, c.lease_until,
  coalesce(c.state - 'transient_failures', '{}'::jsonb),
  coalesce((c.state ->> 'transient_failures')::integer, 0), b.slices, b.heartbeat_at,
  b.started_at, coalesce(c.updated_at, now())
from public.backups b
left join public.backup_checkpoints c on c.backup_id = b.id
where b.status = 'running';

drop function public.backup_claim(uuid, text, integer);
drop function public.backup_commit(uuid, text, bigint, jsonb, integer, boolean);
drop table public.backup_checkpoints;

-- Takes the lease of a live job for `p_lease_seconds`, unless another invocation holds an
-- unexpired one. Returns the checkpoint to resume from, or no row (busy, or over).
create function public.job_claim(p_kind text, p_id uuid, p_token text, p_lease_seconds integer)
returns table (seq bigint, state jsonb, started_at timestamptz, failures integer)
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
begin
  if p_lease_seconds not between 10 and 3600 or p_token !~ '^[0-9a-f]{32}$' then
    raise exception 'lease or token out of range' using errcode = 'check_violation';
  end if;
  return query
    update public.job_checkpoints c
       set lease_token = p_token,
           lease_until = now() + make_interval(secs => p_lease_seconds),
           slices = c.slices + 1,
           heartbeat_at = now(),
           updated_at = now()
     where c.job_kind = p_kind and c.job_id = p_id and c.finished_at is null
       and (c.lease_until is null or c.lease_until < now() or c.lease_token = p_token)
    returning c.seq, c.state, c.created_at, c.failures;
end
$$;

-- Replaces the checkpoint if the caller still holds the lease and builds on the current
-- sequence number; renews the lease, or gives it up when `p_release`. Returns the new sequence
-- number, or null when the lease was lost (nothing is written then).
create function public.job_commit(p_kind text, p_id uuid, p_token text, p_seq bigint,
  p_state jsonb, p_failures integer, p_lease_seconds integer, p_release boolean)
returns bigint
language plpgsql volatile set search_path = '' as $$
declare
  v_seq bigint;
begin
  if p_lease_seconds not between 10 and 3600 or p_token !~ '^[0-9a-f]{32}$' then
    raise exception 'lease or token out of range' using errcode = 'check_violation';
  end if;
  update public.job_checkpoints
     set seq = seq + 1,
         state = p_state,
         failures = p_failures,
         lease_token = case when p_release then null else p_token end,
         lease_until = case when p_release then null
                            else now() + make_interval(secs => p_lease_seconds) end,
         heartbeat_at = now(),
         updated_at = now()
   where job_kind = p_kind and job_id = p_id and lease_token = p_token and seq = p_seq
     and finished_at is null
  returning seq into v_seq;
  return v_seq;
end
$$;

-- Ends a job's checkpoint (called by the functions that finish a job's own row).
create function public.job_finish(p_kind text, p_id uuid) returns void
language sql set search_path = '' as $$
  update public.job_checkpoints
     set finished_at = now(), lease_token = null, lease_until = null, updated_at = now()
   where job_kind = p_kind and job_id = p_id and finished_at is null
$$;

-- ---------------------------------------------------------------------------------------------
-- Backups: opened only by the worker, started by the database's clock, one running per
-- connection; progress users see (heartbeat_at, slices) follows the job's checkpoint.

drop policy backups_insert on public.backups;
revoke insert, update, delete on public.backups from authenticated;

create function public.backups_follow_checkpoint() returns trigger
language plpgsql set search_path = '' as $$
begin
  update public.backups
     set heartbeat_at = new.heartbeat_at, slices = new.slices
   where id = new.job_id and status = 'running';
  return null;
end
$$;
create trigger backups_follow_checkpoint after update on public.job_checkpoints
  for each row when (new.job_kind = 'backup')
  execute function public.backups_follow_checkpoint();

-- Opens a running backup of an active connection and its checkpoint. Runs of the connection
-- with no sign of life for `p_stale_after_seconds` are failed first, each with an audit row.
create function public.backup_open(p_row jsonb, p_stale_after_seconds integer, p_audit jsonb)
returns jsonb
language plpgsql set search_path = '' as $$
declare
  v_team uuid := (p_row ->> 'team_id')::uuid;
  v_connection uuid := (p_row ->> 'connection_id')::uuid;
  v_reason text := 'interrupted: the backup job stopped before finishing';
  v_stale uuid;
  v public.backups;
begin
  if p_stale_after_seconds not between 60 and 86400 then
    raise exception 'stale interval out of range' using errcode = 'check_violation';
  end if;
  perform 1 from public.okta_connections c
   where c.id = v_connection and c.team_id = v_team and c.status = 'active';
  if not found then
    raise exception 'connection % is not active', v_connection using errcode = 'check_violation';
  end if;
  for v_stale in
    update public.backups b
       set status = 'failed', finished_at = now(), error = v_reason
     where b.connection_id = v_connection and b.status = 'running'
       and coalesce(b.heartbeat_at, b.started_at)
           < now() - make_interval(secs => p_stale_after_seconds)
    returning b.id
  loop
    perform public.job_finish('backup', v_stale);
    perform public.audit_sweep(p_audit, v_team, 'backup.error', 'backup', v_stale, v_reason);
  end loop;
  insert into public.backups (id, team_id, connection_id, requested_by, trigger, status,
    started_at, r2_prefix)
  values ((p_row ->> 'id')::uuid, v_team, v_connection, (p_row ->> 'requested_by')::uuid,
    p_row ->> 'trigger', 'running', now(), p_row ->> 'r2_prefix')
  returning * into v;
  insert into public.job_checkpoints (job_kind, job_id, team_id, created_at)
  values ('backup', v.id, v_team, v.started_at);
  update public.okta_connections set last_error = null
   where id = v_connection and last_error is not null;
  perform public.audit_team(p_audit, v_team);
  return to_jsonb(v);
end
$$;

-- Records success; false unless the run was still running.
create function public.backup_complete(p_id uuid, p_result jsonb, p_audit jsonb)
returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.backups
     set status = 'complete',
         finished_at = (p_result ->> 'finished_at')::timestamptz,
         counts = coalesce(p_result -> 'counts', '{}'::jsonb),
         object_count = (p_result ->> 'object_count')::integer,
         sealed_bytes = (p_result ->> 'sealed_bytes')::bigint,
         manifest_sha256 = p_result ->> 'manifest_sha256'
   where id = p_id and status = 'running'
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.job_finish('backup', p_id);
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- Records failure with a reason fit to show users; false unless the run was still running.
create function public.backup_fail(p_id uuid, p_reason text, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.backups set status = 'failed', finished_at = now(), error = left(p_reason, 500)
   where id = p_id and status = 'running'
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.job_finish('backup', p_id);
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Compliance runs, findings and remediation state (users already had SELECT only).

create function public.compliance_run_open(p_row jsonb, p_stale_after_seconds integer,
  p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v_team uuid := (p_row ->> 'team_id')::uuid;
  v_connection uuid := (p_row ->> 'connection_id')::uuid;
  v_reason text := 'interrupted: the compliance run stopped before finishing';
  v_stale uuid;
  v public.compliance_runs;
begin
  if p_stale_after_seconds not between 60 and 86400 then
    raise exception 'stale interval out of range' using errcode = 'check_violation';
  end if;
  for v_stale in
    update public.compliance_runs r
       set status = 'failed', finished_at = now(), error = v_reason
     where r.connection_id = v_connection and r.status = 'running'
       and r.started_at < now() - make_interval(secs => p_stale_after_seconds)
    returning r.id
  loop
    perform public.audit_sweep(p_audit, v_team, 'compliance.error', 'compliance_run', v_stale,
      v_reason);
  end loop;
  insert into public.compliance_runs (id, team_id, connection_id, backup_id, trigger,
    requested_by, status, started_at)
  values ((p_row ->> 'id')::uuid, v_team, v_connection, (p_row ->> 'backup_id')::uuid,
    p_row ->> 'trigger', (p_row ->> 'requested_by')::uuid, 'running', now())
  returning * into v;
  perform public.audit_team(p_audit, v_team);
  return to_jsonb(v);
end
$$;

-- A run that could not evaluate anything, and why.
create function public.compliance_run_skip(p_row jsonb, p_reason text, p_audit jsonb)
returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.compliance_runs;
begin
  insert into public.compliance_runs (id, team_id, connection_id, backup_id, trigger,
    requested_by, status, started_at, finished_at, error)
  values ((p_row ->> 'id')::uuid, (p_row ->> 'team_id')::uuid,
    (p_row ->> 'connection_id')::uuid, (p_row ->> 'backup_id')::uuid, p_row ->> 'trigger',
    (p_row ->> 'requested_by')::uuid, 'skipped', now(), now(), left(p_reason, 500))
  returning * into v;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(v);
end
$$;

-- Stores the findings and completes the run, together; false unless it was still running.
create function public.compliance_run_finish(p_id uuid, p_result jsonb, p_findings jsonb,
  p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
  v_connection uuid;
begin
  update public.compliance_runs
     set status = 'complete', finished_at = now(),
         pass_count = (p_result ->> 'pass_count')::integer,
         fail_count = (p_result ->> 'fail_count')::integer,
         not_applicable_count = (p_result ->> 'not_applicable_count')::integer,
         error_count = (p_result ->> 'error_count')::integer,
         failed_by_severity = coalesce(p_result -> 'failed_by_severity', '{}'::jsonb)
   where id = p_id and status = 'running'
  returning team_id, connection_id into v_team, v_connection;
  if v_team is null then
    return false;
  end if;
  insert into public.compliance_findings (run_id, team_id, connection_id, check_id,
    cis_safeguard, severity, outcome, message, evidence)
  select p_id, v_team, v_connection, f ->> 'check_id', f ->> 'cis_safeguard', f ->> 'severity',
    f ->> 'outcome', f ->> 'message', coalesce(f -> 'evidence', '[]'::jsonb)
  from jsonb_array_elements(p_findings) f;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

create function public.compliance_run_fail(p_id uuid, p_reason text, p_audit jsonb)
returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.compliance_runs
     set status = 'failed', finished_at = now(), error = left(p_reason, 500)
   where id = p_id and status = 'running'
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- Moves a (connection, check) to the row's state only if it is still in `p_from` (null: it has
-- no state yet); false when it moved meanwhile. The team is the connection's.
create function public.remediation_set(p_row jsonb, p_from text, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_connection uuid := (p_row ->> 'connection_id')::uuid;
  v_team uuid;
  v_changed uuid;
begin
  select team_id into v_team from public.okta_connections where id = v_connection;
  if p_from is null then
    insert into public.compliance_remediations (connection_id, check_id, team_id, state,
      justification, approved_by, expires_at, updated_by, updated_at, last_run_id)
    values (v_connection, p_row ->> 'check_id', v_team, p_row ->> 'state',
      p_row ->> 'justification', (p_row ->> 'approved_by')::uuid,
      (p_row ->> 'expires_at')::timestamptz, (p_row ->> 'updated_by')::uuid,
      (p_row ->> 'updated_at')::timestamptz, (p_row ->> 'last_run_id')::uuid)
    on conflict (connection_id, check_id) do nothing
    returning team_id into v_changed;
  else
    update public.compliance_remediations
       set state = p_row ->> 'state',
           justification = p_row ->> 'justification',
           approved_by = (p_row ->> 'approved_by')::uuid,
           expires_at = (p_row ->> 'expires_at')::timestamptz,
           updated_by = (p_row ->> 'updated_by')::uuid,
           updated_at = (p_row ->> 'updated_at')::timestamptz,
           last_run_id = (p_row ->> 'last_run_id')::uuid
     where connection_id = v_connection and check_id = p_row ->> 'check_id' and state = p_from
    returning team_id into v_changed;
  end if;
  if v_changed is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_changed);
  return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Teams: members join only by accepting an invitation; roles change and members leave only
-- through the worker (which checks the owner rules; the last-owner trigger holds regardless).

drop policy team_members_insert on public.team_members;
drop policy team_members_update on public.team_members;
drop policy team_members_delete on public.team_members;
revoke insert, update, delete on public.team_members from authenticated;
drop policy team_invitations_insert on public.team_invitations;
revoke insert, update, delete on public.team_invitations from authenticated;

create function public.member_set_role(p_team uuid, p_user uuid, p_role public.team_role,
  p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
begin
  update public.team_members set role = p_role where team_id = p_team and user_id = p_user;
  if not found then
    return false;
  end if;
  perform public.audit_team(p_audit, p_team);
  return true;
end
$$;

create function public.member_remove(p_team uuid, p_user uuid, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
begin
  delete from public.team_members where team_id = p_team and user_id = p_user;
  if not found then
    return false;
  end if;
  perform public.audit_team(p_audit, p_team);
  return true;
end
$$;

create function public.invitation_create(p_row jsonb, p_audit jsonb) returns void
language plpgsql set search_path = '' as $$
begin
  insert into public.team_invitations (id, team_id, email, role, invited_by, token_hash,
    expires_at)
  values ((p_row ->> 'id')::uuid, (p_row ->> 'team_id')::uuid, p_row ->> 'email',
    (p_row ->> 'role')::public.team_role, (p_row ->> 'invited_by')::uuid,
    p_row ->> 'token_hash', (p_row ->> 'expires_at')::timestamptz);
  perform public.audit_team(p_audit, (p_row ->> 'team_id')::uuid);
end
$$;

-- Accepts an open, unexpired invitation and adds the member in its role, in one step: null
-- when it was no longer open; a unique violation (already a member) undoes the acceptance.
create function public.invitation_accept(p_id uuid, p_user uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
  v_role public.team_role;
  v public.team_members;
begin
  update public.team_invitations set accepted_at = now()
   where id = p_id and accepted_at is null and expires_at > now()
  returning team_id, role into v_team, v_role;
  if v_team is null then
    return null;
  end if;
  insert into public.team_members (team_id, user_id, role) values (v_team, p_user, v_role)
  returning * into v;
  perform public.audit_team(p_audit, v_team);
  return to_jsonb(v);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- API keys: created and revoked only by the worker; revocation is final whoever writes.

drop policy api_keys_insert on public.api_keys;
drop policy api_keys_update on public.api_keys;
revoke insert, update, delete on public.api_keys from authenticated;

create function public.api_keys_revocation_is_final() returns trigger
language plpgsql set search_path = '' as $$
begin
  if old.revoked_at is not null and new.revoked_at is distinct from old.revoked_at then
    raise exception 'API key % is revoked for good', old.id using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger api_keys_revocation_is_final before update on public.api_keys
  for each row execute function public.api_keys_revocation_is_final();

create function public.api_key_create(p_row jsonb, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.api_keys;
begin
  insert into public.api_keys (id, team_id, user_id, name, secret_hash, scopes, expires_at)
  values ((p_row ->> 'id')::uuid, (p_row ->> 'team_id')::uuid, (p_row ->> 'user_id')::uuid,
    p_row ->> 'name', p_row ->> 'secret_hash',
    array(select jsonb_array_elements_text(p_row -> 'scopes')),
    (p_row ->> 'expires_at')::timestamptz)
  returning * into v;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(v) - 'secret_hash';
end
$$;

-- Revokes a live key; false when it was already revoked (or does not exist).
create function public.api_key_revoke(p_id uuid, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.api_keys set revoked_at = now()
   where id = p_id and revoked_at is null
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Every function above is the service role's alone (Supabase grants EXECUTE to public by
-- default: revoke it, and from the API roles explicitly).

do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.proname = any (array[
       'audit_insert', 'audit_team', 'audit_sweep', 'connection_create', 'connection_delete',
       'connection_note_error', 'job_claim', 'job_commit', 'job_finish', 'backup_open',
       'backup_complete', 'backup_fail', 'compliance_run_open', 'compliance_run_skip',
       'compliance_run_finish', 'compliance_run_fail', 'remediation_set', 'member_set_role',
       'member_remove', 'invitation_create', 'invitation_accept', 'api_key_create',
       'api_key_revoke'])
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
