#!/usr/bin/env bash
# Builds another commit of the Worker into target/baseline/build/, for the
# benchmarks to run side by side with this one (BENCH_BASELINE):
#
#   bash bench/baseline.sh 177677b      # the last build before the ports' gates
#   BENCH_BASELINE=target/baseline/build/index.js bash bench/worker/run.sh
#   BENCH_BASELINE=target/baseline/build/index.js bash bench/gateway/run.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
commit="${1:?usage: bench/baseline.sh <commit>}"
tree="$ROOT/target/baseline/tree"
rm -rf "$tree"
git worktree prune
git worktree add --detach "$tree" "$commit"
trap 'git worktree remove --force "$tree"' EXIT
ln -s "$ROOT/node_modules" "$tree/node_modules"
(cd "$tree" && CARGO_TARGET_DIR="$ROOT/target/baseline/cargo" worker-build --release -- --features worker)
rm -rf "$ROOT/target/baseline/build"
cp -r "$tree/build" "$ROOT/target/baseline/build"
echo "== baseline: $commit built into target/baseline/build/"
