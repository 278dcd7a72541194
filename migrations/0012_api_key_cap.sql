-- A cap on active API keys per user (issue 10, item 6): a user holds at most 20 keys that are
-- neither revoked nor expired, across all their teams. Enforced here, on every insert, so no
-- path around the worker (and no two concurrent creations) can pass it: the per-user advisory
-- lock serialises creations of one user's keys for the rest of the transaction. The worker's
-- limit (`store::MAX_ACTIVE_KEYS_PER_USER`) must match; the stack test
-- `access::a_user_holds_at_most_the_capped_number_of_active_keys` checks both.

create function public.api_keys_cap() returns trigger
language plpgsql set search_path = '' as $$
declare
  v_active integer;
begin
  perform pg_advisory_xact_lock(hashtextextended('api_keys:' || new.user_id::text, 0));
  select count(*) into v_active
    from public.api_keys
   where user_id = new.user_id
     and revoked_at is null
     and (expires_at is null or expires_at > now());
  if v_active >= 20 then
    -- PostgREST answers a PTnnn code with HTTP nnn.
    raise exception 'a user may hold at most 20 active API keys' using errcode = 'PT409';
  end if;
  return new;
end
$$;

revoke all on function public.api_keys_cap() from public, anon, authenticated;

create trigger api_keys_cap before insert on public.api_keys
  for each row execute function public.api_keys_cap();
