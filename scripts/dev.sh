#!/usr/bin/env bash
# The main command: sets up the machine, builds the Worker, applies the D1
# migrations locally, makes sure a local admin token exists (.dev.vars), and
# serves the API and the admin page with `wrangler dev` on 127.0.0.1:8787.
#
#   scripts/dev.sh            # Ctrl-C stops it
#   PORT=9000 scripts/dev.sh  # another port
#   scripts/dev.sh --var NAME:value   # more arguments go to `wrangler dev`
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"

echo "== dev: building the Worker"
"$ROOT/scripts/build-worker.sh"

echo "== dev: building the admin page (with the npm package's web build)"
"$ROOT/scripts/build-www.sh"

echo "== dev: applying D1 migrations to the local database"
wrangler d1 migrations apply DB --local

# A local admin token, kept in .dev.vars (gitignored), created once.
if ! grep -q '^ADMIN_TOKEN=' .dev.vars 2>/dev/null; then
  token="adm_$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
  echo "ADMIN_TOKEN=\"$token\"" >> .dev.vars
  echo "== dev: created a local admin token in .dev.vars"
fi
token="$(sed -n -E 's/^ADMIN_TOKEN="?([^"]*)"?$/\1/p' .dev.vars | head -1)"

port="${PORT:-8787}"
cat <<INFO

== dev: ai-budget on http://127.0.0.1:$port (admin page at /, API under /v1)
   admin token: $token
   try:
     curl -s -H "Authorization: Bearer $token" http://127.0.0.1:$port/v1/ports/acme/budget
   run the daily cron now (prunes old rollup rows): curl -s "http://127.0.0.1:$port/__scheduled?cron=17+3+*+*+*"

INFO
# Development (ENVIRONMENT=development): alert webhooks may be http://localhost
# (docs/api.md "Alerts"). The alert queues of wrangler.toml run locally.
exec wrangler dev --local --test-scheduled --ip 127.0.0.1 --port "$port" --var ENVIRONMENT:development "$@"
