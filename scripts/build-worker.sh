#!/usr/bin/env bash
# Builds the wasm worker with the toolchain scripts/bootstrap.sh installed (no downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
# BUTTERFLY_FAST_WORKER=1 (development only; test.sh, dev.sh and CI leave it unset): the same code
# without fat LTO, with incremental codegen at opt-level 1 and without wasm-opt. A rebuild after an
# edit then takes a fraction of the release build's time on a small machine; the worker is larger
# and slower, so benchmarks and the full suite never use it.
if [ "${BUTTERFLY_FAST_WORKER:-0}" = 1 ]; then
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_INCREMENTAL=true
  exec worker-build --release --no-opt
fi
exec worker-build --release
