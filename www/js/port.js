// One port: its standing, a budget editor with a live client-side preview
// (the package's wasm: the gate's own rules, no request until Save), a
// "would this call pass?" box, charts, recent ledger rows, holds and keys.
import { h, replace, tokens, percent, time, badge, instant, table } from "./dom.js";
import { capsSection } from "./caps.js";
import { alertsSection } from "./alerts.js";
import { dailyChart, breakdownChart } from "./charts.js";
import * as api from "./api.js";

const CAP_FIELDS = ["softCapTokens", "hardCapTokens"];

/** The sentence a port's banner says for a cap status (server JSON or the package's object). */
export function bannerText(status) {
  const remaining = status.remaining === null || status.remaining === Infinity ? null : status.remaining;
  switch (status.state) {
    case "disabled":
      return "Budget disabled: no cap is enforced; usage is still counted.";
    case "hard":
      return `Hard cap reached: calls are refused until ${instant(status.resetsAt)}.`;
    case "soft":
      return `Over the soft cap: calls still pass but are flagged. ${tokens(remaining)} tokens left before the hard cap.`;
    default:
      return `Within budget: ${tokens(remaining)} tokens left before the hard cap.`;
  }
}

function banner(status, id) {
  return h("p", { class: `banner banner-${status.state}`, id, "data-state": status.state }, bannerText(status));
}

/** A definition list entry whose value carries `data-field` for tests and scripts. */
function stat(label, field, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-field": field }, value));
}

/**
 * Renders the page of `port` from its `GET .../status` answer. `rules` is the
 * loaded package; `reload(message)` fetches the status again and re-renders.
 */
export function renderPort(root, port, status, rules, { reload, onError, flash }) {
  const saved = {
    enabled: status.budget.enabled,
    softCapTokens: status.budget.softCapTokens,
    hardCapTokens: status.budget.hardCapTokens,
    period: status.budget.period,
  };

  // ------------------------------------------------------------ the editor
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

  // ------------------------------------------------------------ keys
  const keys = [...(status.keys ?? [])];
  const keyList = h("div", { id: "keys" });
  const issued = h("div", { id: "issued-key", "aria-live": "polite" });
  const keyStatus = h("p", { role: "status", class: "save-status" });

  function renderKeys() {
    replace(
      keyList,
      table(
        "Port keys",
        [
          ["Key id", (k) => h("code", {}, k.keyId)],
          ["Issued", (k) => time(k.createdAt)],
          ["", (k) => h("button", { type: "button", class: "danger", "data-revoke": k.keyId, onclick: () => revoke(k) }, "Revoke")],
        ],
        keys,
        "No port keys. Issue one for each app that calls through this port.",
      ),
    );
  }

  async function revoke(key) {
    if (!confirm(`Revoke key ${key.keyId}? Apps using it are refused (within about a minute at other locations).`)) return;
    try {
      await api.revokeKey(port, key.keyId);
      keys.splice(keys.indexOf(key), 1);
      keyStatus.textContent = `Revoked ${key.keyId}.`;
      renderKeys();
    } catch (err) {
      if (err.status === 401) return onError(err);
      keyStatus.textContent = `Not revoked. ${err.message}`;
    }
  }

  async function issue() {
    try {
      const res = await api.issueKey(port);
      keys.push({ keyId: res.keyId, createdAt: res.createdAt });
      renderKeys();
      keyStatus.textContent = "";
      const field = h("input", { readonly: true, value: res.key, id: "new-key", class: "key", "aria-label": "The new port key" });
      replace(
        issued,
        h(
          "div",
          { class: "callout" },
          h("p", {}, h("strong", {}, "Copy this key now: it is shown only once."), " Only its hash is stored."),
          field,
          h(
            "button",
            {
              type: "button",
              onclick: async () => {
                field.select();
                try {
                  await navigator.clipboard.writeText(res.key);
                  keyStatus.textContent = "Copied.";
                } catch {
                  keyStatus.textContent = "Select the key and copy it by hand.";
                }
              },
            },
            "Copy",
          ),
          h("button", { type: "button", class: "secondary", onclick: () => replace(issued) }, "Done"),
        ),
      );
      field.focus();
      field.select();
    } catch (err) {
      if (err.status === 401) return onError(err);
      keyStatus.textContent = `No key issued. ${err.message}`;
    }
  }
  renderKeys();

  // ------------------------------------------------------------ the page
  const cs = status.capStatus;
  const u = status.usage;
  replace(
    root,
    h(
      "article",
      { "aria-labelledby": "port-title" },
      h("p", {}, h("a", { href: "#/", class: "back" }, "← All ports")),
      h(
        "div",
        { class: "title-row" },
        h("h1", { id: "port-title", tabindex: "-1" }, h("span", { class: "visually-hidden" }, "Port "), h("span", { id: "port-id" }, port)),
        badge(cs.state),
        h("button", { type: "button", class: "secondary", onclick: () => reload() }, "Refresh"),
      ),
      banner(cs, "banner"),
      // The ledger of record (D1) trails the gate only while D1 fails.
      status.pendingLedgerRows > 0
        ? h(
            "p",
            { class: "banner banner-soft", id: "ledger-pending", role: "status" },
            `${tokens(status.pendingLedgerRows)} ledger ${status.pendingLedgerRows === 1 ? "row is" : "rows are"} still on their way to the ledger of record: the gate counts ${status.pendingLedgerRows === 1 ? "it" : "them"}, the breakdown, chart and ledger below do not show ${status.pendingLedgerRows === 1 ? "it" : "them"} yet.`,
          )
        : null,
      h(
        "dl",
        { class: "stats", id: "summary" },
        stat("Counted by the gate", "gateTokens", tokens(u.gateTokens)),
        stat("Used (ledger)", "usedTokens", tokens(u.usedTokens)),
        stat("Calls", "calls", tokens(u.calls)),
        stat("Held by reservations", "heldTokens", tokens(u.heldTokens)),
        stat("Of which estimated", "expiredHoldTokens", tokens(u.expiredHoldTokens)),
        stat("Remaining", "remaining", tokens(cs.remaining)),
        stat("Soft cap", "softCapTokens", tokens(status.budget.softCapTokens)),
        stat("Hard cap", "hardCapTokens", tokens(status.budget.hardCapTokens)),
        stat("Period", "period", status.period),
        stat("Resets", "resetsAt", time(status.resetsAt, { withRelative: true })),
        stat("Last change", "updatedAt", status.budget.updatedAt ? [time(status.budget.updatedAt), ` by ${status.budget.updatedBy ?? "?"}`] : "never (defaults)"),
      ),
      h(
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
      ),
      capsSection(port, status, rules, { reload, onError }),
      alertsSection(port, { onError }),
      h(
        "section",
        { class: "card", "aria-labelledby": "daily-title" },
        h("h2", { id: "daily-title" }, "Usage this period, per day"),
        status.daily.some((d) => d.tokens > 0)
          ? [
              dailyChart(status.daily, {
                softCap: status.budget.softCapTokens,
                hardCap: status.budget.hardCapTokens,
                enabled: status.budget.enabled,
              }),
              h("p", { class: "legend muted small" }, h("span", { class: "key-day" }), " tokens per day ", h("span", { class: "key-total" }), " running total ", status.budget.enabled ? "against the caps (dashed)" : ""),
            ]
          : h("p", { class: "empty" }, "No usage recorded in this period yet."),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "features-title" },
        h("h2", { id: "features-title" }, "Per feature"),
        status.breakdown.length ? breakdownChart(status.breakdown) : null,
        h(
          "div",
          { id: "breakdown" },
          table(
            "Tokens and calls per feature this period",
            [
              ["Feature", (b) => b.feature],
              ["Tokens", (b) => tokens(b.tokens), true],
              ["Calls", (b) => tokens(b.calls), true],
              ["Share", (b) => percent(u.usedTokens ? (100 * b.tokens) / u.usedTokens : 0), true],
            ],
            status.breakdown,
            "No feature has used tokens this period.",
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "ledger-title" },
        h("h2", { id: "ledger-title" }, "Recent ledger rows"),
        h(
          "div",
          { id: "ledger" },
          table(
            "The newest ledger rows",
            [
              ["When", (r) => time(r.createdAt)],
              ["Feature", (r) => r.feature],
              ["User", (r) => r.userId ?? ""],
              ["Provider", (r) => r.provider],
              ["Model", (r) => r.model],
              ["Input", (r) => tokens(r.inputTokens), true],
              ["Output", (r) => tokens(r.outputTokens), true],
              ["Total", (r) => tokens(r.totalTokens), true],
              ["Request id", (r) => h("code", {}, r.requestId ?? "")],
            ],
            status.recentLedger,
            "The ledger has no rows for this port.",
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "holds-title" },
        h("h2", { id: "holds-title" }, "Reservations in flight"),
        h(
          "div",
          { id: "reservations" },
          table(
            "Open and expired-unsettled reservations",
            [
              ["Id", (r) => h("code", {}, r.id)],
              ["Feature", (r) => r.feature],
              ["Estimate", (r) => tokens(r.estimatedTokens), true],
              ["State", (r) => r.state],
              ["Taken", (r) => time(r.createdAt)],
              ["Expires", (r) => time(r.expiresAt)],
            ],
            status.reservations,
            "No reservation is held.",
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "keys-title" },
        h("h2", { id: "keys-title" }, "Port keys"),
        h("p", { class: "muted small" }, "A port key may check, reserve and record usage for this port only."),
        keyList,
        issued,
        h("button", { type: "button", id: "issue-key", onclick: issue }, "Issue a key"),
        keyStatus,
      ),
    ),
  );
  recompute();
  return { focus: () => root.querySelector("h1").focus() };
}
