// Caps inside a port: each feature cap and the end users nearest theirs (from
// the status report), and an editor for a feature cap, a user's override or
// every user's cap, validated and previewed in the browser with the package's
// rules (the gate's own) before one partial update is sent.
import { h, tokens, percent, badge, table } from "./dom.js";
import { client } from "./client.js";

const SCOPES = {
  feature: { label: "A feature", field: "featureCaps", idLabel: "Feature" },
  user: { label: "One end user (override)", field: "userCaps", idLabel: "End user (userId)" },
  every: { label: "Every end user (default)", field: "userCap", idLabel: null },
};

/** The update that sets (or, with `cap` null, removes) one cap. */
export function capUpdate(scope, id, cap) {
  const { field } = SCOPES[scope];
  return scope === "every" ? { [field]: cap } : { [field]: { [id]: cap } };
}

function capText(cap) {
  if (!cap) return "none";
  return cap.softCap === undefined || cap.softCap === null
    ? `${tokens(cap.hardCap)} tokens`
    : `${tokens(cap.hardCap)} tokens (soft ${tokens(cap.softCap)})`;
}

/**
 * The "Caps inside the port" card of `port` from its status. `rules` is the
 * loaded package; `reload(message)` fetches the status again.
 */
export function capsSection(port, status, rules, { reload, onError }) {
  const budget = {
    enabled: status.budget.enabled,
    softCapTokens: status.budget.softCapTokens,
    hardCapTokens: status.budget.hardCapTokens,
    period: status.budget.period,
  };
  const counted = (scope, id) => {
    const list = scope === "feature" ? status.featureCaps : status.topUsers;
    const key = scope === "feature" ? "feature" : "userId";
    const found = list.find((l) => l[key] === id);
    return found ? found.usedTokens + found.heldTokens : null;
  };

  const scopeSelect = h(
    "select",
    { id: "cap-scope", name: "scope" },
    Object.entries(SCOPES).map(([value, s]) => h("option", { value }, s.label)),
  );
  const idInput = h("input", { type: "text", id: "cap-id", name: "id", autocomplete: "off", "aria-describedby": "cap-error" });
  const idLabel = h("label", { for: "cap-id" }, SCOPES.feature.idLabel);
  const soft = h("input", { type: "number", id: "cap-soft", name: "softCap", inputmode: "numeric", step: 1, placeholder: "optional" });
  const hard = h("input", { type: "number", id: "cap-hard", name: "hardCap", inputmode: "numeric", step: 1, "aria-describedby": "cap-error" });
  const error = h("p", { class: "field-error", id: "cap-error" });
  const preview = h("output", { id: "cap-preview", class: "answer", for: "cap-hard" });
  const saveButton = h("button", { type: "submit", id: "save-cap" }, "Save cap");

  /** The cap the form describes and the update it makes, or an error in the core's words. */
  function read() {
    const scope = scopeSelect.value;
    const id = idInput.value.trim();
    if (scope !== "every" && id === "") return { message: `Enter the ${SCOPES[scope].idLabel.toLowerCase()}` };
    if (hard.validity.badInput || hard.value.trim() === "") return { message: "Enter the hard cap, a whole number of tokens" };
    const cap = { hardCap: Number(hard.value) };
    if (soft.validity.badInput) return { message: "The soft cap must be a whole number of tokens" };
    if (soft.value.trim() !== "") cap.softCap = Number(soft.value);
    const update = capUpdate(scope, id, cap);
    try {
      // The package validates caps as the Worker does (codes, field, words).
      rules.evaluateCaps(budget, update, { usedTokens: 0 }, { estimatedTokens: 0 });
    } catch (err) {
      return { message: err.message };
    }
    return { scope, id, cap, update };
  }

  function recompute() {
    const scope = scopeSelect.value;
    idLabel.textContent = SCOPES[scope].idLabel ?? "";
    idLabel.hidden = idInput.hidden = scope === "every";
    const r = read();
    error.textContent = r.message && (hard.value !== "" || idInput.value !== "") ? r.message : "";
    hard.toggleAttribute("aria-invalid", Boolean(error.textContent));
    if (!r.update) {
      preview.textContent = "";
      return r;
    }
    const now = r.scope === "every" ? null : counted(r.scope, r.id);
    const status = rules.capStatus(
      { ...budget, softCapTokens: r.cap.softCap ?? r.cap.hardCap, hardCapTokens: r.cap.hardCap },
      now ?? 0,
    );
    const who = r.scope === "feature" ? `Feature ${r.id}` : r.scope === "user" ? `User ${r.id}` : "Each end user";
    preview.textContent =
      r.scope === "every"
        ? `Each end user would be refused past ${tokens(r.cap.hardCap)} tokens this ${budget.period}.`
        : now === null
          ? `${who}: no usage in this report; would start at 0 of ${tokens(r.cap.hardCap)} tokens.`
          : `${who} would be ${status.state === "ok" ? "within the cap" : status.state === "soft" ? "over the soft cap" : status.state === "hard" ? "at the hard cap (calls refused)" : "not enforced (budget disabled)"}: ${tokens(now)} of ${tokens(r.cap.hardCap)} tokens (${percent(status.hardPercent)}).`;
    preview.dataset.state = status.state;
    return r;
  }

  async function send(update, message) {
    try {
      await client(port).setBudget(update);
    } catch (err) {
      if (err.status === 401) return onError(err);
      error.textContent = err.message;
      return;
    }
    reload(message);
  }

  async function save(e) {
    e.preventDefault();
    const r = recompute();
    if (!r.update) {
      error.textContent = r.message;
      return;
    }
    saveButton.disabled = true;
    await send(r.update, "Cap saved.");
    saveButton.disabled = false;
  }

  const remove = (scope, id) => h(
    "button",
    { type: "button", class: "secondary", "data-remove-cap": `${scope}:${id ?? ""}`, onclick: () => send(capUpdate(scope, id, null), "Cap removed.") },
    "Remove",
  );
  const state = (l) => badge(l.capStatus.state);
  const gate = (l) => tokens(l.usedTokens + l.heldTokens);
  const overrides = status.budget.userCaps ?? {};

  return h(
    "section",
    { class: "card", "aria-labelledby": "caps-title", id: "caps" },
    h("h2", { id: "caps-title" }, "Caps inside the port"),
    h("p", { class: "muted small" }, "Each cap counts its own feature's or end user's tokens over the port's period; a call must fit under every cap that applies."),
    h("h3", {}, "Feature caps"),
    h("div", { id: "feature-caps" }, table(
      "Feature caps",
      [["Feature", (l) => l.feature], ["Counted", gate, true], ["Soft cap", (l) => tokens(l.softCap ?? l.hardCap), true], ["Hard cap", (l) => tokens(l.hardCap), true], ["Status", state], ["", (l) => remove("feature", l.feature)]],
      status.featureCaps,
      "No feature caps.",
    )),
    h("h3", {}, "End users"),
    h("p", { id: "user-cap" }, "Every end user: ", capText(status.budget.userCap), status.budget.userCap ? [" ", remove("every", null)] : null),
    h("div", { id: "top-users" }, table(
      "End users nearest their caps",
      [["End user", (l) => l.userId], ["Counted", gate, true], ["Hard cap", (l) => tokens(l.hardCap), true], ["Cap", (l) => (l.overridden ? "own" : "default")], ["Status", state], ["", (l) => (overrides[l.userId] ? remove("user", l.userId) : "")]],
      status.topUsers,
      "No end user has a cap, or none has used any yet.",
    )),
    h(
      "form",
      { id: "cap-form", novalidate: true, onsubmit: save, oninput: () => recompute(), onchange: () => recompute() },
      h("h3", {}, "Set a cap"),
      h("label", { for: "cap-scope" }, "For"),
      scopeSelect,
      idLabel,
      idInput,
      h("label", { for: "cap-soft" }, "Soft cap (tokens)"),
      soft,
      h("label", { for: "cap-hard" }, "Hard cap (tokens)"),
      hard,
      error,
      preview,
      saveButton,
    ),
  );
}
