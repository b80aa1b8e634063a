#!/usr/bin/env bash
# Builds the Worker and runs its benchmarks (about 3 minutes on 2 cores).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/build-worker.sh"
node bench/worker/latency.mjs
node bench/worker/users.mjs
