// Credits and raises on the admin page, in Chromium against the built
// Worker in workerd: the page lists a port's credits and raises, previews a
// new grant or raise with the package's budgetRoom (the gate's own room
// function) without a request, and the preview equals the Worker's answer
// after saving.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSite, CLOCK } from "./server.mjs";
import { launch, newPage, signIn, openPort, recordRequests } from "./browser.mjs";

let site;
let browser;

before(async () => {
  site = await startSite();
  await site.api.setBudget("credits", { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: "month" });
  await site.api.call("POST", "/v1/ports/credits/credits", { amount: 500, note: "prepaid", requestId: "seed" });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

/** The room line the page shows, after "With it: " for a preview. */
const shown = (page, selector) => page.textContent(selector).then((t) => t.replace(/^With it: /, "").trim());

test("a new grant and a new raise are previewed with the package's rules, sending nothing, and the Worker answers the same after saving", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "credits");
  await page.waitForSelector("#credits table");
  assert.match(await page.textContent("#credits"), /prepaid/);
  assert.match(await shown(page, "#room"), /^Effective cap 1,000 tokens \(cap 1,000 tokens\); then 500 tokens of credits\.$/);

  const requests = recordRequests(page);
  await page.fill("#credit-amount", "250");
  const preview = await shown(page, "#room-preview");
  assert.match(preview, /750 tokens of credits/);
  assert.deepEqual(requests, [], "the preview sends nothing");
  await page.click("#grant-credits");
  await page.waitForFunction(() => document.querySelectorAll("#credits tbody tr").length === 2);
  const after = await site.api.call("GET", "/v1/ports/credits/credits");
  assert.equal(after.json.room.creditsLeft, 750);
  assert.equal(await shown(page, "#room"), preview, "the page's preview is the Worker's answer");

  const ends = new Date(CLOCK.ms + 7 * 86_400_000).toISOString().slice(0, 16);
  await page.fill("#raise-extra", "400");
  await page.fill("#raise-ends", ends);
  const raised = await shown(page, "#room-preview");
  assert.match(raised, /^Effective cap 1,400 tokens \(cap 1,000 tokens \+ raises 400 tokens\)/);
  await page.click("#add-raise");
  await page.waitForSelector("#raises tbody tr");
  const raises = await site.api.call("GET", "/v1/ports/credits/raises");
  assert.equal(raises.json.room.effectiveCap, 1400);
  assert.equal(await shown(page, "#room"), raised);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
