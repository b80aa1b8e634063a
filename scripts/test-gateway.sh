#!/usr/bin/env bash
# Builds the Worker and runs the LLM gateway's tests: the Worker in workerd
# (Miniflare) on a 127.0.0.1 port with local D1 and KV, a fake provider on
# 127.0.0.1, and the official openai / @anthropic-ai/sdk clients.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/build-worker.sh"
# One file at a time: each starts its own workerd, and the machine has 2 cores.
exec node --test --test-concurrency=1 tests/gateway/
