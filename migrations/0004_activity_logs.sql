-- Immutable audit trail. Append-only for every role, service_role and the table owner included:
-- the triggers below fire for all of them, and no role holds UPDATE/DELETE/TRUNCATE.

create table public.activity_logs (
  id bigint generated always as identity primary key,
  occurred_at timestamptz not null default now(),
  team_id uuid,
  actor_type text not null check (actor_type in ('user', 'api_key', 'system')),
  actor_id text not null check (char_length(actor_id) <= 100),
  action text not null check (action ~ '^[a-z_]+\.[a-z_]+$'),
  target_type text check (char_length(target_type) <= 50),
  target_id text check (char_length(target_id) <= 100),
  request_id text check (char_length(request_id) <= 100),
  source_ip inet,
  details jsonb not null default '{}'::jsonb
);
create index activity_logs_team_idx on public.activity_logs (team_id, occurred_at desc);

create function public.activity_logs_append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'activity_logs is append-only' using errcode = 'insufficient_privilege';
end
$$;
create trigger activity_logs_no_update before update or delete on public.activity_logs
  for each row execute function public.activity_logs_append_only();
create trigger activity_logs_no_truncate before truncate on public.activity_logs
  for each statement execute function public.activity_logs_append_only();

alter table public.activity_logs enable row level security;
create policy activity_logs_select on public.activity_logs for select to authenticated
  using (team_id is not null and public.is_team_member(team_id));

revoke all on public.activity_logs from public, anon, authenticated, service_role;
grant select on public.activity_logs to authenticated;
grant select, insert on public.activity_logs to service_role;
