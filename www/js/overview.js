// The overview: every port with its cap status, used vs caps as a bar and
// its reset time; sortable by any column, filterable by id and state.
import { h, replace, tokens, percent, time, badge } from "./dom.js";
import { portHref } from "./routes.js";
import { amounts, budgetCaps } from "./units.js";
import { atRisk, runOutCell } from "./forecast.js";

const SEVERITY = { hard: 3, soft: 2, ok: 1, disabled: 0 };

/**
 * An amount as a sort key: ports in dollars sort apart from ports in tokens
 * (the unit first), never one against the other's number.
 */
const inUnit = (unit, n) => [unit === "usd" ? 1 : 0, n ?? -1];

/** Sort keys, each a function of a port entry of `GET /v1/ports`. */
const COLUMNS = [
  { key: "port", label: "Port", value: (p) => p.port },
  { key: "state", label: "Status", value: (p) => SEVERITY[p.capStatus.state] ?? -1 },
  { key: "used", label: "Used", value: (p) => inUnit(p.capStatus.unit, amounts(p.capStatus).used), numeric: true },
  { key: "share", label: "Of hard cap", value: (p) => (p.budget.enabled ? p.capStatus.hardPercent : -1), numeric: true },
  { key: "soft", label: "Soft cap", value: (p) => inUnit(p.budget.unit, budgetCaps(p.budget).soft), numeric: true },
  { key: "hard", label: "Hard cap", value: (p) => inUnit(p.budget.unit, budgetCaps(p.budget).hard), numeric: true },
  { key: "remaining", label: "Remaining", value: (p) => inUnit(p.capStatus.unit, amounts(p.capStatus).remaining), numeric: true },
  { key: "resets", label: "Resets", value: (p) => p.capStatus.resetsAt },
  // Ports at risk first (soonest run-out first when ascending), then the rest.
  { key: "runout", label: "Runs out", value: (p) => (atRisk(p) ? p.forecast.runOutAt : "~") },
];

/** Orders two sort keys: numbers and strings, or `inUnit` pairs element by element. */
function compare(a, b) {
  if (Array.isArray(a)) return compare(a[0], b[0]) || compare(a[1], b[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How much of the caps a port uses, as a bar with marks at the soft and hard cap. */
export function capBar(status, enabled) {
  const a = amounts(status);
  const scale = Math.max(a.hard ?? 0, a.used, a.unit === "usd" ? 1e-6 : 1);
  const pct = (v) => `${Math.min(100, (v / scale) * 100).toFixed(2)}%`;
  const state = enabled ? status.state : "disabled";
  const label = enabled
    ? `${a.format(a.used)} of ${a.format(a.hard)} (hard cap); soft cap ${a.format(a.soft)}`
    : `${a.format(a.used)} used; budget disabled`;
  const fill = h("span", { class: `cap-bar-fill fill-${state}` });
  fill.style.width = pct(a.used);
  const soft = h("span", { class: "cap-bar-mark mark-soft", title: "soft cap" });
  soft.style.left = pct(a.soft ?? a.hard);
  const hard = h("span", { class: "cap-bar-mark mark-hard", title: "hard cap" });
  hard.style.left = pct(a.hard);
  return h("span", { class: "cap-bar", role: "img", "aria-label": label, title: label }, fill, enabled ? [soft, hard] : null);
}

function row(p) {
  const st = p.capStatus;
  const a = amounts(st);
  const caps = budgetCaps(p.budget);
  const plain = (n) => (a.unit === "usd" ? a.format(n) : tokens(n));
  return h(
    "tr",
    { "data-port": p.port, class: atRisk(p) ? "at-risk" : null, "data-at-risk": String(atRisk(p)) },
    h("th", { scope: "row" }, h("a", { href: portHref(p.port), class: "port-link" }, p.port)),
    h("td", {}, badge(st.state)),
    h("td", { class: "num", "data-field": a.unit === "usd" ? "usedUsd" : "usedTokens" }, plain(a.used)),
    h("td", { class: "bar-cell" }, capBar(st, p.budget.enabled), p.budget.enabled ? h("span", { class: "muted small" }, percent(st.hardPercent)) : null),
    h("td", { class: "num" }, caps.soft === null ? "none" : plain(caps.soft)),
    h("td", { class: "num" }, plain(caps.hard)),
    h("td", { class: "num", "data-field": "remaining" }, plain(a.remaining)),
    h("td", {}, time(st.resetsAt)),
    h("td", { "data-field": "runOutAt" }, runOutCell(p)),
  );
}

/**
 * Renders the overview of `ports` (the `ports` array of `GET /v1/ports`) into
 * `root`; `refresh()` reloads it.
 */
export function renderOverview(root, ports, { refresh, navigate }) {
  const view = { sort: "state", descending: true, text: "", state: "all" };
  const rows = new Map(ports.map((p) => [p.port, row(p)]));
  const tbody = h("tbody");
  const count = h("p", { class: "muted", role: "status", id: "ports-count" });

  const headers = COLUMNS.map((col) => {
    const button = h("button", { type: "button", class: "sort", "data-sort": col.key }, col.label);
    const th = h("th", { scope: "col", class: col.numeric ? "num" : null }, button);
    button.addEventListener("click", () => {
      view.descending = view.sort === col.key ? !view.descending : col.numeric || col.key === "state";
      view.sort = col.key;
      apply();
    });
    return th;
  });

  function apply() {
    const col = COLUMNS.find((c) => c.key === view.sort);
    const needle = view.text.trim().toLowerCase();
    const shown = ports.filter(
      (p) =>
        (!needle || p.port.toLowerCase().includes(needle)) &&
        (view.state === "all" || p.capStatus.state === view.state || (view.state === "at-risk" && atRisk(p))),
    );
    shown.sort((a, b) => {
      const byValue = compare(col.value(a), col.value(b));
      const order = byValue || compare(a.port, b.port);
      return view.descending && byValue ? -order : order;
    });
    tbody.replaceChildren(...shown.map((p) => rows.get(p.port)));
    headers.forEach((th, i) => {
      const key = COLUMNS[i].key;
      th.setAttribute("aria-sort", key === view.sort ? (view.descending ? "descending" : "ascending") : "none");
    });
    const risky = ports.filter(atRisk).length;
    count.textContent =
      (shown.length === ports.length
        ? `${ports.length} port${ports.length === 1 ? "" : "s"}`
        : `Showing ${shown.length} of ${ports.length} ports`) +
      (risky ? `; ${risky} projected to run out before ${risky === 1 ? "its" : "their"} reset` : "");
    empty.hidden = shown.length > 0 || ports.length === 0;
  }

  const filter = h("input", {
    type: "search",
    id: "filter",
    placeholder: "port id contains…",
    autocomplete: "off",
    oninput: (e) => {
      view.text = e.target.value;
      apply();
    },
  });
  const stateSelect = h(
    "select",
    {
      id: "state-filter",
      onchange: (e) => {
        view.state = e.target.value;
        apply();
      },
    },
    h("option", { value: "all" }, "all"),
    ["hard", "soft", "ok", "disabled"].map((st) => h("option", { value: st }, st)),
    h("option", { value: "at-risk" }, "runs out before its reset"),
  );
  const openInput = h("input", { id: "open-port", placeholder: "port id", autocomplete: "off", maxlength: 64 });
  const openForm = h(
    "form",
    {
      class: "inline-form",
      onsubmit: (e) => {
        e.preventDefault();
        const id = openInput.value.trim();
        if (id) navigate(portHref(id));
      },
    },
    h("label", { for: "open-port" }, "Open or set up a port"),
    openInput,
    h("button", { type: "submit" }, "Open"),
  );
  const empty = h("p", { class: "empty", hidden: true }, "No port matches this filter.");

  const body =
    ports.length === 0
      ? h(
          "div",
          { class: "empty", id: "no-ports" },
          h("p", {}, "No ports yet."),
          h(
            "p",
            { class: "muted" },
            "A port is listed once it has a budget, or usage or holds in its current period. Set one up by its id below.",
          ),
        )
      : h(
          "div",
          { class: "table-wrap" },
          h("table", { class: "ports", id: "ports" }, h("caption", { class: "visually-hidden" }, "Ports and their budgets"), h("thead", {}, h("tr", {}, headers)), tbody),
          empty,
        );

  replace(
    root,
    h(
      "section",
      { "aria-labelledby": "overview-title" },
      h(
        "div",
        { class: "title-row" },
        h("h1", { id: "overview-title", tabindex: "-1" }, "Ports"),
        h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh"),
      ),
      h(
        "div",
        { class: "toolbar" },
        h("label", { for: "filter" }, "Filter"),
        filter,
        h("label", { for: "state-filter" }, "Status"),
        stateSelect,
        count,
      ),
      body,
      openForm,
    ),
  );
  apply();
  return { focus: () => root.querySelector("h1").focus() };
}
