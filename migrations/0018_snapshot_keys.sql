-- Per-backup snapshot keys (docs/snapshot-format.md, docs/security.md "Key management").
--
-- Each new backup has a random snapshot key sealed under the team's data key (`sealed_key`,
-- `v1.<version>.<payload>`, the version also in `key_version`) and names the
-- SNAPSHOT_MASTER_SECRET key its objects were sealed with (`snapshot_secret_id`). Object keys
-- need both, so retiring (destroying) a team's data keys makes its snapshots unreadable, and the
-- Worker secret can rotate. Rows from before keep all three null: the legacy derivation.
-- Only the worker's functions write them; users cannot read the sealed key.

alter table public.backups
  add column sealed_key text,
  add column key_version integer check (key_version > 0),
  add column snapshot_secret_id text check (snapshot_secret_id ~ '^[A-Za-z0-9_-]{1,32}$'),
  add constraint backups_sealed_key_version check ((sealed_key is null) = (key_version is null)),
  add constraint backups_sealed_key_secret check ((sealed_key is null) = (snapshot_secret_id is null)),
  add constraint backups_sealed_key check (
    sealed_key is null
    or case when char_length(sealed_key) <= 256
                 and sealed_key ~ '^v1\.[1-9][0-9]{0,8}\.[A-Za-z0-9_-]+$'
            then key_version = split_part(sealed_key, '.', 2)::integer
            else false end
  );
create index backups_key_version_idx on public.backups (team_id, key_version)
  where key_version is not null;

-- Users read every column but the sealed key.
revoke select on public.backups from authenticated;
grant select (id, team_id, connection_id, requested_by, trigger, status, started_at, finished_at,
              r2_prefix, counts, object_count, sealed_bytes, manifest_sha256, error, heartbeat_at,
              slices, key_version, snapshot_secret_id)
  on public.backups to authenticated;

-- A finished backup stays as it is, except that a data-key rotation re-seals its snapshot key.
create or replace function public.backups_guard_transition() returns trigger
language plpgsql as $$
begin
  if new.id <> old.id or new.team_id <> old.team_id or new.connection_id <> old.connection_id
     or new.r2_prefix <> old.r2_prefix or new.started_at <> old.started_at
     or new.trigger <> old.trigger or new.requested_by is distinct from old.requested_by
     or new.snapshot_secret_id is distinct from old.snapshot_secret_id
     or (old.sealed_key is null and new.sealed_key is not null) then
    raise exception 'backup identity columns are immutable' using errcode = 'check_violation';
  end if;
  if old.status <> 'running'
     and (to_jsonb(new) - 'sealed_key' - 'key_version')
         is distinct from (to_jsonb(old) - 'sealed_key' - 'key_version') then
    raise exception 'backup % is already %', old.id, old.status using errcode = 'check_violation';
  end if;
  return new;
end
$$;

-- A backup's snapshot key is sealed under a live data key: checked on every write of it, so a
-- backup opened under a version being retired makes one of the two fail.
create function public.backups_live_key() returns trigger
language plpgsql set search_path = '' as $$
begin
  if new.sealed_key is null then
    return new;
  end if;
  perform 1 from public.tenant_keys k
   where k.team_id = new.team_id and k.version = new.key_version and k.retired_at is null
     for share;
  if not found then
    raise exception 'snapshot key sealed under a missing or retired data key'
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger backups_live_key
  before insert or update of sealed_key, key_version on public.backups
  for each row execute function public.backups_live_key();

-- As in 0010, and the run's snapshot key (required from now on).
create or replace function public.backup_open(p_row jsonb, p_stale_after_seconds integer,
  p_audit jsonb) returns jsonb
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
  if p_row ->> 'sealed_key' is null or p_row ->> 'snapshot_secret_id' is null then
    raise exception 'a new backup needs its snapshot key' using errcode = 'check_violation';
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
    started_at, r2_prefix, sealed_key, key_version, snapshot_secret_id)
  values ((p_row ->> 'id')::uuid, v_team, v_connection, (p_row ->> 'requested_by')::uuid,
    p_row ->> 'trigger', 'running', now(), p_row ->> 'r2_prefix', p_row ->> 'sealed_key',
    (p_row ->> 'key_version')::integer, p_row ->> 'snapshot_secret_id')
  returning * into v;
  insert into public.job_checkpoints (job_kind, job_id, team_id, created_at)
  values ('backup', v.id, v_team, v.started_at);
  update public.okta_connections set last_error = null
   where id = v_connection and last_error is not null;
  perform public.audit_team(p_audit, v_team);
  return to_jsonb(v) - 'sealed_key';
end
$$;

-- Moves one backup's snapshot key from version `p_from` to the newer `p_to`; false when it is no
-- longer under `p_from`, so a job redone after a crash changes nothing twice.
create function public.backup_key_reseal(p_id uuid, p_from integer, p_sealed text, p_to integer,
  p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  if p_to <= p_from then
    raise exception 're-seal must move to a newer version' using errcode = 'check_violation';
  end if;
  update public.backups
     set sealed_key = p_sealed, key_version = p_to
   where id = p_id and key_version = p_from
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- As in 0015, and refused while a backup's snapshot key is still under an older version.
create or replace function public.tenant_key_retire(p_team uuid, p_below integer, p_job uuid,
  p_audit jsonb) returns integer[]
language plpgsql set search_path = '' as $$
declare
  v_versions integer[];
begin
  -- Lock first: a credential or backup key being sealed under one of these versions commits
  -- before, and is seen below, or waits and then fails its live-key trigger.
  with retired as (
    update public.tenant_keys set retired_at = now(), wrapped_key = null
     where team_id = p_team and version < p_below and retired_at is null
    returning version)
  select coalesce(array_agg(version order by version), '{}') into v_versions from retired;
  if exists (select 1 from public.okta_connections
              where team_id = p_team and status <> 'deleted' and key_version < p_below)
     or exists (select 1 from public.backups
                 where team_id = p_team and key_version < p_below) then
    raise exception 'credentials or snapshot keys still sealed under an older data key'
      using errcode = 'check_violation';
  end if;
  perform public.job_finish('key_reseal', p_job);
  perform public.audit_team(
    p_audit || jsonb_build_object('details', jsonb_build_object('retired_versions', v_versions,
      'current_version', p_below)), p_team);
  return v_versions;
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
       'backups_live_key', 'backup_key_reseal', 'backup_open', 'tenant_key_retire'])
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
