// A port's gateway settings: strict mode, the default output bound, the
// models it may call, and the actions at its caps (pass, downgrade to a
// cheaper model, throttle to n calls a minute, refuse), the port's and each
// feature's own (at the feature's cap). Saved whole with
// If-Match on the version shown; the Worker validates and its error is
// shown as it says it, naming the field.
import { h, replace } from "./dom.js";
import { client } from "./client.js";

/** "a=b, c*=d" as `{a: "b", "c*": "d"}`. */
export function parseModelMap(text) {
  const map = {};
  for (const pair of text.split(/[\s,;]+/).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at < 0) map[pair] = "";
    else map[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return map;
}

const mapText = (map) => Object.entries(map ?? {}).map(([from, to]) => `${from}=${to}`).join(", ");
const numberOrText = (text) => (/^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text);

const SOFT_CHOICES = [["", "pass (default)"], ["pass", "pass"], ["downgrade", "downgrade"], ["throttle", "throttle"], ["refuse", "refuse"]];
const HARD_CHOICES = [["", "refuse (default)"], ["downgrade", "downgrade"], ["refuse", "refuse"]];

/** The inputs of one cap's action (`prefix` tells a feature's apart). */
function actionFields(cap, choices, prefix = "", whose = "the") {
  const id = `gw-${prefix}${cap}`;
  const action = h("select", { id: `${id}-action`, name: `${cap}Action` }, choices.map(([value, label]) => h("option", { value }, label)));
  const models = h("input", { type: "text", id: `${id}-models`, autocomplete: "off", placeholder: "gpt-4.1=gpt-4.1-mini, claude-sonnet-*=claude-haiku-4-5" });
  const rate = cap === "soft" ? h("input", { type: "text", id: `${id}-rate`, inputmode: "numeric", autocomplete: "off", placeholder: "60" }) : null;
  const show = (value) => {
    action.value = value?.action ?? "";
    models.value = mapText(value?.models);
    if (rate) rate.value = value?.callsPerMinute ?? "";
  };
  const read = () => {
    switch (action.value) {
      case "":
        return undefined;
      case "downgrade":
        return { action: "downgrade", models: parseModelMap(models.value) };
      case "throttle":
        return { action: "throttle", callsPerMinute: numberOrText(rate.value) };
      default:
        return { action: action.value };
    }
  };
  const label = cap === "soft" ? `Above ${whose} soft cap` : `At ${whose} hard cap`;
  const nodes = [
    h("label", { for: action.id }, label),
    action,
    h("label", { for: models.id }, "Downgrades (model=cheaper model; a prefix ends in *)"),
    models,
    rate ? [h("label", { for: rate.id }, "Throttle: calls a minute"), rate] : null,
  ];
  return { nodes, show, read };
}

/** One feature's actions at its own cap: its id and both caps' inputs. */
function featureFields(n, feature, actions) {
  const name = h("input", { type: "text", id: `gw-feature-${n}`, autocomplete: "off", placeholder: "chat", value: feature });
  const soft = actionFields("soft", SOFT_CHOICES, `f${n}-`, "the feature's");
  const hard = actionFields("hard", HARD_CHOICES, `f${n}-`, "the feature's");
  soft.show(actions?.onSoftCap);
  hard.show(actions?.onHardCap);
  const node = h("fieldset", { class: "gw-feature" }, h("label", { for: name.id }, "Feature (as its cap names it)"), name, soft.nodes, hard.nodes);
  const read = () => {
    const entry = {};
    const onSoftCap = soft.read();
    const onHardCap = hard.read();
    if (onSoftCap) entry.onSoftCap = onSoftCap;
    if (onHardCap) entry.onHardCap = onHardCap;
    const id = name.value.trim();
    return id || Object.keys(entry).length ? [id, entry] : null;
  };
  return { node, read };
}

/** The "Gateway settings" card of `port`; loads its own data. */
export function gatewaySection(port, { onError }) {
  const strict = h("select", { id: "gw-strict" }, h("option", { value: "" }, "the deployment's"), h("option", { value: "on" }, "on"), h("option", { value: "off" }, "off"));
  const maxTokens = h("input", { type: "text", id: "gw-max-tokens", inputmode: "numeric", autocomplete: "off" });
  const models = h("input", { type: "text", id: "gw-models", autocomplete: "off", placeholder: "gpt-4.1*, claude-*" });
  const soft = actionFields("soft", SOFT_CHOICES);
  const hard = actionFields("hard", HARD_CHOICES);
  const featureList = h("div", { id: "gw-features" });
  let features = [];
  const addFeature = (feature = "", actions = undefined) => {
    const fields = featureFields(features.length, feature, actions);
    features.push(fields);
    featureList.append(fields.node);
  };
  const addButton = h("button", { type: "button", class: "secondary", id: "gw-add-feature", onclick: () => addFeature() }, "Add a feature's actions");
  const defaults = h("p", { class: "muted small", id: "gw-defaults" });
  const error = h("p", { class: "field-error", id: "gw-error", role: "alert" });
  const status = h("p", { role: "status", class: "save-status", id: "gw-status" });
  let version = null;

  function fail(err) {
    if (err.status === 401) return onError(err);
    error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    return undefined;
  }

  function show(settings) {
    version = settings.updatedAt;
    strict.value = settings.strict === undefined ? "" : settings.strict ? "on" : "off";
    maxTokens.value = settings.defaultMaxTokens ?? "";
    models.value = (settings.models ?? []).join(", ");
    soft.show(settings.onSoftCap);
    hard.show(settings.onHardCap);
    features = [];
    replace(featureList);
    for (const [feature, actions] of Object.entries(settings.features ?? {})) addFeature(feature, actions);
    const d = settings.defaults;
    replace(
      defaults,
      `Left empty: the deployment's (strict ${d.strict ? "on" : "off"}, output bound ${d.defaultMaxTokens}, `,
      d.models ? `models ${d.models.join(", ")}` : "any model",
      `). ${settings.updatedAt ? `Saved ${settings.updatedAt} by ${settings.updatedBy ?? "?"}.` : "Never saved."}`,
    );
  }

  async function save(e) {
    e.preventDefault();
    error.textContent = "";
    status.textContent = "";
    const body = {};
    if (strict.value) body.strict = strict.value === "on";
    if (maxTokens.value.trim()) body.defaultMaxTokens = numberOrText(maxTokens.value);
    if (models.value.trim()) body.models = models.value.split(/[\s,;]+/).filter(Boolean);
    const onSoftCap = soft.read();
    const onHardCap = hard.read();
    if (onSoftCap) body.onSoftCap = onSoftCap;
    if (onHardCap) body.onHardCap = onHardCap;
    const own = features.map((f) => f.read()).filter(Boolean);
    if (own.length) body.features = Object.fromEntries(own);
    try {
      const saved = await client(port).saveGatewaySettings(body, version ? { ifMatch: version } : undefined);
      show(saved);
      status.textContent = "Gateway settings saved: the port's next call is judged under them.";
    } catch (err) {
      fail(err);
    }
  }

  client(port).gatewaySettings().then(show, fail);

  return h(
    "section",
    { class: "card", "aria-labelledby": "gateway-title", id: "gateway" },
    h("h2", { id: "gateway-title" }, "Gateway settings"),
    h("p", { class: "muted small" }, "How the LLM gateway treats this port's calls, and what it does at the caps."),
    h(
      "form",
      { id: "gateway-form", novalidate: true, onsubmit: save },
      h("label", { for: "gw-strict" }, "Strict mode"),
      strict,
      h("label", { for: "gw-max-tokens" }, "Output bound for calls without one"),
      maxTokens,
      h("label", { for: "gw-models" }, "Models the port may call (names, or prefixes ending in *)"),
      models,
      soft.nodes,
      hard.nodes,
      h("p", { class: "muted small" }, "A feature with a cap of its own may have its own actions: they judge its calls when its cap is crossed further than the port's."),
      featureList,
      addButton,
      error,
      h("button", { type: "submit", id: "save-gateway" }, "Save gateway settings"),
      status,
    ),
    defaults,
  );
}
