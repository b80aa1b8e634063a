// Groups on the admin page: budgets above ports. The overview lists each
// group above the ports (used, held, lent and not yet used, its cap and its
// children); a group's page shows its standing and each child's line, and
// previews a change of its caps with the package's rules (the gate's own),
// sending nothing until Save.
import { h, replace, tokens, usd, badge } from "./dom.js";
import { banner, stat } from "./standing.js";
import { amounts, coreBudget } from "./units.js";
import { client } from "./client.js";
import { portHref, groupHref } from "./routes.js";
import { savedCalendar } from "./calendar.js";

/** An amount of a group's status (tokens, or micro-dollars for a group in usd) as the page shows it. */
function formatOf(unit) {
  return unit === "usd" ? (n) => usd(n / 1e6) : (n) => `${tokens(n)} tokens`;
}

/** The link to a group's child: a port's page or a group's. */
function childLink(child) {
  const href = child.kind === "group" ? groupHref(child.id) : portHref(child.id);
  return h("a", { href, class: `${child.kind}-link` }, child.id);
}

/**
 * The overview's groups section from what `loadGroups` answered: one row
 * per group (its `GET /v1/groups/{group}/status`), above the ports.
 */
export function groupsSection({ statuses, error }) {
  if (error) {
    return h("p", { class: "field-error", id: "groups-error", role: "alert" }, `Groups could not be loaded: ${error.message}`);
  }
  if (statuses.length === 0) return null;
  const row = (st) => {
    const f = formatOf(st.unit);
    return h(
      "tr",
      { "data-group": st.group },
      h("th", { scope: "row" }, h("a", { href: groupHref(st.group), class: "group-link" }, st.group)),
      h("td", {}, badge(st.state)),
      h("td", { class: "num", "data-field": "used" }, f(st.used)),
      h("td", { class: "num", "data-field": "held" }, f(st.held)),
      h("td", { class: "num", "data-field": "lent" }, f(st.lent)),
      h("td", { class: "num", "data-field": "cap" }, f(st.cap)),
      h("td", { "data-field": "parent" }, st.budget.parent ? h("a", { href: groupHref(st.budget.parent) }, st.budget.parent) : "none"),
      h("td", { "data-field": "children" }, st.children.map((c, i) => [i ? ", " : null, childLink(c)])),
    );
  };
  const columns = ["Group", "Status", "Used", "Held", "Lent", "Hard cap", "Parent", "Ports and groups below"];
  return h(
    "section",
    { "aria-labelledby": "groups-title", id: "groups-section" },
    h("h2", { id: "groups-title" }, "Groups"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "groups" },
        h("caption", { class: "visually-hidden" }, "Groups above the ports"),
        h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { scope: "col", class: i >= 2 && i <= 5 ? "num" : null }, c)))),
        h("tbody", {}, statuses.map(row)),
      ),
    ),
  );
}

/**
 * Loads every group's status for the overview: `{ statuses }`, or `{ error }`
 * when they cannot be read (the ports are shown all the same).
 */
export async function loadGroups() {
  try {
    const { groups } = await client().groups();
    return { statuses: await Promise.all(groups.map((g) => client().groupStatus(g.group))) };
  } catch (error) {
    return { error };
  }
}

/**
 * A group's page from its status: its standing, each child's line, and its
 * caps' editor with a preview computed in the browser. `reload(message)`
 * fetches the status again after a save.
 */
export function renderGroup(root, status, rules, { reload, onError, flash }) {
  const f = formatOf(status.unit);
  const b = status.budget;
  const saved = { ...coreBudget(b), ...savedCalendar(b) };
  const capFields = status.unit === "usd" ? ["softCapUsd", "hardCapUsd"] : ["softCapTokens", "hardCapTokens"];
  // What counts against the group's cap: used, and lent (held included).
  const counted = status.used + status.lent;
  const inputs = Object.fromEntries(
    capFields.map((name) => [
      name,
      h("input", { type: "number", id: `group-${name}`, name, step: status.unit === "usd" ? "any" : 1, min: 0, value: saved[name] ?? "", "aria-describedby": `group-${name}-error` }),
    ]),
  );
  const errors = Object.fromEntries(capFields.map((name) => [name, h("p", { class: "field-error", id: `group-${name}-error`, role: "alert" })]));
  const formError = h("p", { class: "field-error", id: "group-form-error", role: "alert" });
  const preview = h("div", { class: "preview", id: "group-preview", "aria-live": "polite" });
  const saveButton = h("button", { type: "submit", id: "group-save" }, "Save caps");

  function readUpdate() {
    const update = {};
    for (const [name, input] of Object.entries(inputs)) {
      if (input.value.trim() === "") continue;
      const n = Number(input.value);
      if (n !== saved[name]) update[name] = n;
    }
    return update;
  }

  /**
   * Validates with the core and previews the group's standing under the new
   * caps; no request. Answers the update, or null when the core refuses it.
   */
  function recompute() {
    for (const e of Object.values(errors)) e.textContent = "";
    formError.textContent = "";
    const update = readUpdate();
    let budget;
    try {
      budget = rules.previewSave(saved, update, new Date(), true);
    } catch (err) {
      if (err.field && errors[err.field]) errors[err.field].textContent = err.message;
      else formError.textContent = err.message;
      replace(preview, h("h3", {}, "Preview"), h("p", { class: "muted" }, "Fix the highlighted field to see what it would mean."));
      return null;
    }
    const cs = rules.capStatus(budget, budget.unit === "usd" ? counted / 1e6 : counted, new Date());
    const a = amounts(cs);
    const dirty = Object.keys(update).length > 0;
    replace(
      preview,
      h("h3", {}, dirty ? "Preview (not saved)" : "Preview (as saved)"),
      banner(cs, "group-preview-banner"),
      h(
        "dl",
        { class: "stats compact" },
        stat("Status", "group-preview-state", badge(cs.state)),
        stat("Counted against the cap (used + lent)", "group-preview-counted", a.format(a.used)),
        stat("Remaining", "group-preview-remaining", a.format(a.remaining)),
      ),
      cs.state === "hard" && counted > 0 && status.unused > 0
        ? h("p", { class: "muted small" }, `${f(status.unused)} lent and not held comes back to the group as its ports return it.`)
        : null,
    );
    return update;
  }

  const form = h(
    "form",
    {
      id: "group-caps",
      class: "card",
      novalidate: true,
      oninput: recompute,
      onsubmit: async (e) => {
        e.preventDefault();
        const update = recompute();
        if (!update || Object.keys(update).length === 0) return;
        saveButton.disabled = true;
        try {
          await client().setGroupBudget(status.group, update);
          reload("Saved.");
        } catch (err) {
          saveButton.disabled = false;
          if (err.kind === "invalid") {
            if (err.field && errors[err.field]) errors[err.field].textContent = err.message;
            else formError.textContent = err.message;
          } else onError(err);
        }
      },
    },
    h("h2", {}, "Caps"),
    capFields.map((name) => [
      h("label", { for: `group-${name}` }, name.startsWith("soft") ? "Soft cap" : "Hard cap", status.unit === "usd" ? " (dollars)" : " (tokens)"),
      inputs[name],
      errors[name],
    ]),
    formError,
    h("p", { class: "muted small" }, "Changes are previewed here with the gate's own rules; nothing is sent until you save."),
    preview,
    saveButton,
  );

  const children = h(
    "table",
    { id: "group-children" },
    h("caption", { class: "visually-hidden" }, "The group's ports and groups"),
    h("thead", {}, h("tr", {}, ["Kind", "Id", "Held", "Lent", "Not held", "Consumed"].map((c, i) => h("th", { scope: "col", class: i >= 2 ? "num" : null }, c)))),
    h(
      "tbody",
      {},
      status.children.map((c) =>
        h(
          "tr",
          { "data-child": `${c.kind}:${c.id}` },
          h("td", {}, c.kind),
          h("th", { scope: "row" }, childLink(c)),
          h("td", { class: "num" }, f(c.held)),
          h("td", { class: "num" }, f(c.lent)),
          h("td", { class: "num" }, f(c.unused)),
          h("td", { class: "num" }, f(c.consumed)),
        ),
      ),
    ),
  );

  replace(
    root,
    h(
      "section",
      { "aria-labelledby": "group-title" },
      h("p", {}, h("a", { href: "#/" }, "← All ports and groups")),
      h("h1", { id: "group-title", tabindex: "-1" }, `Group ${status.group}`),
      flash ? h("p", { class: "flash", role: "status" }, flash) : null,
      h(
        "dl",
        { class: "stats", id: "group-summary" },
        stat("Status", "state", badge(status.state)),
        stat("Used", "used", f(status.used)),
        stat("Held by its ports", "held", f(status.held)),
        stat("Lent", "lent", f(status.lent)),
        stat("Lent, not held", "unused", f(status.unused)),
        stat("Soft / hard cap", "caps", `${f(status.softCap)} / ${f(status.cap)}`),
        stat("Parent", "parent", b.parent ? h("a", { href: groupHref(b.parent) }, b.parent) : "none"),
      ),
      status.children.length ? h("div", { class: "table-wrap" }, children) : h("p", { class: "empty" }, "No port or group below it has asked for an allowance yet."),
      form,
    ),
  );
  recompute();
  return { focus: () => root.querySelector("h1").focus() };
}
