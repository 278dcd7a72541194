-- Access control as data: the permission matrix (role x action) and what each API-key scope may
-- do, mirrored from src/authz/matrix.rs (a stack test compares the two). Policies ask
-- public.can(team, action) instead of listing roles, so the matrix lives in one place per side.
-- API keys: high-entropy secrets stored as keyed hashes; a key acts as its creator, confined to
-- its team and its scopes, and PostgREST sees that through claims of the JWT the worker mints.

create table public.role_permissions (
  role public.team_role not null,
  action text not null,
  primary key (role, action)
);

create table public.scope_permissions (
  scope text not null,
  action text not null,
  primary key (scope, action)
);

insert into public.role_permissions (role, action) values
  ('owner', 'team.read'), ('admin', 'team.read'), ('operator', 'team.read'),
  ('viewer', 'team.read'), ('auditor', 'team.read'),
  ('owner', 'member.manage'), ('admin', 'member.manage'),
  ('owner', 'connection.read'), ('admin', 'connection.read'), ('operator', 'connection.read'),
  ('viewer', 'connection.read'), ('auditor', 'connection.read'),
  ('owner', 'connection.manage'), ('admin', 'connection.manage'),
  ('owner', 'backup.read'), ('admin', 'backup.read'), ('operator', 'backup.read'),
  ('viewer', 'backup.read'), ('auditor', 'backup.read'),
  ('owner', 'backup.run'), ('admin', 'backup.run'), ('operator', 'backup.run'),
  ('owner', 'backup.download'), ('admin', 'backup.download'), ('operator', 'backup.download'),
  ('viewer', 'backup.download'), ('auditor', 'backup.download'),
  ('owner', 'activity.read'), ('admin', 'activity.read'), ('operator', 'activity.read'),
  ('viewer', 'activity.read'), ('auditor', 'activity.read'),
  ('owner', 'apikey.manage'), ('admin', 'apikey.manage'),
  ('owner', 'compliance.read'), ('admin', 'compliance.read'), ('operator', 'compliance.read'),
  ('viewer', 'compliance.read'), ('auditor', 'compliance.read'),
  ('owner', 'compliance.run'), ('admin', 'compliance.run'), ('operator', 'compliance.run'),
  ('owner', 'finding.triage'), ('admin', 'finding.triage'), ('operator', 'finding.triage'),
  ('owner', 'risk.accept'), ('admin', 'risk.accept');

insert into public.scope_permissions (scope, action) values
  ('read', 'team.read'), ('read', 'connection.read'), ('read', 'backup.read'),
  ('read', 'activity.read'), ('read', 'compliance.read'),
  ('backup', 'team.read'), ('backup', 'connection.read'), ('backup', 'backup.read'),
  ('backup', 'backup.run'), ('backup', 'compliance.run'),
  ('restore', 'team.read'), ('restore', 'connection.read'), ('restore', 'backup.read'),
  ('restore', 'backup.download'),
  ('admin', 'team.read'), ('admin', 'member.manage'), ('admin', 'connection.read'),
  ('admin', 'connection.manage'), ('admin', 'backup.read'), ('admin', 'backup.run'),
  ('admin', 'backup.download'), ('admin', 'activity.read'), ('admin', 'compliance.read'),
  ('admin', 'compliance.run'), ('admin', 'finding.triage'), ('admin', 'risk.accept');

alter table public.role_permissions enable row level security;
alter table public.scope_permissions enable row level security;
revoke all on public.role_permissions, public.scope_permissions from anon, authenticated;
grant select on public.role_permissions, public.scope_permissions to service_role;

-- May the caller do `action` in `team`? Their role must allow it; an API-key token (claim
-- `key_id`) must also belong to that team (claim `key_team`) and carry a scope that allows it.
create function public.can(team uuid, action text) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.team_members m
    join public.role_permissions p on p.role = m.role and p.action = can.action
    where m.team_id = team and m.user_id = auth.uid()
  )
  and (
    coalesce(auth.jwt() ->> 'key_id', '') = ''
    or (
      auth.jwt() ->> 'key_team' = team::text
      and exists (
        select 1 from public.scope_permissions s
        where s.action = can.action
          and s.scope in (select jsonb_array_elements_text(coalesce(auth.jwt() -> 'scopes', '[]'::jsonb)))
      )
    )
  )
$$;
revoke all on function public.can(uuid, text) from public;
grant execute on function public.can(uuid, text) to authenticated, service_role;

-- Membership now also honours an API key's team: existing select policies keep their text.
create or replace function public.is_team_member(team uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select public.can(team, 'team.read')
$$;

drop policy okta_connections_insert on public.okta_connections;
drop policy okta_connections_update on public.okta_connections;
create policy okta_connections_insert on public.okta_connections for insert to authenticated
  with check (
    created_by = auth.uid()
    and status = 'active'
    and public.can(team_id, 'connection.manage')
  );
create policy okta_connections_update on public.okta_connections for update to authenticated
  using (public.can(team_id, 'connection.manage'))
  with check (public.can(team_id, 'connection.manage'));

drop policy backups_insert on public.backups;
create policy backups_insert on public.backups for insert to authenticated
  with check (
    trigger = 'manual'
    and status = 'running'
    and requested_by = auth.uid()
    and public.can(team_id, 'backup.run')
    and exists (
      select 1 from public.okta_connections c
      where c.id = connection_id and c.team_id = backups.team_id and c.status = 'active'
    )
  );

-- Team membership changes: owners and admins manage members; only owners touch the owner role.
create policy team_members_insert on public.team_members for insert to authenticated
  with check (
    public.can(team_id, 'member.manage')
    and (role <> 'owner' or public.has_team_role(team_id, array['owner']::public.team_role[]))
  );
create policy team_members_update on public.team_members for update to authenticated
  using (
    public.can(team_id, 'member.manage')
    and (role <> 'owner' or public.has_team_role(team_id, array['owner']::public.team_role[]))
  )
  with check (
    public.can(team_id, 'member.manage')
    and (role <> 'owner' or public.has_team_role(team_id, array['owner']::public.team_role[]))
  );
create policy team_members_delete on public.team_members for delete to authenticated
  using (
    public.can(team_id, 'member.manage')
    and (role <> 'owner' or public.has_team_role(team_id, array['owner']::public.team_role[]))
  );
grant insert, delete on public.team_members to authenticated;
grant update (role) on public.team_members to authenticated;

-- Last-owner protection, whoever writes: a team always keeps at least one owner.
create function public.team_members_keep_owner() returns trigger
language plpgsql set search_path = '' as $$
begin
  if old.role = 'owner' and (tg_op = 'DELETE' or new.role <> 'owner') then
    if not exists (
      select 1 from public.team_members m
      where m.team_id = old.team_id and m.role = 'owner' and m.user_id <> old.user_id
    ) and exists (select 1 from public.teams t where t.id = old.team_id) then
      raise exception 'a team must keep at least one owner' using errcode = '23514';
    end if;
  end if;
  return coalesce(new, old);
end
$$;
create trigger team_members_keep_owner before update or delete on public.team_members
  for each row execute function public.team_members_keep_owner();

-- Invitations: an owner or admin invites an email address with a role; the signed-in user with
-- that email accepts. The token is high-entropy and stored only as a keyed hash.
create table public.team_invitations (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  email text not null check (char_length(email) between 3 and 320),
  role public.team_role not null,
  invited_by uuid not null references auth.users (id),
  token_hash text not null unique,
  expires_at timestamptz not null,
  accepted_at timestamptz,
  created_at timestamptz not null default now()
);
create index team_invitations_team_idx on public.team_invitations (team_id);
alter table public.team_invitations enable row level security;
create policy team_invitations_select on public.team_invitations for select to authenticated
  using (public.can(team_id, 'member.manage'));
create policy team_invitations_insert on public.team_invitations for insert to authenticated
  with check (
    invited_by = auth.uid()
    and accepted_at is null
    and public.can(team_id, 'member.manage')
    and (role <> 'owner' or public.has_team_role(team_id, array['owner']::public.team_role[]))
  );
revoke all on public.team_invitations from anon, authenticated;
grant select (id, team_id, email, role, invited_by, expires_at, accepted_at, created_at)
  on public.team_invitations to authenticated;
grant insert on public.team_invitations to authenticated;
grant all on public.team_invitations to service_role;

create table public.api_keys (
  id uuid primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  secret_hash text not null check (secret_hash ~ '^[0-9a-f]{64}$'),
  scopes text[] not null check (
    cardinality(scopes) > 0 and scopes <@ array['read', 'backup', 'restore', 'admin']
  ),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz not null default now()
);
create index api_keys_team_idx on public.api_keys (team_id);
alter table public.api_keys enable row level security;
create policy api_keys_select on public.api_keys for select to authenticated
  using (public.can(team_id, 'apikey.manage'));
create policy api_keys_insert on public.api_keys for insert to authenticated
  with check (
    user_id = auth.uid()
    and revoked_at is null
    and last_used_at is null
    and public.can(team_id, 'apikey.manage')
  );
create policy api_keys_update on public.api_keys for update to authenticated
  using (public.can(team_id, 'apikey.manage'))
  with check (public.can(team_id, 'apikey.manage'));
revoke all on public.api_keys from anon, authenticated;
grant select (id, team_id, user_id, name, scopes, expires_at, revoked_at, last_used_at, created_at)
  on public.api_keys to authenticated;
grant insert on public.api_keys to authenticated;
grant update (revoked_at) on public.api_keys to authenticated;
grant all on public.api_keys to service_role;

-- Compliance results follow the matrix too: reading them is `compliance.read`, so a key without
-- that scope sees none even in its own team.
drop policy compliance_runs_select on public.compliance_runs;
drop policy compliance_findings_select on public.compliance_findings;
drop policy compliance_remediations_select on public.compliance_remediations;
create policy compliance_runs_select on public.compliance_runs for select to authenticated
  using (public.can(team_id, 'compliance.read'));
create policy compliance_findings_select on public.compliance_findings for select to authenticated
  using (public.can(team_id, 'compliance.read'));
create policy compliance_remediations_select on public.compliance_remediations for select to authenticated
  using (public.can(team_id, 'compliance.read'));
