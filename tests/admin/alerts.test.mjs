// Alerts on the admin page, in Chromium against the built Worker in workerd
// (local queues) and a webhook receiver on 127.0.0.1: thresholds and the
// endpoint saved from the page (the secret shown once), a test event and its
// answer, the last deliveries with status and response code, a resend, and
// the Worker's refusal of bad input shown at the field.
//
// The page and the API run at the suite's instant moved clear of its day's
// end (CLOCK.clear): the tests count the events delivered, and a port's gate
// resolves a raised crossing by itself when its period ends, on a clock that
// keeps moving from the last request's instant.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSite, CLOCK } from "./server.mjs";
import { launch, newPage as newTab, signIn, openPort } from "./browser.mjs";
import { Receiver, verifySignature, eventually } from "../alerts/receiver.mjs";

let site;
let browser;
let rx;
const PORT = "alerting";

before(async () => {
  rx = await new Receiver().start();
  site = await startSite({ now: CLOCK.clear.iso });
  await site.api.setBudget(PORT, { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: "month" });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await rx?.stop();
});

/** A tab living at CLOCK.clear, like the API client. */
const newPage = (browser) => newTab(browser, { now: CLOCK.clear.iso });

const rows = (page) =>
  page.$$eval("#alert-deliveries tbody tr", (trs) => trs.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())));

test("thresholds and a webhook are saved from the page, the secret shown once; a test event is signed with it and listed", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await page.waitForSelector("#alert-deliveries .empty");
  await page.fill("#alert-thresholds", "80, 50");
  await page.fill("#alert-url", `${rx.origin}/ok/page`);
  await page.click("#save-alerts");
  await page.waitForSelector("#alert-secret input[data-secret-for]");
  const secret = await page.inputValue("#alert-secret input[data-secret-for]");
  assert.match(secret, /^whsec_/);
  assert.match(await page.textContent("#alert-status"), /saved/);
  const saved = (await site.api.call("GET", `/v1/ports/${PORT}/alerts`)).json;
  assert.deepEqual(saved.thresholds, [50, 80]);
  assert.equal(saved.webhookUrl, `${rx.origin}/ok/page`);
  assert.equal(await page.inputValue("#alert-thresholds"), "50, 80");

  await page.click("#test-alerts");
  await page.waitForSelector("#alert-test-result li");
  assert.match(await page.textContent("#alert-test-result"), /delivered \(200\)/);
  const [sample] = rx.at("/ok/page");
  assert.equal(sample.event.test, true);
  assert.ok(verifySignature(sample.headers["x-budget-signature"], sample.body, secret), "signed with the secret the page showed");
  await page.waitForSelector("#alert-deliveries tbody tr");
  const [row] = await rows(page);
  assert.match(row[0], /crossed soft/);
  assert.equal(row[2], "delivered");
  assert.equal(row[3], "200");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a real crossing is listed with its status and response code, and resend delivers the same event again", async () => {
  await site.api.recordUsage(PORT, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 600, outputTokens: 0, requestId: "cross-1" });
  await eventually(async () => (await site.api.call("GET", `/v1/ports/${PORT}/alerts/deliveries`)).json.deliveries.some((d) => d.threshold === 50 && d.status === "delivered"), { what: "the crossing's delivery" });
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await page.waitForSelector("#alert-deliveries tbody tr");
  const listed = await rows(page);
  const crossing = listed.find((r) => r[0] === "crossed 50 %");
  assert.ok(crossing, JSON.stringify(listed));
  assert.deepEqual([crossing[2], crossing[3], crossing[4]], ["delivered", "200", "1"]);
  const before = rx.at("/ok/page").length;
  const id = await page.getAttribute("#alert-deliveries tbody tr:first-child [data-resend]", "data-resend");
  await page.click(`[data-resend="${id}"]`);
  await page.waitForFunction(() => /queued again/.test(document.querySelector("#alert-status").textContent));
  await eventually(() => rx.at("/ok/page").length === before + 1, { what: "the resend" });
  assert.equal(rx.at("/ok/page").at(-1).event.id, id);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the Worker's refusal of a bad threshold or URL is shown at the form and nothing is saved", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await page.waitForFunction(() => document.querySelector("#alert-thresholds").value !== "");
  await page.fill("#alert-thresholds", "50, 150");
  await page.click("#save-alerts");
  await page.waitForFunction(() => document.querySelector("#alert-error").textContent !== "");
  assert.match(await page.textContent("#alert-error"), /thresholds\[1\].*1 to 100/);
  await page.fill("#alert-thresholds", "50");
  await page.fill("#alert-url", "ftp://example.com/hook");
  await page.click("#save-alerts");
  await page.waitForFunction(() => /webhookUrl/.test(document.querySelector("#alert-error").textContent));
  const saved = (await site.api.call("GET", `/v1/ports/${PORT}/alerts`)).json;
  assert.deepEqual(saved.thresholds, [50, 80]);
  assert.equal(saved.webhookUrl, `${rx.origin}/ok/page`);
  await page.context().close();
});

test("Rotate secret shows the new secret once; the next event verifies with the new and the old secret", async () => {
  const url = `${rx.origin}/ok/page-rotate`;
  const first = (await site.api.call("PUT", `/v1/ports/${PORT}/alerts`, { webhookUrl: url })).json.secret;
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, PORT);
  await page.waitForSelector(`#alert-endpoints [data-rotate="${url}"]`);
  await page.click(`[data-rotate="${url}"]`);
  await page.waitForSelector("#alert-secret input[data-secret-for]");
  const fresh = await page.inputValue("#alert-secret input[data-secret-for]");
  assert.match(fresh, /^whsec_/);
  assert.notEqual(fresh, first);
  assert.match(await page.textContent("#alert-secret"), /shown only once.*old secret too until/s);
  await page.waitForSelector(`#alert-endpoints [data-endpoint="${url}"] .muted`);
  assert.ok(!JSON.stringify((await site.api.call("GET", `/v1/ports/${PORT}/alerts`)).json).includes(fresh), "not shown again");
  await page.click("#test-alerts");
  await page.waitForSelector("#alert-test-result li");
  const sample = rx.at("/ok/page-rotate").at(-1);
  assert.ok(verifySignature(sample.headers["x-budget-signature"], sample.body, fresh), "the new secret verifies");
  assert.ok(verifySignature(sample.headers["x-budget-signature"], sample.body, first), "the old one too, during the overlap");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
