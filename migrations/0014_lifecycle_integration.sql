-- Account lifecycle, phase 2: what the routes and jobs of docs/lifecycle.md ("Integration")
-- need on top of 0009. Billing is owner-only (`billing.manage`, no API-key scope grants it);
-- the billing writes are audited like every other mutation; one function counts what the plan
-- limits count, so enforcement reads one number per limit.

insert into public.role_permissions (role, action) values ('owner', 'billing.manage');

-- The Stripe event machine's write, now audited: a change of the plan in force writes its
-- activity row in the same transaction (`p_audit`, optional so replays recorded without a
-- state change write none).
drop function public.billing_apply_event(text, text, uuid, timestamptz, jsonb, text);
create function public.billing_apply_event(
  p_event_id text, p_event_type text, p_team uuid, p_expected_updated_at timestamptz,
  p_state jsonb, p_new_plan text, p_audit jsonb default null
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
  if p_audit is not null then
    perform public.audit_team(p_audit, p_team);
  end if;
  return 'applied';
end
$$;

-- Stores the team's Stripe customer, once: the first one stored wins a race and is returned,
-- so a team never ends up with two customers referenced.
create function public.billing_set_customer(p_team uuid, p_customer text, p_audit jsonb)
returns text
language plpgsql set search_path = '' as $$
declare
  v_customer text;
begin
  update public.team_billing b set stripe_customer_id = p_customer, updated_at = clock_timestamp()
   where b.team_id = p_team and b.stripe_customer_id is null
  returning b.stripe_customer_id into v_customer;
  if found then
    perform public.audit_team(p_audit, p_team);
    return v_customer;
  end if;
  select b.stripe_customer_id into v_customer from public.team_billing b where b.team_id = p_team;
  if v_customer is null then
    raise exception 'no billing row for team' using errcode = 'P0002';
  end if;
  return v_customer;
end
$$;

-- What the plan limits count, for one team: live connections; members plus open invitations;
-- live API keys; manual backups since `p_day_start` of `p_connection` (or of the busiest
-- connection when it is null).
create function public.team_usage(p_team uuid, p_day_start timestamptz, p_connection uuid)
returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'connections', (select count(*) from public.okta_connections c
                     where c.team_id = p_team and c.status <> 'deleted'),
    'members', (select count(*) from public.team_members m where m.team_id = p_team)
             + (select count(*) from public.team_invitations i
                 where i.team_id = p_team and i.accepted_at is null and i.expires_at > now()),
    'api_keys', (select count(*) from public.api_keys k
                  where k.team_id = p_team and k.revoked_at is null
                    and (k.expires_at is null or k.expires_at > now())),
    'manual_backups_today', coalesce((
      select max(n) from (
        select count(*) as n from public.backups b
         where b.team_id = p_team and b.trigger = 'manual' and b.started_at >= p_day_start
           and (p_connection is null or b.connection_id = p_connection)
         group by b.connection_id) per_connection), 0)
  )
$$;

revoke all on function
  public.billing_apply_event(text, text, uuid, timestamptz, jsonb, text, jsonb),
  public.billing_set_customer(uuid, text, jsonb),
  public.team_usage(uuid, timestamptz, uuid)
  from public, anon, authenticated;
grant execute on function
  public.billing_apply_event(text, text, uuid, timestamptz, jsonb, text, jsonb),
  public.billing_set_customer(uuid, text, jsonb),
  public.team_usage(uuid, timestamptz, uuid)
  to service_role;
