#!/usr/bin/env bash
# Builds the Worker, then measures the gateway's overhead (see overhead.mjs).
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/build-worker.sh" >/dev/null
exec node bench/gateway/overhead.mjs "$@"
