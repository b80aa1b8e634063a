#!/usr/bin/env bash
# Fills www/vendor/ai-budget/ with the npm package's web build (ES module +
# wasm), which the admin page imports for its client-side preview, and the
# package's HTTP client (pkg/client/index.mjs, `ai-budget/client`), through
# which the page calls the API; rebuilds the package first when the crate
# changed. Copies a file only when it differs, so a second run does nothing
# and takes milliseconds.
#
#   scripts/build-www.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

dest=www/vendor/ai-budget
# Each file the page loads, and where in the package it comes from.
declare -A from=(
  [ai_budget.js]=pkg/dist/web/ai_budget.js
  [ai_budget_bg.wasm]=pkg/dist/web/ai_budget_bg.wasm
  [client.js]=pkg/client/index.mjs
  [timezones.js]=pkg/dist/timezones/index.mjs
)
files=("${!from[@]}")

# Always ask: build-pkg.sh returns at once when the crate has not changed,
# and otherwise the page would preview with older rules than the gate's.
"$ROOT/scripts/build-pkg.sh"

mkdir -p "$dest"
for f in "${files[@]}"; do
  if ! cmp -s "${from[$f]}" "$dest/$f"; then
    cp "${from[$f]}" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
    echo "== build-www: updated $dest/$f"
  fi
done
# Nothing else belongs in the vendor folder (an older build's leftovers).
for f in "$dest"/*; do
  case " ${files[*]} " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac
done
