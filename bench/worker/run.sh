#!/usr/bin/env bash
# Builds the Worker and runs its benchmarks (about 6 minutes on 2 cores).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/build-worker.sh"
node bench/worker/latency.mjs
node bench/worker/users.mjs
node bench/worker/api-cpu.mjs 1000 2
node bench/worker/request-floor.mjs 3000 3
