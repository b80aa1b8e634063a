// A port's standing in words: the banner sentence of a cap status and the
// labelled numbers of the summary, shared by the port page and its editor.
import { h, instant } from "./dom.js";
import { amounts } from "./units.js";

/** The sentence a port's banner says for a cap status (server JSON or the package's object). */
export function bannerText(status) {
  const a = amounts(status);
  switch (status.state) {
    case "disabled":
      return "Budget disabled: no cap is enforced; usage is still counted.";
    case "hard":
      return `Hard cap reached: calls are refused until ${instant(status.resetsAt)}.`;
    case "soft":
      return `Over the soft cap: calls still pass but are flagged. ${a.format(a.remaining)} left before the hard cap.`;
    default:
      return `Within budget: ${a.format(a.remaining)} left before the hard cap.`;
  }
}

/** The banner of a cap status, its state in `data-state`. */
export function banner(status, id) {
  return h("p", { class: `banner banner-${status.state}`, id, "data-state": status.state }, bannerText(status));
}

/** A definition list entry whose value carries `data-field` for tests and scripts. */
export function stat(label, field, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-field": field }, value));
}

