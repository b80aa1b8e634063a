// The run-out forecast on the admin page, in Chromium against the built
// Worker in workerd: the overview flags and sorts the ports projected to
// reach their hard cap before the reset, the port page shows the Worker's
// projection, and its "what if" box answers in the browser with the
// package's `forecast` (nothing sent), agreeing with the core in Node.
//
// The file runs at its own instant, ten days into April 2027, so the
// projections are the hand-checked ones of tests/forecast.rs (a forecast
// depends on how much of the period has elapsed; the boundary reruns need
// not repeat it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as rules from "ai-budget";
import { startSite } from "./server.mjs";
import { launch, newPage, signIn, openPort, recordRequests } from "./browser.mjs";

const NOW = "2027-04-11T00:00:00.000Z";
const month = (hard) => ({ enabled: true, softCapTokens: hard, hardCapTokens: hard, period: "month" });

let site;
let browser;

before(async () => {
  site = await startSite({ now: NOW });
  // 2,400 used in 10 days, 240 a day: a 6,000 cap runs out on the 26th.
  for (const [port, hard] of [["risky", 6000], ["calm", 100000], ["spent", 2000]]) {
    await site.api.setBudget(port, month(hard));
    await site.api.recordUsage(port, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 2000, outputTokens: 400, requestId: `${port}-1` });
  }
  await site.api.setBudget("off", { ...month(10), enabled: false });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

test("the API's forecast is the core's, in status and in the port listing", async () => {
  const status = await site.api.status("risky");
  assert.deepEqual(status.forecast, {
    basis: "period-average",
    unit: "tokens",
    ratePerHour: 10,
    projectedUsed: 7200,
    runOutAt: "2027-04-26T00:00:00.000Z",
    runsOutBeforeReset: true,
  });
  const core = rules.forecast(month(6000), 2400, NOW);
  assert.equal(core.runOutAt.toISOString(), status.forecast.runOutAt);
  assert.equal(core.projectedUsedTokens, status.forecast.projectedUsed);
  const { json } = await site.api.call("GET", "/v1/ports");
  const listed = Object.fromEntries(json.ports.map((p) => [p.port, p.forecast]));
  assert.deepEqual(listed.risky, status.forecast);
  assert.equal(listed.calm.runsOutBeforeReset, false);
  assert.equal(listed.calm.runOutAt, null);
  assert.equal(listed.spent.runOutAt, NOW, "a port at its hard cap ran out now");
  assert.equal(listed.off, null, "a disabled budget has no forecast");
});

test("the overview flags the ports at risk, counts them and sorts them first", async () => {
  const page = await newPage(browser, { now: NOW });
  await signIn(page, site.origin);
  const flagged = await page.$$eval("#ports tbody tr", (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.port, r.dataset.atRisk])),
  );
  assert.deepEqual(flagged, { risky: "true", calm: "false", spent: "false", off: "false" });
  assert.equal(
    await page.getAttribute('tr[data-port="risky"] [data-field="runOutAt"] time', "datetime"),
    "2027-04-26T00:00:00.000Z",
  );
  assert.match(await page.textContent('tr[data-port="spent"] [data-field="runOutAt"]'), /reached/);
  assert.match(await page.textContent('tr[data-port="calm"] [data-field="runOutAt"]'), /not before the reset/);
  assert.match(await page.textContent("#ports-count"), /1 projected to run out before its reset/);

  await page.click('button[data-sort="runout"]');
  const order = await page.$$eval("#ports tbody tr", (rows) => rows.map((r) => r.dataset.port));
  assert.equal(order[0], "risky");

  await page.selectOption("#state-filter", "at-risk");
  const shown = await page.$$eval("#ports tbody tr", (rows) => rows.map((r) => r.dataset.port));
  assert.deepEqual(shown, ["risky"]);
  assert.deepEqual(page.errors, []);
});

test("the port page shows the projection, and a what-if rate or cap is answered in the browser alone", async () => {
  const page = await newPage(browser, { now: NOW });
  await signIn(page, site.origin);
  await openPort(page, "risky");
  assert.equal(await page.getAttribute("#forecast-text", "data-at-risk"), "true");
  assert.equal(await page.getAttribute("#forecast-text time", "datetime"), "2027-04-26T00:00:00.000Z");
  assert.equal(await page.locator(".chart .line-projected").count(), 1, "the chart draws the projection");
  // The box starts at the Worker's rate and cap: the same run-out.
  assert.equal(await page.getAttribute("#whatif-answer", "data-run-out-at"), "2027-04-26T00:00:00.000Z");

  const sent = recordRequests(page);
  for (const [rate, cap] of [["5", "6000"], ["100", "6000"], ["10", "9000"], ["", "7000"]]) {
    await page.fill("#whatif-rate", rate);
    await page.fill("#whatif-cap", cap);
    const expected = rules.forecast(month(Number(cap)), 2400, NOW, rate === "" ? undefined : Number(rate));
    assert.equal(
      await page.getAttribute("#whatif-answer", "data-run-out-at"),
      expected.runOutAt ? expected.runOutAt.toISOString() : "",
      `rate ${rate}, cap ${cap}`,
    );
    assert.equal(await page.getAttribute("#whatif-answer", "data-projected-used"), String(expected.projectedUsedTokens));
  }
  // 100 an hour reaches 6,000 after 36 hours; 10 an hour never reaches 9,000.
  await page.fill("#whatif-rate", "100");
  await page.fill("#whatif-cap", "6000");
  assert.equal(await page.getAttribute("#whatif-answer", "data-run-out-at"), "2027-04-12T12:00:00.000Z");

  // A negative rate is the package's error, shown; nothing else changes.
  await page.fill("#whatif-rate", "-3");
  assert.equal(await page.getAttribute("#whatif-answer", "data-error"), "negative-tokens");
  assert.deepEqual(sent, [], "the what-if box sends nothing");
  assert.deepEqual(page.errors, []);
});
