#!/usr/bin/env bash
# Admin page figures: navigation -> interactive overview with 1 000 ports, and
# the gzip size of everything the page downloads. See bench/admin/overview.mjs.
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/build-worker.sh" >/dev/null
"$ROOT/scripts/build-www.sh"
exec node bench/admin/overview.mjs
