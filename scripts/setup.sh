#!/usr/bin/env bash
# Installs what the project needs on a fresh machine (Debian 12, Rust, Node 20),
# from the package registries only. Every step is skipped when its tool is
# already there at the right version, so a second run takes seconds.
#
#   scripts/setup.sh            toolchain for building and running the Worker
#   scripts/setup.sh --browser  the same, plus Debian's Chromium for tests
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

step() { printf '\n== setup: %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "rust component $component"
    rustup component add "$component"
  fi
done

installed_version() { "$1" --version 2>/dev/null | awk '{print $NF}'; }

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  # Not --locked: the CLI's own lockfile pins a crate version the registry lacks.
  step "wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes on 2 cores)"
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi
if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  step "worker-build $WORKER_BUILD_VERSION (about 4 minutes on 2 cores)"
  cargo install --locked worker-build --version "$WORKER_BUILD_VERSION"
fi

# npm packages: reinstall only when the lockfile changed since the last install.
stamp="node_modules/.setup-lock-hash"
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  step "npm packages (wrangler, workerd, binaryen, test clients)"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
fi

if [ "${1:-}" = "--browser" ]; then
  if [ ! -x "$CHROMIUM_PATH" ] || [ ! -x "$CHROMEDRIVER" ]; then
    step "Debian chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver
  fi
fi
