// A port's budget editor with a live preview (the package's wasm: the gate's
// own rules, no request until Save), and the "would this call pass?" box.
import { h, replace, tokens, usd, percent, time, badge, instant } from "./dom.js";
import { banner, stat } from "./standing.js";
import { amounts, coreBudget } from "./units.js";
import { callPricer } from "./pricer.js";
import { client } from "./client.js";
import { savedCalendar, calendarInputs, readCalendar, resetTime, calendarView } from "./calendar.js";

/** The cap fields of each unit: the editor shows and reads only the chosen unit's. */
const CAP_FIELDS = { tokens: ["softCapTokens", "hardCapTokens"], usd: ["softCapUsd", "hardCapUsd"] };
/** The call check's estimate field of each unit. */
const ESTIMATE = { tokens: "estimatedTokens", usd: "estimatedUsd" };

/**
 * The budget card and the call-check card of `port` from its status, as
 * `cards`; `recompute()` validates and previews (call it once the cards are
 * in the page). `reload(message)` fetches the status again after a save.
 */
export function budgetEditor(port, status, rules, { reload, onError, flash }) {
  const b = status.budget;
  const saved = {
    ...coreBudget(b),
    ...savedCalendar(b),
    ...(b.calendarChange ? { calendarChange: b.calendarChange } : {}),
  };
  const calendar = calendarInputs(saved, rules.zoneNames ?? []);
  const dollarsInput = (name) =>
    h("input", {
      type: "number", id: name, name, inputmode: "decimal", step: "any", min: 0,
      value: saved[name] ?? "", "aria-describedby": `${name}-help ${name}-error`,
    });

  const fields = {
    enabled: h("input", { type: "checkbox", id: "enabled", name: "enabled", checked: saved.enabled, "aria-describedby": "enabled-error" }),
    softCapTokens: h("input", {
      type: "number", id: "softCapTokens", name: "softCapTokens", inputmode: "numeric", step: 1,
      value: saved.softCapTokens, "aria-describedby": "softCapTokens-help softCapTokens-error",
    }),
    hardCapTokens: h("input", {
      type: "number", id: "hardCapTokens", name: "hardCapTokens", inputmode: "numeric", step: 1,
      value: saved.hardCapTokens, "aria-describedby": "hardCapTokens-help hardCapTokens-error",
    }),
    softCapUsd: dollarsInput("softCapUsd"),
    hardCapUsd: dollarsInput("hardCapUsd"),
    period: h(
      "select",
      { id: "period", name: "period", "aria-describedby": "period-help period-error" },
      ["day", "week", "month"].map((p) => h("option", { value: p, selected: p === saved.period }, p)),
    ),
    unit: h(
      "select",
      { id: "unit", name: "unit", "aria-describedby": "unit-help unit-error" },
      [["tokens", "tokens"], ["usd", "dollars (USD)"]].map(([value, label]) => h("option", { value, selected: value === saved.unit }, label)),
    ),
    timeZone: calendar.timeZone,
    weekStart: calendar.weekStart,
    monthStartDay: calendar.monthStartDay,
  };
  const errors = Object.fromEntries(
    Object.keys(fields).map((name) => [name, h("p", { class: "field-error", id: `${name}-error`, "data-error-for": name })]),
  );
  const formError = h("p", { class: "field-error", id: "form-error" });
  const saveStatus = h("p", { class: "save-status", id: "save-status", role: "status" }, flash ?? "");
  const preview = h("div", { class: "preview", id: "preview", "aria-live": "polite" });
  const saveButton = h("button", { type: "submit", id: "save" }, "Save");
  const discardButton = h("button", { type: "button", class: "secondary", id: "discard" }, "Discard changes");

  const estimates = {
    tokens: h("input", {
      type: "number", id: "estimatedTokens", inputmode: "numeric", step: 1, placeholder: "e.g. 4000",
      "aria-describedby": "estimatedTokens-error check-answer",
    }),
    usd: h("input", {
      type: "number", id: "estimatedUsd", inputmode: "decimal", step: "any", min: 0, placeholder: "e.g. 0.25",
      "aria-describedby": "estimatedUsd-error check-answer",
    }),
  };
  const estimateLabels = {
    tokens: h("label", { for: "estimatedTokens" }, "Estimated tokens of the call"),
    usd: h("label", { for: "estimatedUsd" }, "Estimated cost of the call (dollars)"),
  };
  const estimateErrors = Object.fromEntries(
    Object.entries(ESTIMATE).map(([u, name]) => [u, h("p", { class: "field-error", id: `${name}-error`, "data-error-for": name })]),
  );
  const answer = h("output", { id: "check-answer", for: "estimatedTokens estimatedUsd", class: "answer" });
  const pricer = callPricer(rules, {
    onPriced: (dollars) => {
      estimates.usd.value = String(dollars);
      renderAnswer(recompute().budget);
    },
    onError,
  });
  /** The fields of the unit not chosen are hidden (and neither read nor sent). */
  const capGroups = { tokens: [], usd: [pricer] };
  function showUnit(unit) {
    for (const [u, group] of Object.entries(capGroups)) for (const el of group) el.hidden = u !== unit;
    for (const u of Object.keys(estimates)) {
      for (const el of [estimates[u], estimateLabels[u], estimateErrors[u]]) el.hidden = u !== unit;
    }
  }

  function setError(name, message) {
    const input = fields[name];
    errors[name].textContent = message ?? "";
    if (input) input.toggleAttribute("aria-invalid", Boolean(message));
  }

  /** The changed fields, as the partial update Save would send, plus errors found before the core. */
  function readUpdate() {
    const update = {};
    const local = [];
    if (fields.enabled.checked !== saved.enabled) update.enabled = fields.enabled.checked;
    const unit = fields.unit.value;
    if (unit !== saved.unit) update.unit = unit;
    for (const name of CAP_FIELDS[unit]) {
      const input = fields[name];
      const empty = input.value.trim() === "";
      // A soft cap in dollars is optional until one is set (the hard cap flags alone).
      if (name === "softCapUsd" && empty && !input.validity.badInput && saved.softCapUsd === null) continue;
      if (input.validity.badInput || empty) {
        local.push([name, unit === "usd" ? "Enter an amount of dollars, such as 12.5" : "Enter a whole number of tokens"]);
        continue;
      }
      const n = Number(input.value);
      if (n !== saved[name]) update[name] = n;
    }
    if (fields.period.value !== saved.period) update.period = fields.period.value;
    readCalendar(fields, saved, update, local);
    return { update, local };
  }

  /** Validates with the core and recomputes the preview and the call check; no request. */
  function recompute() {
    for (const name of Object.keys(fields)) setError(name, null);
    formError.textContent = "";
    const { update, local } = readUpdate();
    let budget = null;
    if (local.length) {
      for (const [name, message] of local) setError(name, message);
    } else {
      try {
        // As the gate would save it: a calendar change keeps the period in progress.
        budget = rules.previewSave(saved, update, new Date(), Boolean(b.updatedAt));
      } catch (err) {
        if (err.field && errors[err.field]) setError(err.field, err.message);
        else formError.textContent = err.message;
      }
    }
    const dirty = Object.keys(update).length > 0 || local.length > 0;
    discardButton.hidden = !dirty;
    showUnit(fields.unit.value);
    renderPreview(budget, dirty);
    renderAnswer(budget);
    return { update, budget, local };
  }

  /** What the gate counts now under `budget`'s period and unit (the Worker reports all three periods). */
  function previewUsage(budget) {
    const usage = status.usageByPeriod[budget.period];
    return budget.unit === "usd" ? usage.gateUsd : usage.gateTokens;
  }

  function renderPreview(budget, dirty) {
    if (!budget) {
      replace(preview, h("h3", {}, "Preview"), h("p", { class: "muted" }, "Fix the highlighted field to see what it would mean."));
      return;
    }
    const now = new Date();
    const used = previewUsage(budget);
    const cs = rules.capStatus(budget, used, now);
    const a = amounts(cs);
    const plain = a.unit === "usd" ? usd : tokens;
    replace(
      preview,
      h("h3", {}, dirty ? "Preview (not saved)" : "Preview (as saved)"),
      banner(cs, "preview-banner"),
      h(
        "dl",
        { class: "stats compact" },
        stat("Status", "preview-state", badge(cs.state)),
        stat("Counted by the gate", "preview-used", plain(a.used)),
        stat("Remaining", "preview-remaining", plain(a.remaining)),
        stat("Of soft / hard cap", "preview-percent", `${percent(cs.softPercent)} / ${percent(cs.hardPercent)}`),
        stat("Resets", "preview-resets", resetTime(cs.resetsAt, budget.timeZone ?? "UTC")),
        stat("Then", "preview-next-reset", resetTime(rules.budgetWindow(budget, cs.resetsAt).resetsAt, budget.timeZone ?? "UTC")),
      ),
    );
  }

  function renderAnswer(budget) {
    const unit = fields.unit.value;
    const estimate = estimates[unit];
    const estimateError = estimateErrors[unit];
    for (const u of Object.keys(estimates)) {
      estimateErrors[u].textContent = "";
      estimates[u].removeAttribute("aria-invalid");
    }
    if (estimate.value.trim() === "" && !estimate.validity.badInput) {
      replace(answer, h("span", { class: "muted" }, "Enter an estimate to see the gate's answer."));
      return;
    }
    if (!budget) {
      replace(answer, h("span", { class: "muted" }, "Fix the budget above first."));
      return;
    }
    const now = new Date();
    const used = previewUsage(budget);
    let result;
    try {
      if (estimate.validity.badInput) {
        throw new Error(unit === "usd" ? "Enter an amount of dollars, such as 0.25" : "Enter a whole number of tokens");
      }
      result = rules.evaluateBudget(budget, used, Number(estimate.value), now);
    } catch (err) {
      estimateError.textContent = err.message;
      estimate.setAttribute("aria-invalid", "true");
      replace(answer);
      return;
    }
    // A budget in dollars answers in dollars (`usedUsd`, `capUsd`, `remainingUsd`).
    const inUsd = result.unit === "usd";
    const amount = (n) => (inUsd ? usd(n) : `${tokens(n)} tokens`);
    if (result.ok) {
      replace(
        answer,
        h("strong", { class: "pass", "data-ok": "true" }, "Passes."),
        " ",
        budget.enabled
          ? `${amount(inUsd ? result.remainingUsd : result.remaining)} remain under the hard cap before this call.`
          : "The budget is disabled, so every call passes.",
        result.softCap ? " Usage is over the soft cap: the call is flagged." : "",
      );
    } else {
      const cap = inUsd ? result.capUsd : result.capTokens;
      const used = inUsd ? result.usedUsd : result.usedTokens;
      // Left under the cap, in whole micro-dollars for dollars (no float noise).
      const left = inUsd ? Math.max(0, Math.round((cap - used) * 1e6)) / 1e6 : Math.max(0, cap - used);
      const why =
        result.reason === "hard-cap-exceeded"
          ? `the hard cap of ${amount(cap)} is reached`
          : `the estimate is above the ${amount(left)} left`;
      replace(
        answer,
        h("strong", { class: "refuse", "data-ok": "false", "data-reason": result.reason }, `Refused (${result.reason}):`),
        ` ${why}. The gate answers 429 until ${instant(result.resetsAt)}.`,
      );
    }
  }

  async function save(event) {
    event.preventDefault();
    const { update, budget, local } = recompute();
    const firstError = Object.keys(fields).find((name) => errors[name].textContent);
    if (local.length || !budget) {
      saveStatus.textContent = "Nothing was sent: fix the highlighted field first.";
      if (firstError) fields[firstError].focus();
      return;
    }
    if (Object.keys(update).length === 0) {
      saveStatus.textContent = "No changes to save.";
      return;
    }
    saveButton.disabled = true;
    saveStatus.textContent = "Saving…";
    try {
      await client(port).setBudget(update);
    } catch (err) {
      saveButton.disabled = false;
      if (err.kind === "invalid" && err.field && errors[err.field]) {
        setError(err.field, err.message);
        saveStatus.textContent = "Not saved: the Worker rejected a field.";
        fields[err.field].focus();
      } else if (err.kind === "unauthorized" && err.status === 401) {
        onError(err);
      } else {
        saveStatus.textContent = `Not saved. ${err.message}`;
      }
      return;
    }
    reload("Saved. Other locations see the change within about a minute (KV).");
  }

  /** One cap's field, registered with its unit's group. */
  function capField(name, label, help) {
    const el = h(
      "div",
      { class: "field" },
      h("label", { for: name }, label),
      fields[name],
      h("p", { class: "help", id: `${name}-help` }, help),
      errors[name],
    );
    capGroups[name.endsWith("Usd") ? "usd" : "tokens"].push(el);
    return el;
  }

  const form = h(
    "form",
    { id: "budget-form", novalidate: true, onsubmit: save, oninput: () => recompute(), onchange: () => recompute() },
    h(
      "div",
      { class: "fields" },
      h(
        "div",
        { class: "field field-check" },
        fields.enabled,
        h("label", { for: "enabled" }, "Enforce this budget"),
        errors.enabled,
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "unit" }, "Unit"),
        fields.unit,
        h("p", { class: "help", id: "unit-help" }, "Dollars price each call with the price table; the other unit's caps are kept."),
        errors.unit,
      ),
      capField("softCapTokens", "Soft cap (tokens)", "Above it calls pass but are flagged."),
      capField("hardCapTokens", "Hard cap (tokens)", "At it calls are refused until the reset."),
      capField("softCapUsd", "Soft cap (dollars)", "Above it calls pass but are flagged; optional."),
      capField("hardCapUsd", "Hard cap (dollars)", "At it calls are refused until the reset."),
      h(
        "div",
        { class: "field" },
        h("label", { for: "period" }, "Period"),
        fields.period,
        h("p", { class: "help", id: "period-help" }, "Windows of the port's calendar below."),
        errors.period,
      ),
      calendarView(fields, errors, calendar.zoneList),
    ),
    formError,
    h("div", { class: "actions" }, saveButton, discardButton, saveStatus),
  );
  discardButton.addEventListener("click", () => {
    fields.enabled.checked = saved.enabled;
    for (const name of ["softCapTokens", "hardCapTokens", "softCapUsd", "hardCapUsd", "period", "unit", "timeZone", "weekStart", "monthStartDay"]) {
      fields[name].value = saved[name] ?? "";
    }
    saveStatus.textContent = "";
    recompute();
  });
  for (const estimate of Object.values(estimates)) estimate.addEventListener("input", () => renderAnswer(recompute().budget));

  const cards = h(
    "div",
    { class: "grid-2" },
    h(
      "section",
      { class: "card", "aria-labelledby": "budget-title" },
      h("h2", { id: "budget-title" }, "Budget"),
      h("p", { class: "muted small" }, "Changes are previewed here with the gate's own rules; nothing is sent until you save."),
      form,
      preview,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "check-title" },
      h("h2", { id: "check-title" }, "Would this call pass?"),
      h(
        "form",
        { id: "check-form", novalidate: true, onsubmit: (e) => e.preventDefault() },
        Object.keys(estimates).map((u) => [estimateLabels[u], estimates[u], estimateErrors[u]]),
      ),
      pricer,
      h("p", { class: "muted small" }, "Answered in the browser with the settings on the left, as the gate would answer now."),
      answer,
    ),
  );
  return { cards, recompute };
}
