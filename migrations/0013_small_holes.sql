-- Smaller holes from the review of main (issue 10, item 7): a last-owner check two concurrent
-- demotions could both pass, functions and tables Supabase's default grants open to `anon`,
-- invitations that could be neither listed nor revoked and whose acceptance trusted an inviter
-- long gone and an unverified address, and decrypted downloads for every role.

-- ---------------------------------------------------------------------------------------------
-- Last owner, race-free. Two owners demoting (or removing) each other at once each saw the
-- other still an owner and both committed, leaving no owner. Every change that takes an owner
-- away now first locks the team's row (held until commit), and only then counts the other
-- owners, so the second change waits for the first and sees it (READ COMMITTED: the count is a
-- new statement, with a new snapshot). `no key update` leaves member inserts (which only need a
-- key-share lock on the team) unblocked. Security definer: the lock needs UPDATE on teams, which
-- the writers (the service role's functions) need not hold.

create or replace function public.team_members_keep_owner() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if old.role = 'owner' and (tg_op = 'DELETE' or new.role <> 'owner') then
    perform 1 from public.teams t where t.id = old.team_id for no key update;
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
revoke all on function public.team_members_keep_owner() from public, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Invitations: listed (the select policy already lets member managers read them) and revoked;
-- accepting one re-checks, in the same statement as the join, that it is open, that its inviter
-- is still a member who may invite to that role, and that the accepting user's confirmed
-- address is the invited one (`auth.users.email_confirmed_at`, which Supabase Auth sets when the
-- address is confirmed; the token's claims alone are user-editable metadata).

alter table public.team_invitations add column revoked_at timestamptz;
grant select (revoked_at) on public.team_invitations to authenticated;

create function public.invitation_revoke(p_team uuid, p_id uuid, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
begin
  update public.team_invitations set revoked_at = now()
   where id = p_id and team_id = p_team and accepted_at is null and revoked_at is null;
  if not found then
    return false;
  end if;
  perform public.audit_team(p_audit, p_team);
  return true;
end
$$;

-- Security definer: it reads auth.users, which the service role need not see.
create or replace function public.invitation_accept(p_id uuid, p_user uuid, p_audit jsonb)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.team_invitations;
  m public.team_members;
begin
  select * into v from public.team_invitations i
   where i.id = p_id and i.accepted_at is null and i.revoked_at is null and i.expires_at > now()
  for update;
  if not found then
    return null;
  end if;
  if not exists (
    select 1 from public.team_members tm
      join public.role_permissions p on p.role = tm.role and p.action = 'member.manage'
     where tm.team_id = v.team_id and tm.user_id = v.invited_by
       and (v.role <> 'owner' or tm.role = 'owner')
  ) then
    return null;
  end if;
  if not exists (
    select 1 from auth.users u
     where u.id = p_user and u.email_confirmed_at is not null and lower(u.email) = lower(v.email)
  ) then
    return null;
  end if;
  update public.team_invitations set accepted_at = now() where id = p_id;
  insert into public.team_members (team_id, user_id, role) values (v.team_id, p_user, v.role)
  returning * into m;
  perform public.audit_team(p_audit, v.team_id);
  return to_jsonb(m);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Downloads, least privilege. A snapshot holds every Okta user's profile and app assignments;
-- viewers and auditors (who get evidence) no longer download it unless the team's owner grants
-- it to their role (a team setting, changed only through team_set_download_roles, audited).
-- can() counts the grant for `backup.download` only, as the worker's matrix does.

delete from public.role_permissions where (role, action) in (('viewer', 'backup.download'), ('auditor', 'backup.download'));

create table public.team_download_roles (
  team_id uuid not null references public.teams (id) on delete cascade,
  role public.team_role not null check (role in ('viewer', 'auditor')),
  granted_by uuid references auth.users (id) on delete set null,
  granted_at timestamptz not null default now(),
  primary key (team_id, role)
);
alter table public.team_download_roles enable row level security;
create policy team_download_roles_select on public.team_download_roles for select to authenticated
  using (public.can(team_id, 'team.read'));
revoke all on public.team_download_roles from anon, authenticated;
grant select on public.team_download_roles to authenticated;
grant select, insert, update, delete on public.team_download_roles to service_role;

create or replace function public.can(team uuid, action text) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.team_members m
    where m.team_id = team and m.user_id = auth.uid()
      and (
        exists (select 1 from public.role_permissions p
                 where p.role = m.role and p.action = can.action)
        or (can.action = 'backup.download'
            and exists (select 1 from public.team_download_roles g
                         where g.team_id = m.team_id and g.role = m.role))
      )
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

-- Replaces the team's download roles; returns the roles granted afterwards.
create function public.team_set_download_roles(p_team uuid, p_roles public.team_role[],
  p_by uuid, p_audit jsonb) returns jsonb
language plpgsql set search_path = '' as $$
begin
  delete from public.team_download_roles where team_id = p_team and role <> all (p_roles);
  insert into public.team_download_roles (team_id, role, granted_by)
  select p_team, r, p_by from unnest(p_roles) r
  on conflict (team_id, role) do nothing;
  perform public.audit_team(p_audit, p_team);
  return (select coalesce(jsonb_agg(g.role order by g.role), '[]'::jsonb)
            from public.team_download_roles g where g.team_id = p_team);
end
$$;

revoke all on function public.invitation_revoke(uuid, uuid, jsonb),
  public.invitation_accept(uuid, uuid, jsonb),
  public.team_set_download_roles(uuid, public.team_role[], uuid, jsonb)
from public, anon, authenticated;
grant execute on function public.invitation_revoke(uuid, uuid, jsonb),
  public.invitation_accept(uuid, uuid, jsonb),
  public.team_set_download_roles(uuid, public.team_role[], uuid, jsonb)
to service_role;

-- ---------------------------------------------------------------------------------------------
-- Found once the shim reproduced Supabase's default grants: migration 0008 revoked these from
-- PUBLIC only, so on a Supabase project every signed-in user could execute the chain verifier
-- that skips the permission check and the account-deletion pseudonymiser (which erases any
-- team's identifying values). They are the service role's alone.

revoke all on function public.activity_chain_verify_unchecked(uuid, bigint, text, jsonb),
  public.activity_logs_pseudonymise(uuid)
from public, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Nothing for `anon`. A Supabase project grants every new function, table and sequence in
-- `public` to anon, authenticated and service_role by default (dev/supabase_shim.sql now does
-- the same locally), so the earlier migrations' `revoke ... from public` left `anon` holding
-- EXECUTE on can(), is_team_member() and more, and ALL on tables that never revoked it. The API
-- serves nobody unauthenticated through PostgREST: anon loses everything in `public`. PUBLIC
-- loses EXECUTE as well (it reaches every role); the service role keeps every function. Last in
-- this file, so it covers everything above.

do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p
     where p.pronamespace = 'public'::regnamespace
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
  loop
    execute format('revoke execute on function %s from public, anon', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
revoke all on all tables in schema public from anon;
revoke all on all sequences in schema public from anon;

-- And for what later migrations create: the migration role's default privileges stop granting
-- `anon` anything in `public`, and new functions are no longer executable by PUBLIC (a global
-- default, so revoked globally); each later migration grants what its objects need.
alter default privileges for role postgres in schema public revoke all on tables from anon;
alter default privileges for role postgres in schema public revoke all on sequences from anon;
alter default privileges for role postgres in schema public revoke all on functions from anon;
alter default privileges for role postgres revoke execute on functions from public;

-- plan_history is append-only for the service role too (0009 granted it only select and
-- insert, but Supabase's default privileges had already given it everything on the table).
revoke update, delete, truncate on public.plan_history from service_role;
