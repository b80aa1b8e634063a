// Groups on the admin page, in Chromium against the built Worker in workerd:
// the overview lists each group above the ports with what it has used, what
// its ports hold and what it has lent, as the API reports them; a group's
// page previews a change of its caps with the package's rules without a
// request, and saves it with one partial update that the group then enforces.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as rules from "ai-budget";
import { startSite } from "./server.mjs";
import { launch, newPage, signIn, recordRequests, parseTokens } from "./browser.mjs";

let site;
let browser;

/** An amount of tokens as the page prints it (`1,234 tokens`) back to a number. */
const count = (text) => parseTokens(text.replace(/ tokens$/, ""));

/**
 * The group's status once it has learned the 200 tokens port adm-b used (its
 * report follows the call) and its ports, idle, gave back what they do not
 * hold (their alarms, 5 s after their last call): from then on it holds still.
 */
async function settledStatus() {
  for (;;) {
    const { json } = await site.api.call("GET", "/v1/groups/adm-org/status");
    if (json.used === 200 && json.lent === json.held) return json;
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  site = await startSite();
  await site.api.call("PUT", "/v1/groups/adm-org/budget", { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: "month" });
  for (const port of ["adm-a", "adm-b"]) {
    await site.api.setBudget(port, { enabled: true, softCapTokens: 5000, hardCapTokens: 5000, period: "month", parent: "adm-org" });
  }
  await site.api.reserve("adm-a", { estimatedTokens: 300, ttlSeconds: 3600 });
  await site.api.recordUsage("adm-b", { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 200, outputTokens: 0, requestId: "g1" });
  await settledStatus();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

async function openGroup(page, group) {
  await page.click(`tr[data-group="${group}"] a.group-link`);
  await page.waitForSelector('#main[data-ready="group"]');
}

test("the overview lists each group above the ports, with used, held and lent as the API reports them", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  const status = await settledStatus();
  const row = 'tr[data-group="adm-org"]';
  await page.waitForSelector(row);
  const shown = async (field) => count(await page.textContent(`${row} [data-field="${field}"]`));
  assert.equal(await shown("used"), status.used);
  assert.equal(await shown("held"), status.held);
  assert.equal(await shown("lent"), status.lent);
  assert.equal(await shown("cap"), 1000);
  assert.equal(status.held, 300);
  const children = await page.$$eval(`${row} [data-field="children"] a`, (links) => links.map((a) => a.textContent).sort());
  assert.deepEqual(children, status.children.map((c) => c.id).sort());
  assert.deepEqual(children, ["adm-a", "adm-b"]);
  const above = await page.$eval("#groups", (groups) => Boolean(groups.compareDocumentPosition(document.querySelector("#ports")) & Node.DOCUMENT_POSITION_FOLLOWING));
  assert.ok(above, "the groups come before the ports");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a group's page previews a cap change with the package's rules, sending nothing", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openGroup(page, "adm-org");
  const status = await settledStatus();
  assert.equal(count(await page.textContent('#group-summary [data-field="used"]')), status.used);
  assert.equal(count(await page.textContent('#group-summary [data-field="lent"]')), status.lent);
  const requests = recordRequests(page);
  const counted = status.used + status.lent;
  const expected = (hard) =>
    rules.capStatus({ enabled: true, softCapTokens: Math.min(800, hard), hardCapTokens: hard, period: "month" }, counted, new Date(status.periodStart)).state;
  await page.fill("#group-softCapTokens", "400");
  await page.fill("#group-hardCapTokens", "450");
  assert.equal(await page.getAttribute("#group-preview-banner", "data-state"), expected(450));
  assert.equal(expected(450), "hard");
  assert.equal(count(await page.textContent('[data-field="group-preview-counted"]')), counted);
  await page.fill("#group-softCapTokens", "800");
  await page.fill("#group-hardCapTokens", "5000");
  assert.equal(await page.getAttribute("#group-preview-banner", "data-state"), expected(5000));
  assert.equal(expected(5000), "ok");

  await page.fill("#group-softCapTokens", "900");
  await page.fill("#group-hardCapTokens", "850");
  let message;
  try {
    rules.previewSave({ enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: "month", unit: "tokens" }, { softCapTokens: 900, hardCapTokens: 850 }, new Date(), true);
  } catch (err) {
    message = err.message;
  }
  assert.ok(message, "the package refuses a soft cap above the hard cap");
  const errors = await page.$$eval("#group-caps .field-error", (els) => els.map((e) => e.textContent).filter(Boolean));
  assert.deepEqual(errors, [message]);
  await page.click("#group-save");
  assert.deepEqual(requests, [], "nothing was sent");
  await page.context().close();
});

test("saving a group's cap sends one partial update, and the group enforces it at once", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openGroup(page, "adm-org");
  const requests = recordRequests(page);
  await page.fill("#group-softCapTokens", "400");
  await page.fill("#group-hardCapTokens", "450");
  await page.click("#group-save");
  await page.waitForSelector('#main[data-ready="group"] .flash');
  const puts = requests.filter((r) => r.method === "PUT");
  assert.deepEqual(puts.map((r) => [r.path, JSON.parse(r.body)]), [["/v1/groups/adm-org/budget", { softCapTokens: 400, hardCapTokens: 450 }]]);
  assert.match(await page.textContent('#group-summary [data-field="caps"]'), /400 tokens \/ 450 tokens/);
  // 200 used and 300 held leave no room under 450.
  const refused = await site.api.call("POST", "/v1/ports/adm-b/reservations", { estimatedTokens: 1 }, { allow: [429] });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.scope, "group");
  assert.equal(refused.json.scopeId, "adm-org");
  await page.context().close();
});
