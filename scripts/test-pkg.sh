#!/usr/bin/env bash
# Tests of the npm package and the JS binding:
#   1. the seed-behaviour table against the core, and the binding's unit
#      tests (native Rust);
#   2. the binding under wasm-bindgen-test, in Node and in headless Chromium;
#   3. the package built, packed (npm pack) and installed from its tarball
#      into scratch projects under tests/.scratch/, then used from Node
#      (ESM, CommonJS, TypeScript), a browser (ES module), a Vite build, and
#      a JS Worker bundled by wrangler and run in workerd (Miniflare).
# Usage: scripts/test-pkg.sh [--no-wasm-tests]
# TEST_PATTERN=<pattern> runs only the tests whose name matches (a filter for
# cargo's and wasm-bindgen-test's runs, a regexp for node --test).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

step() { printf '\n== test-pkg: %s\n' "$*"; }

step "seed table and the binding's own unit tests, native"
filter=(${TEST_PATTERN:+"$TEST_PATTERN"})
cargo test --test seed_cases "${filter[@]}"
# The binding's own tests are the lib's web:: ones (with a pattern, those
# and any other lib test it names).
cargo test --features web --lib "${filter[@]:-web::}"

if [ "${1:-}" != "--no-wasm-tests" ]; then
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
  step "wasm-bindgen-test in Node"
  cargo test --target wasm32-unknown-unknown --features web --test web_node "${filter[@]}"
  step "wasm-bindgen-test in headless Chromium"
  # Guard against the runner quietly running nothing, or running in Node.
  log="$(mktemp)"
  WASM_BINDGEN_USE_BROWSER=1 cargo test --target wasm32-unknown-unknown --features web --test web_browser "${filter[@]}" 2>&1 | tee "$log"
  # (With a pattern, none may match: then "ok. 0 passed" is a pass.)
  passed='[1-9][0-9]*'
  [ -z "${TEST_PATTERN:-}" ] || passed='[0-9]+'
  grep -q 'headless tests in Chrome' "$log" && grep -Eq "test result: ok\. $passed passed" "$log" \
    || { echo "test-pkg: the browser run did not run its tests in Chromium" >&2; exit 1; }
  rm -f "$log"
fi

step "build the package"
scripts/build-pkg.sh

step "pack and install into a scratch project"
scratch="$ROOT/tests/.scratch/pkg"
app="$scratch/app"
rm -rf "$scratch"
mkdir -p "$app"
tarball="$(cd pkg && npm pack --silent --pack-destination "$scratch")"
cat > "$app/package.json" <<'JSON'
{ "name": "ai-budget-scratch-app", "private": true, "type": "module" }
JSON
(cd "$app" && npm install --silent --no-audit --no-fund --no-package-lock --offline "$scratch/$tarball")
# The tests and consumers run from inside the scratch project, so a bare
# `import 'ai-budget'` resolves to the installed tarball.
cp -r tests/pkg/*.test.mjs tests/browser-pkg/*.mjs tests/browser-pkg/index.html tests/pkg/consumers/* "$app/"
cp -r tests/browser-pkg/vite-app "$app/vite-app"

step "package tests (node --test)"
cd "$app"
AI_BUDGET_ROOT="$ROOT" AI_BUDGET_APP="$app" node --test ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} ./*.test.mjs
