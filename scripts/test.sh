#!/usr/bin/env bash
# Runs every test of the project on this machine, installing what is missing
# first (scripts/setup.sh): lints for each feature set, the native Rust tests,
# the npm package (Node, Chromium, a bundler, wasm-bindgen-test), and the
# Worker in workerd with local D1 and KV. Ends with one "N passed, N failed"
# line summing every runner.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh" --browser

logs="$ROOT/target/test-logs"
rm -rf "$logs"
mkdir -p "$logs"
stage_no=0

stage() {
  local name="$1"
  shift
  stage_no=$((stage_no + 1))
  local log
  log="$logs/$(printf '%02d' "$stage_no")-${name// /-}.log"
  printf '\n== test: %s\n' "$name"
  local started=$SECONDS
  if "$@" 2>&1 | tee "$log"; then
    printf '== test: %s: ok (%ss)\n' "$name" $((SECONDS - started))
  else
    printf '== test: %s: FAILED (%ss), log in %s\n' "$name" $((SECONDS - started)) "$log"
    summary
    exit 1
  fi
}

# Sums the closing lines of cargo test and node --test over every stage log.
summary() {
  local passed failed
  passed=$(cat "$logs"/*.log | sed -n -E \
    -e 's/^test result: [a-zA-Z]+\. ([0-9]+) passed.*/\1/p' \
    -e 's/^# pass ([0-9]+)$/\1/p' | awk '{s+=$1} END {print s+0}')
  failed=$(cat "$logs"/*.log | sed -n -E \
    -e 's/^test result: [a-zA-Z]+\. [0-9]+ passed; ([0-9]+) failed.*/\1/p' \
    -e 's/^# fail ([0-9]+)$/\1/p' | awk '{s+=$1} END {print s+0}')
  printf '\ntotal: %s passed, %s failed\n' "$passed" "$failed"
}

wasm=(--target wasm32-unknown-unknown)
stage "format" cargo fmt --all -- --check
stage "clippy native" cargo clippy --all-targets -- -D warnings
stage "clippy web" cargo clippy --lib --tests --features web "${wasm[@]}" -- -D warnings
stage "clippy worker" cargo clippy --lib --features worker "${wasm[@]}" -- -D warnings
stage "rust tests" cargo test
stage "npm package" "$ROOT/scripts/test-pkg.sh"
stage "worker" "$ROOT/scripts/test-worker.sh"
stage "npm client" "$ROOT/scripts/test-client.sh" --no-build
stage "gateway" "$ROOT/scripts/test-gateway.sh"
stage "admin page" "$ROOT/scripts/test-admin.sh"
# The time-sensitive suites again, at boundary instants (TEST_NOW).
for instant in $("$ROOT/scripts/test-boundaries.sh" --list); do
  stage "at $instant" "$ROOT/scripts/test-boundaries.sh" "$instant"
done
# One file at a time: each starts scripts/dev.sh, which builds into build/.
stage "dev command" node --test --test-concurrency=1 tests/dev/
summary
