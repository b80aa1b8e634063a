// The admin page: sign-in, routing between the overview and port pages, and
// the loading, error and signed-out states around them.
import { h, replace } from "./dom.js";
import { client, storedToken, storeToken, forgetToken } from "./client.js";
import { currentRoute } from "./routes.js";
import { renderOverview } from "./overview.js";

const main = document.getElementById("main");
const signOutButton = document.getElementById("sign-out");
const pricesLink = document.getElementById("nav-prices");
let generation = 0; // a newer navigation makes the answers of an older one moot

function setBusy(text) {
  main.setAttribute("aria-busy", "true");
  delete main.dataset.ready;
  replace(main, h("p", { class: "loading", id: "loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), text));
}

function done() {
  main.removeAttribute("aria-busy");
}

/** The sign-in form; `notice` explains why it is shown (a refused token, a lost session). */
function showSignIn(notice) {
  done();
  signOutButton.hidden = true;
  pricesLink.hidden = true;
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "sign-in-error token-help",
  });
  const error = h("p", { class: "field-error", id: "sign-in-error", role: "alert" }, notice ?? "");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      id: "sign-in",
      class: "card narrow",
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) {
          error.textContent = "Enter the admin token.";
          input.focus();
          return;
        }
        button.disabled = true;
        error.textContent = "";
        try {
          // The token is kept only once the Worker has accepted it.
          await client(undefined, token).ports();
          storeToken(token);
          route();
        } catch (err) {
          button.disabled = false;
          error.textContent =
            err.status === 401
              ? "That token was not accepted (401 unauthorized). Check it and try again: it is the ADMIN_TOKEN secret (locally in .dev.vars)."
              : err.status === 403
                ? "That is not the admin token (403 forbidden): a port key cannot manage budgets. Use the ADMIN_TOKEN secret."
                : err.message;
          input.focus();
          input.select();
        }
      },
    },
    h("h1", { tabindex: "-1" }, "Sign in"),
    h("label", { for: "token" }, "Admin token"),
    input,
    h("p", { class: "help", id: "token-help" }, "Kept in this tab only (session storage); closing the tab signs you out."),
    error,
    button,
  );
  replace(main, form);
  input.focus();
}

/** An error view with a way out; a refused token goes back to sign-in. */
function showError(err, retry) {
  if (err.kind === "unauthorized" && err.status === 401) {
    forgetToken();
    showSignIn("The Worker no longer accepts this tab's token. Sign in again.");
    return;
  }
  done();
  replace(
    main,
    h(
      "div",
      { class: "error-state card narrow", role: "alert", id: "error" },
      h("h1", { tabindex: "-1" }, err.kind === "unreachable" ? "The Worker is unreachable" : "Something went wrong"),
      h("p", {}, err.message),
      h("p", {}, h("button", { type: "button", onclick: retry }, "Try again"), " ", h("a", { href: "#/" }, "All ports")),
    ),
  );
  main.querySelector("h1").focus();
}

/**
 * Marks a view as interactive: a performance mark for the benchmark, and
 * `data-ready` on <main> for tests (whose faked clock also fakes marks).
 */
function ready(view) {
  main.dataset.ready = view;
  performance.mark(`ai-budget:${view}-interactive`);
}

async function showOverview(focus) {
  const mine = ++generation;
  setBusy("Loading ports…");
  try {
    const [{ ports }, groups] = await Promise.all([client().ports(), import("./groups.js").then(async (m) => [m, await m.loadGroups()])]);
    if (mine !== generation) return;
    done();
    const view = renderOverview(main, ports, {
      refresh: () => showOverview(true),
      navigate: (href) => (location.hash = href),
    });
    // Groups above the ports.
    const [{ groupsSection }, loaded] = groups;
    const section = groupsSection(loaded);
    if (section) main.querySelector("section .toolbar")?.before(section);
    document.title = "Ports · ai-budget";
    if (focus) view.focus();
    ready("overview");
  } catch (err) {
    if (mine === generation) showError(err, () => showOverview(true));
  }
}

/**
 * Loads a page that needs the rules (wasm) and its own module, in parallel
 * with its data, then renders it; `load()` gives `[data, module]`, and
 * `render(module, data, rules)` draws it and returns the view.
 */
async function showWithRules({ busy, load, render, title, retry, focus, flash }) {
  const mine = ++generation;
  setBusy(busy);
  try {
    const [[data, module], rules] = await Promise.all([load(), import("./rules.js").then((m) => m.loadRules())]);
    if (mine !== generation) return;
    done();
    const view = render(module, data, rules);
    document.title = `${title} · ai-budget`;
    if (focus) view.focus();
    // After a save the page is redrawn: keep the keyboard where it was.
    else if (flash) document.querySelector("#save, #save-price, #group-save")?.focus();
    ready(view.name);
  } catch (err) {
    if (mine === generation) showError(err, retry);
  }
}

function showPort(port, focus, flash) {
  const retry = () => showPort(port, true);
  return showWithRules({
    busy: `Loading port ${port}…`,
    load: () => Promise.all([client(port).status(), import("./port.js")]),
    render: ({ renderPort }, status, rules) => ({
      name: "port",
      ...renderPort(main, port, status, rules, {
        reload: (message) => showPort(port, false, message),
        onError: (err) => showError(err, retry),
        flash,
      }),
    }),
    title: port,
    retry,
    focus,
    flash,
  });
}

function showGroup(group, focus, flash) {
  const retry = () => showGroup(group, true);
  return showWithRules({
    busy: `Loading group ${group}…`,
    load: () => Promise.all([client().groupStatus(group), import("./groups.js")]),
    render: ({ renderGroup }, status, rules) => ({
      name: "group",
      ...renderGroup(main, status, rules, {
        reload: (message) => showGroup(group, false, message),
        onError: (err) => showError(err, retry),
        flash,
      }),
    }),
    title: `Group ${group}`,
    retry,
    focus,
    flash,
  });
}

function showPrices(focus, flash) {
  const retry = () => showPrices(true);
  return showWithRules({
    busy: "Loading prices…",
    load: () => Promise.all([client().prices(), import("./prices.js")]),
    render: ({ renderPrices }, prices, rules) => ({
      name: "prices",
      ...renderPrices(main, prices, rules, {
        reload: (message) => showPrices(false, message),
        onError: (err) => showError(err, retry),
        flash,
      }),
    }),
    title: "Prices",
    retry,
    focus,
    flash,
  });
}

function route(focus = true) {
  if (!storedToken()) {
    showSignIn();
    return;
  }
  signOutButton.hidden = false;
  pricesLink.hidden = false;
  const r = currentRoute();
  if (r.view === "port") showPort(r.port, focus);
  else if (r.view === "group") showGroup(r.group, focus);
  else if (r.view === "prices") showPrices(focus);
  else showOverview(focus);
}

signOutButton.addEventListener("click", () => {
  forgetToken();
  generation++;
  location.hash = "#/";
  showSignIn("Signed out.");
});
// The skip link moves focus without touching the hash (the hash is the route).
document.querySelector(".skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => route(true));
route(false);
