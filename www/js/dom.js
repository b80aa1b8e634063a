// DOM helpers. Everything the page shows from data goes through text nodes
// (never innerHTML), so port ids, features, models and user ids cannot
// inject markup, whatever they contain.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Creates an element: `h("a", { href: "#/" }, "Back")`. Attributes whose
 * value is null, undefined or false are left out; `on*` functions become
 * listeners; children may be strings, numbers, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** Like `h`, for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const tokenFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const usdFormat = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 2,
  maximumFractionDigits: 6,
});
const percentFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const instantFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

/** A token count for people: `1,234,567`; `unlimited` for null/Infinity. */
export function tokens(n) {
  if (n === null || n === undefined || n === Infinity) return "unlimited";
  return tokenFormat.format(n);
}

/** Dollars for people, exact to the micro-dollar: `$12.50`, `$0.000125`; `unpriced` for null. */
export function usd(n) {
  if (n === null || n === undefined) return "unpriced";
  if (n === Infinity) return "unlimited";
  return usdFormat.format(n);
}

/** A percentage with at most one decimal. */
export function percent(n) {
  return `${percentFormat.format(n)} %`;
}

/** An instant in UTC (periods are UTC windows, so this is what resets mean). */
export function instant(value) {
  return `${instantFormat.format(new Date(value))} UTC`;
}

/** A UTC day label such as `Nov 3`. */
export function day(date) {
  return dayFormat.format(new Date(date));
}

/** How far away an instant is: `in 2 d 4 h`, `in 35 min`, `12 min ago`. */
export function relative(value, now = Date.now()) {
  const ms = new Date(value).getTime() - now;
  const abs = Math.abs(ms);
  const min = Math.round(abs / 60000);
  let text;
  if (min < 1) text = "less than a minute";
  else if (min < 60) text = `${min} min`;
  else if (min < 48 * 60) text = `${Math.floor(min / 60)} h ${min % 60} min`;
  else text = `${Math.floor(min / 1440)} d ${Math.floor((min % 1440) / 60)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** A `<time>` element showing an instant, its ISO value in `datetime`. */
export function time(value, { withRelative = false } = {}) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "never");
  const iso = new Date(value).toISOString();
  return h(
    "time",
    { datetime: iso, title: iso },
    instant(value),
    withRelative ? h("span", { class: "muted" }, ` (${relative(value)})`) : null,
  );
}

/** The state badge of a cap status. */
export function badge(state) {
  const labels = { disabled: "disabled", ok: "ok", soft: "over soft cap", hard: "at hard cap" };
  return h("span", { class: `badge badge-${state}`, "data-state": state }, labels[state] ?? state);
}

/** A table of `rows`, one column per [label, cell(row), numeric]; `emptyText` when there are none. */
export function table(caption, columns, rows, emptyText) {
  if (rows.length === 0) return h("p", { class: "empty" }, emptyText);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([label, , numeric]) => h("th", { scope: "col", class: numeric ? "num" : null }, label)))),
      h(
        "tbody",
        {},
        rows.map((r) => h("tr", {}, columns.map(([, cell, numeric]) => h("td", { class: numeric ? "num" : null }, cell(r))))),
      ),
    ),
  );
}
