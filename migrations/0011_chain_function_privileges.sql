-- The activity chain's helper functions (0008) are internals of its trigger and verifiers, which
-- run as their definer: no caller needs to execute them directly. PostgreSQL grants EXECUTE to
-- PUBLIC on every new function, so revoke it; members keep only `activity_chain_verify`, which
-- checks `can(team, 'activity.read')` itself.
revoke all on function
  public.activity_canonical_string(text),
  public.activity_canonical_json(jsonb),
  public.activity_identity_detail_keys(),
  public.activity_identity_user_keys(),
  public.activity_chain_team(uuid),
  public.activity_identity_fields(public.activity_logs),
  public.activity_identity_commitment(bytea, jsonb),
  public.activity_chain_content(public.activity_logs),
  public.activity_chain_hash(public.activity_logs),
  public.activity_chain_genesis(),
  public.activity_is_pseudonym(text),
  public.activity_identity_erased(public.activity_logs),
  public.activity_logs_guard_update()
from public, anon, authenticated;
