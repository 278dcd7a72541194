-- OAuth 2.0 service-app connections (issue 17): a connection authenticates either with an SSWS
-- API token or as an Okta service app (Client Credentials, private_key_jwt). For a service app
-- the sealed credential (`sealed_token`, sealed like tokens) is the client id and the private
-- key Butterfly generated; these columns say which app and key it is, the scopes it asks for,
-- those Okta did not grant, and when a call with it last succeeded. Access tokens are never
-- stored: they live in the worker's memory until they expire.

alter table public.okta_connections
  add column client_id text
    check (client_id is null or client_id ~ '^[A-Za-z0-9_-]{1,100}$'),
  add column key_id text check (key_id is null or key_id ~ '^[A-Za-z0-9_-]{1,100}$'),
  add column key_created_at timestamptz,
  add column requested_scopes text[] not null default '{}',
  add column missing_scopes text[] not null default '{}',
  add column last_success_at timestamptz,
  add constraint okta_connections_auth_shape check (
    (auth_type = 'api_token' and client_id is null and key_id is null)
    or (auth_type = 'oauth_private_key_jwt' and client_id is not null and key_id is not null
        and key_created_at is not null and cardinality(requested_scopes) > 0)
  );

grant select (client_id, key_id, key_created_at, requested_scopes, missing_scopes, last_success_at)
  on public.okta_connections to authenticated;

-- Same as before, with the service-app columns; a service app is stored before it is verified
-- (the admin registers its key in Okta after Butterfly generated it), so `verified_at` may be null.
create or replace function public.connection_create(p_row jsonb, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.okta_connections;
begin
  insert into public.okta_connections (id, team_id, created_by, org_domain, auth_type,
    granted_scopes, sealed_token, key_version, status, verified_at, client_id, key_id,
    key_created_at, requested_scopes, last_success_at)
  values ((p_row ->> 'id')::uuid, (p_row ->> 'team_id')::uuid, (p_row ->> 'created_by')::uuid,
    p_row ->> 'org_domain', p_row ->> 'auth_type',
    array(select jsonb_array_elements_text(p_row -> 'granted_scopes')),
    p_row ->> 'sealed_token', (p_row ->> 'key_version')::integer, 'active',
    (p_row ->> 'verified_at')::timestamptz, p_row ->> 'client_id', p_row ->> 'key_id',
    (p_row ->> 'key_created_at')::timestamptz,
    array(select jsonb_array_elements_text(coalesce(p_row -> 'requested_scopes', '[]'))),
    (p_row ->> 'verified_at')::timestamptz)
  returning * into v;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(v) - 'sealed_token' - 'deleted_at';
end
$$;

-- A service app's verification: the scopes Okta granted and those it did not; clears the error.
create function public.connection_verify(p_id uuid, p_granted jsonb, p_missing jsonb,
  p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
declare
  v public.okta_connections;
begin
  update public.okta_connections
     set granted_scopes = array(select jsonb_array_elements_text(p_granted)),
         missing_scopes = array(select jsonb_array_elements_text(p_missing)),
         verified_at = now(), last_success_at = now(), last_error = null, updated_at = now()
   where id = p_id and status = 'active' and auth_type = 'oauth_private_key_jwt'
  returning * into v;
  if v.id is null then
    raise exception 'connection % is not an active service app', p_id
      using errcode = 'check_violation';
  end if;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(v) - 'sealed_token' - 'deleted_at';
end
$$;
revoke all on function public.connection_verify(uuid, jsonb, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function public.connection_verify(uuid, jsonb, jsonb, jsonb) to service_role;

-- A complete backup is a successful use of the connection's credential.
create function public.backups_mark_connection_success() returns trigger
language plpgsql set search_path = '' as $$
begin
  update public.okta_connections set last_success_at = now()
   where id = new.connection_id;
  return new;
end
$$;
revoke all on function public.backups_mark_connection_success() from public, anon, authenticated;
create trigger backups_mark_connection_success
  after update of status on public.backups
  for each row when (new.status = 'complete' and old.status is distinct from 'complete')
  execute function public.backups_mark_connection_success();

-- Drift checks run for service-app connections too (they need `okta.logs.read`).
create or replace function public.drift_due(p_limit integer)
returns table (connection_id uuid, team_id uuid)
language plpgsql volatile set search_path = '' as $$
#variable_conflict use_column
begin
  insert into public.drift_settings (connection_id, team_id)
    select c.id, c.team_id from public.okta_connections c
     where c.status = 'active'
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
