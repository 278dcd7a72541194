-- Drift reads (docs/drift.md): `drift.read` (seeded with the drift captures in 0020) lets every
-- member who sees a connection's backups see what changed between them (snapshot diffs,
-- resource histories). A diff shows changed resources' normalised content with secrets
-- withheld, never a whole snapshot, so it follows `backup.read` rather than `backup.download`.

-- The per-resource version index (docs/drift.md, "Resource history"): one row each time a
-- resource's normalised content differs from its previous version, written when a backup is
-- indexed (source 'backup': the payload is item `position` of the backup's object of that type)
-- or when a change capture records it (source 'capture', with the System Log attribution). So
-- the index grows with changes, not with the tenant's size, after a connection's first backup.
-- `content_hash` is an HMAC (keyed by a Worker secret, `hash_key` names which) of the normalised
-- content: it covers secrets so a changed secret is a new version, and it is never granted to
-- users. Rows are the service role's to write, through `resource_versions_record` only.
create table public.resource_versions (
  id bigint generated always as identity primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  resource_type text not null check (resource_type ~ '^[a-z_]{1,64}$'),
  resource_id text not null check (char_length(resource_id) between 1 and 400),
  state text not null check (state in ('present', 'removed')),
  content_hash text check (content_hash ~ '^[0-9a-f]{64}$'),
  hash_key text not null check (char_length(hash_key) between 1 and 64),
  source text not null check (source in ('backup', 'capture')),
  backup_id uuid references public.backups (id) on delete cascade,
  capture_id uuid,
  position integer check (position >= 0),
  captured_at timestamptz not null,
  actor_id text check (char_length(actor_id) <= 200),
  actor_type text check (char_length(actor_type) <= 100),
  actor_display_name text check (char_length(actor_display_name) <= 300),
  client_ip text check (char_length(client_ip) <= 64),
  user_agent text check (char_length(user_agent) <= 1000),
  transaction_id text check (char_length(transaction_id) <= 200),
  event_type text check (char_length(event_type) <= 200),
  recorded_at timestamptz not null default now(),
  constraint resource_versions_shape check (
    (state = 'present') = (content_hash is not null)
    and (state = 'present') = (position is not null)
    and ((source = 'backup' and backup_id is not null and capture_id is null)
      or (source = 'capture' and capture_id is not null and backup_id is null))
  )
);
-- A backup or capture records a resource at most once: a resumed or repeated indexing run
-- inserts nothing twice.
create unique index resource_versions_backup_once
  on public.resource_versions (backup_id, resource_type, resource_id) where backup_id is not null;
create unique index resource_versions_capture_once
  on public.resource_versions (capture_id, resource_type, resource_id) where capture_id is not null;
create index resource_versions_history
  on public.resource_versions (connection_id, resource_type, resource_id, captured_at, id);
alter table public.resource_versions enable row level security;
create policy resource_versions_select on public.resource_versions for select to authenticated
  using (public.can(team_id, 'drift.read'));
revoke all on public.resource_versions from anon, authenticated;
grant select (id, team_id, connection_id, resource_type, resource_id, state, source, backup_id,
  capture_id, position, captured_at, actor_id, actor_type, actor_display_name, client_ip,
  user_agent, transaction_id, event_type, recorded_at)
  on public.resource_versions to authenticated;
grant select on public.resource_versions to service_role;

-- Each resource's latest version, kept by `resource_versions_record` in the same transaction,
-- so indexing a backup compares against one row per resource instead of the whole history.
create table public.resource_heads (
  connection_id uuid not null references public.okta_connections (id) on delete cascade,
  resource_type text not null,
  resource_id text not null,
  version_id bigint not null references public.resource_versions (id) on delete cascade,
  state text not null check (state in ('present', 'removed')),
  content_hash text,
  hash_key text not null,
  captured_at timestamptz not null,
  primary key (connection_id, resource_type, resource_id)
);
alter table public.resource_heads enable row level security;
revoke all on public.resource_heads from anon, authenticated;
grant select on public.resource_heads to service_role;

-- Records versions (a JSON array of rows shaped like `resource_versions` without id and
-- recorded_at); returns how many were new. Every row must name a connection of its team and, for
-- a backup, a backup of that connection; rows already recorded for their backup or capture are
-- skipped, so the call is idempotent. A head moves only to a later version.
create function public.resource_versions_record(rows jsonb) returns integer
  language plpgsql security definer set search_path = public, pg_temp as $$
declare
  r jsonb;
  v public.resource_versions;
  added integer := 0;
begin
  if jsonb_typeof(rows) <> 'array' or jsonb_array_length(rows) > 1000 then
    raise exception 'resource_versions_record: an array of at most 1000 rows'
      using errcode = '22023';
  end if;
  for r in select * from jsonb_array_elements(rows) loop
    if not exists (select 1 from public.okta_connections c
                   where c.id = (r->>'connection_id')::uuid and c.team_id = (r->>'team_id')::uuid)
      or (r->>'backup_id' is not null and not exists (
            select 1 from public.backups b where b.id = (r->>'backup_id')::uuid
              and b.connection_id = (r->>'connection_id')::uuid and b.status = 'complete')) then
      raise exception 'resource_versions_record: row names another team''s connection or backup'
        using errcode = '42501';
    end if;
    insert into public.resource_versions (team_id, connection_id, resource_type, resource_id,
        state, content_hash, hash_key, source, backup_id, capture_id, position, captured_at,
        actor_id, actor_type, actor_display_name, client_ip, user_agent, transaction_id, event_type)
      values ((r->>'team_id')::uuid, (r->>'connection_id')::uuid, r->>'resource_type',
        r->>'resource_id', r->>'state', r->>'content_hash', r->>'hash_key', r->>'source',
        (r->>'backup_id')::uuid, (r->>'capture_id')::uuid, (r->>'position')::integer,
        (r->>'captured_at')::timestamptz, r->>'actor_id', r->>'actor_type',
        r->>'actor_display_name', r->>'client_ip', r->>'user_agent', r->>'transaction_id',
        r->>'event_type')
      on conflict do nothing
      returning * into v;
    if v.id is not null then
      added := added + 1;
      insert into public.resource_heads as h (connection_id, resource_type, resource_id,
          version_id, state, content_hash, hash_key, captured_at)
        values (v.connection_id, v.resource_type, v.resource_id, v.id, v.state, v.content_hash,
          v.hash_key, v.captured_at)
        on conflict (connection_id, resource_type, resource_id) do update
          set version_id = excluded.version_id, state = excluded.state,
              content_hash = excluded.content_hash, hash_key = excluded.hash_key,
              captured_at = excluded.captured_at
          where h.captured_at <= excluded.captured_at;
    end if;
    v := null;
  end loop;
  return added;
end $$;
revoke all on function public.resource_versions_record(jsonb) from public, anon, authenticated;
grant execute on function public.resource_versions_record(jsonb) to service_role;
