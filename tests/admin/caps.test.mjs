// Caps inside a port on the admin page, in Chromium against the built Worker
// in workerd: the page shows each feature cap and the end users nearest
// theirs as the API reports them, previews and validates a cap with the
// package's rules without a request, and saves or removes one with a single
// partial update that the gate then enforces.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as rules from "ai-budget";
import { startSite } from "./server.mjs";
import { launch, newPage, signIn, openPort, recordRequests, parseTokens } from "./browser.mjs";

let site;
let browser;

before(async () => {
  site = await startSite();
  await site.api.setBudget("caps", {
    enabled: true, softCapTokens: 8000, hardCapTokens: 10000, period: "month",
    featureCaps: { chat: { softCap: 1000, hardCap: 2000 } }, userCap: { hardCap: 1000 },
  });
  const row = (feature, userId, inputTokens, requestId) =>
    site.api.recordUsage("caps", { feature, userId, provider: "openai", model: "gpt-4.1-mini", inputTokens, outputTokens: 0, requestId });
  await row("chat", "u-1", 900, "c1");
  await row("ocr", "u-2", 300, "c2");
  await row("chat", "u-3", 450, "c3");
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

const cells = (page, selector) =>
  page.$$eval(`${selector} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())));

test("the page shows each feature cap and the end users nearest their caps, as the API reports them", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "caps");
  const status = await site.api.status("caps");
  const features = await cells(page, "#feature-caps");
  assert.equal(features.length, status.featureCaps.length);
  assert.equal(features[0][0], "chat");
  assert.equal(parseTokens(features[0][1]), status.featureCaps[0].usedTokens);
  assert.equal(parseTokens(features[0][1]), 1350);
  assert.match(features[0][4], /over soft cap/);
  const users = await cells(page, "#top-users");
  assert.deepEqual(users.map((r) => r[0]), status.topUsers.map((u) => u.userId));
  assert.deepEqual(users.map((r) => r[0]), ["u-1", "u-3", "u-2"]);
  assert.deepEqual(users.map((r) => r[3]), ["default", "default", "default"]);
  assert.match(await page.textContent("#user-cap"), /1,000 tokens/);
  await page.context().close();
});

test("a cap is previewed and validated in the browser with the package's rules, sending nothing", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "caps");
  const requests = recordRequests(page);
  await page.fill("#cap-id", "chat");
  await page.fill("#cap-hard", "1300");
  assert.equal(await page.getAttribute("#cap-preview", "data-state"), "hard");
  assert.match(await page.textContent("#cap-preview"), /1,350 of 1,300 tokens/);
  await page.fill("#cap-hard", "5000");
  assert.equal(await page.getAttribute("#cap-preview", "data-state"), "ok");

  await page.fill("#cap-soft", "9000");
  let expected;
  try {
    rules.evaluateCaps({ enabled: true, softCapTokens: 8000, hardCapTokens: 10000, period: "month" },
      { featureCaps: { chat: { hardCap: 5000, softCap: 9000 } } }, { usedTokens: 0 }, { estimatedTokens: 0 });
  } catch (err) {
    expected = err.message;
  }
  assert.ok(expected, "the package refuses a soft cap above the hard cap");
  assert.equal(await page.textContent("#cap-error"), expected);
  await page.click("#save-cap");
  assert.equal(await page.textContent("#cap-error"), expected);
  assert.deepEqual(requests, [], "nothing was sent");
  await page.context().close();
});

test("saving a user's override sends one partial update, and the gate enforces it at once", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "caps");
  const requests = recordRequests(page);
  await page.selectOption("#cap-scope", "user");
  await page.fill("#cap-id", "u-2");
  await page.fill("#cap-hard", "320");
  assert.match(await page.textContent("#cap-preview"), /300 of 320 tokens/);
  await page.click("#save-cap");
  await page.waitForFunction(() => document.querySelector("#save-status")?.textContent.includes("Cap saved"));
  const puts = requests.filter((r) => r.method === "PUT");
  assert.deepEqual(puts.map((r) => [r.path, JSON.parse(r.body)]), [["/v1/ports/caps/budget", { userCaps: { "u-2": { hardCap: 320 } } }]]);
  const users = await cells(page, "#top-users");
  assert.deepEqual(users[0].slice(0, 4), ["u-2", "300", "320", "own"], "u-2 is now nearest its own cap");
  const refused = await site.api.call("POST", "/v1/ports/caps/reservations", { estimatedTokens: 30, userId: "u-2" }, { allow: [429] });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.scope, "user");

  const removals = recordRequests(page);
  await page.click('[data-remove-cap="user:u-2"]');
  await page.waitForFunction(() => document.querySelector("#save-status")?.textContent.includes("Cap removed"));
  assert.deepEqual(removals.filter((r) => r.method === "PUT").map((r) => JSON.parse(r.body)), [{ userCaps: { "u-2": null } }]);
  assert.equal((await site.api.status("caps")).budget.userCaps, undefined);
  await page.context().close();
});
