#!/usr/bin/env bash
# Builds the Worker and runs the LLM gateway's tests: the Worker in workerd
# (Miniflare) on a 127.0.0.1 port with local D1 and KV, a fake provider on
# 127.0.0.1, and the official openai / @anthropic-ai/sdk clients.
# Usage: scripts/test-gateway.sh [FILE ...]   (default: every file of tests/gateway/)
# TEST_PATTERN=<regexp> runs only the tests whose name matches. The Worker is
# built in the tests' profile (WORKER_PROFILE, default worker-test: no LTO).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

export WORKER_PROFILE="${WORKER_PROFILE:-worker-test}"
"$ROOT/scripts/build-worker.sh"
[ $# -gt 0 ] || set -- tests/gateway/
# One file at a time: each starts its own workerd, and the machine has 2 cores.
exec node --test --test-concurrency=1 ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} "$@"
