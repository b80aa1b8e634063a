// A port's room beyond its cap: its credits (what is left of each, voiding
// what is left) and temporary raises (ending one), granting credits and
// adding raises with a preview of the new standing. The preview is the
// package's budgetRoom, the function the port's gate counts with, so what
// it shows is what the Worker answers after saving.
import { h, replace, table, time, usd } from "./dom.js";
import { client } from "./client.js";
import { budgetCaps, coreBudget, tokenAmount } from "./units.js";

/** An amount in the budget's unit, as the page shows it. */
function amountText(n, unit) {
  if (n === null || n === undefined) return "";
  return unit === "usd" ? usd(n) : tokenAmount(n);
}

/** The standing line: where the room comes from. */
export function roomText(room) {
  const u = room.unit;
  const parts = [`cap ${amountText(room.cap, u)}`];
  if (room.raises) parts.push(`raises ${amountText(room.raises, u)}`);
  if (room.rollover) parts.push(`rollover ${amountText(room.rollover, u)}`);
  const credits = room.creditsLeft
    ? `; then ${amountText(room.creditsLeft, u)} of credits${room.nextCreditExpiry ? `, the next expiring ${new Date(room.nextCreditExpiry).toISOString().slice(0, 16).replace("T", " ")} UTC` : ""}`
    : "; no credits left";
  return `Effective cap ${amountText(room.effectiveCap, u)} (${parts.join(" + ")})${credits}.`;
}

/** A `<input type="datetime-local">` value read as UTC, or null when empty. */
function utc(value) {
  return value ? new Date(`${value}:00Z`).toISOString() : null;
}

/** The "Credits and raises" card of `port`; loads its own lists. */
export function creditsSection(port, status, rules, { onError }) {
  const unit = budgetCaps(status.budget).unit;
  const standing = h("p", { id: "room", role: "status" }, roomText(status.room));
  const creditList = h("div", { id: "credits" }, h("p", { class: "muted" }, "Loading…"));
  const raiseList = h("div", { id: "raises" });
  const error = h("p", { class: "field-error", id: "credit-error", role: "alert" });
  const preview = h("p", { id: "room-preview", class: "muted", "aria-live": "polite" });
  const amount = h("input", { type: "number", id: "credit-amount", min: "0", step: unit === "usd" ? "0.000001" : "1", "aria-describedby": "credit-error" });
  const expires = h("input", { type: "datetime-local", id: "credit-expires" });
  const note = h("input", { type: "text", id: "credit-note", maxlength: "200" });
  const extra = h("input", { type: "number", id: "raise-extra", min: "0", step: unit === "usd" ? "0.000001" : "1", "aria-describedby": "credit-error" });
  const ends = h("input", { type: "datetime-local", id: "raise-ends" });
  let lists = { credits: [], raises: [] };

  /** Where the room would come from with `more` credits or raises, now. */
  function previewOf(more) {
    return rules.budgetRoom(
      coreBudget(status.budget),
      { raises: [...lists.raises, ...(more.raises ?? [])], rollover: status.room.rollover, credits: [...lists.credits, ...(more.credits ?? [])] },
      new Date(),
    );
  }

  function fail(err) {
    if (err.status === 401) return onError(err);
    error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    return undefined;
  }

  function showPreview() {
    error.textContent = "";
    const credits = amount.value ? [{ amount: Number(amount.value), expiresAt: utc(expires.value) }] : [];
    const raises = extra.value && ends.value ? [{ extra: Number(extra.value), startsAt: new Date(), endsAt: utc(ends.value) }] : [];
    if (!credits.length && !raises.length) return replace(preview);
    try {
      preview.textContent = `With it: ${roomText(previewOf({ credits, raises }))}`;
    } catch (err) {
      fail(err);
    }
    return undefined;
  }
  for (const input of [amount, expires, extra, ends]) input.addEventListener("input", showPreview);

  async function load() {
    try {
      const [c, r] = await Promise.all([client(port).credits(), client(port).raises()]);
      lists = { credits: c.credits, raises: r.raises };
      standing.textContent = roomText(c.room);
      render();
    } catch (err) {
      fail(err);
    }
  }

  function render() {
    replace(
      creditList,
      table(
        "Credits",
        [
          ["Id", (c) => h("code", {}, c.id)],
          ["Granted", (c) => amountText(c.amount, c.unit)],
          ["Spent", (c) => amountText(c.spent, c.unit)],
          ["Left", (c) => amountText(c.left, c.unit)],
          ["Expires", (c) => (c.expiresAt ? time(c.expiresAt) : "never")],
          ["Note", (c) => c.note ?? ""],
          ["", (c) => (c.left > 0 ? h("button", { type: "button", class: "danger", "data-void": c.id, onclick: () => act(() => client(port).voidCredits(c.id)) }, "Void what is left") : c.voidedAt ? "voided" : c.expired ? "expired" : "spent")],
        ],
        lists.credits,
        "No credits: calls are refused once the cap is used up.",
      ),
    );
    replace(
      raiseList,
      table(
        "Temporary raises",
        [
          ["Extra", (r) => amountText(r.extra, r.unit)],
          ["Soft extra", (r) => amountText(r.softExtra, r.unit)],
          ["From", (r) => time(r.startsAt)],
          ["Until", (r) => time(r.endsAt)],
          ["Note", (r) => r.note ?? ""],
          ["", (r) => (new Date(r.endsAt) > new Date() ? h("button", { type: "button", class: "secondary", "data-end-raise": r.id, onclick: () => act(() => client(port).endRaise(r.id)) }, "End now") : "ended")],
        ],
        lists.raises,
        "No temporary raise.",
      ),
    );
  }

  async function act(write) {
    error.textContent = "";
    try {
      const answer = await write();
      standing.textContent = roomText(answer.room);
      amount.value = extra.value = expires.value = ends.value = note.value = "";
      replace(preview);
      await load();
    } catch (err) {
      fail(err);
    }
  }

  function grant(event) {
    event.preventDefault();
    const body = { amount: Number(amount.value) };
    if (expires.value) body.expiresAt = utc(expires.value);
    if (note.value) body.note = note.value;
    return act(() => client(port).grantCredits(body));
  }

  function addRaise(event) {
    event.preventDefault();
    return act(() => client(port).addRaise({ extra: Number(extra.value), endsAt: utc(ends.value) }));
  }

  load();
  return h(
    "section",
    { class: "card", "aria-labelledby": "credits-title" },
    h("h2", { id: "credits-title" }, "Credits and raises"),
    standing,
    creditList,
    raiseList,
    h(
      "form",
      { id: "grant-form", onsubmit: grant },
      h("label", { for: "credit-amount" }, unit === "usd" ? "Credits (dollars)" : "Credits (tokens)"),
      amount,
      h("label", { for: "credit-expires" }, "Expires (UTC, optional)"),
      expires,
      h("label", { for: "credit-note" }, "Note"),
      note,
      h("button", { type: "submit", id: "grant-credits" }, "Grant credits"),
    ),
    h(
      "form",
      { id: "raise-form", onsubmit: addRaise },
      h("label", { for: "raise-extra" }, unit === "usd" ? "Raise the cap by (dollars)" : "Raise the cap by (tokens)"),
      extra,
      h("label", { for: "raise-ends" }, "Until (UTC)"),
      ends,
      h("button", { type: "submit", id: "add-raise" }, "Add the raise"),
    ),
    preview,
    error,
  );
}
