#!/usr/bin/env bash
# Builds the Worker (feature `worker`) into build/ with worker-build.
# wrangler runs this as its [build] command too, so it sets up its own
# environment: worker-build must find wasm-bindgen and wasm-opt locally.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# Arguments after `--` go to `cargo build`.
exec worker-build --release -- --features worker
