-- Change captures in the version index (docs/drift.md, "Resource history"): a drift check's
-- capture records each changed resource's new version in `resource_versions` (source 'capture',
-- with its System Log attribution) in the same transaction as the capture row and the cursor,
-- so a check killed anywhere records a capture's versions exactly once, with the capture.
-- A capture's versions go with the capture (and so with its base backup, as a backup's go with
-- the backup).
--
-- A finished drift check also clears the connection's `last_error` when a drift check wrote it
-- (prefix `drift check: `): the credential works again. Errors other jobs noted are theirs to
-- clear.

alter table public.resource_versions
  add constraint resource_versions_capture_fk foreign key (capture_id)
  references public.drift_captures (id) on delete cascade;

drop function public.drift_record(jsonb, jsonb, jsonb, jsonb);

-- As in 0020, plus `p_versions`: the capture's versions (rows as `resource_versions_record`
-- takes them, every one naming this capture), recorded 1,000 at a time after the capture row.
create function public.drift_record(p_advance jsonb, p_capture jsonb, p_alerts jsonb,
  p_versions jsonb, p_audit jsonb)
returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  v_connection uuid := (p_advance ->> 'connection_id')::uuid;
  v public.drift_settings;
  v_capture uuid := (p_capture ->> 'id')::uuid;
  a jsonb;
  v_versions jsonb := coalesce(p_versions, '[]'::jsonb);
  v_chunk integer := 0;
begin
  select * into v from public.drift_settings s where s.connection_id = v_connection for update;
  if not found
     or v.cursor is distinct from (p_advance ->> 'from_cursor')
     or v.base_backup_id is distinct from (p_advance ->> 'from_base')::uuid
     or v.last_seq <> (p_advance ->> 'from_seq')::integer then
    return false;
  end if;
  if jsonb_typeof(v_versions) <> 'array' then
    raise exception 'drift_record: versions must be an array' using errcode = '22023';
  end if;
  if p_capture is null and jsonb_array_length(v_versions) > 0 then
    raise exception 'drift_record: versions without a capture' using errcode = 'check_violation';
  end if;
  if p_capture is not null then
    if (p_capture ->> 'connection_id')::uuid <> v_connection
       or (p_capture ->> 'team_id')::uuid <> v.team_id
       or (p_capture ->> 'seq')::integer <> (p_advance ->> 'seq')::integer
       or (p_capture ->> 'backup_id')::uuid <> (p_advance ->> 'base_backup_id')::uuid then
      raise exception 'capture does not match its advance' using errcode = 'check_violation';
    end if;
    if exists (select 1 from jsonb_array_elements(v_versions) e
                where e ->> 'source' is distinct from 'capture'
                   or (e ->> 'capture_id')::uuid is distinct from v_capture
                   or (e ->> 'connection_id')::uuid is distinct from v_connection) then
      raise exception 'drift_record: a version names another capture'
        using errcode = 'check_violation';
    end if;
    insert into public.drift_captures (id, team_id, connection_id, backup_id, seq, covers_from,
      covers_to, events, changes, counts, manifest_sha256, summary)
    values (v_capture, v.team_id, v_connection, (p_capture ->> 'backup_id')::uuid,
      (p_capture ->> 'seq')::integer, (p_capture ->> 'covers_from')::timestamptz,
      (p_capture ->> 'covers_to')::timestamptz, (p_capture ->> 'events')::integer,
      (p_capture ->> 'changes')::integer, p_capture -> 'counts', p_capture ->> 'manifest_sha256',
      p_capture -> 'summary');
    while v_chunk * 1000 < jsonb_array_length(v_versions) loop
      perform public.resource_versions_record(
        (select jsonb_agg(e order by o) from jsonb_array_elements(v_versions)
           with ordinality t(e, o)
          where o > v_chunk * 1000 and o <= (v_chunk + 1) * 1000));
      v_chunk := v_chunk + 1;
    end loop;
    for a in select * from jsonb_array_elements(coalesce(p_alerts, '[]'::jsonb)) loop
      update public.drift_alerts d
         set occurrences = d.occurrences + 1, last_seen_at = now(), last_capture_id = v_capture,
             fields = a -> 'fields', attribution = a -> 'attribution', kind = a ->> 'kind'
       where d.connection_id = v_connection and d.dedup_key = a ->> 'dedup_key'
         and d.status = 'open';
      if not found then
        insert into public.drift_alerts (id, team_id, connection_id, capture_id, last_capture_id,
          dedup_key, resource_type, resource_id, kind, severity, rule_id, fields, attribution)
        values ((a ->> 'id')::uuid, v.team_id, v_connection, v_capture, v_capture,
          a ->> 'dedup_key', a ->> 'resource_type', a ->> 'resource_id', a ->> 'kind',
          a ->> 'severity', a ->> 'rule_id', a -> 'fields', a -> 'attribution');
        insert into public.notification_outbox (idempotency_key, team_id, user_id, kind, category,
          recipient, payload)
        select 'drift:' || (a ->> 'id') || ':' || m.user_id, v.team_id, m.user_id, 'drift_alert',
               'alerts', u.email, a -> 'notification'
          from public.team_members m
          join auth.users u on u.id = m.user_id
         where m.team_id = v.team_id and u.email is not null
           and exists (select 1 from public.role_permissions p
                        where p.role = m.role and p.action = 'drift.triage')
        on conflict (idempotency_key) do nothing;
      end if;
    end loop;
    perform public.audit_team(p_audit, v.team_id);
  end if;
  update public.drift_settings s
     set cursor = p_advance ->> 'cursor',
         base_backup_id = (p_advance ->> 'base_backup_id')::uuid,
         last_seq = (p_advance ->> 'seq')::integer,
         last_checked_at = now(),
         updated_at = now()
   where s.connection_id = v_connection;
  update public.okta_connections c set last_error = null
   where c.id = v_connection and c.last_error like 'drift check: %';
  return true;
end
$$;

revoke all on function public.drift_record(jsonb, jsonb, jsonb, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function public.drift_record(jsonb, jsonb, jsonb, jsonb, jsonb) to service_role;
