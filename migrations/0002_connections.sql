-- Okta connections and the per-team data keys that seal their credentials.

-- One row per data-key version per team. `wrapped_key` is the data key encrypted under the master
-- key `master_key_id`; it is useless without that secret, but still only the service role may read
-- it: RLS is on and no policy grants anyone else access.
create table public.tenant_keys (
  team_id uuid not null references public.teams (id) on delete cascade,
  version integer not null check (version > 0),
  master_key_id text not null check (master_key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
  wrapped_key text not null,
  created_at timestamptz not null default now(),
  retired_at timestamptz,
  primary key (team_id, version)
);
alter table public.tenant_keys enable row level security;
revoke all on public.tenant_keys from anon, authenticated;
grant select, insert, update on public.tenant_keys to service_role;

create table public.okta_connections (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  created_by uuid not null references auth.users (id),
  org_domain text not null
    check (org_domain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+(:[0-9]{1,5})?$'),
  auth_type text not null check (auth_type in ('api_token', 'oauth_private_key_jwt')),
  granted_scopes text[] not null default '{}',
  sealed_token text,
  key_version integer,
  status text not null default 'active' check (status in ('active', 'error', 'deleted')),
  verified_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz,
  -- A live connection always has a sealed credential; a deleted one never keeps it.
  constraint okta_connections_token_state check (
    (status = 'deleted' and sealed_token is null and deleted_at is not null)
    or (status <> 'deleted' and sealed_token is not null and key_version is not null and deleted_at is null)
  )
);
create index okta_connections_team_idx on public.okta_connections (team_id);
create unique index okta_connections_live_domain_uniq
  on public.okta_connections (team_id, org_domain) where status <> 'deleted';

alter table public.okta_connections enable row level security;

create policy okta_connections_select on public.okta_connections for select to authenticated
  using (public.is_team_member(team_id));
create policy okta_connections_insert on public.okta_connections for insert to authenticated
  with check (
    created_by = auth.uid()
    and status = 'active'
    and public.has_team_role(team_id, array['owner', 'admin']::public.team_role[])
  );
create policy okta_connections_update on public.okta_connections for update to authenticated
  using (public.has_team_role(team_id, array['owner', 'admin']::public.team_role[]))
  with check (public.has_team_role(team_id, array['owner', 'admin']::public.team_role[]));

-- Column grants: the sealed credential is write-only for users, and only state columns change.
revoke all on public.okta_connections from anon, authenticated;
grant select (id, team_id, created_by, org_domain, auth_type, granted_scopes, key_version, status,
              verified_at, created_at, updated_at, deleted_at)
  on public.okta_connections to authenticated;
grant insert on public.okta_connections to authenticated;
grant update (status, sealed_token, key_version, updated_at, deleted_at)
  on public.okta_connections to authenticated;
grant all on public.okta_connections to service_role;
