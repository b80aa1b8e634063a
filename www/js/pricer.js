// "What would this call cost?": a model and the call's token estimates,
// priced with the Worker's price for that model (`GET /v1/prices/{model}`,
// on request) by the package's `holdUsd`, the bound the gate holds.
import { h, replace, tokens, usd } from "./dom.js";
import { client } from "./client.js";

/**
 * A small form that prices a call; `onPriced(dollars)` receives the bound
 * (what a reservation with this model would hold). `rules` is the package.
 */
export function callPricer(rules, { onPriced, onError }) {
  const model = h("input", { type: "text", id: "pricer-model", autocomplete: "off", spellcheck: "false", placeholder: "e.g. gpt-4.1-mini", maxlength: 128 });
  const input = h("input", { type: "number", id: "pricer-input", inputmode: "numeric", step: 1, min: 0, placeholder: "input tokens" });
  const output = h("input", { type: "number", id: "pricer-output", inputmode: "numeric", step: 1, min: 0, placeholder: "output tokens" });
  const result = h("output", { id: "pricer-result", class: "help", for: "pricer-model pricer-input pricer-output" });
  const button = h("button", { type: "button", class: "secondary", id: "price-call" }, "Price it");

  async function price() {
    const id = model.value.trim();
    if (!id || input.value.trim() === "" || output.value.trim() === "") {
      replace(result, "Enter the model and both token estimates.");
      return;
    }
    let row;
    button.disabled = true;
    try {
      row = await client().price(id);
    } catch (err) {
      if (err.status === 401) return onError(err);
      replace(result, err.status === 404 ? `${id} has no price: a call for it is refused as unpriced (unless the port has a fallback price).` : err.message);
      return;
    } finally {
      button.disabled = false;
    }
    try {
      const bound = rules.holdUsd(Number(input.value), Number(output.value), row);
      replace(
        result,
        `At most ${usd(bound.usd)} for ${tokens(Number(input.value))} input and ${tokens(Number(output.value))} output tokens of ${id}`,
        row.pricedAs && row.pricedAs !== id ? ` (priced as ${row.pricedAs})` : "",
        ": the gate holds this bound.",
      );
      onPriced(bound.usd);
    } catch (err) {
      replace(result, err.message);
    }
  }
  button.addEventListener("click", price);

  return h(
    "fieldset",
    { class: "pricer", id: "pricer" },
    h("legend", {}, "Or price the call from its tokens"),
    h("label", { for: "pricer-model" }, "Model"),
    model,
    h("label", { for: "pricer-input" }, "Input tokens"),
    input,
    h("label", { for: "pricer-output" }, "Output tokens"),
    output,
    button,
    result,
  );
}
