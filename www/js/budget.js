// A port's budget editor with a live preview (the package's wasm: the gate's
// own rules, no request until Save), and the "would this call pass?" box.
import { h, replace, tokens, percent, time, badge, instant } from "./dom.js";
import { banner, stat } from "./standing.js";
import * as api from "./api.js";

const CAP_FIELDS = ["softCapTokens", "hardCapTokens"];

/**
 * The budget card and the call-check card of `port` from its status, as
 * `cards`; `recompute()` validates and previews (call it once the cards are
 * in the page). `reload(message)` fetches the status again after a save.
 */
export function budgetEditor(port, status, rules, { reload, onError, flash }) {
  const saved = {
    enabled: status.budget.enabled,
    softCapTokens: status.budget.softCapTokens,
    hardCapTokens: status.budget.hardCapTokens,
    period: status.budget.period,
  };

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
    period: h(
      "select",
      { id: "period", name: "period", "aria-describedby": "period-help period-error" },
      ["day", "week", "month"].map((p) => h("option", { value: p, selected: p === saved.period }, p)),
    ),
  };
  const errors = Object.fromEntries(
    Object.keys(fields).map((name) => [name, h("p", { class: "field-error", id: `${name}-error`, "data-error-for": name })]),
  );
  const formError = h("p", { class: "field-error", id: "form-error" });
  const saveStatus = h("p", { class: "save-status", id: "save-status", role: "status" }, flash ?? "");
  const preview = h("div", { class: "preview", id: "preview", "aria-live": "polite" });
  const saveButton = h("button", { type: "submit", id: "save" }, "Save");
  const discardButton = h("button", { type: "button", class: "secondary", id: "discard" }, "Discard changes");

  const estimate = h("input", {
    type: "number", id: "estimatedTokens", inputmode: "numeric", step: 1, placeholder: "e.g. 4000",
    "aria-describedby": "estimatedTokens-error check-answer",
  });
  const estimateError = h("p", { class: "field-error", id: "estimatedTokens-error", "data-error-for": "estimatedTokens" });
  const answer = h("output", { id: "check-answer", for: "estimatedTokens", class: "answer" });

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
    for (const name of CAP_FIELDS) {
      const input = fields[name];
      if (input.validity.badInput || input.value.trim() === "") {
        local.push([name, "Enter a whole number of tokens"]);
        continue;
      }
      const n = Number(input.value);
      if (n !== saved[name]) update[name] = n;
    }
    if (fields.period.value !== saved.period) update.period = fields.period.value;
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
        budget = rules.mergeBudget(saved, update);
      } catch (err) {
        if (err.field && errors[err.field]) setError(err.field, err.message);
        else formError.textContent = err.message;
      }
    }
    const dirty = Object.keys(update).length > 0 || local.length > 0;
    discardButton.hidden = !dirty;
    renderPreview(budget, dirty);
    renderAnswer(budget);
    return { update, budget, local };
  }

  /** What the gate counts now under `budget`'s period (the Worker reports all three). */
  function previewUsage(budget) {
    return status.usageByPeriod[budget.period].gateTokens;
  }

  function renderPreview(budget, dirty) {
    if (!budget) {
      replace(preview, h("h3", {}, "Preview"), h("p", { class: "muted" }, "Fix the highlighted field to see what it would mean."));
      return;
    }
    const now = new Date();
    const used = previewUsage(budget);
    const cs = rules.capStatus(budget, used, now);
    replace(
      preview,
      h("h3", {}, dirty ? "Preview (not saved)" : "Preview (as saved)"),
      banner(cs, "preview-banner"),
      h(
        "dl",
        { class: "stats compact" },
        stat("Status", "preview-state", badge(cs.state)),
        stat("Counted by the gate", "preview-used", tokens(cs.usedTokens)),
        stat("Remaining", "preview-remaining", tokens(cs.remaining)),
        stat("Of soft / hard cap", "preview-percent", `${percent(cs.softPercent)} / ${percent(cs.hardPercent)}`),
        stat("Resets", "preview-resets", time(cs.resetsAt, { withRelative: true })),
      ),
    );
  }

  function renderAnswer(budget) {
    estimateError.textContent = "";
    estimate.removeAttribute("aria-invalid");
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
      if (estimate.validity.badInput) throw Object.assign(new Error("Enter a whole number of tokens"), { field: "estimatedTokens" });
      result = rules.evaluateBudget(budget, used, Number(estimate.value), now);
    } catch (err) {
      estimateError.textContent = err.message;
      estimate.setAttribute("aria-invalid", "true");
      replace(answer);
      return;
    }
    if (result.ok) {
      replace(
        answer,
        h("strong", { class: "pass", "data-ok": "true" }, "Passes."),
        " ",
        budget.enabled
          ? `${tokens(result.remaining)} tokens remain under the hard cap before this call.`
          : "The budget is disabled, so every call passes.",
        result.softCap ? " Usage is over the soft cap: the call is flagged." : "",
      );
    } else {
      const why =
        result.reason === "hard-cap-exceeded"
          ? `the hard cap of ${tokens(result.capTokens)} tokens is reached`
          : `the estimate is above the ${tokens(Math.max(0, result.capTokens - result.usedTokens))} tokens left`;
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
      await api.saveBudget(port, update);
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
        h("label", { for: "softCapTokens" }, "Soft cap (tokens)"),
        fields.softCapTokens,
        h("p", { class: "help", id: "softCapTokens-help" }, "Above it calls pass but are flagged."),
        errors.softCapTokens,
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "hardCapTokens" }, "Hard cap (tokens)"),
        fields.hardCapTokens,
        h("p", { class: "help", id: "hardCapTokens-help" }, "At it calls are refused until the reset."),
        errors.hardCapTokens,
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "period" }, "Period"),
        fields.period,
        h("p", { class: "help", id: "period-help" }, "UTC windows; a week starts Monday."),
        errors.period,
      ),
    ),
    formError,
    h("div", { class: "actions" }, saveButton, discardButton, saveStatus),
  );
  discardButton.addEventListener("click", () => {
    fields.enabled.checked = saved.enabled;
    fields.softCapTokens.value = saved.softCapTokens;
    fields.hardCapTokens.value = saved.hardCapTokens;
    fields.period.value = saved.period;
    saveStatus.textContent = "";
    recompute();
  });
  estimate.addEventListener("input", () => renderAnswer(recompute().budget));

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
        h("label", { for: "estimatedTokens" }, "Estimated tokens of the call"),
        estimate,
        estimateError,
      ),
      h("p", { class: "muted small" }, "Answered in the browser with the settings on the left, as the gate would answer now."),
      answer,
    ),
  );
  return { cards, recompute };
}
