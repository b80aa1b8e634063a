// A port's history on the admin page, in Chromium against the built Worker
// in workerd: the port page lists the port's audit records newest first,
// who made each change (a key's name and id, or the admin token) and the
// fields it changed before and after; another port's changes are not
// there; "Refresh history" shows a change made meanwhile.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSite, Api } from "./server.mjs";
import { launch, newPage, signIn, openPort } from "./browser.mjs";

let site;
let browser;
let lead;

before(async () => {
  site = await startSite();
  await site.api.setBudget("hist", { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "month" });
  await site.api.setBudget("other", { enabled: true, softCapTokens: 5, hardCapTokens: 10, period: "day" });
  lead = (await site.api.call("POST", "/v1/admin-keys", { name: "team lead", role: "editor", ports: ["hist"] })).json;
  const asLead = new Api(site.origin, lead.key);
  await asLead.setBudget("hist", { hardCapTokens: 2000 });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

const rows = (page) =>
  page.$$eval("#history tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())));

test("the port page shows who changed what, newest first, and refreshes", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "hist");
  await page.waitForSelector("#history table");
  const shown = await rows(page);
  assert.equal(shown.length, 2, JSON.stringify(shown));
  const [newest, first] = shown;
  assert.equal(newest[1], `team lead (${lead.keyId})`);
  assert.equal(newest[2], "PUT /v1/ports/{port}/budget");
  assert.equal(newest[3], "hardCapTokens: 1000 → 2000");
  assert.equal(first[1], "admin-token");
  assert.equal(first[3], "created");
  assert.ok(!(await page.textContent("#history")).includes("other"), "another port's changes are not shown");

  await site.api.call("PUT", "/v1/ports/hist/budget", { softCapTokens: 600, hardCapTokens: 3000 });
  await page.click("#refresh-history");
  await page.waitForFunction(() => document.querySelectorAll("#history tbody tr").length === 3);
  const [latest] = await rows(page);
  assert.equal(latest[1], "admin-token");
  assert.equal(latest[3], "hardCapTokens: 2000 → 3000; softCapTokens: 500 → 600");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
