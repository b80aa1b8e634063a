// The admin page (issue 5) in Debian's Chromium against the built Worker in
// workerd with local D1 and KV: what it shows equals what the API answers,
// the preview runs in the browser with the package's rules and sends
// nothing, Save goes through the API, errors read like the core's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as rules from "ai-budget";
import { startSite, ADMIN_TOKEN, ROOT, CLOCK } from "./server.mjs";
import { launch, newPage, signIn, openPort, recordRequests, parseTokens, parseUsd, shownTokens } from "./browser.mjs";

// Screenshots are test artifacts (under target/); scripts/screenshots.sh
// writes the README's copies into docs/screenshots instead.
const SCREENSHOTS = process.env.SCREENSHOTS_DIR ?? join(ROOT, "target", "screenshots");
const HOSTILE_FEATURE = `<img src=x onerror="window.__injected=1">`;

let site;
let browser;

/** The seeded ports: one of each cap state, usage in two features, one hold. */
async function seed(api) {
  await api.setBudget("acme", { enabled: true, softCapTokens: 3000, hardCapTokens: 10000, period: "month" });
  // Backfilled a few days back (never before this month) so the daily chart has several days.
  const daysAgo = (n) => new Date(Math.max(rules.periodStart("month", CLOCK.date).getTime(), CLOCK.ms - n * 86_400_000)).toISOString();
  await api.recordUsage("acme", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini",
    inputTokens: 1500, outputTokens: 700, userId: "u-7", requestId: "acme-1", occurredAt: daysAgo(3),
  });
  await api.recordUsage("acme", {
    feature: "ocr", provider: "anthropic", model: "claude-sonnet",
    inputTokens: 900, outputTokens: 100, requestId: "acme-2", occurredAt: daysAgo(1),
  });
  await api.recordUsage("acme", {
    feature: HOSTILE_FEATURE, provider: "openai", model: "gpt-4.1-mini",
    inputTokens: 40, outputTokens: 2, requestId: "acme-3",
  });
  await api.reserve("acme", { estimatedTokens: 500, feature: "chat", requestId: "acme-hold" });
  await api.setBudget("beta", { enabled: false });
  await api.recordUsage("beta", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 10, outputTokens: 5, requestId: "beta-1",
  });
  await api.setBudget("capped", { enabled: true, softCapTokens: 100, hardCapTokens: 200, period: "day" });
  await api.recordUsage("capped", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 150, outputTokens: 60, requestId: "capped-1",
  });
  await api.setBudget("gamma", { enabled: true, softCapTokens: 1000, hardCapTokens: 5000, period: "week" });
  await api.setBudget("delta", { enabled: true, softCapTokens: 1000, hardCapTokens: 5000, period: "month" });
  await api.setBudget("keys", { enabled: true });
}

before(async () => {
  site = await startSite();
  await seed(site.api);
  // The port list shows holds as each port's gate last reported them (a
  // snapshot batched within about a second): wait until it has acme's, so
  // the page and the API are compared on the same report.
  for (let i = 0; ; i++) {
    const { ports } = await site.api.ports();
    if (ports.find((p) => p.port === "acme")?.heldTokens === 500) break;
    if (i >= 100) throw new Error("the port list never showed acme's hold");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  browser = await launch();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

test("signing in lists every port with the API's cap status and usage, and keeps the token out of the URL", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  const { ports } = await site.api.ports();
  assert.ok(ports.length >= 5);
  const rows = await page.$$eval("#ports tbody tr", (trs) =>
    trs.map((tr) => ({
      port: tr.dataset.port,
      state: tr.querySelector("[data-state]").dataset.state,
      used: tr.querySelector('[data-field="usedTokens"]').textContent,
      remaining: tr.querySelector('[data-field="remaining"]').textContent,
      resets: tr.querySelector("time").getAttribute("datetime"),
    })),
  );
  assert.deepEqual(
    rows.map((r) => r.port).sort(),
    ports.map((p) => p.port).sort(),
  );
  for (const p of ports) {
    const row = rows.find((r) => r.port === p.port);
    assert.equal(row.state, p.capStatus.state, p.port);
    assert.equal(parseTokens(row.used), p.capStatus.usedTokens, p.port);
    assert.equal(parseTokens(row.remaining), p.capStatus.remaining, p.port);
    assert.equal(row.resets, p.capStatus.resetsAt, p.port);
  }
  assert.ok(!page.url().includes(ADMIN_TOKEN));
  assert.equal(await page.evaluate(() => sessionStorage.getItem("ai-budget.adminToken")), ADMIN_TOKEN);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  await page.screenshot({ path: join(SCREENSHOTS, "overview.png"), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the page and its assets carry security headers, and the page works under its Content-Security-Policy", async () => {
  for (const path of ["/", "/index.html", "/js/app.js", "/app.css", "/vendor/ai-budget/ai_budget_bg.wasm"]) {
    const res = await fetch(`${site.origin}${path}`);
    assert.equal(res.status, 200, path);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|https?:/, `${path}: no inline script and no other origin`);
    assert.equal(res.headers.get("x-frame-options"), "DENY", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
  }
  assert.equal((await fetch(`${site.origin}/_headers`)).status, 404, "the headers file itself is not served");
  // The port page runs the package's wasm under that policy; any refusal is a page error.
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "acme");
  await page.fill("#estimatedTokens", "100");
  assert.equal(await page.getAttribute("#check-answer [data-ok]", "data-ok"), "true");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a wrong token shows a clear error, keeps nothing and shows no data", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin, "not-the-admin-token", { wait: false });
  await page.waitForFunction(() => document.querySelector("#sign-in-error")?.textContent.length > 0);
  assert.match(await page.textContent("#sign-in-error"), /not accepted \(401 unauthorized\)/);
  assert.equal(await page.$("#ports"), null);
  assert.doesNotMatch(await page.textContent("main"), /acme|beta/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a port key is refused at sign-in as not the admin token, and nothing is kept", async () => {
  const { json } = await site.api.call("POST", "/v1/ports/beta/keys");
  const page = await newPage(browser);
  await signIn(page, site.origin, json.key, { wait: false });
  await page.waitForFunction(() => document.querySelector("#sign-in-error")?.textContent.length > 0);
  assert.match(await page.textContent("#sign-in-error"), /not the admin token \(403 forbidden\)/);
  assert.equal(await page.$("#ports"), null);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.context().close();
  await site.api.call("DELETE", `/v1/ports/beta/keys/${json.keyId}`);
});

test("the overview filters by port id and by status, and sorts by a column", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  const shown = () => page.$$eval("#ports tbody tr", (trs) => trs.map((tr) => tr.dataset.port));
  await page.fill("#filter", "ca");
  assert.deepEqual(await shown(), ["capped"]);
  await page.fill("#filter", "");
  await page.selectOption("#state-filter", "disabled");
  assert.deepEqual(await shown(), ["beta"]);
  await page.selectOption("#state-filter", "all");
  await page.click('button[data-sort="port"]');
  const byId = await shown();
  assert.deepEqual(byId, [...byId].sort());
  await page.click('button[data-sort="port"]');
  assert.deepEqual(await shown(), [...byId].reverse());
  await page.context().close();
});

test("the overview is usable by keyboard: sort with Enter, open a port with Enter", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await page.focus('button[data-sort="used"]');
  await page.keyboard.press("Enter");
  const first = await page.$eval("#ports tbody tr", (tr) => tr.dataset.port);
  const { ports } = await site.api.ports();
  const most = ports.reduce((a, b) => (b.capStatus.usedTokens > a.capStatus.usedTokens ? b : a));
  assert.equal(first, most.port);
  assert.equal(await page.getAttribute('th:has(button[data-sort="used"])', "aria-sort"), "descending");
  await page.focus('tr[data-port="acme"] a.port-link');
  await page.keyboard.press("Enter");
  await page.waitForSelector("#budget-form");
  assert.equal(await page.textContent("#port-id"), "acme");
  await page.context().close();
});

test("a port page shows the same numbers as the API's status", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "acme");
  const status = await site.api.status("acme");
  for (const name of ["gateTokens", "usedTokens", "calls", "heldTokens", "expiredHoldTokens"]) {
    assert.equal(await shownTokens(page, name), status.usage[name], name);
  }
  assert.equal(await shownTokens(page, "remaining"), status.capStatus.remaining);
  assert.equal(await shownTokens(page, "softCapTokens"), status.budget.softCapTokens);
  assert.equal(await shownTokens(page, "hardCapTokens"), status.budget.hardCapTokens);
  assert.equal(await page.getAttribute('#summary [data-field="resetsAt"] time', "datetime"), status.resetsAt);
  assert.equal(await page.getAttribute("#banner", "data-state"), status.capStatus.state);

  const breakdown = await page.$$eval("#breakdown tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(
    breakdown.map(([feature, tokens, calls, cost]) => ({ feature, tokens: parseTokens(tokens), calls: parseTokens(calls), costUsd: parseUsd(cost) })),
    status.breakdown,
  );
  const ledger = await page.$$eval("#ledger tbody tr", (trs) => trs.map((tr) => [tr.cells[8].textContent, tr.cells[9].textContent]));
  assert.deepEqual(
    ledger.map(([cost, requestId]) => [parseUsd(cost), requestId]),
    status.recentLedger.map((r) => [r.costUsd, r.requestId]),
  );
  const holds = await page.$$eval("#reservations tbody tr", (trs) => trs.map((tr) => tr.cells[0].textContent));
  assert.deepEqual(holds, status.reservations.map((r) => r.id));
  // The daily chart has one column per day of the period.
  assert.equal(await page.$$eval("svg .bar-day", (bars) => bars.length), status.daily.length);

  await page.screenshot({ path: join(SCREENSHOTS, "port.png"), fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("ports' and features' text from the data is shown as text, never run as markup", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "acme");
  const cells = await page.$$eval("#breakdown tbody td:first-child", (tds) => tds.map((td) => td.textContent));
  assert.ok(cells.includes(HOSTILE_FEATURE));
  assert.equal(await page.$$eval("main img", (imgs) => imgs.length), 0);
  assert.equal(await page.evaluate(() => window.__injected), undefined);
  await page.context().close();
});

test("editing the hard cap recomputes status, remaining, reset and banner in the browser with no request", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "acme");
  const status = await site.api.status("acme");
  const requests = recordRequests(page);

  const hardCap = status.usage.gateTokens; // exactly at the cap: the gate refuses
  await page.fill("#hardCapTokens", String(hardCap));
  const budget = { ...pick(status.budget), hardCapTokens: hardCap };
  const expected = rules.capStatus(budget, status.usage.gateTokens, CLOCK.date);
  assert.equal(expected.state, "hard");
  assert.equal(await page.getAttribute("#preview-banner", "data-state"), expected.state);
  assert.match(await page.textContent("#preview-banner"), /Hard cap reached/);
  assert.equal(await shownTokens(page, "preview-remaining", "#preview"), expected.remaining);
  assert.equal(
    await page.getAttribute('#preview [data-field="preview-resets"] time', "datetime"),
    expected.resetsAt.toISOString(),
  );
  // The saved figures do not move until Save.
  assert.equal(await page.getAttribute("#banner", "data-state"), status.capStatus.state);

  // Switching the period moves the reset to the new period's end and counts
  // what the gate counts today (the Worker's figure for a day), still locally.
  await page.selectOption("#period", "day");
  assert.equal(
    await page.getAttribute('#preview [data-field="preview-resets"] time', "datetime"),
    rules.periodEnd("day", CLOCK.date).toISOString(),
  );
  const today = status.usageByPeriod.day.gateTokens;
  // The seed backfills rows up to three days back within the month, so the
  // day counts less than the month unless today is the month's first day.
  const firstOfMonth = rules.periodStart("month", CLOCK.date).getTime() === rules.periodStart("day", CLOCK.date).getTime();
  if (firstOfMonth) assert.equal(today, status.usage.gateTokens, "on the 1st the day is the whole month so far");
  else assert.ok(today < status.usage.gateTokens, "the seeded month has usage before today");
  assert.equal(await shownTokens(page, "preview-used", "#preview"), today);
  assert.equal(
    await page.getAttribute("#preview-banner", "data-state"),
    rules.capStatus({ ...budget, period: "day" }, today, CLOCK.date).state,
  );
  assert.deepEqual(requests, []);
  await page.context().close();
});

test("\"would this call pass?\" answers as the Worker's gate does, without a request", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "acme");
  const requests = recordRequests(page);
  const answers = [];
  for (const estimate of [100, 6000, 9000]) {
    await page.fill("#estimatedTokens", String(estimate));
    answers.push({
      ok: (await page.getAttribute("#check-answer [data-ok]", "data-ok")) === "true",
      reason: await page.getAttribute("#check-answer [data-ok]", "data-reason"),
    });
  }
  assert.deepEqual(requests, []);
  for (const [i, estimate] of [100, 6000, 9000].entries()) {
    const { json } = await site.api.call("POST", "/v1/ports/acme/check", { estimatedTokens: estimate });
    assert.deepEqual(answers[i], { ok: json.ok, reason: json.reason ?? null }, `estimate ${estimate}`);
  }
  assert.ok(answers.some((a) => a.ok) && answers.some((a) => !a.ok), "both answers are exercised");
  await page.screenshot({ path: join(SCREENSHOTS, "port-call-check.png"), fullPage: false });
  // A fractional estimate is the core's error, shown next to the field.
  await page.fill("#estimatedTokens", "1.5");
  const saved = pick((await site.api.status("acme")).budget);
  const err = coreError(() => rules.evaluateBudget(saved, 0, 1.5));
  assert.equal(await page.textContent("#estimatedTokens-error"), err.message);
  await page.context().close();
});

test("Save sends one partial update and the new cap persists across a reload", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "gamma");
  const requests = recordRequests(page);
  await page.fill("#hardCapTokens", "7500");
  await page.click("#save");
  await page.waitForFunction(() => document.querySelector("#save-status")?.textContent.startsWith("Saved"));
  const puts = requests.filter((r) => r.method === "PUT");
  assert.deepEqual(puts.map((r) => [r.path, JSON.parse(r.body)]), [["/v1/ports/gamma/budget", { hardCapTokens: 7500 }]]);
  assert.equal((await site.api.status("gamma")).budget.hardCapTokens, 7500);
  await page.reload();
  await page.waitForSelector("#budget-form");
  assert.equal(await page.inputValue("#hardCapTokens"), "7500");
  assert.equal(await shownTokens(page, "hardCapTokens"), 7500);
  await page.context().close();
});

for (const [what, field, value] of [
  ["a soft cap above the hard cap", "softCapTokens", 20000],
  ["a negative hard cap", "hardCapTokens", -5],
  ["a fractional soft cap", "softCapTokens", 10.5],
]) {
  test(`${what} shows the core's message next to the field and Save sends nothing`, async () => {
    const page = await newPage(browser);
    await signIn(page, site.origin);
    await openPort(page, "delta");
    const before = await site.api.status("delta");
    const requests = recordRequests(page);
    await page.fill(`#${field}`, String(value));
    const err = coreError(() => rules.mergeBudget(pick(before.budget), { [field]: value }));
    assert.equal(err.field, field);
    assert.equal(await page.textContent(`#${field}-error`), err.message);
    assert.equal(await page.getAttribute(`#${field}`, "aria-invalid"), "");
    await page.click("#save");
    assert.match(await page.textContent("#save-status"), /Nothing was sent/);
    assert.deepEqual(requests, []);
    assert.deepEqual((await site.api.status("delta")).budget, before.budget);
    await page.context().close();
  });
}

test("a rejection by the Worker on Save is shown next to the field in the core's words", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "delta");
  // Someone else raises the soft cap after this page loaded: the page's own
  // check passes, the Worker's merge over the new value does not.
  await site.api.setBudget("delta", { softCapTokens: 4000 });
  await page.fill("#hardCapTokens", "3000");
  assert.equal(await page.textContent("#hardCapTokens-error"), "");
  await page.click("#save");
  await page.waitForFunction(() => document.querySelector("#hardCapTokens-error")?.textContent.length > 0);
  const err = coreError(() =>
    rules.mergeBudget({ enabled: true, softCapTokens: 4000, hardCapTokens: 5000, period: "month" }, { hardCapTokens: 3000 }),
  );
  assert.equal(await page.textContent("#hardCapTokens-error"), err.message);
  assert.match(await page.textContent("#save-status"), /Not saved/);
  assert.equal((await site.api.status("delta")).budget.hardCapTokens, 5000);
  await page.context().close();
});

test("an issued port key is shown once, works for its port, and stops working once revoked", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "keys");
  await page.click("#issue-key");
  await page.waitForSelector("#new-key");
  const key = await page.inputValue("#new-key");
  assert.match(key, /^abk_[0-9a-f]{64}$/);
  const withKey = (k) =>
    fetch(`${site.origin}/v1/ports/keys/usage`, { headers: { authorization: `Bearer ${k}` } }).then((r) => r.status);
  assert.equal(await withKey(key), 200);

  await page.reload();
  await page.waitForSelector("#budget-form");
  assert.doesNotMatch(await page.content(), new RegExp(key.slice(4)));
  assert.equal(await page.$$eval("[data-revoke]", (b) => b.length), 1);
  page.once("dialog", (dialog) => dialog.accept());
  await page.click("[data-revoke]");
  await page.waitForFunction(() => document.querySelectorAll("[data-revoke]").length === 0);
  assert.equal(await withKey(key), 401);
  await page.context().close();
});

test("while D1 is down the port page says how many ledger rows are still on their way, and stops once they arrive", async () => {
  const port = "d1-down-page";
  const send = (path, body, fault) =>
    fetch(`${site.origin}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "x-now": CLOCK.iso, ...(fault ? { "x-fault": fault } : {}) },
      body: JSON.stringify(body),
    });
  await site.api.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 2000, period: "month" });
  await send(`/v1/ports/${port}/check`, { estimatedTokens: 1 }, "d1:down");
  for (const id of ["a", "b"]) {
    const res = await send(`/v1/ports/${port}/usage`, { feature: "chat", provider: "p", model: "m", inputTokens: 50, outputTokens: 0, requestId: id });
    assert.equal(res.status, 201);
  }
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await page.goto(`${site.origin}/#/ports/${port}`);
  await page.waitForSelector('#main[data-ready="port"]');
  assert.match(await page.textContent("#ledger-pending"), /^2 ledger rows are still on their way/);
  assert.equal(await shownTokens(page, "usedTokens"), 100, "the gate counts them");
  await send(`/v1/ports/${port}/check`, { estimatedTokens: 1 }, "d1:up");
  await page.click("#main button:has-text('Refresh')");
  await page.waitForSelector('#main[data-ready="port"]');
  assert.equal(await page.$("#ledger-pending"), null);
  assert.equal(await page.$$eval("#ledger tbody tr", (trs) => trs.length), 2);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the Worker unreachable shows a clear error instead of data", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await page.route("**/v1/**", (route) => route.abort("connectionrefused"));
  await page.click("#main button:has-text('Refresh')");
  await page.waitForSelector("#error");
  assert.match(await page.textContent("#error h1"), /unreachable/);
  assert.equal(await page.$("#ports"), null);
  await page.unroute("**/v1/**");
  await page.click("#error button");
  await page.waitForSelector("#ports");
  await page.context().close();
});

test("a port page fits a phone's width", async () => {
  const page = await newPage(browser, { width: 390, height: 844 });
  await signIn(page, site.origin);
  await openPort(page, "acme");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
  await page.screenshot({ path: join(SCREENSHOTS, "port-phone.png"), fullPage: true });
  await page.context().close();
});

test("with no ports the overview says so and offers to set one up", async () => {
  const empty = await startSite();
  try {
    const page = await newPage(browser);
    await signIn(page, empty.origin);
    assert.match(await page.textContent("#no-ports"), /No ports yet/);
    await page.fill("#open-port", "fresh-port");
    await page.press("#open-port", "Enter");
    await page.waitForSelector("#budget-form");
    assert.equal(await page.textContent("#port-id"), "fresh-port");
    assert.match(await page.textContent("#ledger"), /no rows/);
    await page.context().close();
  } finally {
    await empty.stop();
  }
});

/** The core budget fields of an API budget. */
function pick({ enabled, softCapTokens, hardCapTokens, period }) {
  return { enabled, softCapTokens, hardCapTokens, period };
}

/** The error `f` throws (the package's, with `message`, `code`, `field`). */
function coreError(f) {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("expected the core to reject this input");
}
