-- Key rotation (docs/security.md, "Key management").

-- API-key hashes name the pepper that made them (`<pepper id>:<hex>`), so API_KEY_PEPPER can
-- rotate while keys hashed under the old pepper keep working; bare hex is the `legacy` pepper.
alter table public.api_keys drop constraint api_keys_secret_hash_check;
alter table public.api_keys add constraint api_keys_secret_hash_check
  check (secret_hash ~ '^([A-Za-z0-9_-]{1,32}:)?[0-9a-f]{64}$');

-- ---------------------------------------------------------------------------------------------
-- Team data keys rotate: a new version seals new credentials, a re-seal job moves the team's
-- credentials onto it, then the older versions are retired: their wrapped key is destroyed, so
-- nothing sealed under them can be opened again. Master-key rotation re-wraps each live version
-- under the active master key. Every step is one audited function (service role only).

alter table public.tenant_keys alter column wrapped_key drop not null;
alter table public.tenant_keys add constraint tenant_keys_retired_destroyed
  check ((retired_at is null) = (wrapped_key is not null));

-- A live credential is sealed under a live data key: checked on every write of the version, so
-- a credential sealed under a version that is being retired makes one of the two fail.
create function public.okta_connections_live_key() returns trigger
language plpgsql set search_path = '' as $$
begin
  if new.status = 'deleted' then
    return new;
  end if;
  perform 1 from public.tenant_keys k
   where k.team_id = new.team_id and k.version = new.key_version and k.retired_at is null
     for share;
  if not found then
    raise exception 'credential sealed under a missing or retired data key'
      using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger okta_connections_live_key
  before insert or update of key_version, sealed_token, status on public.okta_connections
  for each row execute function public.okta_connections_live_key();

-- A new data-key version (`p_row`: team_id, version, master_key_id, wrapped_key), which must be
-- the next one, and the checkpoint of the job `p_job` that re-seals the team's credentials.
create function public.tenant_key_rotate(p_row jsonb, p_job uuid, p_audit jsonb) returns integer
language plpgsql set search_path = '' as $$
declare
  v_team uuid := (p_row ->> 'team_id')::uuid;
  v_version integer := (p_row ->> 'version')::integer;
begin
  perform 1 from public.teams where id = v_team for update;
  if v_version is distinct from coalesce(
       (select max(version) from public.tenant_keys where team_id = v_team), 0) + 1 then
    raise exception 'not the next data-key version' using errcode = 'unique_violation';
  end if;
  insert into public.tenant_keys (team_id, version, master_key_id, wrapped_key)
  values (v_team, v_version, p_row ->> 'master_key_id', p_row ->> 'wrapped_key');
  insert into public.job_checkpoints (job_kind, job_id, team_id) values ('key_reseal', p_job, v_team);
  perform public.audit_team(p_audit, v_team);
  return v_version;
end
$$;

-- Moves one credential from version `p_from` to the newer `p_to`; false when it is no longer
-- under `p_from` (already moved, deleted), so a job redone after a crash changes nothing twice.
create function public.connection_reseal(p_id uuid, p_from integer, p_sealed text, p_to integer,
  p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v_team uuid;
begin
  if p_to <= p_from then
    raise exception 're-seal must move to a newer version' using errcode = 'check_violation';
  end if;
  update public.okta_connections
     set sealed_token = p_sealed, key_version = p_to, updated_at = now()
   where id = p_id and status <> 'deleted' and key_version = p_from
  returning team_id into v_team;
  if v_team is null then
    return false;
  end if;
  perform public.audit_team(p_audit, v_team);
  return true;
end
$$;

-- Retires every live version of the team below `p_below` (destroys its wrapped key) and ends
-- the re-seal job; refused while a live credential is still sealed under one of them. Returns
-- the versions retired.
create function public.tenant_key_retire(p_team uuid, p_below integer, p_job uuid, p_audit jsonb)
returns integer[]
language plpgsql set search_path = '' as $$
declare
  v_versions integer[];
begin
  -- Lock first: a credential being sealed under one of these versions commits before, and is
  -- seen below, or waits and then fails the live-key trigger.
  with retired as (
    update public.tenant_keys set retired_at = now(), wrapped_key = null
     where team_id = p_team and version < p_below and retired_at is null
    returning version)
  select coalesce(array_agg(version order by version), '{}') into v_versions from retired;
  if exists (select 1 from public.okta_connections
              where team_id = p_team and status <> 'deleted' and key_version < p_below) then
    raise exception 'credentials still sealed under an older data key'
      using errcode = 'check_violation';
  end if;
  perform public.job_finish('key_reseal', p_job);
  perform public.audit_team(
    p_audit || jsonb_build_object('details', jsonb_build_object('retired_versions', v_versions,
      'current_version', p_below)), p_team);
  return v_versions;
end
$$;

-- Master-key rotation: one live version re-wrapped under `p_to`, if still wrapped by `p_from`.
create function public.tenant_key_rewrap(p_team uuid, p_version integer, p_from text, p_to text,
  p_wrapped text, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
begin
  update public.tenant_keys set master_key_id = p_to, wrapped_key = p_wrapped
   where team_id = p_team and version = p_version and master_key_id = p_from
     and retired_at is null;
  if not found then
    return false;
  end if;
  perform public.audit_team(p_audit, p_team);
  return true;
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
       'okta_connections_live_key', 'tenant_key_rotate', 'connection_reseal',
       'tenant_key_retire', 'tenant_key_rewrap'])
  loop
    execute format('revoke all on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;

-- Who may rotate a team's data key (src/authz/matrix.rs, `Action::KeyRotate`).
insert into public.role_permissions (role, action) values
  ('owner', 'key.rotate'), ('admin', 'key.rotate');
insert into public.scope_permissions (scope, action) values
  ('admin', 'key.rotate');
