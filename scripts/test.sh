#!/usr/bin/env bash
# Runs every test of the project on this machine, installing what is missing
# first (scripts/setup.sh): lints and doc links for each feature set, the native Rust tests,
# the npm package (Node, Chromium, a bundler, wasm-bindgen-test), and the
# Worker in workerd with local D1 and KV. Ends with one "N passed, N failed"
# line summing every runner.
#
#   scripts/test.sh                  every test (what CI runs)
#   scripts/test.sh --quick          format, clippy and the native Rust tests
#   scripts/test.sh SUITE [PATTERN]  one suite; PATTERN keeps the tests whose
#                                    name matches (cargo's test filter, node's
#                                    --test-name-pattern)
#   scripts/test.sh --list           the suites, in the order a full run takes them
#
# The Worker is built once per run, in the tests' profile (`worker-test` in
# Cargo.toml: the release settings without LTO, incremental); every suite
# after that finds build/ up to date (scripts/build-worker.sh's key).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

suites=(format clippy rust pkg worker client gateway admin boundaries dev)
usage() {
  sed -n '8,13p' "$0" | sed 's/^# \{0,1\}//'
  echo "suites: ${suites[*]}"
}

mode=all
pattern=""
case "${1:-}" in
  "") ;;
  --quick) mode=quick ;;
  --list) printf '%s\n' "${suites[@]}"; exit 0 ;;
  -h | --help) usage; exit 0 ;;
  -*) usage >&2; exit 2 ;;
  *)
    mode="$1"
    pattern="${2:-}"
    case " ${suites[*]} " in *" $mode "*) ;; *) echo "test: no suite named '$mode'" >&2; usage >&2; exit 2 ;; esac
    [ $# -le 2 ] || { usage >&2; exit 2; }
    ;;
esac

# The tests' build of the Worker, for every script and for wrangler's
# [build] under the dev command's test.
export WORKER_PROFILE="${WORKER_PROFILE:-worker-test}"
# The name pattern, for the suite scripts (they pass it to node --test).
if [ -n "$pattern" ]; then export TEST_PATTERN="$pattern"; else unset TEST_PATTERN; fi

case "$mode" in
  quick | format | clippy | rust) "$ROOT/scripts/setup.sh" ;;
  *) "$ROOT/scripts/setup.sh" --browser ;;
esac

logs="$ROOT/target/test-logs"
rm -rf "$logs"
mkdir -p "$logs"
stage_no=0
timings=()
run_started=$SECONDS

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
    timings+=("$(printf '%5ss  %s' $((SECONDS - started)) "$name")")
  else
    printf '== test: %s: FAILED (%ss), log in %s\n' "$name" $((SECONDS - started)) "$log"
    summary
    exit 1
  fi
}

# Sums the closing lines of cargo test and node --test over the given logs.
sum_over() { # sum_over passed|failed LOG...
  local what="$1"
  shift
  [ $# -gt 0 ] || { echo 0; return; }
  if [ "$what" = passed ]; then
    cat "$@" | sed -n -E \
      -e 's/^test result: [a-zA-Z]+\. ([0-9]+) passed.*/\1/p' \
      -e 's/^# pass ([0-9]+)$/\1/p' | awk '{s+=$1} END {print s+0}'
  else
    cat "$@" | sed -n -E \
      -e 's/^test result: [a-zA-Z]+\. [0-9]+ passed; ([0-9]+) failed.*/\1/p' \
      -e 's/^# fail ([0-9]+)$/\1/p' | awk '{s+=$1} END {print s+0}'
  fi
}

# The time of each stage, the part of the count run again at the boundary
# instants, and the closing line summing every runner over every stage log.
summary() {
  local all=("$logs"/*.log) again=()
  [ -e "${all[0]}" ] || all=()
  for f in "${all[@]}"; do case "$f" in */[0-9][0-9]-at-*) again+=("$f") ;; esac; done
  if [ ${#timings[@]} -gt 0 ]; then
    printf '\n== test: stage times (%ss in all)\n' $((SECONDS - run_started))
    printf '%s\n' "${timings[@]}"
  fi
  if [ ${#again[@]} -gt 0 ]; then
    printf '\nof which at the boundary instants: %s passed, %s failed\n' "$(sum_over passed "${again[@]}")" "$(sum_over failed "${again[@]}")"
  fi
  printf '\ntotal: %s passed, %s failed\n' "$(sum_over passed "${all[@]}")" "$(sum_over failed "${all[@]}")"
}

wasm=(--target wasm32-unknown-unknown)
suite() {
  case "$1" in
    format) stage "format" cargo fmt --all -- --check ;;
    clippy)
      stage "clippy native" cargo clippy --all-targets -- -D warnings
      stage "clippy web" cargo clippy --lib --tests --features web "${wasm[@]}" -- -D warnings
      stage "clippy worker" cargo clippy --lib --features worker "${wasm[@]}" -- -D warnings
      # The Worker's unit tests run natively (the rust suite): linted so too.
      stage "clippy worker native" cargo clippy --all-targets --features worker -- -D warnings
      # Doc comments' links resolve, for each feature set.
      stage "rustdoc" env RUSTDOCFLAGS="-D warnings" bash -c '
        cargo doc -q --no-deps --lib &&
        cargo doc -q --no-deps --lib --features web --target wasm32-unknown-unknown &&
        cargo doc -q --no-deps --lib --features worker --target wasm32-unknown-unknown'
      ;;
    rust)
      stage "rust tests" cargo test ${pattern:+"$pattern"}
      # The Worker's own unit tests (its route table) need its feature.
      stage "rust worker units" cargo test --features worker --lib "${pattern:-worker::}"
      ;;
    pkg) stage "npm package" "$ROOT/scripts/test-pkg.sh" ;;
    worker) stage "worker" "$ROOT/scripts/test-worker.sh" ;;
    client) stage "npm client" "$ROOT/scripts/test-client.sh" ;;
    gateway) stage "gateway" "$ROOT/scripts/test-gateway.sh" ;;
    admin) stage "admin page" "$ROOT/scripts/test-admin.sh" ;;
    boundaries)
      # The files that depend on the date, again at each boundary instant
      # (TEST_NOW); the list and why each file is on it: scripts/test-boundaries.sh.
      local instant
      for instant in $("$ROOT/scripts/test-boundaries.sh" --list); do
        stage "at $instant" "$ROOT/scripts/test-boundaries.sh" "$instant"
      done
      ;;
    # One file at a time: each starts scripts/dev.sh, which builds into build/.
    dev) stage "dev command" node --test --test-concurrency=1 ${pattern:+--test-name-pattern="$pattern"} tests/dev/ ;;
  esac
}

case "$mode" in
  quick)
    for s in format clippy rust; do suite "$s"; done
    ;;
  all)
    for s in format clippy rust; do suite "$s"; done
    # Built once here; the suites below find them up to date.
    stage "build" bash -c '"$ROOT/scripts/build-worker.sh" && "$ROOT/scripts/build-pkg.sh"'
    for s in pkg worker client gateway admin boundaries dev; do suite "$s"; done
    ;;
  *) suite "$mode" ;;
esac
summary
