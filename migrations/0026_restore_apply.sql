-- Applying restore plans (docs/restore.md): the `restore.apply` permission, the team's
-- second-approver setting, approvals, the apply's state on the plan's row (progress follows the
-- job's checkpoint), its receipt (sealed in R2 beside the plan), and the record of Butterfly's
-- own Okta writes that the drift capture labels as Butterfly's.
--
-- Nobody but the service role writes; members read under RLS. Every change is one function
-- that writes its activity row in the same transaction.

insert into public.role_permissions (role, action) values
  ('owner', 'restore.apply'), ('admin', 'restore.apply');

insert into public.scope_permissions (scope, action) values
  ('restore', 'restore.apply'), ('admin', 'restore.apply');

-- Whether a full-tenant restore needs a second member's approval (no row: it does).
create table public.team_restore_settings (
  team_id uuid primary key references public.teams(id) on delete cascade,
  second_approver boolean not null,
  updated_by uuid,
  updated_at timestamptz not null default now()
);
alter table public.team_restore_settings enable row level security;
revoke all on public.team_restore_settings from anon, authenticated;
grant select on public.team_restore_settings to authenticated;
grant select, insert, update, delete on public.team_restore_settings to service_role;
create policy team_restore_settings_read on public.team_restore_settings for select
  to authenticated using (public.can(team_id, 'team.read'));

alter table public.restore_plans
  add column apply_status text
    check (apply_status in ('running', 'complete', 'complete_with_failures', 'failed')),
  add column applied_by uuid,
  add column apply_started_at timestamptz,
  add column apply_finished_at timestamptz,
  add column progress jsonb,
  add column apply_error text check (length(apply_error) <= 500),
  add column receipt_r2_key text check (length(receipt_r2_key) between 1 and 1024),
  add column receipt_sha256 text check (receipt_sha256 ~ '^[0-9a-f]{64}$');

create table public.restore_approvals (
  plan_id uuid not null references public.restore_plans(id) on delete cascade,
  team_id uuid not null references public.teams(id) on delete cascade,
  approved_by uuid not null,
  approved_at timestamptz not null default now(),
  primary key (plan_id, approved_by)
);
alter table public.restore_approvals enable row level security;
revoke all on public.restore_approvals from anon, authenticated;
grant select on public.restore_approvals to authenticated;
grant select, insert, update, delete on public.restore_approvals to service_role;
create policy restore_approvals_read on public.restore_approvals for select to authenticated
  using (public.can(team_id, 'backup.read'));

create function public.team_restore_settings_set(p_team uuid, p_second_approver boolean,
  p_user uuid, p_audit jsonb)
returns boolean
language plpgsql set search_path = '' as $$
begin
  insert into public.team_restore_settings (team_id, second_approver, updated_by)
  values (p_team, p_second_approver, p_user)
  on conflict (team_id) do update
    set second_approver = excluded.second_approver, updated_by = excluded.updated_by,
        updated_at = now();
  perform public.audit_team(p_audit, p_team);
  return p_second_approver;
end
$$;

-- An approval of a plan not yet applied and not expired; approving twice changes nothing.
create function public.restore_approve(p_plan uuid, p_user uuid, p_audit jsonb)
returns boolean
language plpgsql set search_path = '' as $$
declare
  v public.restore_plans;
begin
  select * into v from public.restore_plans where id = p_plan for update;
  if not found or v.apply_status is not null or v.expires_at <= now() then
    raise exception 'plan cannot be approved' using errcode = 'unique_violation';
  end if;
  insert into public.restore_approvals (plan_id, team_id, approved_by)
  values (p_plan, v.team_id, p_user) on conflict do nothing;
  if not found then
    return false;
  end if;
  perform public.audit_team(p_audit, v.team_id);
  return true;
end
$$;

-- Starts applying a plan (or resumes a failed apply from its checkpoint). A fresh start needs
-- `p_approvals` approvals by members other than the applier; the job's checkpoint is opened
-- with it.
create function public.restore_apply_open(p_plan uuid, p_user uuid, p_approvals integer,
  p_audit jsonb)
returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.restore_plans;
begin
  select * into v from public.restore_plans where id = p_plan for update;
  if not found then
    raise exception 'no such plan' using errcode = 'check_violation';
  end if;
  if v.apply_status = 'failed' then
    update public.job_checkpoints
       set finished_at = null, failures = 0, lease_token = null, lease_until = null,
           updated_at = now()
     where job_kind = 'restore' and job_id = p_plan;
  elsif v.apply_status is not null then
    raise exception 'plan already applied' using errcode = 'unique_violation';
  else
    if v.status <> 'ready' or v.expires_at <= now() then
      raise exception 'plan not applicable' using errcode = 'check_violation';
    end if;
    if (select count(*) from public.restore_approvals a
         where a.plan_id = p_plan and a.approved_by <> p_user) < p_approvals then
      raise exception 'approval required' using errcode = 'insufficient_privilege';
    end if;
    insert into public.job_checkpoints (job_kind, job_id, team_id)
    values ('restore', p_plan, v.team_id);
  end if;
  update public.restore_plans
     set apply_status = 'running', applied_by = coalesce(applied_by, p_user),
         apply_started_at = coalesce(apply_started_at, now()), apply_error = null,
         progress = coalesce(progress, '{}'::jsonb)
   where id = p_plan
  returning * into v;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(v);
end
$$;

-- Ends a running apply: its outcome, its receipt, and the job's checkpoint. False when it had
-- already ended (a superseded invocation finished it first).
create function public.restore_apply_finish(p_plan uuid, p_status text, p_receipt_r2_key text,
  p_receipt_sha256 text, p_error text, p_audit jsonb)
returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  update public.restore_plans
     set apply_status = p_status, apply_finished_at = now(),
         receipt_r2_key = coalesce(p_receipt_r2_key, receipt_r2_key),
         receipt_sha256 = coalesce(p_receipt_sha256, receipt_sha256),
         apply_error = p_error
   where id = p_plan and apply_status = 'running'
  returning team_id into v_team;
  if not found then
    return false;
  end if;
  perform public.job_finish('restore', p_plan);
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- What `GET /restores/{id}` shows of a running apply follows its checkpoint.
create function public.restores_follow_checkpoint() returns trigger
language plpgsql set search_path = '' as $$
begin
  update public.restore_plans
     set progress = new.state -> 'progress'
   where id = new.job_id and apply_status = 'running' and new.state ? 'progress';
  return null;
end
$$;
create trigger restores_follow_checkpoint after update on public.job_checkpoints
  for each row when (new.job_kind = 'restore')
  execute function public.restores_follow_checkpoint();

-- The Okta request ids of a restore's writes (Okta logs each as the event's transaction id).
create function public.restore_record_writes(p_connection uuid, p_restore uuid,
  p_transactions text[])
returns void
language sql set search_path = '' as $$
  insert into public.butterfly_okta_writes (connection_id, transaction_id, restore_id)
  select p_connection, t, p_restore from unnest(p_transactions) t
  on conflict do nothing
$$;

revoke all on function public.team_restore_settings_set(uuid, boolean, uuid, jsonb) from public, anon, authenticated;
revoke all on function public.restore_approve(uuid, uuid, jsonb) from public, anon, authenticated;
revoke all on function public.restore_apply_open(uuid, uuid, integer, jsonb) from public, anon, authenticated;
revoke all on function public.restore_apply_finish(uuid, text, text, text, text, jsonb) from public, anon, authenticated;
revoke all on function public.restore_record_writes(uuid, uuid, text[]) from public, anon, authenticated;
revoke all on function public.restores_follow_checkpoint() from public, anon, authenticated;
grant execute on function public.team_restore_settings_set(uuid, boolean, uuid, jsonb) to service_role;
grant execute on function public.restore_approve(uuid, uuid, jsonb) to service_role;
grant execute on function public.restore_apply_open(uuid, uuid, integer, jsonb) to service_role;
grant execute on function public.restore_apply_finish(uuid, text, text, text, text, jsonb) to service_role;
grant execute on function public.restore_record_writes(uuid, uuid, text[]) to service_role;
