#!/usr/bin/env bash
# Reruns every benchmark behind the README's figures, one after the other
# (run it on an otherwise idle machine: the figures are wall-clock times),
# and keeps the whole output in target/bench.log.
#
#   scripts/bench.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh" --browser

mkdir -p target
{
  echo "== native core: cargo bench --bench decisions"
  cargo bench --bench decisions
  echo
  echo "== npm package: scripts/bench-pkg.sh"
  "$ROOT/scripts/bench-pkg.sh"
  echo
  echo "== Worker: bench/worker/run.sh"
  "$ROOT/bench/worker/run.sh"
  echo
  echo "== gateway: bench/gateway/run.sh"
  "$ROOT/bench/gateway/run.sh"
  echo
  echo "== gateway throughput: node bench/gateway/throughput.mjs"
  node bench/gateway/throughput.mjs
  echo
  echo "== admin page: bench/admin/run.sh"
  "$ROOT/bench/admin/run.sh"
} 2>&1 | tee target/bench.log
