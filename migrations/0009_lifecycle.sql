-- Account lifecycle: billing state per team (driven by verified Stripe webhooks), plan history
-- (the retention notice period reads it), the notifications outbox, email preferences,
-- suppressions and verification codes, and team deletion requests. docs/lifecycle.md explains
-- every state. Users read their own rows only; every write that matters goes through the
-- worker with the service role after it has verified and authorised it.

-- Billing ------------------------------------------------------------------------------------

create table public.team_billing (
  team_id uuid primary key references public.teams (id) on delete cascade,
  stripe_customer_id text unique check (stripe_customer_id ~ '^cus_[A-Za-z0-9]{1,250}$'),
  subscription_id text check (subscription_id ~ '^sub_[A-Za-z0-9]{1,250}$'),
  subscription_status text check (subscription_status in (
    'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')),
  subscription_plan text check (subscription_plan in ('standard', 'business')),
  price_id text check (char_length(price_id) <= 255),
  subscription_created bigint,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  -- `created` of the newest Stripe event applied to the subscription (out-of-order guard).
  subscription_version bigint not null default 0,
  dunning_since timestamptz,
  invoice_version bigint not null default 0,
  trial_used boolean not null default false,
  updated_at timestamptz not null default clock_timestamp(),
  check ((subscription_id is null) = (subscription_status is null)),
  check ((subscription_id is null) = (subscription_plan is null))
);

-- Which plan a team held from when: the retention rules keep what any plan of the last 30 days
-- would keep. Append-only like the audit trail.
create table public.plan_history (
  team_id uuid not null references public.teams (id) on delete cascade,
  effective_at timestamptz not null default clock_timestamp(),
  plan text not null check (plan in ('free', 'standard', 'business')),
  primary key (team_id, effective_at)
);

-- Every Stripe event applied or deliberately ignored, by id: a redelivery is a no-op.
create table public.stripe_events (
  event_id text primary key check (event_id ~ '^evt_[A-Za-z0-9]{1,250}$'),
  event_type text not null check (char_length(event_type) <= 100),
  team_id uuid references public.teams (id) on delete set null,
  received_at timestamptz not null default now()
);

-- Every team has a billing row and a first plan period from its creation.
create function public.team_billing_init() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  insert into public.team_billing (team_id) values (new.id) on conflict do nothing;
  insert into public.plan_history (team_id, effective_at, plan)
    values (new.id, new.created_at, 'free') on conflict do nothing;
  return new;
end
$$;
create trigger teams_billing_init after insert on public.teams
  for each row execute function public.team_billing_init();
insert into public.team_billing (team_id) select id from public.teams on conflict do nothing;
insert into public.plan_history (team_id, effective_at, plan)
  select id, created_at, 'free' from public.teams on conflict do nothing;

-- Applies one verified Stripe event atomically: records its id (a duplicate changes nothing),
-- and, when the state machine produced a new state, writes it with a compare-and-set on
-- updated_at (two events of one team racing: the loser raises PT409, which PostgREST answers
-- as 409, its event id is rolled back with it, and the webhook answers 5xx so Stripe
-- redelivers; not 40001, which PostgREST would retry with the same stale state forever). A plan
-- change appends to plan_history in the same transaction.
create function public.billing_apply_event(
  p_event_id text, p_event_type text, p_team uuid, p_expected_updated_at timestamptz,
  p_state jsonb, p_new_plan text
) returns text
language plpgsql set search_path = '' as $$
begin
  insert into public.stripe_events (event_id, event_type, team_id)
    values (p_event_id, p_event_type, p_team) on conflict (event_id) do nothing;
  if not found then
    return 'duplicate';
  end if;
  if p_state is null then
    return 'recorded';
  end if;
  update public.team_billing b set
    stripe_customer_id = p_state ->> 'customer',
    subscription_id = p_state ->> 'subscription_id',
    subscription_status = p_state ->> 'subscription_status',
    subscription_plan = p_state ->> 'subscription_plan',
    price_id = p_state ->> 'price_id',
    subscription_created = (p_state ->> 'subscription_created')::bigint,
    current_period_end = to_timestamp((p_state ->> 'current_period_end')::bigint),
    cancel_at_period_end = coalesce((p_state ->> 'cancel_at_period_end')::boolean, false),
    subscription_version = coalesce((p_state ->> 'subscription_version')::bigint, 0),
    dunning_since = to_timestamp((p_state ->> 'dunning_since')::bigint),
    invoice_version = coalesce((p_state ->> 'invoice_version')::bigint, 0),
    trial_used = coalesce((p_state ->> 'trial_used')::boolean, false),
    updated_at = clock_timestamp()
  where b.team_id = p_team and b.updated_at = p_expected_updated_at;
  if not found then
    raise exception 'team_billing changed concurrently' using errcode = 'PT409';
  end if;
  if p_new_plan is not null then
    insert into public.plan_history (team_id, plan) values (p_team, p_new_plan);
  end if;
  return 'applied';
end
$$;

-- Notifications outbox (src/email/outbox.rs explains the delivery protocol) ---------------

create type public.outbox_status as enum ('pending', 'sending', 'sent', 'failed', 'skipped');

create table public.notification_outbox (
  id uuid primary key default gen_random_uuid(),
  idempotency_key text not null unique check (char_length(idempotency_key) between 1 and 200),
  team_id uuid references public.teams (id) on delete cascade,
  user_id uuid references auth.users (id) on delete cascade,
  kind text not null check (kind ~ '^[a-z_]{1,50}$'),
  category text not null check (category in ('security', 'billing', 'alerts', 'product_updates')),
  -- Erased when the row settles: a delivered email leaves no address or content behind.
  recipient text check (char_length(recipient) <= 320),
  payload jsonb,
  status public.outbox_status not null default 'pending',
  attempts integer not null default 0 check (attempts between 0 and 100),
  next_attempt_at timestamptz not null default now(),
  lease_token uuid,
  lease_until timestamptz,
  last_error text check (char_length(last_error) <= 50),
  provider_message_id text check (char_length(provider_message_id) <= 200),
  created_at timestamptz not null default now(),
  settled_at timestamptz,
  check ((status in ('sent', 'failed', 'skipped')) = (settled_at is not null)),
  check (status in ('sent', 'failed', 'skipped') or (recipient is not null and payload is not null)),
  check ((status = 'sending') = (lease_token is not null))
);
create index notification_outbox_due_idx on public.notification_outbox (next_attempt_at)
  where status in ('pending', 'sending');

-- Claims up to `batch` due rows for `lease_seconds`. A claimed row becomes due again only
-- after the lease plus `reclaim_seconds` (the wait for SendGrid's `processed` event).
create function public.outbox_claim(batch integer, lease_seconds integer, reclaim_seconds integer)
returns setof public.notification_outbox
language sql volatile set search_path = '' as $$
  with due as (
    select id from public.notification_outbox
    where status in ('pending', 'sending') and next_attempt_at <= now()
    order by next_attempt_at
    limit least(greatest(batch, 1), 100)
    for update skip locked
  )
  update public.notification_outbox o
     set status = 'sending',
         attempts = o.attempts + 1,
         lease_token = gen_random_uuid(),
         lease_until = now() + make_interval(secs => lease_seconds),
         next_attempt_at = now() + make_interval(secs => lease_seconds + reclaim_seconds)
    from due
   where o.id = due.id
  returning o.*
$$;

-- Records an attempt's outcome, only for the holder of the current lease. A terminal outcome
-- erases recipient and payload. Returns false when the lease was lost (nothing written).
create function public.outbox_settle(
  p_id uuid, p_lease_token uuid, p_status public.outbox_status, p_retry_at timestamptz,
  p_error text, p_message_id text
) returns boolean
language plpgsql set search_path = '' as $$
declare
  terminal boolean := p_status in ('sent', 'failed', 'skipped');
begin
  if p_status = 'sending' or (p_status = 'pending' and p_retry_at is null) then
    raise exception 'invalid outcome' using errcode = '22023';
  end if;
  update public.notification_outbox o set
    status = p_status,
    next_attempt_at = coalesce(p_retry_at, o.next_attempt_at),
    last_error = p_error,
    provider_message_id = coalesce(p_message_id, o.provider_message_id),
    lease_token = null,
    lease_until = null,
    settled_at = case when terminal then now() end,
    recipient = case when terminal then null else o.recipient end,
    payload = case when terminal then null else o.payload end
  where o.id = p_id and o.lease_token = p_lease_token and o.status = 'sending';
  return found;
end
$$;

-- SendGrid's `processed` event for a row: it was accepted, whatever its worker managed to
-- record. Settles it as sent (no effect on a row already settled or never attempted).
create function public.outbox_mark_processed(p_id uuid, p_message_id text) returns boolean
language plpgsql set search_path = '' as $$
begin
  update public.notification_outbox o set
    status = 'sent', settled_at = now(), lease_token = null, lease_until = null,
    provider_message_id = coalesce(p_message_id, o.provider_message_id),
    recipient = null, payload = null, last_error = null
  where o.id = p_id and o.status in ('pending', 'sending') and o.attempts > 0;
  return found;
end
$$;

-- SendGrid event ids already handled (redeliveries are no-ops); kept a week.
create table public.sendgrid_events (
  sg_event_id text primary key check (char_length(sg_event_id) <= 200),
  received_at timestamptz not null default now()
);

-- Email preferences, suppressions, verification ----------------------------------------------

create table public.email_preferences (
  user_id uuid primary key references auth.users (id) on delete cascade,
  alerts boolean not null default true,
  product_updates boolean not null default false,
  updated_at timestamptz not null default now()
);

-- Addresses that get no more mail: hard bounces and spam reports (from the signed event
-- webhook). Keyed by the lowercased address, which suppression needs by definition.
create table public.email_suppressions (
  email_normalized text primary key
    check (char_length(email_normalized) <= 320 and email_normalized = lower(email_normalized)),
  reason text not null check (reason in ('bounce', 'spam_report', 'provider_suppressed')),
  source_event_id text check (char_length(source_event_id) <= 200),
  created_at timestamptz not null default now()
);

-- Addresses a user proved with a code; sensitive mail goes only to these.
create table public.verified_emails (
  user_id uuid not null references auth.users (id) on delete cascade,
  email_normalized text not null
    check (char_length(email_normalized) <= 320 and email_normalized = lower(email_normalized)),
  verified_at timestamptz not null default now(),
  primary key (user_id, email_normalized)
);

create table public.email_verification_codes (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  purpose text not null check (purpose in ('verify_email', 'confirm_team_deletion')),
  email text not null check (char_length(email) <= 320),
  -- Argon2id PHC string; the digits themselves are never stored.
  code_hash text not null check (code_hash like '$argon2id$%' and char_length(code_hash) <= 200),
  pepper_id text not null check (char_length(pepper_id) between 1 and 32),
  issued_at timestamptz not null default now(),
  expires_at timestamptz not null,
  attempts integer not null default 0 check (attempts between 0 and 5),
  consumed_at timestamptz,
  superseded boolean not null default false,
  check (expires_at > issued_at and expires_at <= issued_at + interval '10 minutes')
);
create index email_verification_codes_user_idx
  on public.email_verification_codes (user_id, purpose, issued_at desc);
-- At most one live code per user and purpose: issuing supersedes the previous one first.
create unique index email_verification_codes_live_idx
  on public.email_verification_codes (user_id, purpose)
  where consumed_at is null and not superseded;

-- Team deletion ------------------------------------------------------------------------------

create table public.team_deletions (
  team_id uuid primary key references public.teams (id),
  -- No foreign key: the requester may delete their own account before the purge ends.
  requested_by uuid not null,
  requested_at timestamptz not null default now(),
  purge_after timestamptz not null,
  state text not null check (state in ('requested', 'cancelled', 'purging', 'purged')),
  next_step text check (next_step in (
    'freeze', 'cancel_billing', 'revoke_access', 'delete_connections', 'destroy_data_keys',
    'delete_objects', 'delete_records', 'pseudonymise_activity', 'remove_team', 'send_receipt')),
  cancelled_by uuid,
  cancelled_at timestamptz,
  purge_started_at timestamptz,
  purged_at timestamptz,
  check (purge_after >= requested_at + interval '7 days'),
  check ((state = 'purging') = (next_step is not null)),
  check ((state = 'cancelled') = (cancelled_at is not null)),
  check ((state = 'purged') = (purged_at is not null))
);

-- Is the team being purged (or gone)? For the worker and for policies: a frozen team's rows
-- are neither read nor written through the API.
create function public.team_frozen(team uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.team_deletions d
    where d.team_id = team and d.state in ('purging', 'purged')
  )
$$;

-- Row-level security and grants --------------------------------------------------------------
-- Supabase grants everything in `public` to anon and authenticated by default (and to PUBLIC
-- for functions), so each grant is revoked explicitly before the intended ones are given.

alter table public.team_billing enable row level security;
alter table public.plan_history enable row level security;
alter table public.stripe_events enable row level security;
alter table public.notification_outbox enable row level security;
alter table public.sendgrid_events enable row level security;
alter table public.email_preferences enable row level security;
alter table public.email_suppressions enable row level security;
alter table public.verified_emails enable row level security;
alter table public.email_verification_codes enable row level security;
alter table public.team_deletions enable row level security;

create policy team_billing_select on public.team_billing for select to authenticated
  using (public.can(team_id, 'team.read'));
create policy plan_history_select on public.plan_history for select to authenticated
  using (public.can(team_id, 'team.read'));
create policy team_deletions_select on public.team_deletions for select to authenticated
  using (public.can(team_id, 'team.read'));
create policy email_preferences_select on public.email_preferences for select to authenticated
  using (user_id = auth.uid());
create policy email_preferences_insert on public.email_preferences for insert to authenticated
  with check (user_id = auth.uid());
create policy email_preferences_update on public.email_preferences for update to authenticated
  using (user_id = auth.uid()) with check (user_id = auth.uid());
create policy verified_emails_select on public.verified_emails for select to authenticated
  using (user_id = auth.uid());

revoke all on public.team_billing, public.plan_history, public.stripe_events,
  public.notification_outbox, public.sendgrid_events, public.email_preferences,
  public.email_suppressions, public.verified_emails, public.email_verification_codes,
  public.team_deletions from public, anon, authenticated;
grant select on public.team_billing, public.plan_history, public.team_deletions,
  public.verified_emails to authenticated;
grant select, insert (user_id, alerts, product_updates),
  update (alerts, product_updates, updated_at) on public.email_preferences to authenticated;
grant select, insert, update, delete on public.team_billing, public.stripe_events,
  public.notification_outbox, public.sendgrid_events, public.email_preferences,
  public.email_suppressions, public.verified_emails, public.email_verification_codes,
  public.team_deletions to service_role;
-- plan_history is append-only for the service role too.
grant select, insert on public.plan_history to service_role;

revoke all on function public.billing_apply_event(text, text, uuid, timestamptz, jsonb, text),
  public.outbox_claim(integer, integer, integer),
  public.outbox_settle(uuid, uuid, public.outbox_status, timestamptz, text, text),
  public.outbox_mark_processed(uuid, text),
  public.team_billing_init(), public.team_frozen(uuid) from public, anon, authenticated;
grant execute on function public.billing_apply_event(text, text, uuid, timestamptz, jsonb, text),
  public.outbox_claim(integer, integer, integer),
  public.outbox_settle(uuid, uuid, public.outbox_status, timestamptz, text, text),
  public.outbox_mark_processed(uuid, text) to service_role;
grant execute on function public.team_frozen(uuid) to authenticated, service_role;
