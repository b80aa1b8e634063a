// The price table: every model's price in dollars per million tokens of each
// kind (`GET /v1/prices`), and an editor that validates a price and shows
// what a sample call would cost with the package's pricing (the gate's own
// rule) before one `PUT /v1/prices/{model}` is sent.
import { h, replace, tokens, usd, table } from "./dom.js";
import { client } from "./client.js";

/** The editor's inputs: field of the price, input id, label. */
const PRICE_FIELDS = [
  ["inputPerMTok", "price-input", "Input"],
  ["cachedInputPerMTok", "price-cached", "Cached input"],
  ["cacheWritePerMTok", "price-cache-write", "Cache write"],
  ["outputPerMTok", "price-output", "Output"],
];
const OPTIONAL = new Set(["cachedInputPerMTok", "cacheWritePerMTok"]);

/** A price per million tokens for people: `$2.50 / MTok`. */
const perMTok = (n) => `${usd(n)} / MTok`;

/** A change still to come, for people, in the viewer's local time. */
const scheduledText = (v) => {
  const at = new Date(v.effectiveFrom).toLocaleString();
  return v.removed ? `removed from ${at}` : `${perMTok(v.inputPerMTok)} in, ${perMTok(v.outputPerMTok)} out from ${at}`;
};

/**
 * Renders the price table from `GET /v1/prices` into `root`. `rules` is the
 * loaded package; `reload(message)` fetches the table again.
 */
export function renderPrices(root, table_, rules, { reload, onError, flash }) {
  const model = h("input", { type: "text", id: "price-model", name: "model", autocomplete: "off", spellcheck: "false", maxlength: 128, "aria-describedby": "price-model-error" });
  const inputs = Object.fromEntries(
    PRICE_FIELDS.map(([field, id]) => [
      field,
      h("input", {
        type: "number", id, name: field, inputmode: "decimal", step: "any", min: 0,
        placeholder: OPTIONAL.has(field) ? "as input" : null, "aria-describedby": `${id}-error`,
      }),
    ]),
  );
  const errors = Object.fromEntries(
    [["model", "price-model"], ...PRICE_FIELDS.map(([field, id]) => [field, id])].map(([field, id]) => [
      field,
      h("p", { class: "field-error", id: `${id}-error`, "data-error-for": field }),
    ]),
  );
  const from = h("input", { type: "datetime-local", id: "price-from", name: "effectiveFrom", "aria-describedby": "price-from-help price-from-error" });
  errors.effectiveFrom = h("p", { class: "field-error", id: "price-from-error", "data-error-for": "effectiveFrom" });
  const formError = h("p", { class: "field-error", id: "price-error" });
  const sampleIn = h("input", { type: "number", id: "sample-input", inputmode: "numeric", step: 1, min: 0, value: 10000 });
  const sampleOut = h("input", { type: "number", id: "sample-output", inputmode: "numeric", step: 1, min: 0, value: 1000 });
  const preview = h("output", { id: "price-preview", class: "answer", for: "price-input price-output sample-input sample-output" });
  const saveButton = h("button", { type: "submit", id: "save-price" }, "Save price");
  const saveStatus = h("p", { class: "save-status", id: "price-status", role: "status" }, flash ?? "");

  function setError(field, message) {
    errors[field].textContent = message ?? "";
    ({ model, effectiveFrom: from })[field]?.toggleAttribute("aria-invalid", Boolean(message));
    inputs[field]?.toggleAttribute("aria-invalid", Boolean(message));
  }

  /** The instant the change takes effect (ISO, from the viewer's local time), or null for now. */
  function readFrom() {
    if (from.value === "") return null;
    const at = new Date(from.value);
    return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
  }

  /** The price the form describes (what `PUT` would send), or null after showing why not. */
  function read() {
    for (const field of Object.keys(errors)) setError(field, null);
    formError.textContent = "";
    const price = {};
    let bad = false;
    for (const [field] of PRICE_FIELDS) {
      const input = inputs[field];
      if (input.validity.badInput) {
        setError(field, "Enter dollars per million tokens, such as 2.5");
        bad = true;
      } else if (input.value.trim() !== "") price[field] = Number(input.value);
      else if (!OPTIONAL.has(field)) {
        setError(field, "Required: dollars per million tokens");
        bad = true;
      }
    }
    if (bad) return null;
    try {
      // The package's pricing validates the price as the Worker will.
      rules.costUsd({ inputTokens: 0, outputTokens: 0 }, price);
    } catch (err) {
      if (err.field && errors[err.field]) setError(err.field, err.message);
      else formError.textContent = err.message;
      return null;
    }
    return price;
  }

  function renderPreview() {
    const price = read();
    if (!price) {
      replace(preview, h("span", { class: "muted" }, "Fix the highlighted field to see what a call would cost."));
      return;
    }
    const usage = { inputTokens: Number(sampleIn.value) || 0, outputTokens: Number(sampleOut.value) || 0 };
    let cost;
    try {
      cost = rules.costUsd(usage, price);
    } catch (err) {
      replace(preview, h("span", { class: "field-error" }, err.message));
      return;
    }
    replace(
      preview,
      `A call of ${tokens(usage.inputTokens)} input and ${tokens(usage.outputTokens)} output tokens costs `,
      h("strong", { "data-micros": cost.micros }, usd(cost.usd)),
      ".",
    );
  }

  /** The row being edited: its tiers and service tiers, which the form does not show, are sent back unchanged. */
  let editing = null;
  const kept = h("p", { class: "muted", id: "price-kept" });

  function edit(row) {
    editing = row;
    const extra = [row.tiers?.length && "tiers on the request's size", row.serviceTiers && "service tier prices"].filter(Boolean);
    kept.textContent = extra.length ? `This model's ${extra.join(" and ")} are kept as they are when you save.` : "";
    model.value = row.model;
    for (const [field] of PRICE_FIELDS) inputs[field].value = row[field];
    saveStatus.textContent = "";
    renderPreview();
    model.focus();
  }

  async function save(event) {
    event.preventDefault();
    const price = read();
    const id = model.value.trim();
    if (!id) setError("model", "Enter the model id, as providers send it (such as gpt-4.1)");
    const effectiveFrom = readFrom();
    if (effectiveFrom === undefined) setError("effectiveFrom", "Enter a date and time, or leave it empty for now");
    if (!price || !id || effectiveFrom === undefined) {
      renderPreview();
      saveStatus.textContent = "Nothing was sent: fix the highlighted field first.";
      return;
    }
    saveButton.disabled = true;
    saveStatus.textContent = "Saving…";
    try {
      const body = { ...price };
      if (effectiveFrom) body.effectiveFrom = effectiveFrom;
      if (editing?.model === id) {
        if (editing.tiers?.length) body.tiers = editing.tiers;
        if (editing.serviceTiers) body.serviceTiers = editing.serviceTiers;
      }
      await client().setPrice(id, body);
    } catch (err) {
      saveButton.disabled = false;
      if (err.status === 401) return onError(err);
      const field = err.field === "model" || !err.field ? (err.kind === "invalid" ? "model" : null) : err.field;
      if (field && errors[field]) setError(field, err.message);
      saveStatus.textContent = `Not saved. ${err.kind === "invalid" ? "The Worker rejected a field." : err.message}`;
      return;
    }
    reload(
      effectiveFrom
        ? `Scheduled the price of ${id} from ${new Date(effectiveFrom).toLocaleString()}. Calls held before then keep the price in force now.`
        : `Saved the price of ${id}. Calls held from now on are priced with it.`,
    );
  }

  async function remove(row) {
    if (!confirm(`Delete the price of ${row.model}? Its calls are unpriced until a price is set again; rows already in the ledger keep their cost.`)) return;
    try {
      await client().deletePrice(row.model);
    } catch (err) {
      if (err.status === 401) return onError(err);
      saveStatus.textContent = `Not deleted. ${err.message}`;
      return;
    }
    reload(`Deleted the price of ${row.model}.`);
  }

  const form = h(
    "form",
    { id: "price-form", novalidate: true, onsubmit: save, oninput: renderPreview },
    h(
      "div",
      { class: "fields" },
      h("div", { class: "field" }, h("label", { for: "price-model" }, "Model"), model, errors.model),
      PRICE_FIELDS.map(([field, id, label]) =>
        h("div", { class: "field" }, h("label", { for: id }, `${label} ($ per million tokens)`), inputs[field], errors[field]),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "price-from" }, "Takes effect (your local time)"),
        from,
        h("p", { class: "muted small", id: "price-from-help" }, "Empty: now. A later time schedules the change; a price cannot change the past."),
        errors.effectiveFrom,
      ),
      h("div", { class: "field" }, h("label", { for: "sample-input" }, "Sample call: input tokens"), sampleIn),
      h("div", { class: "field" }, h("label", { for: "sample-output" }, "Sample call: output tokens"), sampleOut),
    ),
    formError,
    kept,
    preview,
    h("div", { class: "actions" }, saveButton, saveStatus),
  );

  const sources = Object.entries(table_.sources ?? {}).map(([provider, source]) => `${provider}: ${source}`);
  replace(
    root,
    h(
      "section",
      { "aria-labelledby": "prices-title" },
      h("p", {}, h("a", { href: "#/", class: "back" }, "← All ports")),
      h("div", { class: "title-row" }, h("h1", { id: "prices-title", tabindex: "-1" }, "Prices"), h("button", { type: "button", class: "secondary", onclick: () => reload() }, "Refresh")),
      h(
        "p",
        { class: "muted" },
        "Dollars per million tokens of each kind. A call is priced with the version in force when it was held; ledger rows keep their cost and the version that priced them. ",
        `Shipped figures as of ${table_.asOf ?? "?"}${sources.length ? ` (${sources.join("; ")})` : ""}.`,
      ),
      h(
        "div",
        { id: "prices", class: "card" },
        table(
          "Prices per model",
          [
            ["Model", (p) => h("code", {}, p.model)],
            ["Input", (p) => perMTok(p.inputPerMTok), true],
            ["Cached input", (p) => perMTok(p.cachedInputPerMTok), true],
            ["Cache write", (p) => perMTok(p.cacheWritePerMTok), true],
            ["Output", (p) => perMTok(p.outputPerMTok), true],
            ["Source", (p) => p.source],
            ["Scheduled", (p) => (p.scheduled ?? []).map(scheduledText).join("; ")],
            [
              "",
              (p) => [
                h("button", { type: "button", class: "secondary", "data-edit-price": p.model, onclick: () => edit(p) }, "Edit"),
                " ",
                h("button", { type: "button", class: "danger", "data-delete-price": p.model, onclick: () => remove(p) }, "Delete"),
              ],
            ],
          ],
          table_.prices,
          "The table has no prices: every call in a dollar budget is refused as unpriced unless its port has a fallback price.",
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "price-form-title" },
        h("h2", { id: "price-form-title" }, "Set a price"),
        h("p", { class: "muted small" }, "Validated and previewed here with the gate's own pricing; nothing is sent until you save. A dated model id uses its base model's price when it has none of its own."),
        form,
      ),
    ),
  );
  renderPreview();
  return { focus: () => root.querySelector("h1").focus() };
}
