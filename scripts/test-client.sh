#!/usr/bin/env bash
# Tests of the package's HTTP client (`ai-budget/client`): the package built
# and packed (npm pack), installed from its tarball into a scratch project
# (tests/.scratch/client), and used there against the built Worker in
# workerd (Miniflare, real local D1, KV and Durable Objects, on 127.0.0.1)
# from Node, from inside workerd and from a page in headless Chromium,
# every answer checked against docs/openapi.json; then tsc --strict on a
# typed use of the client. strict.test.mjs needs no Worker: the alert
# signature's exact header, and redirects refused (local Node servers).
# First, without a build, the wire contract (tests/wire/): the client's
# generated types up to date with docs/openapi.json, and the document's
# routes against the routes the client calls.
# Usage: scripts/test-client.sh [--no-build]
# TEST_PATTERN=<regexp> runs only the tests whose name matches. The Worker is
# built in the tests' profile (WORKER_PROFILE, default worker-test: no LTO).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
export WORKER_PROFILE="${WORKER_PROFILE:-worker-test}"

step() { printf '\n== test-client: %s\n' "$*"; }

step "wire contract (node --test tests/wire/)"
node --test tests/wire/

if [ "${1:-}" != "--no-build" ]; then
  step "build the package and the Worker"
  scripts/build-pkg.sh
  scripts/build-worker.sh
fi

step "pack and install into a scratch project"
scratch="$ROOT/tests/.scratch/client"
app="$scratch/app"
rm -rf "$scratch"
mkdir -p "$app"
tarball="$(cd pkg && npm pack --silent --pack-destination "$scratch")"
cat > "$app/package.json" <<'JSON'
{ "name": "ai-budget-client-scratch-app", "private": true, "type": "module" }
JSON
(cd "$app" && npm install --silent --no-audit --no-fund --no-package-lock --offline "$scratch/$tarball")
cp tests/client/*.test.mjs tests/client/consumers/* "$app/"

step "client tests (node --test)"
# From the repository root: Miniflare reads the Worker's modules relative to
# the working directory (the tests import 'ai-budget/client' from their own
# folder, the scratch project, whatever it is).
AI_BUDGET_ROOT="$ROOT" AI_BUDGET_APP="$app" node --test ${TEST_PATTERN:+--test-name-pattern="$TEST_PATTERN"} "$app"/*.test.mjs
