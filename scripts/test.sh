#!/usr/bin/env bash
# README command 2: every test. Native unit tests of the core and the emulator, then the
# integration suite against a fresh local stack (PostgreSQL + PostgREST + wrangler dev + Okta
# emulator). Ends with one summary line: "N passed, N failed".
#   bash scripts/test.sh                 everything (the README's command; what CI runs)
#   bash scripts/test.sh --stack FILTER...  only the stack tests whose names contain a FILTER
#                                           (for development; the log scan still runs);
#                                           the filter `browser` runs the browser tests only
set -uo pipefail
stack_filter=()
stack_only=
if [ "${1:-}" = "--stack" ]; then
  stack_only=1
  : "${2:?usage: scripts/test.sh --stack FILTER...}"
  stack_filter=("${@:2}")
fi
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

out=$(mktemp -d)
passed=0
failed=0

tally() {
  local log=$1 p f
  p=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$log")
  f=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
}

# A test binary that started but printed no result line died mid-run (abort, signal, a panic
# outside a test): its unfinished tests are unknown, so it counts as one failure.
aborted_binaries() {
  awk '/^ +Running .*\(.*\)$/ || /^ +Doc-tests / { started++ } /^test result:/ { finished++ }
       END { n = started - finished; print (n > 0 ? n : 0) }' "$1"
}

# Runs one cargo test suite; a suite that did not run to the end is counted as failed, with a
# line saying why, so a compile error or an abort can never look like a green run.
run_suite() {
  local name=$1 status before aborted; shift
  echo "== $name"
  before=$failed
  "$@" 2>&1 | tee "$out/$name.log"
  status=${PIPESTATUS[0]}
  tally "$out/$name.log"
  aborted=$(aborted_binaries "$out/$name.log")
  if [ "$aborted" -gt 0 ]; then
    echo "FAIL: $name: $aborted test binary(ies) stopped without a result (aborted or killed)"
    failed=$((failed + aborted))
  fi
  if [ "$status" -ne 0 ] && [ "$failed" -eq "$before" ]; then
    echo "FAIL: $name: exited with status $status without reporting a failed test (did not compile or did not run)"
    failed=$((failed + 1))
  fi
}

[ -n "$stack_only" ] || run_suite unit cargo test --workspace --no-fail-fast

STACK_STATE=.stack/test
STACK_DB=${TEST_DB:-butterfly_test}
STACK_FRESH_DB=1
STACK_POSTGREST_PORT=${TEST_POSTGREST_PORT:-3100}
STACK_OKTA_PORT=${TEST_OKTA_PORT:-8189}
# The empty sandbox org (restore and drill target) next to the emulator.
STACK_SANDBOX_PORT=${TEST_SANDBOX_PORT:-$((STACK_OKTA_PORT + 1))}
STACK_SANDBOX_TOKEN=test-sandbox-token-0123456789abcdef
STACK_WORKER_PORT=${TEST_WORKER_PORT:-8887}
# The AI provider fakes listen next to the worker.
STACK_AI_ANTHROPIC_PORT=$((STACK_WORKER_PORT + 3))
STACK_AI_OPENAI_PORT=$((STACK_WORKER_PORT + 4))
okta_token=test-okta-token-0123456789abcdef
STACK_OKTA_ARGS="--token $okta_token"
# Small backup slices, so every test backup runs as several queue invocations resuming from
# checkpoints (production slices are 5000 requests).
# Teams start on Standard, so tests about something else stay inside the plan limits; the
# lifecycle tests move a team between plans through Stripe's events. A short AI timeout, so the
# failover test's slow provider times out quickly.
# The browser tests sign in through the dashboard's dev-only sign-in, as this user.
browser_user=00000000-0000-4000-8000-00000000b0b0
STACK_WORKER_VARS="DEV_SIGN_IN_USER=$browser_user BACKUP_SLICE_REQUESTS=20 BACKUP_CHECKPOINT_SECONDS=1 BACKUP_RETRY_SECONDS=1 DEFAULT_PLAN=standard AI_TIMEOUT_SECONDS=3 AI_PER_MINUTE_REQUESTS=100 AI_DAILY_REQUESTS=1000"
# The CLI's stack test (tests/stack/cli.rs) runs the built `butterfly` binary.
cli_bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/butterfly"
if ! cargo build --quiet -p butterfly-cli --bin butterfly; then
  echo "FAIL: the butterfly CLI did not build: its stack test cannot run"
  failed=$((failed + 1))
fi
trap stack_down EXIT
rm -f "$STACK_STATE/planted-secrets"
# Browser tests: every full run, and `--stack browser`, which runs them alone.
run_browser=
only_browser=
if [ -z "$stack_only" ]; then run_browser=1; fi
for f in "${stack_filter[@]}"; do [ "$f" = browser ] && run_browser=1; done
[ "${stack_filter[*]}" = browser ] && only_browser=1

# Runs the dashboard's browser tests (tests/browser/*.mjs, Chromium through playwright-core):
# each step counts; a runner that ends without its "browser: N passed, N failed" line counts as
# one failure.
run_browser_tests() {
  local file log p f
  echo "== browser"
  stack_user "$browser_user" browser@butterfly.test
  for file in tests/browser/*.mjs; do
    log="$out/browser-$(basename "$file" .mjs).log"
    BF_WORKER_URL="http://127.0.0.1:$STACK_WORKER_PORT" BF_OKTA_URL="http://127.0.0.1:$STACK_OKTA_PORT" \
      BF_OKTA_TOKEN="$okta_token" BF_OKTA_SANDBOX_URL="http://127.0.0.1:$STACK_SANDBOX_PORT" \
      BF_OKTA_SANDBOX_TOKEN="$STACK_SANDBOX_TOKEN" timeout 1200 node "$file" 2>&1 | tee "$log"
    read -r p f < <(sed -n 's/^browser: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
    if [ -z "${p:-}" ]; then
      echo "FAIL: $file stopped without its result line (crashed or timed out)"
      failed=$((failed + 1))
    else
      passed=$((passed + p))
      failed=$((failed + f))
    fi
    p= f=
  done
}

if stack_up; then
  [ -n "$only_browser" ] || run_suite stack env \
    BF_WORKER_URL="http://127.0.0.1:$STACK_WORKER_PORT" \
    BF_POSTGREST_URL="http://127.0.0.1:$STACK_POSTGREST_PORT" \
    BF_OKTA_URL="http://127.0.0.1:$STACK_OKTA_PORT" \
    BF_OKTA_TOKEN="$okta_token" \
    BF_OKTA_SANDBOX_URL="http://127.0.0.1:$STACK_SANDBOX_PORT" \
    BF_OKTA_SANDBOX_TOKEN="$STACK_SANDBOX_TOKEN" \
    BF_STRIPE_URL="http://127.0.0.1:$STACK_STRIPE_PORT" \
    BF_STRIPE_WEBHOOK_SECRET="$STACK_STRIPE_WEBHOOK_SECRET" \
    BF_SENDGRID_URL="http://127.0.0.1:$STACK_SENDGRID_PORT" \
    BF_SENDGRID_WEBHOOK_KEY_FILE="$STACK_SENDGRID_WEBHOOK_KEY_FILE" \
    BF_AI_ANTHROPIC_URL="http://127.0.0.1:$STACK_AI_ANTHROPIC_PORT" \
    BF_AI_OPENAI_URL="http://127.0.0.1:$STACK_AI_OPENAI_PORT" \
    BF_DB="$STACK_DB" \
    BF_PLANTED="$STACK_STATE/planted-secrets" \
    BF_R2_DIR="$STACK_STATE/wrangler-state/v3/r2" \
    BF_WORKER_ENV="$STACK_STATE/worker.env" \
    BF_CLI="$cli_bin" \
    cargo test --no-fail-fast --features stack-tests --test stack -- --test-threads=1 "${stack_filter[@]}"
  [ -z "$run_browser" ] || run_browser_tests
  # The worker's own log must never contain a credential the suite used.
  echo "== log scan"
  scan_failed=0
  # Planted: every API key and invitation token the suite was handed, and every email address
  # and verification code the email tests used (tests/stack/support.rs).
  planted=()
  [ -f "$STACK_STATE/planted-secrets" ] && mapfile -t planted <"$STACK_STATE/planted-secrets"
  # A log without the worker's own request lines proves nothing (wrong file, logging broken):
  # the scan then fails instead of passing over an empty log.
  worker_lines=$(grep -c '"request_id":"req_' "$STACK_STATE/wrangler.log" 2>/dev/null || true)
  if [ "${worker_lines:-0}" -eq 0 ]; then
    echo "FAIL: $STACK_STATE/wrangler.log has no request lines of the worker: nothing to scan"
    scan_failed=1
  fi
  echo "scanning $worker_lines worker request lines for $((14 + ${#planted[@]})) secrets (${#planted[@]} planted API keys/tokens/addresses/codes)"
  for secret in "$okta_token" "$STACK_SANDBOX_TOKEN" "$SUPABASE_JWT_SECRET" "$SUPABASE_SERVICE_ROLE_KEY" "${MASTER_KEYS#*:}" "${SNAPSHOT_MASTER_SECRET#*:}" "$DOWNLOAD_SIGNING_KEY" "$API_KEY_PEPPER" "$ANTHROPIC_API_KEY" "$OPENAI_API_KEY" "${AUDIT_SIGNING_KEYS#*:}" "$STACK_SENDGRID_KEY" "${UNSUBSCRIBE_SIGNING_KEYS#*:}" "${VERIFICATION_CODE_PEPPERS#*:}" "${planted[@]}"; do
    if grep -qF -- "$secret" "$STACK_STATE/wrangler.log"; then
      echo "FAIL: a secret appears in $STACK_STATE/wrangler.log"; scan_failed=1
    fi
  done
  # User JWTs: the edge test's tokens are never logged either (their signatures are unique).
  if grep -qE 'eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.' "$STACK_STATE/wrangler.log"; then
    echo "FAIL: a JWT appears in $STACK_STATE/wrangler.log"; scan_failed=1
  fi
  if [ "$scan_failed" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
else
  echo "FAIL: the local stack did not start: the stack suite did not run"
  failed=$((failed + 1))
fi
stack_down

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
