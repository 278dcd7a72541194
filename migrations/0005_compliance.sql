-- Compliance engine results. Runs and findings are written only by the worker (service role);
-- team members read them. Remediation state is keyed by (connection, check) so it survives runs.
--
-- Remediation writes also go through the worker with the service role, after it has checked the
-- caller's role: every transition must leave an activity_logs row, which users cannot write, so a
-- direct PostgREST write by a user (which would skip the audit row) is not granted at all.

create table public.compliance_runs (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  backup_id uuid references public.backups (id) on delete set null,
  trigger text not null check (trigger in ('manual', 'schedule')),
  requested_by uuid references auth.users (id),
  status text not null default 'running' check (status in ('running', 'complete', 'failed', 'skipped')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  pass_count integer not null default 0 check (pass_count >= 0),
  fail_count integer not null default 0 check (fail_count >= 0),
  not_applicable_count integer not null default 0 check (not_applicable_count >= 0),
  error_count integer not null default 0 check (error_count >= 0),
  -- Failed checks by severity, e.g. {"critical": 1, "high": 3}.
  failed_by_severity jsonb not null default '{}'::jsonb,
  error text check (char_length(error) <= 500),
  constraint compliance_runs_state check (
    (status = 'running' and finished_at is null)
    or (status = 'complete' and finished_at is not null and backup_id is not null and error is null)
    or (status in ('failed', 'skipped') and finished_at is not null and error is not null)
  ),
  constraint compliance_runs_manual_has_requester check (trigger <> 'manual' or requested_by is not null)
);
create index compliance_runs_connection_idx on public.compliance_runs (connection_id, started_at desc);
create index compliance_runs_team_idx on public.compliance_runs (team_id, started_at desc);
create unique index compliance_runs_one_running_per_connection
  on public.compliance_runs (connection_id) where status = 'running';

create function public.compliance_runs_guard_transition() returns trigger
language plpgsql as $$
begin
  if old.status <> 'running' then
    raise exception 'compliance run % is already %', old.id, old.status using errcode = 'check_violation';
  end if;
  if new.id <> old.id or new.team_id <> old.team_id or new.connection_id <> old.connection_id
     or new.started_at <> old.started_at or new.trigger <> old.trigger then
    raise exception 'compliance run identity columns are immutable' using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger compliance_runs_guard_transition before update on public.compliance_runs
  for each row execute function public.compliance_runs_guard_transition();

create table public.compliance_findings (
  run_id uuid not null references public.compliance_runs (id) on delete cascade,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  check_id text not null check (check_id ~ '^BF-CIS[0-9]+-[0-9]{3}$'),
  cis_safeguard text not null check (char_length(cis_safeguard) <= 10),
  severity text not null check (severity in ('critical', 'high', 'medium', 'low')),
  outcome text not null check (outcome in ('pass', 'fail', 'not_applicable', 'error')),
  message text not null check (char_length(message) <= 2000),
  evidence jsonb not null default '[]'::jsonb check (jsonb_typeof(evidence) = 'array'),
  primary key (run_id, check_id)
);
create index compliance_findings_team_idx on public.compliance_findings (team_id);

create table public.compliance_remediations (
  id uuid not null default gen_random_uuid() unique,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  check_id text not null check (check_id ~ '^BF-CIS[0-9]+-[0-9]{3}$'),
  team_id uuid not null references public.teams (id) on delete cascade,
  state text not null check (state in ('open', 'acknowledged', 'resolved', 'risk_accepted')),
  justification text check (char_length(justification) between 1 and 1000),
  approved_by uuid references auth.users (id),
  expires_at timestamptz,
  -- Who moved it last: a user id, or null when a compliance run did.
  updated_by uuid references auth.users (id),
  updated_at timestamptz not null default now(),
  last_run_id uuid references public.compliance_runs (id) on delete set null,
  primary key (connection_id, check_id),
  constraint compliance_remediations_acceptance check (
    (state = 'risk_accepted' and justification is not null and approved_by is not null and expires_at is not null)
    or (state <> 'risk_accepted' and justification is null and approved_by is null and expires_at is null)
  )
);
create index compliance_remediations_team_idx on public.compliance_remediations (team_id);

-- Pass rate per team, connection and day (latest complete run of each connection that day).
-- security_invoker: the caller's RLS on compliance_runs applies through the view.
create view public.compliance_trend with (security_invoker = true) as
select distinct on (r.team_id, r.connection_id, (r.finished_at at time zone 'utc')::date)
  r.team_id,
  r.connection_id,
  (r.finished_at at time zone 'utc')::date as day,
  r.id as run_id,
  r.pass_count,
  r.fail_count,
  r.not_applicable_count,
  r.error_count,
  case when r.pass_count + r.fail_count = 0 then null
       else round(r.pass_count::numeric / (r.pass_count + r.fail_count), 4) end as pass_rate
from public.compliance_runs r
where r.status = 'complete'
order by r.team_id, r.connection_id, (r.finished_at at time zone 'utc')::date, r.finished_at desc;

alter table public.compliance_runs enable row level security;
alter table public.compliance_findings enable row level security;
alter table public.compliance_remediations enable row level security;

create policy compliance_runs_select on public.compliance_runs for select to authenticated
  using (public.is_team_member(team_id));
create policy compliance_findings_select on public.compliance_findings for select to authenticated
  using (public.is_team_member(team_id));
create policy compliance_remediations_select on public.compliance_remediations for select to authenticated
  using (public.is_team_member(team_id));

revoke all on public.compliance_runs, public.compliance_findings, public.compliance_remediations,
  public.compliance_trend from anon, authenticated;
grant select on public.compliance_runs, public.compliance_findings, public.compliance_remediations,
  public.compliance_trend to authenticated;
grant select, insert, update on public.compliance_runs, public.compliance_remediations to service_role;
grant select, insert on public.compliance_findings to service_role;
grant select on public.compliance_trend to service_role;
