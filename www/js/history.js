// A port's history: who changed what and when (the audit trail), newest
// first, each change with the fields it changed before and after.
import { h, replace, table, time } from "./dom.js";
import { client } from "./client.js";

/** The top-level fields whose value differs between `before` and `after`
 * ("field: old → new"), or the action's outcome when there is no such
 * field to compare (a creation, a deletion). */
export function changedFields(before, after) {
  const plain = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!plain(before) || !plain(after)) {
    if (before === null && after !== null) return ["created"];
    if (after === null && before !== null) return ["removed"];
    return [];
  }
  const show = (v) => (v === undefined ? "none" : JSON.stringify(v));
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== "updatedAt" && k !== "updatedBy");
  return names.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map((k) => `${k}: ${show(before[k])} → ${show(after[k])}`);
}

/** The "History" card of `port`; loads its own data (the last 20 changes). */
export function historySection(port, { onError }) {
  const list = h("div", { id: "history" }, h("p", { class: "muted" }, "Loading…"));

  async function load() {
    try {
      const { records } = await client().audit({ port, limit: 20 });
      replace(
        list,
        table(
          "The port's last changes",
          [
            ["When", (r) => time(r.at)],
            ["Who", (r) => (r.actorName ? `${r.actorName} (${r.actorId})` : r.actorId)],
            ["What", (r) => h("code", {}, r.action)],
            ["Changed", (r) => changedFields(r.before, r.after).join("; ")],
          ],
          records,
          "No change to this port is on record.",
        ),
      );
    } catch (err) {
      if (err.status === 401) return onError(err);
      replace(list, h("p", { class: "field-error", role: "alert" }, err.message));
    }
    return undefined;
  }
  load();

  return h(
    "section",
    { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "History"),
    h("p", { class: "muted small" }, "Every change to this port: who made it (a key's name, or the admin token) and what it changed."),
    list,
    h("button", { type: "button", class: "secondary", id: "refresh-history", onclick: load }, "Refresh history"),
  );
}
