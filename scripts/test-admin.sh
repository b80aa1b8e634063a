#!/usr/bin/env bash
# The admin page's tests: builds the Worker and the page's copy of the npm
# package, then drives Debian's Chromium (playwright-core) against the Worker
# in workerd with local D1 and KV (tests/admin/*.test.mjs). Screenshots land
# in target/screenshots/ (scripts/screenshots.sh refreshes docs/screenshots/).
# Usage: scripts/test-admin.sh [FILE ...]   (default: every file of tests/admin/)
# TEST_PATTERN=<regexp> runs only the tests whose name matches. The Worker is
# built in the tests' profile (WORKER_PROFILE, default worker-test: no LTO).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

export WORKER_PROFILE="${WORKER_PROFILE:-worker-test}"
"$ROOT/scripts/build-worker.sh"
# The tests compute expected answers with the npm package in Node (linked as
# `ai-budget` by npm workspaces); build it when it is missing.
if [ ! -f "$ROOT/pkg/dist/node/index.mjs" ]; then
  "$ROOT/scripts/build-pkg.sh"
fi
"$ROOT/scripts/build-www.sh"
[ $# -gt 0 ] || set -- tests/admin/
exec node --test --test-concurrency=1 ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} "$@"
