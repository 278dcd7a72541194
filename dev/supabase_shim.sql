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

-- Local stand-in for the project's JWKS endpoint (GET /rpc/local_jwks): one P-256 key whose
-- private half is a fixed test value in tests/stack/jwks.rs. Never part of the migrations.
create or replace function public.local_jwks() returns json
language sql immutable as $$
  select '{"keys":[{"kty":"EC","kid":"local-es256","use":"sig","alg":"ES256","crv":"P-256",
    "x":"UVw9brnjlrkE0_7Kf1T9zQzB6Ze_N13KUVrQpsO0A18",
    "y":"RTa-OlDzGPv5pUdZAqIhUCvvDVfgjFOyzApW8X2fk1Q"}]}'::json
$$;
grant execute on function public.local_jwks() to anon;
