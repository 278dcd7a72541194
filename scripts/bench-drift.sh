#!/usr/bin/env bash
# Drift benchmark (issue 13, item 8). Prints one line per figure ("figure value [note]"):
#   - on a seeded tenant (default 10k users / 1k groups / 200 apps; BENCH_USERS=100000
#     BENCH_GROUPS=10000 BENCH_APPS=2000 for the large one) behind the Okta emulator with Okta's
#     default per-bucket limits and a time scale, backed up once through the real stack:
#   - BENCH_CHANGES (100) mixed changes through the emulator's /__emulator/changes, then one drift
#     check (the */5 cron through wrangler's /__scheduled): each change's latency to its capture
#     (median, max) and the check's duration, against the drift interval;
#   - the Okta requests that check spent, per bucket and in total, and those of a second check
#     after a tenth of the changes (they grow with the changes; run at 10k and 100k users to see
#     they do not grow with the tenant);
#   - a second backup, then the snapshot <-> snapshot diff of the two: wall time, the worker's CPU
#     (V8 profiler in its isolate, bench/cpu-profile.mjs, and the workerd process's /proc CPU) and
#     the wasm linear memory after the request (it only grows, so it is the isolate's peak so far:
#     the figure before the diff is printed too).
# Ports and database as scripts/bench.sh: BENCH_POSTGREST_PORT / BENCH_OKTA_PORT /
# BENCH_WORKER_PORT / BENCH_DB (defaulting to TEST_* and then to test.sh's defaults).
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_USERS=${BENCH_USERS:-10000}
BENCH_GROUPS=${BENCH_GROUPS:-1000}
BENCH_APPS=${BENCH_APPS:-200}
BENCH_CHANGES=${BENCH_CHANGES:-100}
BENCH_TIME_SCALE=${BENCH_TIME_SCALE:-20}
# Okta's Enterprise defaults (requests per minute); the System Log's own bucket stays at 50.
BENCH_LIMITS="users=600,groups=600,apps=100,policies=600,org=600,other=600"

bash scripts/bootstrap.sh >/dev/null
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

# Absolute: wrangler resolves --env-file and --persist-to against a --config's directory.
STACK_STATE=$PWD/.stack/bench-drift
STACK_DB=${BENCH_DB:-${TEST_DB:-butterfly_bench}}
STACK_FRESH_DB=1
STACK_POSTGREST_PORT=${BENCH_POSTGREST_PORT:-${TEST_POSTGREST_PORT:-3100}}
STACK_OKTA_PORT=${BENCH_OKTA_PORT:-${TEST_OKTA_PORT:-8189}}
STACK_WORKER_PORT=${BENCH_WORKER_PORT:-${TEST_WORKER_PORT:-8887}}
okta_token=bench-okta-token-0123456789abcdef
limit_args=""
for kv in ${BENCH_LIMITS//,/ }; do limit_args="$limit_args --rate-limit $kv"; done
STACK_OKTA_ARGS="--token $okta_token --seed 7 --users $BENCH_USERS --groups $BENCH_GROUPS --apps $BENCH_APPS --time-scale $BENCH_TIME_SCALE$limit_args"
STACK_WRANGLER_LOG_LEVEL=log
STACK_RELEASE_EMULATOR=1
profiler=""
cleanup() {
  [ -n "$profiler" ] && kill "$profiler" 2>/dev/null || true
  stack_down
}
trap cleanup EXIT

# BENCH_PREBUILT=1 runs the worker the last build left in build/worker (a test run's, say)
# instead of building it again (on a loaded machine wasm-opt alone can take ten minutes): the
# caller vouches that it was built from the current source.
if [ "${BENCH_PREBUILT:-0}" = 1 ]; then
  [ -f build/worker/shim.mjs ] || { echo "bench-drift: BENCH_PREBUILT=1 but build/worker holds no worker" >&2; exit 1; }
  mkdir -p "$STACK_STATE"
  sed -e '/^\[build\]$/,/^$/d' -e 's#^main = "build/#main = "../../build/#' wrangler.toml >"$STACK_STATE/wrangler.toml"
  STACK_WRANGLER_ARGS="${STACK_WRANGLER_ARGS:-} --config $STACK_STATE/wrangler.toml"
fi

stack_up >/dev/null 2>&1 || { echo "bench-drift: the local stack did not start (see $STACK_STATE/*.log)" >&2; exit 1; }

# The worker's runtime is the workerd of wrangler's group that is not its proxy (bench.sh).
wrangler_pgid=${STACK_PIDS[-1]}
workerd=""
for pid in $(pgrep -g "$wrangler_pgid" -x workerd || true); do
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--socket-addr=entry=127.0.0.1:$STACK_WORKER_PORT " || workerd=$pid
done
profiler_port=$((STACK_WORKER_PORT + 7))
profiler_url=""
if [ -n "$workerd" ]; then
  node --experimental-websocket bench/cpu-profile.mjs "$workerd" "$profiler_port" >"$STACK_STATE/cpu-profile.log" 2>&1 &
  profiler=$!
  for _ in $(seq 1 100); do
    grep -q "cpu-profile ready" "$STACK_STATE/cpu-profile.log" && { profiler_url="http://127.0.0.1:$profiler_port"; break; }
    kill -0 "$profiler" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$profiler_url" ] || echo "bench-drift: the CPU profiler did not attach (see $STACK_STATE/cpu-profile.log)" >&2
fi

echo "tenant users=$BENCH_USERS groups=$BENCH_GROUPS apps=$BENCH_APPS changes=$BENCH_CHANGES time_scale=$BENCH_TIME_SCALE limits=$BENCH_LIMITS"
env BF_WORKER_URL="http://127.0.0.1:$STACK_WORKER_PORT" \
  BF_POSTGREST_URL="http://127.0.0.1:$STACK_POSTGREST_PORT" \
  BF_OKTA_URL="http://127.0.0.1:$STACK_OKTA_PORT" \
  BF_OKTA_TOKEN="$okta_token" \
  BF_DB="$STACK_DB" \
  BF_BENCH_CHANGES="$BENCH_CHANGES" \
  BF_BENCH_WORKERD_PID="$workerd" \
  BF_BENCH_PROFILER_URL="$profiler_url" \
  cargo test --quiet --features stack-tests --test stack -- --ignored --exact drift_bench::drift_benchmark --nocapture \
  2>&1 | tee "$STACK_STATE/bench.log" | sed -n 's/^bench //p'
grep -q "test result: ok" "$STACK_STATE/bench.log" || { echo "bench-drift: the drift benchmark failed (see $STACK_STATE/bench.log)" >&2; exit 1; }

# The diff request's log line carries the wasm linear memory after it; the line before, the
# memory before it.
route='"route":"/api/v1/connections/{id}/diff"'
diff_line=$(grep -nF "$route" "$STACK_STATE/wrangler.log" | head -n 1 | cut -d: -f1)
if [ -n "$diff_line" ]; then
  after=$(sed -n "${diff_line}p" "$STACK_STATE/wrangler.log" | grep -o '"wasm_memory_bytes":[0-9]*' | cut -d: -f2)
  before=$(head -n $((diff_line - 1)) "$STACK_STATE/wrangler.log" | grep -o '"wasm_memory_bytes":[0-9]*' | tail -n 1 | cut -d: -f2)
  awk -v a="${after:-0}" -v b="${before:-0}" 'BEGIN { printf "diff_wasm_memory_mb %.1f (wasm linear memory after the first diff request; %.1f MB before it: memory only grows, so the diff needed at most the larger)\n", a / 1048576, b / 1048576 }'
else
  echo "diff_wasm_memory_mb unknown (no diff request in the worker log)"
fi
