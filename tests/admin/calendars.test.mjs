// Port calendars on the admin page, in Chromium against the built Worker in
// workerd: for five zones the preview's next reset (computed in the browser
// with the package and its time-zone part) equals the reset the Worker
// answers once the calendar is saved, and the page shows it in the port's
// time and the viewer's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSite } from "./server.mjs";
import { launch, newPage, signIn, openPort } from "./browser.mjs";

let site;
let browser;

const ZONES = ["America/Los_Angeles", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/London"];

before(async () => {
  site = await startSite();
  // Listed by their usage, with no budget saved yet: a first calendar
  // applies at once.
  for (const [i] of ZONES.entries()) {
    await site.api.recordUsage(`zone-${i}`, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 10, outputTokens: 0, requestId: `z-${i}` });
  }
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

const previewReset = (page) => page.getAttribute('#preview [data-field="preview-resets"] time', "datetime");

test("the preview's next reset in five zones equals the Worker's once saved", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  for (const [i, zone] of ZONES.entries()) {
    const port = `zone-${i}`;
    await page.goto(`${site.origin}/`);
    await page.waitForSelector("#ports");
    await openPort(page, port);
    await page.selectOption("#period", "day");
    await page.fill("#timeZone", zone);
    await page.fill("#monthStartDay", "31");
    await page.selectOption("#weekStart", "sunday");
    const previewed = await previewReset(page);
    const shown = await page.textContent('#preview [data-field="preview-resets"] time');
    assert.ok(shown.includes(zone), `the reset in the port's time: ${shown}`);
    assert.match(shown, /yours: /);
    await page.click("#save");
    await page.waitForFunction(() => /Saved/i.test(document.querySelector("#save-status")?.textContent ?? ""));
    const status = await site.api.status(port);
    assert.equal(status.budget.timeZone, zone);
    assert.equal(status.budget.calendarChange, undefined, "a first budget takes its calendar at once");
    assert.equal(previewed, status.resetsAt, zone);
    const then = await page.getAttribute('#preview [data-field="preview-next-reset"] time', "datetime");
    const after = (await new (site.api.constructor)(site.origin, undefined, status.resetsAt).status(port)).resetsAt;
    assert.equal(then, after, `the reset after next, ${zone}`);
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
