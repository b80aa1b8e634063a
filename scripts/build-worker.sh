#!/usr/bin/env bash
# Builds the Worker (feature `worker`) into build/ with worker-build.
# wrangler runs this as its [build] command too, so it sets up its own
# environment: worker-build must find wasm-bindgen and wasm-opt locally.
#
#   scripts/build-worker.sh                       the release profile (speed-optimised, LTO): deploys, scripts/dev.sh
#   WORKER_PROFILE=worker-test scripts/build-worker.sh   the tests' profile (Cargo.toml): no LTO, incremental
#   FORCE=1 scripts/build-worker.sh               build even when build/ is up to date
#
# build/ holds one build at a time. It is stamped with a key of everything
# the build reads (the profile, src/, Cargo.toml, Cargo.lock, this script,
# the tools' versions): when the key matches, nothing runs, so the test
# scripts and wrangler's [build] can all call this and the Worker is built
# once per change. Arguments after `--` go to `cargo build` (and to the key).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

profile="${WORKER_PROFILE:-release}"
case "$profile" in
  release) profile_args=(--release) ;;
  *) profile_args=(--profile "$profile") ;;
esac
extra=()
if [ "${1:-}" = "--" ]; then
  shift
  extra=("$@")
fi

# One build at a time (a test script and wrangler dev may ask together).
mkdir -p target
exec 9> target/build-worker.lock
flock 9

key="$(
  {
    printf 'profile=%s\nargs=%s\nrustc=%s\nworker-build=%s\nwasm-bindgen=%s\nRUSTFLAGS=%s\n' \
      "$profile" "${extra[*]:-}" "$(rustc -V)" "$WORKER_BUILD_VERSION" "$WASM_BINDGEN_VERSION" "${RUSTFLAGS:-}"
    find src -type f -print0 | sort -z | xargs -0 sha256sum
    sha256sum Cargo.toml Cargo.lock docs/openapi.json # the document is compiled in (GET /v1/openapi.json)
    sha256sum < "${BASH_SOURCE[0]}" # by content: wrangler calls it by a relative path, the scripts by an absolute one
  } | sha256sum | cut -d' ' -f1
)"
stamp=build/.build-key
if [ "${FORCE:-}" != 1 ] && [ -f build/index.js ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  echo "== build-worker: build/ is up to date ($profile)"
  exit 0
fi

echo "== build-worker: building the Worker ($profile profile)"
rm -f "$stamp"
worker-build "${profile_args[@]}" -- --features worker "${extra[@]}"
echo "$key" > "$stamp"
