-- Backup indexing in slices, with the comparison in the database. The index job used to read
-- every head of a type into the worker and hold them while it streamed the backup's object: for
-- the 10k-user benchmark tenant that is 345,001 heads (memberships and assignments outnumber
-- users 30 to 1), and at 100k users several million, more than a Worker's 128 MB; and it ran in
-- one invocation, far past a Worker's CPU and subrequest limits. Now the job streams the object
-- and sends each item's id and hash, 1,000 to a call; the database compares them with the heads,
-- records what changed and marks every id seen; once a type is streamed, sweeps over its heads
-- in key order record as removed those the backup did not hold. The job's position is kept
-- here, moved by those same calls in their own transactions, under a step number each call must
-- name (compare-and-set): a slice can stop after any call and the next one resumes where the
-- last call left it, and of two deliveries racing over one backup only one moves on.

-- Ids a backup's indexing has seen, per type, until that type's sweep has passed them.
create table public.resource_index_seen (
  backup_id uuid not null references public.backups (id) on delete cascade,
  resource_type text not null,
  resource_id text not null,
  primary key (backup_id, resource_type, resource_id)
);
alter table public.resource_index_seen enable row level security;
revoke all on public.resource_index_seen from anon, authenticated, service_role;

-- Where a backup's indexing is. `checkpoint` is the job's position: {"ordinal": the type's
-- place in the job's order, "phase": "observe" | "sweep", "offset": plaintext byte after the
-- last item observed, "position": that item's position + 1}; `sweep_after` is the sweep's cursor.
create table public.resource_index_progress (
  backup_id uuid primary key references public.backups (id) on delete cascade,
  step bigint not null check (step > 0),
  checkpoint jsonb not null,
  sweep_after text,
  done boolean not null default false,
  updated_at timestamptz not null default now()
);
alter table public.resource_index_progress enable row level security;
revoke all on public.resource_index_progress from anon, authenticated;
grant select on public.resource_index_progress to service_role;

-- Moves a backup's progress from step `p_step` to the next, with `p_checkpoint`; false if another
-- call moved it first (or the indexing is done).
create function public.resource_index_advance(p_backup uuid, p_step bigint, p_checkpoint jsonb,
    p_sweep_after text) returns boolean
  language plpgsql security definer set search_path = public, pg_temp as $$
begin
  if p_step = 0 then
    insert into public.resource_index_progress (backup_id, step, checkpoint, sweep_after)
      values (p_backup, 1, p_checkpoint, p_sweep_after)
      on conflict (backup_id) do nothing;
    return found;
  end if;
  update public.resource_index_progress
     set step = step + 1, checkpoint = p_checkpoint, sweep_after = p_sweep_after, updated_at = now()
   where backup_id = p_backup and step = p_step and not done;
  return found;
end $$;
revoke all on function public.resource_index_advance(uuid, bigint, jsonb, text)
  from public, anon, authenticated, service_role;

-- The complete backup being indexed, or an error.
create function public.resource_index_backup(p_backup uuid) returns public.backups
  language plpgsql security definer set search_path = public, pg_temp as $$
declare
  b public.backups;
begin
  select * into b from public.backups where id = p_backup and status = 'complete';
  if not found then
    raise exception 'resource_index: not a complete backup' using errcode = '42501';
  end if;
  return b;
end $$;
revoke all on function public.resource_index_backup(uuid)
  from public, anon, authenticated, service_role;

-- Observes up to 1,000 items of type `p_type` (`[{"id", "hash", "position"}]`), then sets the
-- checkpoint to (`p_ordinal`, observe, `p_offset`, `p_position`). An id this backup already
-- saw is skipped (Okta's paging can repeat one while the tenant changes: the first counts); an
-- id whose head is newer than the backup (a change capture during it, or a later backup indexed
-- first) is only marked seen; one that is new, was removed, or whose hash differs (or was made
-- with another key) gets a version and becomes its head. Returns {"step", "recorded",
-- "unchanged"}, or {"stale": true} having done nothing.
create function public.resource_index_observe(p_backup uuid, p_step bigint, p_type text,
    p_ordinal integer, p_hash_key text, p_items jsonb, p_offset bigint, p_position integer)
    returns jsonb
  language plpgsql security definer set search_path = public, pg_temp as $$
declare
  b public.backups;
  recorded integer;
  observed integer;
begin
  if jsonb_typeof(p_items) <> 'array' or jsonb_array_length(p_items) > 1000 then
    raise exception 'resource_index_observe: an array of at most 1000 items'
      using errcode = '22023';
  end if;
  b := public.resource_index_backup(p_backup);
  if not public.resource_index_advance(p_backup, p_step, jsonb_build_object('ordinal', p_ordinal,
      'phase', 'observe', 'offset', p_offset, 'position', p_position), null) then
    return jsonb_build_object('stale', true);
  end if;
  with items as (
    select distinct on (i->>'id') i->>'id' as rid, i->>'hash' as hash,
           (i->>'position')::integer as pos
      from jsonb_array_elements(p_items) i
     order by i->>'id', (i->>'position')::integer
  ), fresh as (
    insert into public.resource_index_seen (backup_id, resource_type, resource_id)
    select p_backup, p_type, rid from items
    on conflict do nothing
    returning resource_id
  ), compared as (
    select it.rid, it.hash, it.pos, h.state as head_state, h.content_hash as head_hash,
           h.hash_key as head_key, h.captured_at as head_at
      from items it
      join fresh f on f.resource_id = it.rid
      left join public.resource_heads h on h.connection_id = b.connection_id
           and h.resource_type = p_type and h.resource_id = it.rid
  ), added as (
    insert into public.resource_versions (team_id, connection_id, resource_type, resource_id,
        state, content_hash, hash_key, source, backup_id, position, captured_at)
    select b.team_id, b.connection_id, p_type, c.rid, 'present', c.hash, p_hash_key, 'backup',
           b.id, c.pos, b.started_at
      from compared c
     where c.head_at is null
        or (c.head_at <= b.started_at
            and (c.head_state <> 'present' or c.head_key <> p_hash_key
                 or c.head_hash is distinct from c.hash))
    on conflict do nothing
    returning *
  ), moved as (
    insert into public.resource_heads as h (connection_id, resource_type, resource_id,
        version_id, state, content_hash, hash_key, captured_at)
    select v.connection_id, v.resource_type, v.resource_id, v.id, v.state, v.content_hash,
           v.hash_key, v.captured_at
      from added v
    on conflict (connection_id, resource_type, resource_id) do update
      set version_id = excluded.version_id, state = excluded.state,
          content_hash = excluded.content_hash, hash_key = excluded.hash_key,
          captured_at = excluded.captured_at
      where h.captured_at <= excluded.captured_at
  )
  select (select count(*) from added), (select count(*) from compared) into recorded, observed;
  return jsonb_build_object('step', p_step + 1, 'recorded', recorded,
                            'unchanged', observed - recorded);
end $$;
revoke all on function public.resource_index_observe(uuid, bigint, text, integer, text, jsonb,
    bigint, integer) from public, anon, authenticated;
grant execute on function public.resource_index_observe(uuid, bigint, text, integer, text, jsonb,
    bigint, integer) to service_role;

-- Sweeps the next `p_limit` (at most 50,000) heads of type `p_type` (in id order, from the cursor the checkpoint
-- keeps while it is this type's sweep): a head that is present, not newer than the backup and
-- not seen by it gets a `removed` version. The seen marks passed are deleted. When the type's
-- heads are all swept, the checkpoint moves to the next type's start. Returns {"step",
-- "removed", "done"}, or {"stale": true} having done nothing.
create function public.resource_index_sweep(p_backup uuid, p_step bigint, p_type text,
    p_ordinal integer, p_hash_key text, p_limit integer) returns jsonb
  language plpgsql security definer set search_path = public, pg_temp as $$
declare
  b public.backups;
  p public.resource_index_progress;
  cursor_id text;
  last_id text;
  scanned integer;
  removed integer;
  finished boolean;
begin
  if p_limit is null or p_limit < 1 or p_limit > 50000 then
    raise exception 'resource_index_sweep: a limit of 1 to 50000 heads' using errcode = '22023';
  end if;
  b := public.resource_index_backup(p_backup);
  select * into p from public.resource_index_progress where backup_id = p_backup;
  if found and p.checkpoint->>'phase' = 'sweep' and (p.checkpoint->>'ordinal')::integer = p_ordinal then
    cursor_id := p.sweep_after;
  end if;
  select count(*), max(resource_id) into scanned, last_id from (
    select h.resource_id from public.resource_heads h
     where h.connection_id = b.connection_id and h.resource_type = p_type
       and (cursor_id is null or h.resource_id > cursor_id)
     order by h.resource_id
     limit p_limit) chunk;
  finished := scanned < p_limit;
  if not public.resource_index_advance(p_backup, p_step,
      case when finished
           then jsonb_build_object('ordinal', p_ordinal + 1, 'phase', 'observe', 'offset', 0,
                                   'position', 0)
           else jsonb_build_object('ordinal', p_ordinal, 'phase', 'sweep') end,
      case when finished then null else last_id end) then
    return jsonb_build_object('stale', true);
  end if;
  with gone as (
    select h.resource_id from public.resource_heads h
     where h.connection_id = b.connection_id and h.resource_type = p_type
       and (cursor_id is null or h.resource_id > cursor_id)
       and (finished or h.resource_id <= last_id)
       and h.state = 'present' and h.captured_at <= b.started_at
       and not exists (select 1 from public.resource_index_seen s
                        where s.backup_id = p_backup and s.resource_type = p_type
                          and s.resource_id = h.resource_id)
  ), added as (
    insert into public.resource_versions (team_id, connection_id, resource_type, resource_id,
        state, hash_key, source, backup_id, captured_at)
    select b.team_id, b.connection_id, p_type, g.resource_id, 'removed', p_hash_key, 'backup',
           b.id, b.started_at
      from gone g
    on conflict do nothing
    returning *
  ), moved as (
    update public.resource_heads h
       set version_id = v.id, state = v.state, content_hash = null, hash_key = v.hash_key,
           captured_at = v.captured_at
      from added v
     where h.connection_id = v.connection_id and h.resource_type = v.resource_type
       and h.resource_id = v.resource_id and h.captured_at <= v.captured_at
  )
  select count(*) into removed from added;
  delete from public.resource_index_seen s
   where s.backup_id = p_backup and s.resource_type = p_type
     and (finished or ((cursor_id is null or s.resource_id > cursor_id) and s.resource_id <= last_id));
  return jsonb_build_object('step', p_step + 1, 'removed', removed, 'done', finished);
end $$;
revoke all on function public.resource_index_sweep(uuid, bigint, text, integer, text, integer)
  from public, anon, authenticated;
grant execute on function public.resource_index_sweep(uuid, bigint, text, integer, text, integer)
  to service_role;

-- Marks a backup's indexing done (a redelivered message then finds nothing to do) and drops any
-- seen marks left over. Returns false if another call moved the progress first.
create function public.resource_index_finish(p_backup uuid, p_step bigint) returns boolean
  language plpgsql security definer set search_path = public, pg_temp as $$
begin
  perform public.resource_index_backup(p_backup);
  if p_step = 0 then
    insert into public.resource_index_progress (backup_id, step, checkpoint, done)
      values (p_backup, 1, '{}'::jsonb, true)
      on conflict (backup_id) do nothing;
  else
    update public.resource_index_progress set step = step + 1, done = true, updated_at = now()
     where backup_id = p_backup and step = p_step and not done;
  end if;
  if not found then
    return false;
  end if;
  delete from public.resource_index_seen where backup_id = p_backup;
  return true;
end $$;
revoke all on function public.resource_index_finish(uuid, bigint) from public, anon, authenticated;
grant execute on function public.resource_index_finish(uuid, bigint) to service_role;
