-- Live change capture (docs/drift.md): per connection a scheduled drift check polls the Okta
-- System Log, re-reads what the events touched, and records each capture (a sealed delta chained
-- to its base backup: a restore point) with the alerts it raised and their notifications.
--
-- Users read their teams' settings, captures and alerts under RLS (`drift.read`) and write
-- nothing: every change is one function, executable by the service role only, that makes the
-- change and writes its activity row in the same transaction. The check's cursor and base are
-- hidden from users (column privileges), as is Butterfly's log of its own Okta writes.
-- `drift.read` also covers the snapshot diffs and resource histories of 0021.

insert into public.role_permissions (role, action) values
  ('owner', 'drift.read'), ('admin', 'drift.read'), ('operator', 'drift.read'),
  ('viewer', 'drift.read'), ('auditor', 'drift.read'),
  ('owner', 'drift.triage'), ('admin', 'drift.triage'), ('operator', 'drift.triage'),
  ('owner', 'drift.accept'), ('admin', 'drift.accept')
  on conflict do nothing;

insert into public.scope_permissions (scope, action) values
  ('read', 'drift.read'),
  ('admin', 'drift.read'), ('admin', 'drift.triage'), ('admin', 'drift.accept')
  on conflict do nothing;

-- Settings and the check's state, one row per connection (made by the first `drift_due`).
create table public.drift_settings (
  connection_id uuid primary key references public.okta_connections (id) on delete cascade,
  team_id uuid not null references public.teams (id) on delete cascade,
  interval_minutes integer not null default 15 check (interval_minutes between 5 and 1440),
  -- null: the default rules (src/drift/capture/alerts.rs).
  rules jsonb check (rules is null or (jsonb_typeof(rules) = 'array' and jsonb_array_length(rules) <= 100)),
  next_due_at timestamptz not null default now(),
  last_checked_at timestamptz,
  -- Hidden from users: the System Log `next` link to poll, the base backup and the sequence
  -- number of its last capture.
  cursor text check (char_length(cursor) <= 4096),
  base_backup_id uuid references public.backups (id) on delete set null,
  last_seq integer not null default 0 check (last_seq >= 0),
  updated_at timestamptz not null default now()
);
alter table public.drift_settings enable row level security;
revoke all on public.drift_settings from anon, authenticated;
grant select (connection_id, team_id, interval_minutes, rules, next_due_at, last_checked_at)
  on public.drift_settings to authenticated;
grant select, insert, update, delete on public.drift_settings to service_role;
create policy drift_settings_select on public.drift_settings for select to authenticated
  using (public.can(team_id, 'drift.read'));

-- Captures: restore points on a base backup. Deleting the backup deletes them (its R2 prefix,
-- which holds their deltas, goes with it).
create table public.drift_captures (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  backup_id uuid not null references public.backups (id) on delete cascade,
  seq integer not null check (seq > 0),
  covers_from timestamptz not null,
  covers_to timestamptz not null check (covers_to >= covers_from),
  events integer not null check (events >= 0),
  changes integer not null check (changes > 0),
  counts jsonb not null check (jsonb_typeof(counts) = 'object'),
  manifest_sha256 text not null check (manifest_sha256 ~ '^[0-9a-f]{64}$'),
  -- The changes, secrets withheld, each with its attribution.
  summary jsonb not null check (jsonb_typeof(summary) = 'array'),
  created_at timestamptz not null default now(),
  unique (backup_id, seq)
);
create index drift_captures_connection_idx on public.drift_captures (connection_id, created_at desc);
alter table public.drift_captures enable row level security;
revoke all on public.drift_captures from anon, authenticated;
grant select on public.drift_captures to authenticated;
grant select, insert, update, delete on public.drift_captures to service_role;
create policy drift_captures_select on public.drift_captures for select to authenticated
  using (public.can(team_id, 'drift.read'));

-- Alerts. An open alert absorbs later changes under the same key (occurrences, last seen);
-- acknowledging or accepting it closes it, and the next such change opens a new one. Alerts
-- outlive the backups whose captures raised them.
create table public.drift_alerts (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  capture_id uuid references public.drift_captures (id) on delete set null,
  last_capture_id uuid references public.drift_captures (id) on delete set null,
  dedup_key text not null check (dedup_key ~ '^[0-9a-f]{32}$'),
  resource_type text not null check (resource_type ~ '^[a-z_]{1,64}$'),
  resource_id text not null check (char_length(resource_id) between 1 and 300),
  kind text not null check (kind in ('added', 'removed', 'changed')),
  severity text not null check (severity in ('low', 'medium', 'high')),
  rule_id text not null check (rule_id ~ '^[a-z0-9_-]{1,64}$'),
  fields jsonb not null default '[]'::jsonb check (jsonb_typeof(fields) = 'array'),
  attribution jsonb not null default '[]'::jsonb check (jsonb_typeof(attribution) = 'array'),
  occurrences integer not null default 1 check (occurrences >= 1),
  status text not null default 'open' check (status in ('open', 'acknowledged', 'accepted')),
  status_by uuid references auth.users (id) on delete set null,
  status_at timestamptz,
  note text check (char_length(note) <= 1000),
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  check ((status = 'open') = (status_at is null))
);
create unique index drift_alerts_open_once on public.drift_alerts (connection_id, dedup_key)
  where status = 'open';
create index drift_alerts_connection_idx on public.drift_alerts (connection_id, last_seen_at desc);
alter table public.drift_alerts enable row level security;
revoke all on public.drift_alerts from anon, authenticated;
grant select on public.drift_alerts to authenticated;
grant select, insert, update, delete on public.drift_alerts to service_role;
create policy drift_alerts_select on public.drift_alerts for select to authenticated
  using (public.can(team_id, 'drift.read'));

-- Butterfly's own Okta writes (a restore records the `X-Okta-Request-Id` of each, which Okta
-- logs as the event's `transaction.id`): a capture labels their events as Butterfly's and raises
-- no alert for them. A user agent alone proves nothing (anyone can send it).
create table public.butterfly_okta_writes (
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  transaction_id text not null check (char_length(transaction_id) between 1 and 100),
  restore_id uuid,
  recorded_at timestamptz not null default now(),
  primary key (connection_id, transaction_id)
);
alter table public.butterfly_okta_writes enable row level security;
revoke all on public.butterfly_okta_writes from anon, authenticated;
grant select, insert, update, delete on public.butterfly_okta_writes to service_role;

-- The connections whose check is due, each moved on to its next due time (so two cron runs
-- never queue one connection twice). Every active API-token connection gets its settings row
-- and its long-lived checkpoint (`job_checkpoints`, kind `drift_check`, id = the connection) the
-- first time; only connections with a complete backup (the base to compare with) are due.
create function public.drift_due(p_limit integer)
returns table (connection_id uuid, team_id uuid)
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
begin
  insert into public.drift_settings (connection_id, team_id)
    select c.id, c.team_id from public.okta_connections c
     where c.status = 'active' and c.auth_type = 'api_token'
  on conflict (connection_id) do nothing;
  insert into public.job_checkpoints (job_kind, job_id, team_id)
    select 'drift_check', s.connection_id, s.team_id from public.drift_settings s
  on conflict (job_kind, job_id) do nothing;
  return query
    with due as (
      select s.connection_id from public.drift_settings s
        join public.okta_connections c on c.id = s.connection_id
       where c.status = 'active' and s.next_due_at <= now()
         and exists (select 1 from public.backups b
                      where b.connection_id = s.connection_id and b.status = 'complete')
       order by s.next_due_at
       limit least(greatest(p_limit, 1), 1000)
       for update of s skip locked
    )
    update public.drift_settings s
       set next_due_at = now() + make_interval(mins => s.interval_minutes), updated_at = now()
      from due
     where s.connection_id = due.connection_id
    returning s.connection_id, s.team_id;
end
$$;

-- Moves a connection's check on from the state it was read in (`from_*`): the cursor, base and
-- sequence number, and with a capture, the capture, its alerts (deduplicated against open ones)
-- and, for each new alert, one outbox row per member who may triage it (idempotency key
-- `drift:<alert id>:<user id>`, src/email/outbox.rs), and its activity row; all or nothing.
-- False when the state moved since it was read (a redone or racing check): nothing is written.
-- Security definer: it reads the recipients' addresses in auth.users, which the service role
-- need not see (as invitation_accept, migration 0013).
create function public.drift_record(p_advance jsonb, p_capture jsonb, p_alerts jsonb, p_audit jsonb)
returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  v_connection uuid := (p_advance ->> 'connection_id')::uuid;
  v public.drift_settings;
  v_capture uuid := (p_capture ->> 'id')::uuid;
  a jsonb;
begin
  select * into v from public.drift_settings s where s.connection_id = v_connection for update;
  if not found
     or v.cursor is distinct from (p_advance ->> 'from_cursor')
     or v.base_backup_id is distinct from (p_advance ->> 'from_base')::uuid
     or v.last_seq <> (p_advance ->> 'from_seq')::integer then
    return false;
  end if;
  if p_capture is not null then
    if (p_capture ->> 'connection_id')::uuid <> v_connection
       or (p_capture ->> 'team_id')::uuid <> v.team_id
       or (p_capture ->> 'seq')::integer <> (p_advance ->> 'seq')::integer
       or (p_capture ->> 'backup_id')::uuid <> (p_advance ->> 'base_backup_id')::uuid then
      raise exception 'capture does not match its advance' using errcode = 'check_violation';
    end if;
    insert into public.drift_captures (id, team_id, connection_id, backup_id, seq, covers_from,
      covers_to, events, changes, counts, manifest_sha256, summary)
    values (v_capture, v.team_id, v_connection, (p_capture ->> 'backup_id')::uuid,
      (p_capture ->> 'seq')::integer, (p_capture ->> 'covers_from')::timestamptz,
      (p_capture ->> 'covers_to')::timestamptz, (p_capture ->> 'events')::integer,
      (p_capture ->> 'changes')::integer, p_capture -> 'counts', p_capture ->> 'manifest_sha256',
      p_capture -> 'summary');
    for a in select * from jsonb_array_elements(coalesce(p_alerts, '[]'::jsonb)) loop
      update public.drift_alerts d
         set occurrences = d.occurrences + 1, last_seen_at = now(), last_capture_id = v_capture,
             fields = a -> 'fields', attribution = a -> 'attribution', kind = a ->> 'kind'
       where d.connection_id = v_connection and d.dedup_key = a ->> 'dedup_key'
         and d.status = 'open';
      if not found then
        insert into public.drift_alerts (id, team_id, connection_id, capture_id, last_capture_id,
          dedup_key, resource_type, resource_id, kind, severity, rule_id, fields, attribution)
        values ((a ->> 'id')::uuid, v.team_id, v_connection, v_capture, v_capture,
          a ->> 'dedup_key', a ->> 'resource_type', a ->> 'resource_id', a ->> 'kind',
          a ->> 'severity', a ->> 'rule_id', a -> 'fields', a -> 'attribution');
        insert into public.notification_outbox (idempotency_key, team_id, user_id, kind, category,
          recipient, payload)
        select 'drift:' || (a ->> 'id') || ':' || m.user_id, v.team_id, m.user_id, 'drift_alert',
               'alerts', u.email, a -> 'notification'
          from public.team_members m
          join auth.users u on u.id = m.user_id
         where m.team_id = v.team_id and u.email is not null
           and exists (select 1 from public.role_permissions p
                        where p.role = m.role and p.action = 'drift.triage')
        on conflict (idempotency_key) do nothing;
      end if;
    end loop;
    perform public.audit_team(p_audit, v.team_id);
  end if;
  update public.drift_settings s
     set cursor = p_advance ->> 'cursor',
         base_backup_id = (p_advance ->> 'base_backup_id')::uuid,
         last_seq = (p_advance ->> 'seq')::integer,
         last_checked_at = now(),
         updated_at = now()
   where s.connection_id = v_connection;
  return true;
end
$$;

-- Sets a connection's check interval and alert rules (null: the defaults). A shorter interval
-- takes effect at once.
create function public.drift_settings_set(p_connection uuid, p_interval integer, p_rules jsonb,
  p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.drift_settings;
begin
  insert into public.drift_settings as s (connection_id, team_id, interval_minutes, rules)
    select c.id, c.team_id, p_interval, p_rules from public.okta_connections c
     where c.id = p_connection and c.status <> 'deleted'
  on conflict (connection_id) do update
     set interval_minutes = excluded.interval_minutes,
         rules = excluded.rules,
         next_due_at = least(s.next_due_at, now() + make_interval(mins => excluded.interval_minutes)),
         updated_at = now()
  returning * into v;
  if not found then
    raise exception 'no such connection' using errcode = 'foreign_key_violation';
  end if;
  perform public.audit_team(p_audit, v.team_id);
  return jsonb_build_object('connection_id', v.connection_id, 'team_id', v.team_id,
    'interval_minutes', v.interval_minutes, 'rules', v.rules, 'next_due_at', v.next_due_at,
    'last_checked_at', v.last_checked_at);
end
$$;

-- Acknowledges an open alert, or accepts an open or acknowledged one as the new baseline.
-- False when its status no longer allows that.
create function public.drift_alert_set_status(p_id uuid, p_to text, p_by uuid, p_note text,
  p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  if p_to not in ('acknowledged', 'accepted') then
    raise exception 'invalid status' using errcode = 'check_violation';
  end if;
  update public.drift_alerts d
     set status = p_to, status_by = p_by, status_at = now(), note = p_note
   where d.id = p_id
     and (d.status = 'open' or (p_to = 'accepted' and d.status = 'acknowledged'))
  returning d.team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

do $$
declare
  f text;
begin
  foreach f in array (array['drift_due(integer)', 'drift_record(jsonb, jsonb, jsonb, jsonb)',
    'drift_settings_set(uuid, integer, jsonb, jsonb)',
    'drift_alert_set_status(uuid, text, uuid, text, jsonb)'])
  loop
    execute format('revoke all on function public.%s from public, anon, authenticated', f);
    execute format('grant execute on function public.%s to service_role', f);
  end loop;
end
$$;
