-- Email delivery (docs/lifecycle.md, "Email"): what the outbox job, the email routes and the
-- SendGrid event webhook need on top of 0009. Everything here is the service role's: the worker
-- calls it after verifying a signature, authenticating a user or as its own job. Functions that
-- read `auth.users` (an address is never copied anywhere but the outbox row that mails it) are
-- security definer with an empty search path.

-- Enqueue --------------------------------------------------------------------------------------

-- One notification for one user, to the address their account has now; nothing when the key was
-- used before (a retried job or a replayed event) or the user has no address. The kind is the
-- payload's own (`src/email/messages.rs`, `Notification`).
create function public.notification_enqueue(p_key text, p_team uuid, p_user uuid,
  p_category text, p_payload jsonb) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  v_id uuid;
begin
  insert into public.notification_outbox (idempotency_key, team_id, user_id, kind, category,
    recipient, payload)
  select p_key, p_team, u.id, p_payload ->> 'kind', p_category, u.email, p_payload
    from auth.users u where u.id = p_user and u.email is not null
  on conflict (idempotency_key) do nothing
  returning id into v_id;
  return v_id;
end
$$;

-- One notification per member of `p_team` holding one of `p_roles`, keyed `<p_key>:<user id>`:
-- running it again for the same event inserts nothing. Returns the new rows' ids.
create function public.notification_enqueue_team(p_team uuid, p_roles text[], p_key text,
  p_category text, p_payload jsonb) returns setof uuid
language sql security definer set search_path = '' as $$
  insert into public.notification_outbox (idempotency_key, team_id, user_id, kind, category,
    recipient, payload)
  select p_key || ':' || m.user_id, p_team, m.user_id, p_payload ->> 'kind', p_category, u.email,
         p_payload
    from public.team_members m join auth.users u on u.id = m.user_id
   where m.team_id = p_team and m.role::text = any (p_roles) and u.email is not null
  on conflict (idempotency_key) do nothing
  returning id
$$;

-- A failed backup alerts the team's owners and admins, in the transaction that fails the run
-- (whichever path failed it: the job, a run that could not be queued, the stale sweep), once per
-- run and member.
create function public.backups_failed_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.notification_enqueue_team(new.team_id, array['owner', 'admin'],
    'backup_failed:' || new.id, 'alerts',
    jsonb_build_object('kind', 'backup_failed', 'org_domain', c.org_domain,
      'backup_id', new.id, 'reason_code', coalesce(new.error, 'unknown')))
    from public.okta_connections c where c.id = new.connection_id;
  return null;
end
$$;
create trigger backups_failed_notify after update of status on public.backups
  for each row when (new.status = 'failed' and old.status is distinct from 'failed')
  execute function public.backups_failed_notify();

-- Product news for everyone who opted in (an operator runs it; `p_campaign` makes a rerun a
-- no-op). The delivery job checks the preference again when it sends.
create function public.product_update_enqueue(p_campaign text, p_subject text, p_text text)
returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_count integer;
begin
  if p_campaign !~ '^[a-z0-9_-]{1,60}$' or char_length(p_subject) not between 1 and 200
     or char_length(p_text) not between 1 and 20000 then
    raise exception 'invalid product update' using errcode = '22023';
  end if;
  insert into public.notification_outbox (idempotency_key, user_id, kind, category, recipient,
    payload)
  select 'product:' || p_campaign || ':' || u.id, u.id, 'product_update', 'product_updates',
         u.email, jsonb_build_object('kind', 'product_update', 'subject', p_subject, 'text', p_text)
    from auth.users u join public.email_preferences p on p.user_id = u.id
   where p.product_updates and u.email is not null
  on conflict (idempotency_key) do nothing;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

-- Delivery ---------------------------------------------------------------------------------------

-- What the delivery decision needs about each claimed row's recipient: preferences (defaults
-- when the user has no row), suppression of the address and whether the user verified it.
create function public.outbox_recipients(p_ids uuid[])
returns table (id uuid, alerts boolean, product_updates boolean, suppressed text,
  verified boolean)
language sql stable set search_path = '' as $$
  select o.id, coalesce(p.alerts, true), coalesce(p.product_updates, false), s.reason,
         exists (select 1 from public.verified_emails v
                  where v.user_id = o.user_id and v.email_normalized = lower(o.recipient))
    from public.notification_outbox o
    left join public.email_preferences p on p.user_id = o.user_id
    left join public.email_suppressions s on s.email_normalized = lower(o.recipient)
   where o.id = any (p_ids) and o.recipient is not null
$$;

-- Preferences, verification codes ------------------------------------------------------------

-- Sets a user's choices (null leaves one as it is) and returns them.
create function public.email_preferences_set(p_user uuid, p_alerts boolean,
  p_product_updates boolean) returns jsonb
language sql set search_path = '' as $$
  insert into public.email_preferences as e (user_id, alerts, product_updates, updated_at)
  values (p_user, coalesce(p_alerts, true), coalesce(p_product_updates, false), now())
  on conflict (user_id) do update set
    alerts = coalesce(p_alerts, e.alerts),
    product_updates = coalesce(p_product_updates, e.product_updates),
    updated_at = now()
  returning jsonb_build_object('alerts', e.alerts, 'product_updates', e.product_updates)
$$;

-- A new code supersedes the user's live code for the purpose, in one transaction (the unique
-- index on live codes makes a concurrent second issue fail instead of leaving two).
create function public.email_code_issue(p_user uuid, p_purpose text, p_email text, p_hash text,
  p_pepper_id text, p_issued_at timestamptz, p_expires_at timestamptz) returns uuid
language plpgsql set search_path = '' as $$
declare
  v_id uuid;
begin
  update public.email_verification_codes c set superseded = true
   where c.user_id = p_user and c.purpose = p_purpose and c.consumed_at is null
     and not c.superseded;
  insert into public.email_verification_codes (user_id, purpose, email, code_hash, pepper_id,
    issued_at, expires_at)
  values (p_user, p_purpose, p_email, p_hash, p_pepper_id, p_issued_at, p_expires_at)
  returning id into v_id;
  return v_id;
end
$$;

-- Withdraws a code whose email could not be sent.
create function public.email_code_withdraw(p_id uuid) returns void
language sql set search_path = '' as $$
  update public.email_verification_codes set superseded = true
   where id = p_id and consumed_at is null
$$;

-- Records one attempt with a compare-and-set on the attempt count (two concurrent guesses
-- cannot both be the fifth). A consumed `verify_email` code makes its address verified for the
-- user and writes the audit row, in the same transaction. False: the row moved on meanwhile.
create function public.email_code_attempt(p_id uuid, p_expected_attempts integer,
  p_attempts integer, p_consumed boolean, p_audit jsonb) returns boolean
language plpgsql set search_path = '' as $$
declare
  v public.email_verification_codes;
begin
  update public.email_verification_codes c
     set attempts = p_attempts, consumed_at = case when p_consumed then now() end
   where c.id = p_id and c.attempts = p_expected_attempts and c.consumed_at is null
     and not c.superseded and (not p_consumed or c.expires_at > now())
  returning * into v;
  if not found then
    return false;
  end if;
  if p_consumed and v.purpose = 'verify_email' then
    insert into public.verified_emails (user_id, email_normalized)
      values (v.user_id, lower(v.email))
      on conflict (user_id, email_normalized) do update set verified_at = now();
    if p_audit is not null then
      perform public.audit_insert(p_audit);
    end if;
  end if;
  return true;
end
$$;

-- SendGrid's event webhook -------------------------------------------------------------------

-- Applies the actionable events of one verified post (`src/email/event_webhook.rs`,
-- `EventAction`), each once per `sg_event_id`: `suppress` records the address, `processed`
-- settles the outbox row it names (the crash window), `opt_out` turns optional mail off for the
-- users of that address. Returns what it did.
create function public.sendgrid_apply_events(p_events jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  e jsonb;
  v_duplicates integer := 0;
  v_suppressed integer := 0;
  v_settled integer := 0;
  v_opted_out integer := 0;
  v_count integer;
begin
  for e in select value from jsonb_array_elements(p_events) loop
    if e ->> 'sg_event_id' is not null then
      insert into public.sendgrid_events (sg_event_id) values (e ->> 'sg_event_id')
        on conflict (sg_event_id) do nothing;
      if not found then
        v_duplicates := v_duplicates + 1;
        continue;
      end if;
    end if;
    case e ->> 'action'
      when 'suppress' then
        insert into public.email_suppressions (email_normalized, reason, source_event_id)
          values (lower(e ->> 'email'), e ->> 'reason', e ->> 'sg_event_id')
          on conflict (email_normalized) do nothing;
        get diagnostics v_count = row_count;
        v_suppressed := v_suppressed + v_count;
      when 'processed' then
        if public.outbox_mark_processed((e ->> 'outbox_id')::uuid, e ->> 'message_id') then
          v_settled := v_settled + 1;
        end if;
      when 'opt_out' then
        insert into public.email_preferences as p (user_id, alerts, product_updates)
          select u.id, false, false from auth.users u where lower(u.email) = lower(e ->> 'email')
          on conflict (user_id) do update
            set alerts = false, product_updates = false, updated_at = now();
        get diagnostics v_count = row_count;
        v_opted_out := v_opted_out + v_count;
      else
        raise exception 'unknown event action' using errcode = '22023';
    end case;
  end loop;
  return jsonb_build_object('duplicates', v_duplicates, 'suppressed', v_suppressed,
    'settled', v_settled, 'opted_out', v_opted_out);
end
$$;

revoke all on function
  public.notification_enqueue(text, uuid, uuid, text, jsonb),
  public.notification_enqueue_team(uuid, text[], text, text, jsonb),
  public.backups_failed_notify(),
  public.product_update_enqueue(text, text, text),
  public.outbox_recipients(uuid[]),
  public.email_preferences_set(uuid, boolean, boolean),
  public.email_code_issue(uuid, text, text, text, text, timestamptz, timestamptz),
  public.email_code_withdraw(uuid),
  public.email_code_attempt(uuid, integer, integer, boolean, jsonb),
  public.sendgrid_apply_events(jsonb)
  from public, anon, authenticated;
grant execute on function
  public.notification_enqueue(text, uuid, uuid, text, jsonb),
  public.notification_enqueue_team(uuid, text[], text, text, jsonb),
  public.product_update_enqueue(text, text, text),
  public.outbox_recipients(uuid[]),
  public.email_preferences_set(uuid, boolean, boolean),
  public.email_code_issue(uuid, text, text, text, text, timestamptz, timestamptz),
  public.email_code_withdraw(uuid),
  public.email_code_attempt(uuid, integer, integer, boolean, jsonb),
  public.sendgrid_apply_events(jsonb)
  to service_role;
