#!/usr/bin/env bash
# Builds the Worker and runs its tests in workerd (Miniflare) with real local
# D1 and KV: tests/worker/*.test.mjs under Node's test runner.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/build-worker.sh"
# The parity test imports the npm package (linked as `ai-budget` by npm
# workspaces); build it when it is missing.
if [ ! -f "$ROOT/pkg/dist/node/index.mjs" ] && [ -x "$ROOT/scripts/build-pkg.sh" ]; then
  "$ROOT/scripts/build-pkg.sh"
fi
exec node --test tests/worker/
