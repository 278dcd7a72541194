#!/usr/bin/env bash
# Ensure PostgreSQL is up, (re)create-if-missing the given database, apply the local Supabase shim
# and every pending migration in order. Idempotent.
#   usage: scripts/db.sh <database> [--fresh]
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:?usage: scripts/db.sh <database> [--fresh]}
fresh=${2:-}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}

if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
  echo "db: PostgreSQL is down; starting it" >&2
  cluster_version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
fi

psql_q() { psql -v ON_ERROR_STOP=1 -qAt "$@"; }

if [ "$fresh" = "--fresh" ]; then
  psql_q -d postgres -c "drop database if exists \"$db\" with (force)"
fi
if [ -z "$(psql_q -d postgres -c "select 1 from pg_database where datname = '$db'")" ]; then
  psql_q -d postgres -c "create database \"$db\""
fi

psql_q -d "$db" -f dev/supabase_shim.sql
psql_q -d "$db" -c "create schema if not exists butterfly_meta;
  create table if not exists butterfly_meta.schema_migrations (
    name text primary key, applied_at timestamptz not null default now())"

for file in migrations/*.sql; do
  name=$(basename "$file")
  if [ -z "$(psql_q -d "$db" -c "select 1 from butterfly_meta.schema_migrations where name = '$name'")" ]; then
    echo "db: applying $name" >&2
    psql_q -d "$db" --single-transaction \
      -f "$file" \
      -c "insert into butterfly_meta.schema_migrations (name) values ('$name')"
  fi
done

# Once more after the migrations: they revoke `anon` everywhere, and the shim's dev-only local
# JWKS function is the one thing `anon` must reach locally.
PGOPTIONS='-c client_min_messages=warning' psql_q -d "$db" -f dev/supabase_shim.sql
