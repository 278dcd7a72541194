#!/usr/bin/env bash
# Backup benchmark. Prints one line per figure ("figure value [note]"):
#   - a seeded tenant (default 10k users / 1k groups / 200 apps; BENCH_USERS=100000 BENCH_GROUPS=10000
#     BENCH_APPS=2000 for the large one) behind the Okta emulator with Okta's default per-bucket
#     limits and a time scale, backed up once through the real stack (wrangler dev + PostgREST);
#   - wall time against the rate-limit floor computed from the request counts and bucket limits,
#     requests and 429s per bucket, snapshot bytes before/after compression;
#   - RSS of the workerd process running the worker before and at its peak during the backup
#     (sampled from /proc), and over the whole run; the peak of wrangler's proxy workerd;
#   - the worker's own CPU per slice (max, median) and in total, and per MB downloaded, from
#     V8's CPU profiler over workerd's inspector (bench/cpu-profile.mjs), and the CPU per MiB of
#     slice work that calibrates the slices' CPU bound (config::CPU_MS_PER_WORK_MIB);
#   - wasm size raw and gzip;
#   - seal throughput of the Rust path (release build) and of WebCrypto AES-GCM in workerd;
#   - a check of the profiler: known work (a JS loop, CompressionStream gzip, crypto.subtle
#     AES-GCM) in a benchmark-only worker, measured by the profiler and as process CPU.
# BENCH_VERIFY=0 skips downloading every object afterwards (a 100k-user tenant's objects are
# gigabytes: downloads stream, but take long).
# Ports and database: BENCH_POSTGREST_PORT / BENCH_OKTA_PORT / BENCH_WORKER_PORT / BENCH_DB
# (defaulting to TEST_* and then to test.sh's defaults).
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_USERS=${BENCH_USERS:-10000}
BENCH_GROUPS=${BENCH_GROUPS:-1000}
BENCH_APPS=${BENCH_APPS:-200}
BENCH_TIME_SCALE=${BENCH_TIME_SCALE:-20}
BENCH_SEAL_MIB=${BENCH_SEAL_MIB:-64}
# Okta's Enterprise defaults (requests per minute): apps is the bottleneck.
BENCH_LIMITS="users=600,groups=600,apps=100,policies=600,org=600,other=600"

bash scripts/bootstrap.sh >/dev/null
# shellcheck source=lib/stack.sh
. scripts/lib/stack.sh

STACK_STATE=.stack/bench
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
sampler=""
profiler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  [ -n "$profiler" ] && kill "$profiler" 2>/dev/null || true
  stack_down
}
trap cleanup EXIT

stack_up >/dev/null 2>&1 || { echo "bench: the local stack did not start (see $STACK_STATE/*.log)" >&2; exit 1; }

# wrangler's group holds two workerd processes: its proxy (listening on the worker port, it
# forwards every request) and the runtime that runs the worker. The worker's figures are the
# runtime's; the proxy's peak is printed too, since it is the one that grew (and ran out of heap at
# 100k users) while wrangler's inspector proxy kept the worker's Network events.
wrangler_pgid=${STACK_PIDS[-1]}
workerd="" proxy=""
for pid in $(pgrep -g "$wrangler_pgid" -x workerd || true); do
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--socket-addr=entry=127.0.0.1:$STACK_WORKER_PORT "; then
    proxy=$pid
  else
    workerd=$pid
  fi
done
peak_file=$STACK_STATE/workerd-peak-kb
proxy_peak_file=$STACK_STATE/proxy-peak-kb
echo 0 >"$peak_file"
echo 0 >"$proxy_peak_file"
if [ -n "$workerd" ]; then
  (
    peak=0 proxy_peak=0
    while [ -r "/proc/$workerd/status" ]; do
      rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$workerd/status" 2>/dev/null || echo 0)
      if [ "${rss:-0}" -gt "$peak" ]; then peak=$rss; echo "$peak" >"$peak_file"; fi
      if [ -n "$proxy" ]; then
        rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$proxy/status" 2>/dev/null || echo 0)
        if [ "${rss:-0}" -gt "$proxy_peak" ]; then proxy_peak=$rss; echo "$proxy_peak" >"$proxy_peak_file"; fi
      fi
      sleep 0.1
    done
  ) &
  sampler=$!
fi

# The worker's CPU: V8's profiler in the worker's isolate, over workerd's own inspector (wrangler
# leaves it on a random port; its DevTools proxy is off, see stack.sh). Control on worker port + 7.
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
  [ -n "$profiler_url" ] || echo "bench: the CPU profiler did not attach (see $STACK_STATE/cpu-profile.log)" >&2
fi

echo "tenant users=$BENCH_USERS groups=$BENCH_GROUPS apps=$BENCH_APPS time_scale=$BENCH_TIME_SCALE limits=$BENCH_LIMITS"
env BF_WORKER_URL="http://127.0.0.1:$STACK_WORKER_PORT" \
  BF_POSTGREST_URL="http://127.0.0.1:$STACK_POSTGREST_PORT" \
  BF_OKTA_URL="http://127.0.0.1:$STACK_OKTA_PORT" \
  BF_OKTA_TOKEN="$okta_token" \
  BF_DB="$STACK_DB" \
  BF_BENCH_TIME_SCALE="$BENCH_TIME_SCALE" \
  BF_BENCH_VERIFY="${BENCH_VERIFY:-1}" \
  BF_BENCH_LIMITS="$BENCH_LIMITS" \
  BF_BENCH_WORKERD_PID="$workerd" \
  BF_BENCH_PROFILER_URL="$profiler_url" \
  cargo test --quiet --features stack-tests --test stack -- --ignored --exact bench::backup_benchmark --nocapture \
  2>&1 | tee "$STACK_STATE/bench.log" | sed -n 's/^bench //p'
grep -q "test result: ok" "$STACK_STATE/bench.log" || { echo "bench: the backup benchmark failed (see $STACK_STATE/bench.log)" >&2; exit 1; }

work_bytes=$(grep -o '"work_bytes":[0-9]*' "$STACK_STATE/wrangler.log" | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
cpu_ms=$(sed -n 's/^bench worker_cpu_total_ms \([0-9.]*\).*/\1/p' "$STACK_STATE/bench.log")
if [ -n "$cpu_ms" ] && [ "$work_bytes" -gt 0 ]; then
  awk -v ms="$cpu_ms" -v b="$work_bytes" 'BEGIN { printf "worker_cpu_ms_per_work_mib %.1f (%.1f MiB of slice work: Okta responses + plaintext; calibrates CPU_MS_PER_WORK_MIB)\n", ms / (b / 1048576), b / 1048576 }'
fi
wasm_peak=$(grep -o '"wasm_memory_bytes":[0-9]*' "$STACK_STATE/wrangler.log" | tail -n 1 | cut -d: -f2)
echo "worker_wasm_memory_peak_mb $((${wasm_peak:-0} / 1048576)) (Rust heap: wasm linear memory after the backup)"
if [ -n "$workerd" ]; then
  kill "$sampler" 2>/dev/null || true
  sampler=""
  echo "workerd_rss_peak_whole_run_mb $(($(cat "$peak_file") / 1024)) (the worker's runtime; includes startup and the verifying downloads)"
  [ -n "$proxy" ] && echo "wrangler_proxy_rss_peak_whole_run_mb $(($(cat "$proxy_peak_file") / 1024)) (wrangler's proxy workerd, not the worker)"
else
  echo "workerd_rss_peak_mb unknown (workerd process not found)"
fi
cleanup
trap - EXIT

wasm=build/worker/index_bg.wasm
[ -f "$wasm" ] || wasm=build/index_bg.wasm
echo "wasm_bytes $(stat -c %s "$wasm")"
echo "wasm_gzip_bytes $(gzip -9c "$wasm" | wc -c)"

cargo build --quiet --release -p devctl
target/release/devctl seal-bench "$BENCH_SEAL_MIB"

# WebCrypto in workerd: time a run sealing BENCH_SEAL_MIB MiB, minus an empty run.
STACK_PIDS=()
stack_spawn "$STACK_STATE/webcrypto.log" env WRANGLER_SEND_METRICS=false CI=true \
  node_modules/.bin/wrangler dev --local --ip 127.0.0.1 --port "$STACK_WORKER_PORT" \
  --config bench/webcrypto/wrangler.toml --show-interactive-dev-session=false
trap stack_down EXIT
stack_wait "http://127.0.0.1:$STACK_WORKER_PORT/" "$STACK_STATE/webcrypto.log" 120 >/dev/null
url="http://127.0.0.1:$STACK_WORKER_PORT/?mib"
curl -s -o /dev/null "$url=1"
empty=$(curl -s -o /dev/null -w '%{time_total}' "$url=0")
full=$(curl -s -o /dev/null -w '%{time_total}' "$url=$BENCH_SEAL_MIB")
awk -v mib="$BENCH_SEAL_MIB" -v e="$empty" -v f="$full" \
  'BEGIN { printf "webcrypto_aes_gcm_mb_per_s %.1f (workerd, 64 KiB chunks)\n", mib * 1.048576 / (f - e) }'

# Is the profiler's busy time the isolate's CPU? The same known work measured two ways: V8's
# profiler in this worker's isolate, and the CPU time of its workerd process (/proc), which
# runs nothing else meanwhile. A JS loop, gzip through CompressionStream and AES-GCM through
# crypto.subtle (the native work the backup now hands to the runtime).
bench_workerd=""
for pid in $(pgrep -g "${STACK_PIDS[-1]}" -x workerd || true); do
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--socket-addr=entry=127.0.0.1:$STACK_WORKER_PORT " || bench_workerd=$pid
done
process_cpu_ms() { awk '{ printf "%d", ($14 + $15) * 10 }' "/proc/$bench_workerd/stat"; }
if [ -n "$bench_workerd" ]; then
  node --experimental-websocket bench/cpu-profile.mjs "$bench_workerd" "$profiler_port" >"$STACK_STATE/cpu-check.log" 2>&1 &
  profiler=$!
  for _ in $(seq 1 100); do
    grep -q "cpu-profile ready" "$STACK_STATE/cpu-check.log" && break
    sleep 0.2
  done
  control="http://127.0.0.1:$profiler_port"
  for work in "busy&n=${BENCH_BUSY_N:-300000000}" "gzip&mib=${BENCH_SEAL_MIB}" "aes&mib=${BENCH_SEAL_MIB}"; do
    curl -s -o /dev/null -X POST "$control/phase/start"
    before=$(process_cpu_ms)
    curl -s -o /dev/null "http://127.0.0.1:$STACK_WORKER_PORT/?work=$work"
    after=$(process_cpu_ms)
    profiled=$(curl -s -X POST "$control/phase/stop" | sed -n 's/.*"busy_ms":\([0-9.]*\).*/\1/p')
    name=${work%%&*}
    awk -v n="$name" -v p="${profiled:-0}" -v c="$((after - before))" -v w="$work" \
      'BEGIN { printf "profiler_check_%s_profiled_ms %.0f (V8 profiler, the isolate; ?work=%s)\nprofiler_check_%s_process_cpu_ms %d (the same workerd process, /proc utime+stime)\n", n, p, w, n, c }'
  done
  kill "$profiler" 2>/dev/null || true
  profiler=""
else
  echo "bench: the benchmark worker's workerd was not found; profiler check skipped" >&2
fi
stack_down
