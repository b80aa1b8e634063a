// Alerts of a port: its thresholds (percents of the hard cap; the soft and
// hard caps are always watched) and webhook endpoint, a signed test event,
// and the last deliveries with their status and response code, each with a
// resend. The Worker validates (URL rules, 1..100); its error is shown as
// it says it, next to the field at fault.
import { h, replace, table, time } from "./dom.js";
import { client } from "./client.js";

/** The percents typed as "50, 80 95": numbers as written (the Worker judges them). */
export function parseThresholds(text) {
  return text
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((p) => (/^\d+(\.\d+)?$/.test(p) ? Number(p) : p));
}

const STATUS_LABELS = {
  pending: "pending",
  delivered: "delivered",
  failed: "failed, retrying",
  dead: "dead (every try failed)",
  "no-endpoint": "no endpoint",
  dropped: "endpoint removed",
};

function statusBadge(status) {
  const kind = status === "delivered" ? "ok" : status === "dead" || status === "failed" ? "hard" : "soft";
  return h("span", { class: `badge badge-${kind}`, "data-status": status }, STATUS_LABELS[status] ?? status);
}

/** The "Alerts" card of `port`; loads its own data. */
export function alertsSection(port, { onError }) {
  const thresholds = h("input", { type: "text", id: "alert-thresholds", name: "thresholds", inputmode: "numeric", autocomplete: "off", placeholder: "50, 80, 95, projected", "aria-describedby": "alert-error" });
  const url = h("input", { type: "url", id: "alert-url", name: "webhookUrl", autocomplete: "off", placeholder: "https://hooks.example.com/budget", "aria-describedby": "alert-error" });
  const error = h("p", { class: "field-error", id: "alert-error", role: "alert" });
  const saved = h("p", { role: "status", class: "save-status", id: "alert-status" });
  const secret = h("div", { id: "alert-secret", "aria-live": "polite" });
  const inherits = h("p", { class: "muted small", id: "alert-default" });
  const rotations = h("ul", { class: "small", id: "alert-endpoints" });
  const testResult = h("div", { id: "alert-test-result", "aria-live": "polite" });
  const deliveries = h("div", { id: "alert-deliveries" }, h("p", { class: "muted" }, "Loading…"));

  function fail(err, where = error) {
    if (err.status === 401) return onError(err);
    where.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    return undefined;
  }

  function show(settings) {
    thresholds.value = settings.thresholds.join(", ");
    const urls = settings.webhookUrl === null ? [] : [].concat(settings.webhookUrl);
    url.value = urls.join(" ");
    inherits.textContent = settings.usesDefault
      ? "No endpoint of its own: events go to the default endpoint (PUT /v1/alerts)."
      : urls.length === 0
        ? "No endpoint: events are only logged and listed below."
        : "";
    replace(
      rotations,
      settings.endpoints.map((e) =>
        h(
          "li",
          { "data-endpoint": e.url },
          `${e.url} `,
          e.previousSecretExpiresAt ? h("span", { class: "muted" }, `(the previous secret signs too until ${e.previousSecretExpiresAt}) `) : "",
          h("button", { type: "button", class: "secondary", "data-rotate": e.url, onclick: () => rotate(e.url) }, "Rotate secret"),
        ),
      ),
    );
  }

  async function rotate(endpointUrl) {
    try {
      const res = await client(port).rotateAlertSecret({ webhookUrl: endpointUrl });
      const ends = res.previousSecretExpiresAt;
      replace(
        secret,
        h(
          "div",
          { class: "callout" },
          h("p", {}, h("strong", {}, "Copy the new signing secret now: it is shown only once."), ends ? ` Events carry a signature under the old secret too until ${ends}: switch your receiver before then.` : ""),
          h("p", { class: "small" }, res.webhookUrl),
          h("input", { readonly: true, value: res.secret, class: "key", "data-secret-for": res.webhookUrl, "aria-label": `New signing secret of ${res.webhookUrl}` }),
          h("button", { type: "button", class: "secondary", onclick: () => replace(secret) }, "Done"),
        ),
      );
      show({ ...(await client(port).alerts()) });
    } catch (err) {
      fail(err);
    }
  }

  function showSecrets(settings) {
    const fresh = settings.endpoints.filter((e) => e.secret);
    if (fresh.length === 0) return replace(secret);
    return replace(
      secret,
      h(
        "div",
        { class: "callout" },
        h("p", {}, h("strong", {}, "Copy the signing secret now: it is shown only once."), " Receivers verify X-Budget-Signature with it."),
        fresh.map((e) => [h("p", { class: "small" }, e.url), h("input", { readonly: true, value: e.secret, class: "key", "data-secret-for": e.url, "aria-label": `Signing secret of ${e.url}` })]),
        h("button", { type: "button", class: "secondary", onclick: () => replace(secret) }, "Done"),
      ),
    );
  }

  async function loadDeliveries() {
    try {
      const { deliveries: list } = await client(port).alertDeliveries({ limit: 20 });
      replace(
        deliveries,
        table(
          "Last alert deliveries",
          [
            ["Event", (d) => `${d.type === "threshold-crossed" ? "crossed" : "resolved"} ${d.threshold}${typeof d.threshold === "number" ? " %" : ""}`],
            ["Endpoint", (d) => d.endpoint ?? "none"],
            ["Status", (d) => statusBadge(d.status)],
            ["Response", (d) => (d.responseCode === null ? (d.error ?? "none") : String(d.responseCode)), true],
            ["Tries", (d) => String(d.attempts), true],
            ["Last try", (d) => time(d.updatedAt)],
            ["", (d) => h("button", { type: "button", class: "secondary", "data-resend": d.eventId, onclick: () => resend(d) }, "Resend")],
          ],
          list,
          "No alert has been sent yet.",
        ),
      );
    } catch (err) {
      fail(err, deliveries);
    }
  }

  async function resend(d) {
    try {
      await client(port).resendAlert(d.eventId);
      saved.textContent = `Event ${d.eventId} queued again.`;
    } catch (err) {
      fail(err, saved);
    }
  }

  async function save(e) {
    e.preventDefault();
    error.textContent = "";
    saved.textContent = "";
    const urls = url.value.split(/\s+/).filter(Boolean);
    const update = { thresholds: parseThresholds(thresholds.value), webhookUrl: urls.length === 0 ? null : urls.length === 1 ? urls[0] : urls };
    try {
      const settings = await client(port).setAlerts(update);
      show(settings);
      showSecrets(settings);
      saved.textContent = "Alerts saved.";
    } catch (err) {
      fail(err);
    }
  }

  async function sendTest() {
    replace(testResult, h("p", { class: "muted" }, "Sending…"));
    try {
      const res = await client(port).testAlerts();
      replace(
        testResult,
        h(
          "ul",
          { class: "small" },
          res.deliveries.map((d) =>
            h("li", { "data-test-endpoint": d.endpoint }, `${d.endpoint}: `, d.delivered ? `delivered (${d.responseCode})` : `failed (${d.responseCode ?? d.error})`),
          ),
        ),
      );
      loadDeliveries();
    } catch (err) {
      replace(testResult);
      fail(err, testResult);
    }
  }

  client(port).alerts().then(show, (err) => fail(err));
  loadDeliveries();

  return h(
    "section",
    { class: "card", "aria-labelledby": "alerts-title", id: "alerts" },
    h("h2", { id: "alerts-title" }, "Alerts"),
    h("p", { class: "muted small" }, "Crossing the soft cap, the hard cap or a threshold sends one signed event per period to the webhook, and another when usage falls back under it."),
    h(
      "form",
      { id: "alert-form", novalidate: true, onsubmit: save },
      h("label", { for: "alert-thresholds" }, "Thresholds (percents of the hard cap; \"projected\": the forecast runs out before the reset)"),
      thresholds,
      h("label", { for: "alert-url" }, "Webhook URL (HTTPS; several separated by spaces)"),
      url,
      error,
      h("button", { type: "submit", id: "save-alerts" }, "Save alerts"),
      h("button", { type: "button", class: "secondary", id: "test-alerts", onclick: sendTest }, "Send a test event"),
      saved,
    ),
    inherits,
    rotations,
    secret,
    testResult,
    h("h3", {}, "Last deliveries"),
    h("button", { type: "button", class: "secondary", id: "refresh-deliveries", onclick: loadDeliveries }, "Refresh deliveries"),
    deliveries,
  );
}
