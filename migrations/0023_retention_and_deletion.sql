-- Account lifecycle, phase 3: retention pruning, team deletion (GDPR Art. 17) and the user data
-- export (Art. 20), as docs/lifecycle.md ("Retention", "Account deletion") describes them.
-- Every change is one function that makes it and writes its activity row in one transaction;
-- all of them are the service role's alone (the worker authorises the caller first).

-- ---------------------------------------------------------------------------------------------
-- Holds: a backup that a running restore, drill or export reads is never pruned. The job that
-- uses a backup takes a hold first (backup_hold_take) and releases it when it ends
-- (backup_hold_release); a backup already being pruned cannot be held, so a hold and a prune
-- never both win.

create table public.backup_holds (
  backup_id uuid not null references public.backups (id) on delete cascade,
  team_id uuid not null references public.teams (id) on delete cascade,
  holder_kind text not null check (holder_kind in ('restore', 'drill', 'export')),
  holder_id uuid not null,
  created_at timestamptz not null default now(),
  primary key (backup_id, holder_kind, holder_id)
);
create index backup_holds_team_idx on public.backup_holds (team_id);
alter table public.backup_holds enable row level security;
revoke all on public.backup_holds from public, anon, authenticated;
grant select on public.backup_holds to service_role;

-- When the prune job started deleting a backup's objects: from then on nobody can hold it,
-- downloads of it fail, and the job finishes it (objects, then the row) whatever else happens.
alter table public.backups add column pruning_at timestamptz;
grant select (pruning_at) on public.backups to authenticated;

-- As in 0018, and the prune mark may be set on a finished backup.
create or replace function public.backups_guard_transition() returns trigger
language plpgsql as $$
begin
  if new.id <> old.id or new.team_id <> old.team_id or new.connection_id <> old.connection_id
     or new.r2_prefix <> old.r2_prefix or new.started_at <> old.started_at
     or new.trigger <> old.trigger or new.requested_by is distinct from old.requested_by
     or new.snapshot_secret_id is distinct from old.snapshot_secret_id
     or (old.sealed_key is null and new.sealed_key is not null)
     or (old.pruning_at is not null and new.pruning_at is distinct from old.pruning_at) then
    raise exception 'backup identity columns are immutable' using errcode = 'check_violation';
  end if;
  if old.status <> 'running'
     and (to_jsonb(new) - 'sealed_key' - 'key_version' - 'pruning_at')
         is distinct from (to_jsonb(old) - 'sealed_key' - 'key_version' - 'pruning_at') then
    raise exception 'backup % is already %', old.id, old.status using errcode = 'check_violation';
  end if;
  return new;
end
$$;

-- Takes a hold on a backup of `p_team` for a restore, drill or export; false when the backup
-- is gone, not complete, or already being pruned.
create function public.backup_hold_take(p_backup uuid, p_team uuid, p_kind text, p_holder uuid)
returns boolean
language plpgsql set search_path = '' as $$
begin
  perform 1 from public.backups b
   where b.id = p_backup and b.team_id = p_team and b.status = 'complete' and b.pruning_at is null
     for share;
  if not found then
    return false;
  end if;
  insert into public.backup_holds (backup_id, team_id, holder_kind, holder_id)
  values (p_backup, p_team, p_kind, p_holder) on conflict do nothing;
  return true;
end
$$;

create function public.backup_hold_release(p_backup uuid, p_kind text, p_holder uuid)
returns boolean
language sql set search_path = '' as $$
  with gone as (
    delete from public.backup_holds
     where backup_id = p_backup and holder_kind = p_kind and holder_id = p_holder
    returning 1)
  select exists (select 1 from gone)
$$;

-- Starts pruning one backup: marks it, under the row lock, unless it runs or is held. Returns
-- 'marked' (also when it already was), 'held', 'running' or 'gone'.
create function public.backup_prune_mark(p_id uuid) returns text
language plpgsql set search_path = '' as $$
declare
  v public.backups;
begin
  select * into v from public.backups b where b.id = p_id for update;
  if not found then
    return 'gone';
  end if;
  if v.pruning_at is not null then
    return 'marked';
  end if;
  if v.status = 'running' then
    return 'running';
  end if;
  if exists (select 1 from public.backup_holds h where h.backup_id = p_id) then
    return 'held';
  end if;
  update public.backups set pruning_at = now() where id = p_id;
  return 'marked';
end
$$;

-- Ends pruning a marked backup once its objects are gone: deletes the row (its sealed snapshot
-- key with it; change-capture rows cascade), its checkpoint, and writes the audit row. False
-- when there was no marked row (a redone slice).
create function public.backup_prune(p_id uuid, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  delete from public.backups b where b.id = p_id and b.pruning_at is not null
  returning b.team_id into v_team;
  if v_team is null then
    return false;
  end if;
  delete from public.job_checkpoints where job_kind = 'backup' and job_id = p_id;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;
grant delete on public.backups to service_role;

-- A finished compliance run stays as it was, except that the backup it read may be pruned
-- (its `backup_id` then becomes null, by the foreign key): before this, pruning a backup a
-- complete compliance run had read failed on this guard and on the run's state check.
alter table public.compliance_runs drop constraint compliance_runs_state;
alter table public.compliance_runs add constraint compliance_runs_state check (
  (status = 'running' and finished_at is null)
  or (status = 'complete' and finished_at is not null and error is null)
  or (status in ('failed', 'skipped') and finished_at is not null and error is not null)
);

create or replace function public.compliance_runs_guard_transition() returns trigger
language plpgsql as $$
begin
  if old.status <> 'running'
     and not (new.backup_id is null and old.backup_id is not null
              and (to_jsonb(new) - 'backup_id') = (to_jsonb(old) - 'backup_id')) then
    raise exception 'compliance run % is already %', old.id, old.status using errcode = 'check_violation';
  end if;
  if new.id <> old.id or new.team_id <> old.team_id or new.connection_id <> old.connection_id
     or new.started_at <> old.started_at or new.trigger <> old.trigger then
    raise exception 'compliance run identity columns are immutable' using errcode = 'check_violation';
  end if;
  return new;
end
$$;

-- Teams that have backups finished before `p_before`, and are not being deleted.
create function public.prune_teams(p_before timestamptz) returns uuid[]
language sql stable set search_path = '' as $$
  select coalesce(array_agg(distinct b.team_id), '{}') from public.backups b
   where b.finished_at < p_before
     and not exists (select 1 from public.team_deletions d
                      where d.team_id = b.team_id and d.state in ('purging', 'purged'))
$$;

-- ---------------------------------------------------------------------------------------------
-- Team deletion. Only an owner may ask for it; no API-key scope grants it.

insert into public.role_permissions (role, action) values ('owner', 'team.delete');

-- The tombstone outlives the team row (its id and dates only).
alter table public.team_deletions drop constraint team_deletions_team_id_fkey;

-- The owner rule does not hold a frozen team back: its purge removes every member.
create or replace function public.team_members_keep_owner() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if old.role = 'owner' and (tg_op = 'DELETE' or new.role <> 'owner') then
    perform 1 from public.teams t where t.id = old.team_id for no key update;
    if not exists (
      select 1 from public.team_members m
      where m.team_id = old.team_id and m.role = 'owner' and m.user_id <> old.user_id
    ) and exists (select 1 from public.teams t where t.id = old.team_id)
      and not public.team_frozen(old.team_id) then
      raise exception 'a team must keep at least one owner' using errcode = '23514';
    end if;
  end if;
  return coalesce(new, old);
end
$$;

-- Requests the deletion of `p_team` (the worker checked the owner's confirmation): a new
-- request, or a fresh one after a cancelled one. Conflict (23505) while one is pending.
create function public.team_deletion_request(p_team uuid, p_user uuid, p_grace_seconds integer,
  p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.team_deletions;
begin
  if p_grace_seconds < 7 * 86400 then
    raise exception 'grace period too short' using errcode = 'check_violation';
  end if;
  perform 1 from public.teams where id = p_team for update;
  if not found then
    raise exception 'no such team' using errcode = 'P0002';
  end if;
  insert into public.team_deletions (team_id, requested_by, requested_at, purge_after, state)
  values (p_team, p_user, now(), now() + make_interval(secs => p_grace_seconds), 'requested')
  on conflict (team_id) do update
    set requested_by = excluded.requested_by, requested_at = excluded.requested_at,
        purge_after = excluded.purge_after, state = 'requested', cancelled_by = null,
        cancelled_at = null, next_step = null, purge_started_at = null, purged_at = null
    where public.team_deletions.state = 'cancelled'
  returning * into v;
  if v.team_id is null then
    raise exception 'a deletion of this team is already pending' using errcode = '23505';
  end if;
  perform public.audit_team(p_audit, p_team);
  return to_jsonb(v);
end
$$;

-- Cancels a pending deletion during its grace period; null when there is none to cancel.
create function public.team_deletion_cancel(p_team uuid, p_user uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.team_deletions;
begin
  update public.team_deletions
     set state = 'cancelled', cancelled_by = p_user, cancelled_at = now()
   where team_id = p_team and state = 'requested' and purge_after > now()
  returning * into v;
  if v.team_id is null then
    return null;
  end if;
  perform public.audit_team(p_audit, p_team);
  return to_jsonb(v);
end
$$;

-- Deletions the purge job has to work on: due requests and purges under way.
create function public.team_deletions_due() returns setof public.team_deletions
language sql stable set search_path = '' as $$
  select * from public.team_deletions
   where (state = 'requested' and purge_after <= now()) or state = 'purging'
   order by requested_at
$$;

-- Starts the purge of a due request (next step: freeze); the row as it is afterwards, or null
-- when it is not due (cancelled, not yet due, already purging or purged).
create function public.team_purge_start(p_team uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.team_deletions;
begin
  update public.team_deletions
     set state = 'purging', next_step = 'freeze', purge_started_at = now()
   where team_id = p_team and state = 'requested' and purge_after <= now()
  returning * into v;
  if v.team_id is null then
    return null;
  end if;
  perform public.audit_team(p_audit, p_team);
  return to_jsonb(v);
end
$$;

-- Does one purge step's database part and records it done, in one transaction, only if
-- `p_step` is the next step (so a step redone after a crash, or by a racing invocation,
-- changes nothing twice). `p_next` is the step after it (null: the purge is complete).
-- Security definer: the purge deletes from tables the service role only reads.
create function public.team_purge_step(p_team uuid, p_step text, p_next text, p_audit jsonb)
returns boolean
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  v_requester uuid;
  v_email text;
begin
  select d.requested_by into v_requester from public.team_deletions d
   where d.team_id = p_team and d.state = 'purging' and d.next_step = p_step for update;
  if not found then
    return false;
  end if;
  case p_step
    when 'freeze' then
      delete from public.team_members where team_id = p_team;
      delete from public.notification_outbox where team_id = p_team and status = 'pending';
    when 'cancel_billing' then
      null; -- Stripe is called by the worker before this records it.
    when 'revoke_access' then
      delete from public.api_keys where team_id = p_team;
      delete from public.team_invitations where team_id = p_team;
    when 'delete_connections' then
      update public.backups set status = 'failed', finished_at = now(),
             error = 'interrupted: the team is being deleted'
       where team_id = p_team and status = 'running';
      update public.job_checkpoints set finished_at = now(), lease_token = null, lease_until = null
       where team_id = p_team and finished_at is null;
      update public.okta_connections
         set status = 'deleted', sealed_token = null, key_version = null,
             deleted_at = coalesce(deleted_at, now()), updated_at = now()
       where team_id = p_team;
    when 'destroy_data_keys' then
      delete from public.tenant_keys where team_id = p_team;
    when 'delete_objects' then
      null; -- R2 is emptied by the worker before this records it.
    when 'delete_records' then
      -- Guidance records first: they are immutable, and a connection's deletion would null
      -- their reference to it.
      delete from public.guidance_records where team_id = p_team;
      delete from public.compliance_runs where team_id = p_team;
      delete from public.backups where team_id = p_team;
      delete from public.okta_connections where team_id = p_team;
      delete from public.job_checkpoints where team_id = p_team;
      delete from public.ai_usage where team_id = p_team;
      delete from public.team_ai_settings where team_id = p_team;
      delete from public.stripe_events where team_id = p_team;
      delete from public.notification_outbox where team_id = p_team;
      delete from public.team_billing where team_id = p_team;
      delete from public.plan_history where team_id = p_team;
    when 'pseudonymise_activity' then
      perform public.activity_logs_pseudonymise(p_team);
    when 'remove_team' then
      -- Whatever references the team goes with it (every team table cascades).
      delete from public.teams where id = p_team;
    when 'send_receipt' then
      select p.email into v_email from public.profiles p where p.id = v_requester;
      if v_email is not null then
        insert into public.notification_outbox (idempotency_key, user_id, kind, category,
          recipient, payload)
        -- Neither the key nor the payload names the team: the row outlives the purge until
        -- it is delivered (then its address and payload are erased too). The payload is the
        -- mailer's `Notification::DeletionCompleted`.
        values ('team_deleted:' || encode(sha256(convert_to(p_team::text, 'UTF8')), 'hex'),
          v_requester, 'deletion_completed', 'security', v_email,
          jsonb_build_object('kind', 'deletion_completed',
            'requested_at', (select d.requested_at from public.team_deletions d
                             where d.team_id = p_team)))
        on conflict (idempotency_key) do nothing;
      end if;
    else
      raise exception 'unknown purge step %', p_step using errcode = 'invalid_parameter_value';
  end case;
  update public.team_deletions
     set next_step = p_next,
         state = case when p_next is null then 'purged' else 'purging' end,
         purged_at = case when p_next is null then now() end
   where team_id = p_team;
  perform public.audit_insert(p_audit || jsonb_build_object('team_id', p_team));
  return true;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The user data export (Art. 20): what Butterfly holds about one user, assembled in one read.
-- Security definer: it reads the confirmation time from auth.users. The activity is capped at
-- the newest 50,000 entries.
create function public.user_export(p_user uuid) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'profile', (select jsonb_build_object('id', p.id, 'email', p.email,
        'display_name', p.display_name, 'created_at', p.created_at,
        'email_verified_at', (select u.email_confirmed_at from auth.users u where u.id = p.id))
      from public.profiles p where p.id = p_user),
    'email_preferences', (select jsonb_build_object('alerts', e.alerts,
        'product_updates', e.product_updates)
      from public.email_preferences e where e.user_id = p_user),
    'email_suppressions', coalesce((select jsonb_agg(jsonb_build_object('reason', s.reason,
        'since', s.created_at))
      from public.email_suppressions s, public.profiles p
      where p.id = p_user and s.email_normalized = lower(p.email)), '[]'::jsonb),
    'memberships', coalesce((select jsonb_agg(jsonb_build_object('team_id', m.team_id,
        'team_name', t.name, 'role', m.role, 'joined_at', m.created_at) order by m.created_at)
      from public.team_members m join public.teams t on t.id = m.team_id
      where m.user_id = p_user), '[]'::jsonb),
    'api_keys', coalesce((select jsonb_agg(jsonb_build_object('id', k.id, 'team_id', k.team_id,
        'name', k.name, 'prefix', 'bfk_' || replace(k.id::text, '-', ''),
        'scopes', k.scopes, 'created_at', k.created_at,
        'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at) order by k.created_at)
      from public.api_keys k where k.user_id = p_user), '[]'::jsonb),
    'invitations', coalesce((select jsonb_agg(jsonb_build_object('team_id', i.team_id,
        'direction', case when i.invited_by = p_user then 'sent' else 'received' end,
        'email', i.email, 'role', i.role, 'created_at', i.created_at,
        'accepted_at', i.accepted_at) order by i.created_at)
      from public.team_invitations i
      where i.invited_by = p_user
         or lower(i.email) = (select lower(p.email) from public.profiles p where p.id = p_user)),
      '[]'::jsonb),
    'activity', coalesce((select jsonb_agg(a.row order by a.occurred_at) from (
        select l.occurred_at, jsonb_build_object('occurred_at', l.occurred_at,
          'team_id', l.team_id, 'action', l.action, 'target_type', l.target_type,
          'target_id', l.target_id, 'source_ip', host(l.source_ip),
          'request_id', l.request_id) as row
        from public.activity_logs l
        where l.actor_type in ('user', 'api_key') and l.actor_id = p_user::text
        order by l.occurred_at desc limit 50000) a), '[]'::jsonb)
  )
$$;

do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.proname = any (array[
       'backup_hold_take', 'backup_hold_release', 'backup_prune_mark', 'backup_prune',
       'prune_teams', 'team_deletion_request', 'team_deletion_cancel', 'team_deletions_due',
       'team_purge_start', 'team_purge_step', 'user_export'])
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
revoke all on function public.team_members_keep_owner() from public, anon, authenticated;
