-- `resource_versions_record` (0021) as one set-based statement instead of a row-by-row loop.
-- Indexing a backup records every resource the first time (345,001 rows for the 10k-user
-- benchmark tenant, whose memberships and assignments outnumber its users 30 to 1), and the loop
-- ran two ownership lookups, an insert and a head upsert per row: 0.42-0.49 s a call of 1,000 rows
-- on the shared development machine against 0.13-0.19 s for this version, so the first index of
-- that tenant spent minutes in this function (docs/drift.md, "Benchmark"). Same contract: at most
-- 1,000 rows; every distinct (team, connection, backup) the rows name is checked, once; rows
-- already recorded for their backup or capture are skipped (also a repeat inside one call); a
-- head moves only to a later version, and of one resource's new rows in a call the latest (then
-- the last given) becomes its head, as the loop left it.
create or replace function public.resource_versions_record(rows jsonb) returns integer
  language plpgsql security definer set search_path = public, pg_temp as $$
declare
  added integer;
begin
  if jsonb_typeof(rows) <> 'array' or jsonb_array_length(rows) > 1000 then
    raise exception 'resource_versions_record: an array of at most 1000 rows'
      using errcode = '22023';
  end if;
  -- Each distinct connection and backup the rows name is checked once, not once per row.
  if exists (select 1 from (select distinct r->>'team_id' as team, r->>'connection_id' as conn,
                                   r->>'backup_id' as backup
                              from jsonb_array_elements(rows) r) n
             where not exists (select 1 from public.okta_connections c
                                where c.id = n.conn::uuid and c.team_id = n.team::uuid)
                or (n.backup is not null and not exists (
                      select 1 from public.backups b where b.id = n.backup::uuid
                         and b.connection_id = n.conn::uuid and b.status = 'complete'))) then
    raise exception 'resource_versions_record: row names another team''s connection or backup'
      using errcode = '42501';
  end if;
  with added_rows as (
    insert into public.resource_versions (team_id, connection_id, resource_type, resource_id,
        state, content_hash, hash_key, source, backup_id, capture_id, position, captured_at,
        actor_id, actor_type, actor_display_name, client_ip, user_agent, transaction_id, event_type)
    select (r->>'team_id')::uuid, (r->>'connection_id')::uuid, r->>'resource_type',
        r->>'resource_id', r->>'state', r->>'content_hash', r->>'hash_key', r->>'source',
        (r->>'backup_id')::uuid, (r->>'capture_id')::uuid, (r->>'position')::integer,
        (r->>'captured_at')::timestamptz, r->>'actor_id', r->>'actor_type',
        r->>'actor_display_name', r->>'client_ip', r->>'user_agent', r->>'transaction_id',
        r->>'event_type'
      from jsonb_array_elements(rows) with ordinality as e(r, n)
     order by n
    on conflict do nothing
    returning *
  ), moved as (
    insert into public.resource_heads as h (connection_id, resource_type, resource_id,
        version_id, state, content_hash, hash_key, captured_at)
    select distinct on (v.connection_id, v.resource_type, v.resource_id)
           v.connection_id, v.resource_type, v.resource_id, v.id, v.state, v.content_hash,
           v.hash_key, v.captured_at
      from added_rows v
     order by v.connection_id, v.resource_type, v.resource_id, v.captured_at desc, v.id desc
    on conflict (connection_id, resource_type, resource_id) do update
      set version_id = excluded.version_id, state = excluded.state,
          content_hash = excluded.content_hash, hash_key = excluded.hash_key,
          captured_at = excluded.captured_at
      where h.captured_at <= excluded.captured_at
  )
  select count(*) into added from added_rows;
  return added;
end $$;
revoke all on function public.resource_versions_record(jsonb) from public, anon, authenticated;
grant execute on function public.resource_versions_record(jsonb) to service_role;
