// A port's keys: the list, revoking one, and issuing one (shown once).
import { h, replace, time, table } from "./dom.js";
import { client } from "./client.js";

/** The "Port keys" card of `port` from its status. */
export function keysSection(port, status, { onError }) {
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
      await client(port).revokeKey(key.keyId);
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
      const res = await client(port).issueKey();
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

  return h(
    "section",
    { class: "card", "aria-labelledby": "keys-title" },
    h("h2", { id: "keys-title" }, "Port keys"),
    h("p", { class: "muted small" }, "A port key may check, reserve and record usage for this port only."),
    keyList,
    issued,
    h("button", { type: "button", id: "issue-key", onclick: issue }, "Issue a key"),
    keyStatus,
  );
}
