#!/usr/bin/env bash
# README command 2: every test. Native unit tests of the core and the emulator, then the
# integration suite against a fresh local stack (PostgreSQL + PostgREST + wrangler dev + Okta
# emulator). Ends with one summary line: "N passed, N failed".
#   bash scripts/test.sh                 everything (the README's command; what CI runs)
#   bash scripts/test.sh --stack FILTER  only the stack tests whose names contain FILTER (for
#                                        development; the log scan still runs)
set -uo pipefail
stack_filter=()
stack_only=
if [ "${1:-}" = "--stack" ]; then
  stack_only=1
  stack_filter=("${2:?usage: scripts/test.sh --stack FILTER}")
fi
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

out=$(mktemp -d)
passed=0
failed=0
suites_failed=0

tally() {
  local log=$1 p f
  p=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$log")
  f=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
}

run_suite() {
  local name=$1; shift
  echo "== $name"
  if "$@" 2>&1 | tee "$out/$name.log"; then :; else suites_failed=$((suites_failed + 1)); fi
  tally "$out/$name.log"
}

[ -n "$stack_only" ] || run_suite unit cargo test --workspace

STACK_STATE=.stack/test
STACK_DB=${TEST_DB:-butterfly_test}
STACK_FRESH_DB=1
STACK_POSTGREST_PORT=${TEST_POSTGREST_PORT:-3100}
STACK_OKTA_PORT=${TEST_OKTA_PORT:-8189}
STACK_WORKER_PORT=${TEST_WORKER_PORT:-8887}
okta_token=test-okta-token-0123456789abcdef
STACK_OKTA_ARGS="--token $okta_token"
# Small backup slices, so every test backup runs as several queue invocations resuming from
# checkpoints (production slices are 5000 requests).
STACK_WORKER_VARS="BACKUP_SLICE_REQUESTS=20 BACKUP_CHECKPOINT_SECONDS=1 BACKUP_RETRY_SECONDS=1"
trap stack_down EXIT
rm -f "$STACK_STATE/planted-secrets"
if stack_up; then
  run_suite stack env \
    BF_WORKER_URL="http://127.0.0.1:$STACK_WORKER_PORT" \
    BF_POSTGREST_URL="http://127.0.0.1:$STACK_POSTGREST_PORT" \
    BF_OKTA_URL="http://127.0.0.1:$STACK_OKTA_PORT" \
    BF_OKTA_TOKEN="$okta_token" \
    BF_DB="$STACK_DB" \
    BF_PLANTED="$STACK_STATE/planted-secrets" \
    cargo test --features stack-tests --test stack -- --test-threads=1 "${stack_filter[@]}"
  # The worker's own log must never contain a credential the suite used.
  echo "== log scan"
  # Planted: every API key and invitation token the suite was handed (tests/stack/support.rs).
  planted=()
  [ -f "$STACK_STATE/planted-secrets" ] && mapfile -t planted <"$STACK_STATE/planted-secrets"
  echo "scanning for $((7 + ${#planted[@]})) secrets (${#planted[@]} planted API keys/tokens)"
  for secret in "$okta_token" "$SUPABASE_JWT_SECRET" "$SUPABASE_SERVICE_ROLE_KEY" "${MASTER_KEYS#*:}" "$SNAPSHOT_MASTER_SECRET" "$DOWNLOAD_SIGNING_KEY" "$API_KEY_PEPPER" "${planted[@]}"; do
    if grep -qF -- "$secret" "$STACK_STATE/wrangler.log"; then
      echo "FAIL: a secret appears in $STACK_STATE/wrangler.log"; failed=$((failed + 1))
    fi
  done
  # User JWTs: the edge test's tokens are never logged either (their signatures are unique).
  if grep -qE 'eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.' "$STACK_STATE/wrangler.log"; then
    echo "FAIL: a JWT appears in $STACK_STATE/wrangler.log"; failed=$((failed + 1))
  fi
  [ "$failed" -eq 0 ] && passed=$((passed + 1))
else
  echo "FAIL: the local stack did not start"
  suites_failed=$((suites_failed + 1))
  failed=$((failed + 1))
fi
stack_down

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$suites_failed" -eq 0 ]
