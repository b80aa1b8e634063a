// Where a period is heading: the Worker's forecast (its `forecast` field, the
// period's average rate carried to the reset) in the overview and on a port's
// page, and a "what if" box that tries another rate or hard cap in the
// browser with the package's `forecast`, the function the Worker answers with.
import { h, replace, tokens, usd, time } from "./dom.js";
import { budgetCaps } from "./units.js";

/** True when a port is projected to reach its hard cap before the reset, and has not yet. */
export function atRisk(port) {
  return Boolean(port.forecast?.runsOutBeforeReset) && port.capStatus.state !== "hard";
}

/** The overview's cell: when the port runs out at its rate, or "not before the reset". */
export function runOutCell(port) {
  const f = port.forecast;
  if (!f) return h("span", { class: "muted" }, "no cap");
  if (port.capStatus.state === "hard") return h("span", { class: "muted" }, "reached");
  if (f.basis === "too-early") return h("span", { class: "muted" }, "too early");
  if (!f.runsOutBeforeReset) return h("span", { class: "muted" }, "not before the reset");
  return h("span", { class: "at-risk-flag", "data-at-risk": "true" }, "⚠ ", time(f.runOutAt));
}

/** An amount of the forecast's unit for people. */
const inUnit = (unit, n) => (unit === "usd" ? usd(n) : `${tokens(n)} tokens`);

/** The sentence of a forecast, as the card and its what-if answer say it. */
export function forecastText(f, { hardReached = false } = {}) {
  if (!f) return "The budget is disabled: nothing runs out.";
  if (hardReached) return "The hard cap is reached: calls are refused until the reset.";
  if (f.basis === "too-early") return "Too early in the period to take a rate (the first hour).";
  const rate = `At ${inUnit(f.unit, f.ratePerHour)} an hour`;
  const projected = `the period would end at ${inUnit(f.unit, f.projectedUsed)}`;
  return f.runsOutBeforeReset ? `${rate} the hard cap is reached before the reset; ${projected}.` : `${rate} ${projected}, within the hard cap.`;
}

/** The package's answer in the API's names (`ratePerHour`, `projectedUsed`). */
function fromPackage(f) {
  if (!f) return null;
  const usd = f.unit === "usd";
  return {
    basis: f.basis,
    unit: f.unit,
    ratePerHour: usd ? f.ratePerHourUsd : f.ratePerHourTokens,
    projectedUsed: usd ? f.projectedUsedUsd : f.projectedUsedTokens,
    runOutAt: f.runOutAt,
    runsOutBeforeReset: f.runsOutBeforeReset,
  };
}

/**
 * The port page's forecast card: the Worker's projection, and a form that
 * tries another rate per hour or hard cap in the browser (nothing is sent).
 */
export function forecastCard(status, rules) {
  const f = status.forecast;
  const caps = budgetCaps(status.budget);
  const inUsd = caps.unit === "usd";
  const used = inUsd ? status.usage.usedUsd : status.usage.usedTokens;
  const hardReached = status.capStatus.state === "hard";
  const step = inUsd ? "0.000001" : "1";
  const rate = h("input", { id: "whatif-rate", type: "number", min: "0", step, inputmode: "decimal", value: f ? String(f.ratePerHour) : "" });
  const cap = h("input", { id: "whatif-cap", type: "number", min: "0", step, inputmode: "decimal", value: String(caps.hard ?? "") });
  const answer = h("p", { id: "whatif-answer", role: "status" });

  function recompute() {
    if (!status.budget.enabled) {
      replace(answer, "The budget is disabled: nothing runs out.");
      return;
    }
    try {
      const hard = Number(cap.value);
      const budget = inUsd
        ? { enabled: true, unit: "usd", hardCapUsd: hard, period: status.budget.period }
        : { enabled: true, softCapTokens: hard, hardCapTokens: hard, period: status.budget.period };
      const tried = fromPackage(
        rules.forecast(budget, used, new Date(), rate.value.trim() === "" ? undefined : Number(rate.value)),
      );
      replace(
        answer,
        forecastText(tried, { hardReached: used >= hard }),
        tried?.runOutAt ? [" Runs out ", time(tried.runOutAt), "."] : null,
      );
      answer.dataset.runOutAt = tried?.runOutAt ? new Date(tried.runOutAt).toISOString() : "";
      answer.dataset.projectedUsed = String(tried?.projectedUsed ?? "");
      answer.removeAttribute("data-error");
    } catch (err) {
      replace(answer, err.message);
      answer.dataset.error = err.code ?? "error";
    }
  }
  rate.addEventListener("input", recompute);
  cap.addEventListener("input", recompute);
  recompute();

  return h(
    "section",
    { class: "card", "aria-labelledby": "forecast-title", id: "forecast" },
    h("h2", { id: "forecast-title" }, "Where this period is heading"),
    h(
      "p",
      { id: "forecast-text", "data-at-risk": String(Boolean(f?.runsOutBeforeReset) && !hardReached) },
      forecastText(f, { hardReached }),
      f?.runsOutBeforeReset && !hardReached ? [" Runs out ", time(f.runOutAt, { withRelative: true }), ", before the reset at ", time(status.resetsAt), "."] : null,
    ),
    h("p", { class: "muted small" }, "The rate is the period's average so far (used ÷ time elapsed), carried to the reset."),
    h(
      "form",
      { class: "inline-form", id: "whatif", onsubmit: (e) => e.preventDefault() },
      h("label", { for: "whatif-rate" }, inUsd ? "Dollars an hour" : "Tokens an hour"),
      rate,
      h("label", { for: "whatif-cap" }, inUsd ? "Hard cap (dollars)" : "Hard cap (tokens)"),
      cap,
    ),
    h("p", { class: "muted small" }, "What if: answered in the browser with the same function as the Worker; nothing is sent or saved."),
    answer,
  );
}
