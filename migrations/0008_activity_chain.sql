-- Tamper-evident audit trail: every team's activity_logs rows form a hash chain computed here,
-- in the database, so no writer (worker, service role, a bug) can append a row outside it.
--
--   row_hash = SHA-256(canonical content), and the canonical content includes prev_hash, the
--   row_hash of the team's previous row. Deleting, editing or reordering a row breaks the chain
--   at that row; activity_chain_verify() finds and locates the break, recomputing every hash
--   from the stored columns (it trusts no stored hash).
--
-- Identifying values (a user actor's id, a user target's id, actor email and name, source IP and
-- the identifying keys of details) are not in the canonical content: they enter it only through
-- identity_commitment = SHA-256(["butterfly.identity.v1", salt, fields]) with a random per-row
-- salt kept apart in activity_log_salts. The account-deletion purge (activity_logs_pseudonymise)
-- erases the salt and replaces the values, and the chain still verifies: an erased commitment
-- can no longer be opened, and a 256-bit salt makes it impossible to test guesses against it.
--
-- The exact encoding is specified in docs/audit-pack.md (an auditor recomputes it with jq and
-- sha256sum) and implemented a second time in Rust (src/evidence/chain.rs); a stack test checks
-- that the two agree row for row.

-- Canonical JSON (docs/audit-pack.md, "Canonical JSON"): no whitespace, object keys in UTF-8
-- byte order, strings escaped exactly as jq -c does, numbers only integers within +-(2^53 - 1).
create function public.activity_canonical_string(s text) returns text
language sql immutable strict parallel safe set search_path = pg_catalog as $$
  -- to_json escapes '"', '\', \b \f \n \r \t and other U+0000-U+001F as \u00xx (lowercase);
  -- jq also escapes U+007F, so the canonical form does too.
  select replace(to_json(s)::text, chr(127), '\u007f')
$$;

create function public.activity_canonical_json(v jsonb) returns text
language plpgsql immutable strict parallel safe set search_path = pg_catalog, public as $$
declare
  n numeric;
begin
  case jsonb_typeof(v)
    when 'object' then
      return '{' || coalesce((
        select string_agg(activity_canonical_string(e.key) || ':' || activity_canonical_json(e.value),
                          ',' order by e.key collate "C")
        from jsonb_each(v) e), '') || '}';
    when 'array' then
      return '[' || coalesce((
        select string_agg(activity_canonical_json(e.value), ',' order by e.ord)
        from jsonb_array_elements(v) with ordinality e(value, ord)), '') || ']';
    when 'string' then
      return activity_canonical_string(v #>> '{}');
    when 'number' then
      n := (v #>> '{}')::numeric;
      if n <> trunc(n) or abs(n) > 9007199254740991 then
        raise exception 'activity_logs: % is not an integer within +-(2^53 - 1); write it as a string', n
          using errcode = 'check_violation';
      end if;
      return trunc(n)::text;
    else
      return v::text; -- true, false, null
  end case;
end
$$;

-- Keys of details that name a person. They enter the chain through the identity commitment only.
-- src/evidence/chain.rs IDENTITY_DETAIL_KEYS lists the same keys (a unit test compares them).
create function public.activity_identity_detail_keys() returns text[]
language sql immutable parallel safe as $$
  select array['approved_by', 'display_name', 'email', 'ip', 'user_id']
$$;

-- Keys among them whose value is a user id: pseudonymised rather than removed, so an erased log
-- still shows which actions one (now anonymous) person took.
create function public.activity_identity_user_keys() returns text[]
language sql immutable parallel safe as $$
  select array['approved_by', 'user_id']
$$;

alter table public.activity_logs
  add column actor_email text check (char_length(actor_email) <= 320),
  add column actor_name text check (char_length(actor_name) <= 200),
  add column chain_seq bigint check (chain_seq >= 1),
  add column prev_hash text check (prev_hash ~ '^[0-9a-f]{64}$'),
  add column row_hash text check (row_hash ~ '^[0-9a-f]{64}$'),
  add column identity_commitment text check (identity_commitment ~ '^[0-9a-f]{64}$');

-- A row with no team chains under the nil uuid.
create function public.activity_chain_team(team uuid) returns uuid
language sql immutable parallel safe as $$
  select coalesce(team, '00000000-0000-0000-0000-000000000000'::uuid)
$$;

-- The identifying values of a row, as a flat object of strings ('{}' when there are none).
create function public.activity_identity_fields(r public.activity_logs) returns jsonb
language sql immutable parallel safe set search_path = pg_catalog, public as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'actor_id', case when r.actor_type = 'user' then r.actor_id end,
    'target_id', case when r.target_type = 'user' then r.target_id end,
    'actor_email', r.actor_email,
    'actor_name', r.actor_name,
    'source_ip', host(r.source_ip)
  )) || coalesce((
    select jsonb_object_agg('details.' || e.key,
      case when jsonb_typeof(e.value) = 'string' then e.value
           else to_jsonb(activity_canonical_json(e.value)) end)
    from jsonb_each(r.details) e
    where e.key = any (activity_identity_detail_keys()) and jsonb_typeof(e.value) <> 'null'
  ), '{}'::jsonb)
$$;

create function public.activity_identity_commitment(salt bytea, fields jsonb) returns text
language sql immutable strict parallel safe set search_path = pg_catalog, public as $$
  select case when fields = '{}'::jsonb then null else encode(sha256(convert_to(
    activity_canonical_json(jsonb_build_array('butterfly.identity.v1', encode(salt, 'hex'), fields)),
    'UTF8')), 'hex') end
$$;

-- The canonical content of a row: what row_hash is the SHA-256 of.
create function public.activity_chain_content(r public.activity_logs) returns text
language sql stable parallel safe set search_path = pg_catalog, public as $$
  select activity_canonical_json(jsonb_build_array(
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
  ))
$$;

create function public.activity_chain_hash(r public.activity_logs) returns text
language sql stable parallel safe set search_path = pg_catalog, public as $$
  select encode(sha256(convert_to(activity_chain_content(r), 'UTF8')), 'hex')
$$;

-- Salts are kept apart so the purge can erase them; only the service role reads them (to open
-- commitments in an audit pack the worker has authorised).
create table public.activity_log_salts (
  log_id bigint primary key
    references public.activity_logs (id) deferrable initially deferred,
  team_id uuid,
  salt bytea not null check (octet_length(salt) = 32)
);
create index activity_log_salts_team_idx on public.activity_log_salts (team_id);

-- One head per chain: its row lock serialises writers of a team, so two concurrent inserts can
-- never both link to the same predecessor.
create table public.activity_chain_heads (
  chain_team uuid primary key,
  seq bigint not null check (seq >= 0),
  head_hash text not null check (head_hash ~ '^[0-9a-f]{64}$'),
  updated_at timestamptz not null default now()
);

create function public.activity_chain_genesis() returns text
language sql immutable parallel safe as $$ select repeat('0', 64) $$;

-- Links NEW to its team's chain. SECURITY DEFINER: writers need no rights on heads or salts.
create function public.activity_logs_link() returns trigger
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
  -- The time is the database's, taken under the lock: a writer cannot backdate a row, and the
  -- times of one chain never go backwards with its sequence (barring a clock step).
  new.occurred_at := clock_timestamp();
  new.chain_seq := head.seq + 1;
  new.prev_hash := head.head_hash;
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

-- The blanket ban on updates becomes the narrower guard below, once existing rows are linked.
drop trigger activity_logs_no_update on public.activity_logs;

-- Existing rows join the chain in id order (their recorded times stay as they are).
do $$
declare
  r public.activity_logs;
  k uuid;
  seq bigint;
  prev text;
  salt bytea;
  fields jsonb;
begin
  for r in select * from public.activity_logs order by activity_chain_team(team_id), id loop
    if k is distinct from activity_chain_team(r.team_id) then
      if k is not null then
        insert into public.activity_chain_heads (chain_team, seq, head_hash) values (k, seq, prev);
      end if;
      k := activity_chain_team(r.team_id);
      seq := 0;
      prev := activity_chain_genesis();
    end if;
    seq := seq + 1;
    r.chain_seq := seq;
    r.prev_hash := prev;
    fields := activity_identity_fields(r);
    r.identity_commitment := null;
    if fields <> '{}'::jsonb then
      salt := gen_random_bytes(32);
      r.identity_commitment := activity_identity_commitment(salt, fields);
      insert into public.activity_log_salts (log_id, team_id, salt) values (r.id, r.team_id, salt);
    end if;
    r.row_hash := activity_chain_hash(r);
    prev := r.row_hash;
    update public.activity_logs a
      set chain_seq = r.chain_seq, prev_hash = r.prev_hash,
          identity_commitment = r.identity_commitment, row_hash = r.row_hash
      where a.id = r.id;
  end loop;
  if k is not null then
    insert into public.activity_chain_heads (chain_team, seq, head_hash) values (k, seq, prev);
  end if;
end
$$;
-- Check the salts' deferred foreign keys now, so the table can be altered below.
set constraints all immediate;

alter table public.activity_logs
  alter column chain_seq set not null,
  alter column prev_hash set not null,
  alter column row_hash set not null;
create unique index activity_logs_chain_idx
  on public.activity_logs (public.activity_chain_team(team_id), chain_seq);

create trigger activity_logs_link before insert on public.activity_logs
  for each row execute function public.activity_logs_link();

-- The one update the trail allows: erasing identifying values (activity_logs_pseudonymise).
-- Everything the chain covers must stay as it was, and every identifying value must be gone or
-- be a pseudonym, so an update can neither rewrite history nor swap one person for another.
create function public.activity_is_pseudonym(v text) returns boolean
language sql immutable parallel safe as $$ select v ~ '^erased-[0-9a-f]{20}$' $$;

create function public.activity_identity_erased(r public.activity_logs) returns boolean
language sql immutable parallel safe set search_path = pg_catalog, public as $$
  select not exists (
    select 1 from jsonb_each_text(activity_identity_fields(r)) f
    where not (
      (f.key in ('actor_id', 'target_id')
        or f.key in (select 'details.' || u from unnest(activity_identity_user_keys()) u))
      and activity_is_pseudonym(f.value)
    )
  )
$$;

create function public.activity_logs_guard_update() returns trigger
language plpgsql set search_path = pg_catalog, public as $$
begin
  if new.id = old.id and new.chain_seq = old.chain_seq and new.prev_hash = old.prev_hash
     and new.row_hash = old.row_hash
     and new.identity_commitment is not distinct from old.identity_commitment
     and new.team_id is not distinct from old.team_id and new.actor_type = old.actor_type
     and new.target_type is not distinct from old.target_type
     and activity_chain_content(new) = activity_chain_content(old)
     and activity_identity_erased(new) then
    return new;
  end if;
  raise exception 'activity_logs is append-only' using errcode = 'insufficient_privilege';
end
$$;

create trigger activity_logs_no_delete before delete on public.activity_logs
  for each row execute function public.activity_logs_append_only();
create trigger activity_logs_guard_update before update on public.activity_logs
  for each row execute function public.activity_logs_guard_update();

-- Account deletion (GDPR Art. 17): erase every identifying value of a team's log. User ids
-- become pseudonyms under a key that is discarded at once (one person keeps one pseudonym within
-- this purge, and nobody can link it back); emails, names and IPs are removed; the salts go, so
-- no commitment can be opened again. The chain verifies as before. The erasure is itself
-- recorded in the team's chain. Returns the number of rows changed.
create function public.activity_logs_pseudonymise(team uuid) returns bigint
language plpgsql security definer set search_path = pg_catalog, public, extensions, pg_temp as $$
declare
  pseudonym_key bytea := gen_random_bytes(32);
  changed bigint;
begin
  if team is null then
    raise exception 'a team is required' using errcode = 'invalid_parameter_value';
  end if;
  with erased as (
    update public.activity_logs a set
      actor_id = case when a.actor_type = 'user' and not activity_is_pseudonym(a.actor_id)
        then 'erased-' || left(encode(sha256(pseudonym_key || convert_to(a.actor_id, 'UTF8')), 'hex'), 20)
        else a.actor_id end,
      target_id = case when a.target_type = 'user' and not activity_is_pseudonym(a.target_id)
        then 'erased-' || left(encode(sha256(pseudonym_key || convert_to(a.target_id, 'UTF8')), 'hex'), 20)
        else a.target_id end,
      actor_email = null,
      actor_name = null,
      source_ip = null,
      details = (a.details - activity_identity_detail_keys()) || coalesce((
        select jsonb_object_agg(e.key, case when activity_is_pseudonym(e.value #>> '{}') then e.value
          else to_jsonb('erased-' || left(encode(sha256(pseudonym_key || convert_to(e.value #>> '{}', 'UTF8')), 'hex'), 20)) end)
        from jsonb_each(a.details) e
        where e.key = any (activity_identity_user_keys()) and jsonb_typeof(e.value) <> 'null'
      ), '{}'::jsonb)
    where a.team_id = team and a.identity_commitment is not null
      and not activity_identity_erased(a)
    returning 1
  )
  select count(*) into changed from erased;
  delete from public.activity_log_salts s where s.team_id = team;
  insert into public.activity_logs (team_id, actor_type, actor_id, action, target_type, target_id, details)
    values (team, 'system', 'deletion-purge', 'activity.pseudonymise', 'team', team::text,
            jsonb_build_object('rows', changed));
  return changed;
end
$$;

-- Walks a team's chain in sequence order, recomputing every hash from the stored columns, and
-- reports each break with the row it is at (at most 100). A segment can be checked on its own:
-- from_seq with the trusted row_hash of the row before it (expected_prev); anchors is a JSON
-- array of {"seq", "head_hash"} (the R2 anchors) that the rows must match.
create function public.activity_chain_verify_unchecked(
  team uuid,
  from_seq bigint default 1,
  expected_prev text default null,
  anchors jsonb default '[]'::jsonb
) returns jsonb
language plpgsql stable security definer set search_path = pg_catalog, public as $$
declare
  k uuid := activity_chain_team(team);
  r record;
  row_count bigint := 0;
  next_seq bigint := from_seq;
  prev text := case when from_seq = 1 then activity_chain_genesis() else expected_prev end;
  prev_id bigint;
  computed text;
  opened integer := 0;
  erased integer := 0;
  problems jsonb := '[]'::jsonb;
  head public.activity_chain_heads;
  last_hash text;
  last_seq bigint;
  a jsonb;
  anchor_row record;
  anchors_checked integer := 0;

  gap text;
begin
  for r in
    select l as log, s.salt
    from public.activity_logs l
    left join public.activity_log_salts s on s.log_id = l.id
    where activity_chain_team(l.team_id) = k and l.chain_seq >= from_seq
    order by l.chain_seq, l.id
  loop
    row_count := row_count + 1;
    gap := null;
    if (r.log).chain_seq > next_seq then
      gap := case when (r.log).chain_seq = next_seq + 1
        then format('row seq %s is missing (seq %s follows seq %s)', next_seq, (r.log).chain_seq, next_seq - 1)
        else format('rows seq %s to %s are missing (seq %s follows seq %s)', next_seq, (r.log).chain_seq - 1, (r.log).chain_seq, next_seq - 1) end;
      problems := problems || jsonb_build_object('kind', 'missing_rows', 'seq', next_seq,
        'id', (r.log).id, 'message', gap);
    elsif (r.log).chain_seq < next_seq then
      problems := problems || jsonb_build_object('kind', 'duplicate_seq', 'seq', (r.log).chain_seq,
        'id', (r.log).id, 'message', format('seq %s appears again (row id %s; first was row id %s)',
        (r.log).chain_seq, (r.log).id, prev_id));
    end if;
    computed := activity_chain_hash(r.log);
    if computed <> (r.log).row_hash then
      problems := problems || jsonb_build_object('kind', 'content_mismatch', 'seq', (r.log).chain_seq,
        'id', (r.log).id, 'message', format('row seq %s (id %s) was edited: its content hashes to %s, not to its row_hash %s',
        (r.log).chain_seq, (r.log).id, computed, (r.log).row_hash));
    end if;
    if prev is not null and (r.log).prev_hash <> prev and gap is null then
      problems := problems || jsonb_build_object('kind', 'broken_link', 'seq', (r.log).chain_seq,
        'id', (r.log).id, 'message', format('row seq %s (id %s) does not link to the row before it: prev_hash %s, but that row hashes to %s (a row was replaced or rows were reordered)',
        (r.log).chain_seq, (r.log).id, (r.log).prev_hash, prev));
    end if;
    if (r.log).identity_commitment is not null then
      if r.salt is not null then
        if activity_identity_commitment(r.salt, activity_identity_fields(r.log))
           is distinct from (r.log).identity_commitment then
          problems := problems || jsonb_build_object('kind', 'identity_mismatch', 'seq', (r.log).chain_seq,
            'id', (r.log).id, 'message', format('row seq %s (id %s): its identifying fields were edited (they do not open its identity commitment)',
            (r.log).chain_seq, (r.log).id));
        else
          opened := opened + 1;
        end if;
      elsif activity_identity_erased(r.log) then
        erased := erased + 1;
      else
        problems := problems || jsonb_build_object('kind', 'identity_unverifiable', 'seq', (r.log).chain_seq,
          'id', (r.log).id, 'message', format('row seq %s (id %s): its salt is gone but its identifying fields were not erased',
          (r.log).chain_seq, (r.log).id));
      end if;
    elsif activity_identity_fields(r.log) <> '{}'::jsonb then
      problems := problems || jsonb_build_object('kind', 'identity_mismatch', 'seq', (r.log).chain_seq,
        'id', (r.log).id, 'message', format('row seq %s (id %s) has identifying fields but no identity commitment',
        (r.log).chain_seq, (r.log).id));
    end if;
    next_seq := greatest(next_seq, (r.log).chain_seq + 1);
    prev := (r.log).row_hash;
    prev_id := (r.log).id;
    last_seq := (r.log).chain_seq;
    last_hash := (r.log).row_hash;
    exit when jsonb_array_length(problems) >= 100;
  end loop;

  select * into head from public.activity_chain_heads h where h.chain_team = k;
  if head.chain_team is not null and jsonb_array_length(problems) < 100 then
    if coalesce(last_seq, from_seq - 1) < head.seq then
      problems := problems || jsonb_build_object('kind', 'missing_rows', 'seq', coalesce(last_seq, from_seq - 1) + 1,
        'id', null, 'message', format('the chain head is seq %s but the last row is seq %s: the rows after it are missing',
        head.seq, coalesce(last_seq, from_seq - 1)));
    elsif last_seq = head.seq and last_hash <> head.head_hash then
      problems := problems || jsonb_build_object('kind', 'head_mismatch', 'seq', last_seq, 'id', prev_id,
        'message', format('the last row (seq %s) hashes to %s but the chain head records %s', last_seq, last_hash, head.head_hash));
    end if;
  elsif head.chain_team is null and row_count > 0 then
    problems := problems || jsonb_build_object('kind', 'head_mismatch', 'seq', last_seq, 'id', prev_id,
      'message', 'the chain has rows but no head record');
  end if;

  for a in select * from jsonb_array_elements(coalesce(anchors, '[]'::jsonb)) loop
    select l.id, l.row_hash into anchor_row from public.activity_logs l
      where activity_chain_team(l.team_id) = k and l.chain_seq = (a ->> 'seq')::bigint
      order by l.id limit 1;
    anchors_checked := anchors_checked + 1;
    if anchor_row.id is null then
      problems := problems || jsonb_build_object('kind', 'anchor_mismatch', 'seq', (a ->> 'seq')::bigint, 'id', null,
        'message', format('the anchor for seq %s has no row', a ->> 'seq'));
    elsif anchor_row.row_hash <> a ->> 'head_hash' then
      problems := problems || jsonb_build_object('kind', 'anchor_mismatch', 'seq', (a ->> 'seq')::bigint, 'id', anchor_row.id,
        'message', format('row seq %s hashes to %s but its anchor records %s: the chain was rewritten after it was anchored',
        a ->> 'seq', anchor_row.row_hash, a ->> 'head_hash'));
    end if;
  end loop;

  return jsonb_build_object(
    'team_id', team,
    'status', case when jsonb_array_length(problems) > 0 then 'broken'
                   when row_count = 0 then 'empty' else 'intact' end,
    'rows', row_count,
    'first_seq', case when row_count > 0 then from_seq end,
    'last_seq', last_seq,
    'last_hash', last_hash,
    'head', case when head.chain_team is null then null
                 else jsonb_build_object('seq', head.seq, 'head_hash', head.head_hash) end,
    'identities', jsonb_build_object('opened', opened, 'erased', erased),
    'anchors_checked', anchors_checked,
    'problems', problems
  );
end
$$;

-- The same for a team member who may read the log (the caller's JWT through PostgREST).
create function public.activity_chain_verify(team uuid, anchors jsonb default '[]'::jsonb) returns jsonb
language plpgsql stable security definer set search_path = pg_catalog, public as $$
begin
  if not public.can(team, 'activity.read') then
    raise exception 'not allowed' using errcode = 'insufficient_privilege';
  end if;
  return public.activity_chain_verify_unchecked(team, 1, null, anchors);
end
$$;

alter table public.activity_log_salts enable row level security;
alter table public.activity_chain_heads enable row level security;
-- No policies: users and API keys never read salts or heads directly.
revoke all on public.activity_log_salts, public.activity_chain_heads from public, anon, authenticated, service_role;
grant select on public.activity_log_salts, public.activity_chain_heads to service_role;

revoke all on function public.activity_logs_link() from public;
revoke all on function public.activity_logs_pseudonymise(uuid) from public;
revoke all on function public.activity_chain_verify_unchecked(uuid, bigint, text, jsonb) from public;
revoke all on function public.activity_chain_verify(uuid, jsonb) from public;
grant execute on function public.activity_logs_pseudonymise(uuid) to service_role;
grant execute on function public.activity_chain_verify_unchecked(uuid, bigint, text, jsonb) to service_role;
grant execute on function public.activity_chain_verify(uuid, jsonb) to authenticated;
