-- Accounts and teams. A team owns Okta connections and their backups; every user gets a personal
-- team on sign-up so the product works before anyone invites anyone.

create extension if not exists pgcrypto;

create type public.team_role as enum ('owner', 'admin', 'operator', 'viewer', 'auditor');

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  display_name text check (char_length(display_name) <= 200),
  created_at timestamptz not null default now()
);

create table public.teams (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 100),
  personal boolean not null default false,
  created_by uuid not null references auth.users (id),
  created_at timestamptz not null default now()
);

create table public.team_members (
  team_id uuid not null references public.teams (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.team_role not null,
  created_at timestamptz not null default now(),
  primary key (team_id, user_id)
);
create index team_members_user_idx on public.team_members (user_id);

-- Membership tests used by every policy. SECURITY DEFINER so policies on team_members itself do
-- not recurse; search_path pinned so a caller cannot shadow the tables.
create function public.is_team_member(team uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.team_members m where m.team_id = team and m.user_id = auth.uid()
  )
$$;

create function public.has_team_role(team uuid, roles public.team_role[]) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.team_members m
    where m.team_id = team and m.user_id = auth.uid() and m.role = any (roles)
  )
$$;

revoke all on function public.is_team_member(uuid) from public;
revoke all on function public.has_team_role(uuid, public.team_role[]) from public;
grant execute on function public.is_team_member(uuid) to authenticated, service_role;
grant execute on function public.has_team_role(uuid, public.team_role[]) to authenticated, service_role;

-- Sign-up hook (Supabase pattern): profile + personal team with the user as owner.
create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  new_team uuid;
begin
  insert into public.profiles (id, email) values (new.id, new.email);
  insert into public.teams (name, personal, created_by)
    values (coalesce(new.email, 'Personal'), true, new.id)
    returning id into new_team;
  insert into public.team_members (team_id, user_id, role) values (new_team, new.id, 'owner');
  return new;
end
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();

alter table public.profiles enable row level security;
alter table public.teams enable row level security;
alter table public.team_members enable row level security;

create policy profiles_select on public.profiles for select to authenticated
  using (
    id = auth.uid()
    or exists (
      select 1 from public.team_members mine
      join public.team_members theirs on theirs.team_id = mine.team_id
      where mine.user_id = auth.uid() and theirs.user_id = profiles.id
    )
  );
create policy profiles_update on public.profiles for update to authenticated
  using (id = auth.uid()) with check (id = auth.uid());

create policy teams_select on public.teams for select to authenticated
  using (public.is_team_member(id));

create policy team_members_select on public.team_members for select to authenticated
  using (public.is_team_member(team_id));

revoke all on public.profiles, public.teams, public.team_members from anon, authenticated;
grant select on public.profiles, public.teams, public.team_members to authenticated;
grant update (display_name) on public.profiles to authenticated;
grant all on public.profiles, public.teams, public.team_members to service_role;
