// The budget rules in the browser: the npm package's web build (copied into
// vendor/ by scripts/build-www.sh), the same wasm code the Worker's gate runs.
// Loaded once, on the first port page, so the overview does not wait for it.
import init, * as rules from "../vendor/ai-budget/ai_budget.js";

let ready = null;

/** The package's API, once its wasm module is instantiated. */
export function loadRules() {
  ready ??= init({ module_or_path: new URL("../vendor/ai-budget/ai_budget_bg.wasm", import.meta.url) }).then(
    () => rules,
  );
  return ready;
}
