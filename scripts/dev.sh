#!/usr/bin/env bash
# README command 1: the local stack with a demo Okta tenant. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

STACK_STATE=.stack/dev
STACK_DB=butterfly_dev
STACK_POSTGREST_PORT=${POSTGREST_PORT:-3000}
STACK_OKTA_PORT=${OKTA_PORT:-8089}
STACK_WORKER_PORT=${WORKER_PORT:-8787}
STACK_OKTA_ARGS="--token demo-okta-token-0123456789abcdef"
STACK_SANDBOX_PORT=${SANDBOX_PORT:-$((STACK_OKTA_PORT + 1))}
STACK_SANDBOX_TOKEN=demo-sandbox-token-0123456789abcdef
# Keep wrangler's DevTools inspector proxy (see stack_up); INSPECTOR=0 leaves it out.
STACK_INSPECTOR=${INSPECTOR:-1}
# The Stripe fake delivers its signed events to the worker, as Stripe would.
STACK_STRIPE_DELIVER=1
# The SendGrid fake posts signed processed/delivered events to the worker, as SendGrid would.
STACK_SENDGRID_DELIVER=1
# The dashboard's dev-only sign-in, as the demo user (config refuses it outside a loopback stack).
demo_user=00000000-0000-4000-8000-00000000d3e0
STACK_WORKER_VARS="DEV_SIGN_IN_USER=$demo_user"
trap 'stack_down; exit 0' INT TERM
trap stack_down EXIT
stack_up

stack_user "$demo_user" demo@butterfly.local
demo_jwt=$(target/debug/devctl jwt "$demo_user" authenticated 86400)
api=http://127.0.0.1:$STACK_WORKER_PORT/api/v1
# The demo org connected for the demo user, so the dashboard has something to click through
# (409 on a later start: it is already there).
curl -s -o /dev/null -X POST "$api/connections" -H "authorization: Bearer $demo_jwt" -H 'content-type: application/json' \
  -d "{\"org_domain\":\"127.0.0.1:$STACK_OKTA_PORT\",\"api_token\":\"demo-okta-token-0123456789abcdef\"}" || true

cat <<INFO

Butterfly local stack is up.
  Dashboard                       http://127.0.0.1:$STACK_WORKER_PORT/app   ("Sign in as the demo user")
  API (wrangler dev, local R2)   $api
  Cron (scheduled backups)        curl 'http://127.0.0.1:$STACK_WORKER_PORT/__scheduled?cron=17+*/6+*+*+*'
  PostgREST                       http://127.0.0.1:$STACK_POSTGREST_PORT
  Okta emulator (demo tenant)     http://127.0.0.1:$STACK_OKTA_PORT   token: demo-okta-token-0123456789abcdef
  Okta sandbox (empty org)        http://127.0.0.1:$STACK_SANDBOX_PORT   token: $STACK_SANDBOX_TOKEN
  Stripe fake (Checkout pages)    http://127.0.0.1:$STACK_STRIPE_PORT/__fake/events
  Mail inbox (SendGrid fake)      http://127.0.0.1:$STACK_SENDGRID_PORT/
  Logs                            $STACK_STATE/*.log

Demo user JWT (24 h):
  export TOKEN=$demo_jwt

Try:
  curl -s -X POST $api/connections -H "authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
    -d '{"org_domain":"127.0.0.1:$STACK_OKTA_PORT","api_token":"demo-okta-token-0123456789abcdef"}'
  curl -s -X POST $api/connections/<id>/backups -H "authorization: Bearer \$TOKEN"
  curl -s $api/backups/<backup id>/objects/users/url -H "authorization: Bearer \$TOKEN"

Ctrl-C stops the stack.
INFO
wait
