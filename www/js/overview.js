// The overview: every port with its cap status, used vs caps as a bar and
// its reset time; sortable by any column, filterable by id and state.
import { h, replace, tokens, percent, time, badge } from "./dom.js";
import { portHref } from "./routes.js";

const SEVERITY = { hard: 3, soft: 2, ok: 1, disabled: 0 };

/** Sort keys, each a function of a port entry of `GET /v1/ports`. */
const COLUMNS = [
  { key: "port", label: "Port", value: (p) => p.port },
  { key: "state", label: "Status", value: (p) => SEVERITY[p.capStatus.state] ?? -1 },
  { key: "used", label: "Used", value: (p) => p.capStatus.usedTokens, numeric: true },
  { key: "share", label: "Of hard cap", value: (p) => (p.budget.enabled ? p.capStatus.hardPercent : -1), numeric: true },
  { key: "soft", label: "Soft cap", value: (p) => p.budget.softCapTokens, numeric: true },
  { key: "hard", label: "Hard cap", value: (p) => p.budget.hardCapTokens, numeric: true },
  { key: "remaining", label: "Remaining", value: (p) => p.capStatus.remaining ?? Infinity, numeric: true },
  { key: "resets", label: "Resets", value: (p) => p.capStatus.resetsAt },
];

/** How much of the caps a port uses, as a bar with marks at the soft and hard cap. */
export function capBar(status, enabled) {
  const scale = Math.max(status.hardCapTokens, status.usedTokens, 1);
  const pct = (v) => `${Math.min(100, (v / scale) * 100).toFixed(2)}%`;
  const state = enabled ? status.state : "disabled";
  const label = enabled
    ? `${tokens(status.usedTokens)} of ${tokens(status.hardCapTokens)} tokens (hard cap); soft cap ${tokens(status.softCapTokens)}`
    : `${tokens(status.usedTokens)} tokens used; budget disabled`;
  const fill = h("span", { class: `cap-bar-fill fill-${state}` });
  fill.style.width = pct(status.usedTokens);
  const soft = h("span", { class: "cap-bar-mark mark-soft", title: "soft cap" });
  soft.style.left = pct(status.softCapTokens);
  const hard = h("span", { class: "cap-bar-mark mark-hard", title: "hard cap" });
  hard.style.left = pct(status.hardCapTokens);
  return h("span", { class: "cap-bar", role: "img", "aria-label": label, title: label }, fill, enabled ? [soft, hard] : null);
}

function row(p) {
  const st = p.capStatus;
  return h(
    "tr",
    { "data-port": p.port },
    h("th", { scope: "row" }, h("a", { href: portHref(p.port), class: "port-link" }, p.port)),
    h("td", {}, badge(st.state)),
    h("td", { class: "num", "data-field": "usedTokens" }, tokens(st.usedTokens)),
    h("td", { class: "bar-cell" }, capBar(st, p.budget.enabled), p.budget.enabled ? h("span", { class: "muted small" }, percent(st.hardPercent)) : null),
    h("td", { class: "num" }, tokens(p.budget.softCapTokens)),
    h("td", { class: "num" }, tokens(p.budget.hardCapTokens)),
    h("td", { class: "num", "data-field": "remaining" }, tokens(st.remaining)),
    h("td", {}, time(st.resetsAt)),
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
        (view.state === "all" || p.capStatus.state === view.state),
    );
    shown.sort((a, b) => {
      const va = col.value(a);
      const vb = col.value(b);
      const order = va < vb ? -1 : va > vb ? 1 : a.port < b.port ? -1 : a.port > b.port ? 1 : 0;
      return view.descending && va !== vb ? -order : order;
    });
    tbody.replaceChildren(...shown.map((p) => rows.get(p.port)));
    headers.forEach((th, i) => {
      const key = COLUMNS[i].key;
      th.setAttribute("aria-sort", key === view.sort ? (view.descending ? "descending" : "ascending") : "none");
    });
    count.textContent =
      shown.length === ports.length
        ? `${ports.length} port${ports.length === 1 ? "" : "s"}`
        : `Showing ${shown.length} of ${ports.length} ports`;
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
