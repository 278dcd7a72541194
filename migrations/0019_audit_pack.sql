-- Audit-pack export (`GET /api/export/audit-pack`, docs/audit-pack.md): `audit.export` is for the
-- roles that answer to auditors (owner, admin) and for auditors themselves. A pack holds the whole
-- activity log and the compliance record, more than a read-scoped key should hand out in one call,
-- so only the admin scope grants it. The export reads with the service role after the worker has
-- authorised the caller, so no new policy is needed.

insert into public.role_permissions (role, action) values
  ('owner', 'audit.export'), ('admin', 'audit.export'), ('auditor', 'audit.export');

insert into public.scope_permissions (scope, action) values
  ('admin', 'audit.export');
