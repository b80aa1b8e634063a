#!/usr/bin/env bash
# Builds the Worker and runs its tests in workerd (Miniflare) with real local
# D1 and KV: tests/worker/*.test.mjs under Node's test runner.
# Usage: scripts/test-worker.sh [FILE ...]   (default: every file of tests/worker/)
# TEST_PATTERN=<regexp> runs only the tests whose name matches. The Worker is
# built in the tests' profile (WORKER_PROFILE, default worker-test: no LTO).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

export WORKER_PROFILE="${WORKER_PROFILE:-worker-test}"
"$ROOT/scripts/build-worker.sh"
# The parity test imports the npm package (linked as `ai-budget` by npm
# workspaces); build it when it is missing.
if [ ! -f "$ROOT/pkg/dist/node/index.mjs" ] && [ -x "$ROOT/scripts/build-pkg.sh" ]; then
  "$ROOT/scripts/build-pkg.sh"
fi
[ $# -gt 0 ] || set -- tests/worker/
exec node --test ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} "$@"
