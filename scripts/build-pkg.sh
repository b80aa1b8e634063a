#!/usr/bin/env bash
# Builds the npm package (pkg/) from the crate's `web` feature:
#   pkg/dist/node     wasm-bindgen --target nodejs (CommonJS) + ESM/CJS entry points
#   pkg/dist/web      wasm-bindgen --target web (ES module, `await init()`)
#   pkg/dist/bundler  wasm-bindgen --target bundler (bundlers with wasm ESM integration)
#   pkg/dist/types    the declarations every entry point shares
# Each .wasm is shrunk with binaryen's wasm-opt -Oz (from node_modules).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

crate_wasm=target/wasm32-unknown-unknown/release/ai_budget.wasm
dist=pkg/dist

cargo build --release --target wasm32-unknown-unknown --features web --lib

# Rust's default wasm32 features; the release profile strips the section
# that would let the tools detect them.
features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)

rm -rf "$dist"
for target in nodejs web bundler; do
  out="$dist/$target"
  [ "$target" = nodejs ] && out="$dist/node"
  wasm-bindgen --target "$target" --out-dir "$out" --out-name ai_budget "$crate_wasm" 2> >(grep -v 'target_features\|^$' >&2 || true)
  "$WASM_OPT_BIN" -Oz "${features[@]}" "$out/ai_budget_bg.wasm" -o "$out/ai_budget_bg.wasm"
done
# Tell Node how to read each folder, whatever the package root says.
echo '{"type":"commonjs"}' > "$dist/node/package.json"
echo '{"type":"module"}' > "$dist/web/package.json"
echo '{"type":"module"}' > "$dist/bundler/package.json"

# Node entry points. The nodejs target instantiates the module synchronously
# on require, so `init` is only there for code shared with browsers.
cat > "$dist/node/index.cjs" <<'JS'
'use strict';
const api = require('./ai_budget.js');
/** A no-op in Node: the module is ready on import. Browsers need it. */
async function init() {}
/** A no-op in Node: the module is ready on import. */
function initSync() {}
module.exports = Object.assign({}, api, { init, initSync, default: init });
JS
# The ESM entry re-exports the CommonJS one (one instance, no dual-package
# hazard), with its names listed from the module itself so none is missed.
node -e '
  const names = Object.keys(require(process.argv[1])).filter((n) => n !== "default");
  console.log("import api from \"./index.cjs\";");
  console.log("export const { " + names.join(", ") + " } = api;");
  console.log("export default api.init;");
' "$ROOT/$dist/node/index.cjs" > "$dist/node/index.mjs"

# Shared declarations: the generated ones plus `init`/`initSync`, as both
# an ES module (.d.mts) and CommonJS (.d.cts) so TypeScript reads the
# default export the way each entry point really provides it.
mkdir -p "$dist/types"
{
  cat "$dist/node/ai_budget.d.ts"
  cat <<'TS'

/**
 * Loads the WebAssembly module. Await it once before any other call in a
 * browser (the web build); a harmless no-op in Node and workerd, so code
 * shared between them can always call it.
 */
export default function init(input?: unknown): Promise<unknown>;

/** Loads the WebAssembly module synchronously from bytes or a compiled module (web build); a no-op in Node and workerd. */
export function initSync(input?: unknown): unknown;
TS
} > "$dist/types/ai_budget.d.mts"
cp "$dist/types/ai_budget.d.mts" "$dist/types/ai_budget.d.cts"

for target in node web bundler; do
  wasm="$dist/$target/ai_budget_bg.wasm"
  printf '%-8s %s: %d bytes, %d gzip\n' "$target" "$wasm" "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
done
