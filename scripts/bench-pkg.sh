#!/usr/bin/env bash
# Figures of the npm package: the browser .wasm size (raw, gzip, per build
# step) and decisions per second in Node (object API, fast path, plain JS).
#   scripts/bench-pkg.sh [ports] [rounds]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

scripts/build-pkg.sh >/dev/null
node bench/pkg/size.mjs
echo
node bench/pkg/decisions.mjs "$@"
