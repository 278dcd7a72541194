-- Opt-in AI guidance (docs/ai.md): each team's switch, its spend, and the record every guidance
-- request leaves. Users read under RLS (`ai.read`); every change is one function of the service
-- role's, which the worker calls after it has authorised the caller, and which writes its
-- activity row in the same transaction (except the budget ledger, bookkeeping like
-- job_checkpoints, whose spend each guidance record states).

insert into public.role_permissions (role, action) values
  ('owner', 'ai.read'), ('admin', 'ai.read'), ('operator', 'ai.read'),
  ('viewer', 'ai.read'), ('auditor', 'ai.read'),
  ('owner', 'ai.manage'), ('admin', 'ai.manage'),
  ('owner', 'ai.request'), ('admin', 'ai.request'), ('operator', 'ai.request');

insert into public.scope_permissions (scope, action) values
  ('read', 'ai.read'),
  ('admin', 'ai.read'), ('admin', 'ai.manage'), ('admin', 'ai.request');

-- One row per team that ever changed its switch; no row means off. The budget columns are the
-- operator's (set by SQL, null = the worker's AI_* defaults), never the team's.
create table public.team_ai_settings (
  team_id uuid primary key references public.teams (id) on delete cascade,
  enabled boolean not null default false,
  keep_answers boolean not null default false,
  monthly_tokens bigint check (monthly_tokens > 0),
  daily_requests integer check (daily_requests > 0),
  per_minute_requests integer check (per_minute_requests > 0),
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now()
);
alter table public.team_ai_settings enable row level security;
create policy team_ai_settings_select on public.team_ai_settings for select to authenticated
  using (public.can(team_id, 'ai.read'));
revoke all on public.team_ai_settings from anon, authenticated;
grant select on public.team_ai_settings to authenticated;
grant select, insert, update on public.team_ai_settings to service_role;

-- What a team has spent (ai::budget::Usage), written with a compare-and-set on `version` so two
-- concurrent requests cannot both spend the last of a budget. The service role's alone.
create table public.ai_usage (
  team_id uuid primary key references public.teams (id) on delete cascade,
  usage jsonb not null,
  version bigint not null check (version >= 0),
  updated_at timestamptz not null default now()
);
alter table public.ai_usage enable row level security;
revoke all on public.ai_usage from anon, authenticated;
grant select, insert, update on public.ai_usage to service_role;

-- ai::record::GuidanceRecord. Immutable except that a kept answer can be erased.
create table public.guidance_records (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid references public.okta_connections (id) on delete set null,
  requested_by uuid references auth.users (id) on delete set null,
  prompt text not null check (prompt in
    ('explain_finding', 'explain_drift', 'restore_blast_radius', 'privileged_access')),
  target text not null check (char_length(target) <= 200),
  payload_sha256 text check (payload_sha256 ~ '^[0-9a-f]{64}$'),
  payload_bytes integer not null check (payload_bytes >= 0),
  pseudonyms integer not null check (pseudonyms >= 0),
  provider text check (provider in ('anthropic', 'openai')),
  model text check (char_length(model) <= 100),
  attempts jsonb not null default '[]'::jsonb check (jsonb_typeof(attempts) = 'array'),
  latency_ms bigint not null check (latency_ms >= 0),
  input_tokens bigint not null check (input_tokens >= 0),
  output_tokens bigint not null check (output_tokens >= 0),
  cost_micro_usd bigint check (cost_micro_usd >= 0),
  outcome text not null check (outcome in ('answered', 'unavailable', 'rejected', 'refused',
    'over_budget', 'too_large', 'no_providers')),
  error text check (char_length(error) <= 100),
  answer text check (char_length(answer) <= 100000),
  created_at timestamptz not null default now()
);
create index guidance_records_team_idx on public.guidance_records (team_id, created_at desc);
alter table public.guidance_records enable row level security;
create policy guidance_records_select on public.guidance_records for select to authenticated
  using (public.can(team_id, 'ai.read'));
revoke all on public.guidance_records from anon, authenticated;
grant select on public.guidance_records to authenticated;
grant select, insert, update (answer), delete on public.guidance_records to service_role;

create function public.guidance_records_immutable() returns trigger
language plpgsql set search_path = '' as $$
begin
  if new.answer is not null
     or (to_jsonb(new) - 'answer') is distinct from (to_jsonb(old) - 'answer') then
    raise exception 'guidance records are immutable; only a kept answer can be erased'
      using errcode = '23514';
  end if;
  return new;
end
$$;
create trigger guidance_records_immutable before update on public.guidance_records
  for each row execute function public.guidance_records_immutable();

-- Turns a team's switch (and "keep answers") to the given values; the activity row carries the
-- old and new values. Returns the row as stored.
create function public.ai_settings_set(p_team uuid, p_enabled boolean, p_keep_answers boolean,
  p_user uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v_old public.team_ai_settings;
  v_new public.team_ai_settings;
begin
  select * into v_old from public.team_ai_settings where team_id = p_team for update;
  insert into public.team_ai_settings (team_id, enabled, keep_answers, updated_by, updated_at)
  values (p_team, p_enabled, p_keep_answers, p_user, now())
  on conflict (team_id) do update
    set enabled = excluded.enabled, keep_answers = excluded.keep_answers,
        updated_by = excluded.updated_by, updated_at = excluded.updated_at
  returning * into v_new;
  perform public.audit_team(p_audit || jsonb_build_object('details',
    coalesce(p_audit -> 'details', '{}'::jsonb) || jsonb_build_object(
      'from', jsonb_build_object('enabled', coalesce(v_old.enabled, false),
                                 'keep_answers', coalesce(v_old.keep_answers, false)),
      'to', jsonb_build_object('enabled', p_enabled, 'keep_answers', p_keep_answers))),
    p_team);
  return to_jsonb(v_new);
end
$$;

-- Stores a budget ledger only if nobody changed it since `p_version` was read (null: no row yet).
create function public.ai_usage_put(p_team uuid, p_version bigint, p_usage jsonb,
  p_new_version bigint) returns boolean
language plpgsql set search_path = '' as $$
begin
  if p_version is null then
    insert into public.ai_usage (team_id, usage, version) values (p_team, p_usage, p_new_version)
    on conflict (team_id) do nothing;
  else
    update public.ai_usage set usage = p_usage, version = p_new_version, updated_at = now()
     where team_id = p_team and version = p_version;
  end if;
  return found;
end
$$;

-- Stores one guidance record and its activity row (`ai.guidance`).
create function public.guidance_record_insert(p_row jsonb, p_audit jsonb) returns void
language plpgsql set search_path = '' as $$
declare
  v_team uuid := (p_row ->> 'team_id')::uuid;
begin
  insert into public.guidance_records (id, team_id, connection_id, requested_by, prompt, target,
    payload_sha256, payload_bytes, pseudonyms, provider, model, attempts, latency_ms,
    input_tokens, output_tokens, cost_micro_usd, outcome, error, answer)
  values (
    (p_row ->> 'id')::uuid, v_team, (p_row ->> 'connection_id')::uuid,
    (p_row ->> 'requested_by')::uuid, p_row ->> 'prompt', p_row ->> 'target',
    p_row ->> 'payload_sha256', (p_row ->> 'payload_bytes')::integer,
    (p_row ->> 'pseudonyms')::integer, p_row ->> 'provider', p_row ->> 'model',
    coalesce(p_row -> 'attempts', '[]'::jsonb), (p_row ->> 'latency_ms')::bigint,
    (p_row ->> 'input_tokens')::bigint, (p_row ->> 'output_tokens')::bigint,
    (p_row ->> 'cost_micro_usd')::bigint, p_row ->> 'outcome', p_row ->> 'error',
    p_row ->> 'answer');
  perform public.audit_team(p_audit, v_team);
end
$$;

-- Erases every kept answer of a team; the activity row says how many.
create function public.ai_answers_delete(p_team uuid, p_audit jsonb) returns integer
language plpgsql set search_path = '' as $$
declare
  v_count integer;
begin
  update public.guidance_records set answer = null
   where team_id = p_team and answer is not null;
  get diagnostics v_count = row_count;
  perform public.audit_team(p_audit || jsonb_build_object('details',
    coalesce(p_audit -> 'details', '{}'::jsonb) || jsonb_build_object('erased', v_count)),
    p_team);
  return v_count;
end
$$;

do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.proname = any (array[
       'guidance_records_immutable', 'ai_settings_set', 'ai_usage_put',
       'guidance_record_insert', 'ai_answers_delete'])
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
