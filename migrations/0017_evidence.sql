-- Evidence, part 2.
--
-- Chain content v2: the API key an `api_key` actor used (key_id) and the client's own request id
-- (client_request_id), the columns migration 0010 added, enter the hashed content. Rows keep the
-- version they were hashed with (chain_version): every row written before this migration stays
-- v1 and verifies exactly as before; every new row is v2. The version is part of the content
-- (its first element, "butterfly.activity.v2"), so switching a row's version changes its hash
-- and is caught like any other edit. docs/audit-pack.md specifies both forms.

alter table public.activity_logs
  add column chain_version smallint not null default 1 check (chain_version in (1, 2));

create or replace function public.activity_chain_content(r public.activity_logs) returns text
language sql stable parallel safe set search_path = pg_catalog, public as $$
  select activity_canonical_json(case when r.chain_version = 2 then jsonb_build_array(
    'butterfly.activity.v2',
    r.chain_seq,
    r.id,
    r.team_id,
    to_char(r.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_type,
    case when r.actor_type = 'user' then null else r.actor_id end,
    r.key_id,
    r.action,
    r.target_type,
    case when r.target_type = 'user' then null else r.target_id end,
    r.request_id,
    r.client_request_id,
    r.details - activity_identity_detail_keys(),
    r.identity_commitment,
    r.prev_hash
  ) else jsonb_build_array(
    'butterfly.activity.v1',
    r.chain_seq,
    r.id,
    r.team_id,
    to_char(r.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    r.actor_type,
    case when r.actor_type = 'user' then null else r.actor_id end,
    r.action,
    r.target_type,
    case when r.target_type = 'user' then null else r.target_id end,
    r.request_id,
    r.details - activity_identity_detail_keys(),
    r.identity_commitment,
    r.prev_hash
  ) end)
$$;

-- The link trigger of 0008, writing v2 rows.
create or replace function public.activity_logs_link() returns trigger
language plpgsql security definer set search_path = pg_catalog, public, extensions, pg_temp as $$
declare
  k uuid := activity_chain_team(new.team_id);
  head public.activity_chain_heads;
  salt bytea;
  fields jsonb;
begin
  insert into public.activity_chain_heads (chain_team, seq, head_hash)
    values (k, 0, activity_chain_genesis()) on conflict do nothing;
  select * into head from public.activity_chain_heads h where h.chain_team = k for update;
  new.occurred_at := clock_timestamp();
  new.chain_seq := head.seq + 1;
  new.prev_hash := head.head_hash;
  new.chain_version := 2;
  fields := activity_identity_fields(new);
  if fields = '{}'::jsonb then
    new.identity_commitment := null;
  else
    salt := gen_random_bytes(32);
    new.identity_commitment := activity_identity_commitment(salt, fields);
    insert into public.activity_log_salts (log_id, team_id, salt) values (new.id, new.team_id, salt);
  end if;
  new.row_hash := activity_chain_hash(new);
  update public.activity_chain_heads
    set seq = new.chain_seq, head_hash = new.row_hash, updated_at = now()
    where chain_team = k;
  return new;
end
$$;

revoke all on function public.activity_chain_content(public.activity_logs),
  public.activity_logs_link() from public, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Per-team IP allow-lists for API access (src/allowlist.rs). No row: no restriction. Members
-- read their team's list; only the worker writes it, through team_allowlist_set, which records
-- the change in the team's activity chain in the same transaction.

create table public.team_ip_allowlists (
  team_id uuid primary key references public.teams (id) on delete cascade,
  entries text[] not null check (cardinality(entries) between 1 and 100),
  updated_at timestamptz not null default now()
);
alter table public.team_ip_allowlists enable row level security;
create policy team_ip_allowlists_select on public.team_ip_allowlists for select to authenticated
  using (public.can(team_id, 'team.read'));
revoke all on public.team_ip_allowlists from public, anon, authenticated, service_role;
grant select on public.team_ip_allowlists to authenticated;
-- The service role writes it only through team_allowlist_set (not a definer: it runs as the caller).
grant select, insert, update, delete on public.team_ip_allowlists to service_role;

-- Replaces a team's list (an empty list removes the restriction). Every entry must be a CIDR
-- network as PostgreSQL reads it (no host bits): the worker validated them already, this keeps
-- a bug from storing one it could not enforce.
create function public.team_allowlist_set(p_team uuid, p_entries text[], p_audit jsonb)
returns void
language plpgsql set search_path = '' as $$
begin
  if coalesce(cardinality(p_entries), 0) = 0 then
    delete from public.team_ip_allowlists where team_id = p_team;
  else
    perform e::cidr from unnest(p_entries) e;
    insert into public.team_ip_allowlists (team_id, entries) values (p_team, p_entries)
      on conflict (team_id) do update set entries = excluded.entries, updated_at = now();
  end if;
  perform public.audit_team(p_audit, p_team);
end
$$;
revoke all on function public.team_allowlist_set(uuid, text[], jsonb) from public, anon, authenticated;
grant execute on function public.team_allowlist_set(uuid, text[], jsonb) to service_role;
