-- Local-only stand-in for what a Supabase project already provides: the API roles, the `auth`
-- schema with `auth.users`, and the `auth.uid()` / `auth.role()` / `auth.jwt()` helpers that read
-- the claims PostgREST places in `request.jwt.claims`. Never apply this to a real Supabase project.
-- Idempotent: scripts/db.sh runs it on every start.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key,
  email text unique,
  created_at timestamptz not null default now()
);
-- Set by Supabase Auth when the user confirms their address (null until then).
alter table auth.users add column if not exists email_confirmed_at timestamptz;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable as $$
  select nullif(auth.jwt() ->> 'sub', '')::uuid
$$;

create or replace function auth.role() returns text
language sql stable as $$
  select nullif(auth.jwt() ->> 'role', '')
$$;

grant usage on schema public to anon, authenticated, service_role;

-- Supabase's default privileges: everything the migration role creates in `public` is granted
-- to all three API roles (tables, sequences and functions alike), so a migration that does not
-- revoke leaves it open to `anon`. Reproduced here so the isolation tests see what a real project
-- would expose.
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;

-- Local stand-in for the project's JWKS endpoint (GET /rpc/local_jwks): one P-256 key and one
-- RSA-2048 key, whose private halves are fixed test values in tests/stack/jwks.rs. Never part of the migrations (which
-- revoke `anon` from every function: scripts/db.sh applies this file again after them).
create or replace function public.local_jwks() returns json
language sql immutable as $$
  select '{"keys":[{"kty":"EC","kid":"local-es256","use":"sig","alg":"ES256","crv":"P-256",
    "x":"UVw9brnjlrkE0_7Kf1T9zQzB6Ze_N13KUVrQpsO0A18",
    "y":"RTa-OlDzGPv5pUdZAqIhUCvvDVfgjFOyzApW8X2fk1Q"},
   {"kty":"RSA","kid":"local-rs256","use":"sig","alg":"RS256","e":"AQAB",
    "n":"l9-F5ZmHeKE9Pq53G3yRgJXJy7iGUiH_DYDQd-HqJW6K1lBve4VzF1mB4pmaDPzzqfet05MEcQrN4xTiNDzxKj25q-nvMUUQN4uWnkx56jVEcixcH8wyxmgpNd3U8_jF0xFI2Gawtf80uLFxOGCg8MkYUx917iFLgpdkvVwHrI-B2tMuIwWbp9AKey4EhlvkzCfT6s6ux0eU7uWmU78Tt7Y0xHTAQDVopaiQ7vD6-qqCZ1vpbvI96GbGnkuRnlN_khFGZgk54BoWB6PQKf8bp0l1YWwITcC2yRmSeHJwv3UAUZ5DeBurFaGDYHz-khZRB2A8TS1cp6XFTlIGCj882w"}]}'::json
$$;
grant execute on function public.local_jwks() to anon;
