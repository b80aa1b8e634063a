#!/usr/bin/env bash
# Fills www/vendor/ai-budget/ with the npm package's web build (ES module +
# wasm), which the admin page imports for its client-side preview. Builds the
# package first only when its web build is missing. Copies a file only when it
# differs, so a second run does nothing and takes milliseconds.
#
#   scripts/build-www.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

src=pkg/dist/web
dest=www/vendor/ai-budget
files=(ai_budget.js ai_budget_bg.wasm)

if [ ! -f "$src/ai_budget.js" ] || [ ! -f "$src/ai_budget_bg.wasm" ]; then
  echo "== build-www: the package's web build is missing; building it"
  "$ROOT/scripts/build-pkg.sh"
fi

mkdir -p "$dest"
for f in "${files[@]}"; do
  if ! cmp -s "$src/$f" "$dest/$f"; then
    cp "$src/$f" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
    echo "== build-www: updated $dest/$f"
  fi
done
# Nothing else belongs in the vendor folder (an older build's leftovers).
for f in "$dest"/*; do
  case " ${files[*]} " in *" $(basename "$f") "*) ;; *) rm -f "$f" ;; esac
done
