// The budget rules in the browser: the npm package's web build (copied into
// vendor/ by scripts/build-www.sh), the same wasm code the Worker's gate runs.
// Loaded once, on the first port page, so the overview does not wait for it.
import init, * as rules from "../vendor/ai-budget/ai_budget.js";

let ready = null;

/** The package's API, once its wasm module is instantiated. */
export function loadRules() {
  // The time-zone part (the Worker's database, for calendars) loads beside the wasm.
  ready ??= Promise.all([
    init({ module_or_path: new URL("../vendor/ai-budget/ai_budget_bg.wasm", import.meta.url) }),
    import("../vendor/ai-budget/timezones.js"),
  ]).then(([, zones]) => {
    rules.loadTimeZones(zones);
    return { ...rules, zoneNames: zones.names.split("\n") };
  });
  return ready;
}
