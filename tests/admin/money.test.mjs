// Money on the admin page, in Chromium against the built Worker in workerd:
// the price table as the API lists it, a price validated and priced in the
// browser with the package's pricing before one PUT, a deleted price, and a
// budget in dollars shown in dollars (summary, banner, overview, costs of
// ledger rows and features) as the API reports it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as rules from "ai-budget";
import { startSite, ROOT } from "./server.mjs";
import { launch, newPage, signIn, openPort, recordRequests, parseUsd } from "./browser.mjs";

let site;
let browser;
const SCREENSHOTS = process.env.SCREENSHOTS_DIR ?? join(ROOT, "target", "screenshots");

before(async () => {
  site = await startSite();
  await site.api.setBudget("dollars", { enabled: true, unit: "usd", softCapUsd: 0.05, hardCapUsd: 0.1, period: "month" });
  // gpt-4.1-mini in the shipped table: 100 000 input, 20 000 output tokens.
  await site.api.recordUsage("dollars", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 100000, outputTokens: 20000, requestId: "d1",
  });
  await site.api.setBudget("tokens", { enabled: true, softCapTokens: 1000, hardCapTokens: 5000, period: "month" });
  // 10 000 input at $0.40 and 1 000 output at $1.60 per million: $0.0056.
  await site.api.setBudget("switch", { enabled: true, softCapTokens: 100000, hardCapTokens: 500000, period: "month" });
  await site.api.recordUsage("switch", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 10000, outputTokens: 1000, requestId: "s1",
  });
  browser = await launch();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

const cells = (page, selector) =>
  page.$$eval(`${selector} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())));

async function openPrices(page) {
  await page.click("#nav-prices");
  await page.waitForSelector('#main[data-ready="prices"]');
}

test("the price table lists every model as the API does, reached from the header", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPrices(page);
  const { json } = await site.api.call("GET", "/v1/prices");
  const rows = await cells(page, "#prices");
  assert.equal(rows.length, json.prices.length);
  assert.ok(rows.length > 5, "the shipped table is listed");
  const mini = json.prices.find((p) => p.model === "gpt-4.1-mini");
  const shown = rows.find((r) => r[0] === "gpt-4.1-mini");
  assert.deepEqual(
    shown.slice(1, 5).map((t) => parseUsd(t.replace(" / MTok", ""))),
    [mini.inputPerMTok, mini.cachedInputPerMTok, mini.cacheWritePerMTok, mini.outputPerMTok],
  );
  assert.equal(shown[5], "default");
  assert.match(await page.textContent("#main"), new RegExp(`as of ${json.asOf}`));
  await page.screenshot({ path: join(SCREENSHOTS, "prices.png"), fullPage: false });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a price is validated and a sample call priced in the browser with the package's pricing, sending nothing", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPrices(page);
  const requests = recordRequests(page);
  await page.fill("#price-model", "house-model");
  await page.fill("#price-input", "2.5");
  await page.fill("#price-output", "10");
  await page.fill("#sample-input", "123456");
  await page.fill("#sample-output", "789");
  const expected = rules.costUsd({ inputTokens: 123456, outputTokens: 789 }, { inputPerMTok: 2.5, outputPerMTok: 10 });
  assert.equal(Number(await page.getAttribute("#price-preview strong", "data-micros")), expected.micros);
  assert.equal(parseUsd(await page.textContent("#price-preview strong")), expected.usd);

  for (const [value, field] of [["-1", "inputPerMTok"], ["0.0000001", "inputPerMTok"], ["2000000000", "inputPerMTok"]]) {
    await page.fill("#price-input", value);
    let message;
    try {
      rules.costUsd({ inputTokens: 0, outputTokens: 0 }, { inputPerMTok: Number(value), outputPerMTok: 10 });
    } catch (err) {
      message = err.message;
      assert.equal(err.field, field);
    }
    assert.ok(message, `the package refuses ${value}`);
    assert.equal(await page.textContent("#price-input-error"), message);
    assert.equal(await page.getAttribute("#price-input", "aria-invalid"), "");
    await page.click("#save-price");
    assert.match(await page.textContent("#price-status"), /Nothing was sent/);
  }
  assert.deepEqual(requests, [], "nothing was sent");
  const { status } = await site.api.call("GET", "/v1/prices/house-model", undefined, { allow: [404] });
  assert.equal(status, 404);
  await page.context().close();
});

test("Save sends one PUT of the price; the table then shows it as custom, and the Worker prices with it", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPrices(page);
  const requests = recordRequests(page);
  await page.fill("#price-model", "house-model");
  await page.fill("#price-input", "2.5");
  await page.fill("#price-cached", "0.25");
  await page.fill("#price-output", "10");
  await page.click("#save-price");
  await page.waitForSelector('#price-status:has-text("Saved the price of house-model")');
  const writes = requests.filter((r) => r.method !== "GET");
  assert.deepEqual(writes.map((r) => [r.method, r.path]), [["PUT", "/v1/prices/house-model"]]);
  assert.deepEqual(JSON.parse(writes[0].body), { inputPerMTok: 2.5, cachedInputPerMTok: 0.25, outputPerMTok: 10 });
  const row = (await cells(page, "#prices")).find((r) => r[0] === "house-model");
  assert.deepEqual(row.slice(1, 6), ["$2.50 / MTok", "$0.25 / MTok", "$2.50 / MTok", "$10.00 / MTok", "custom"]);
  const { json } = await site.api.call("GET", "/v1/prices/house-model");
  assert.equal(json.source, "custom");
  assert.equal(json.cacheWritePerMTok, 2.5, "cache writes default to the input price");
  const { entry } = await site.api.recordUsage("house", {
    feature: "chat", provider: "house", model: "house-model", inputTokens: 1000000, cachedInputTokens: 400000, outputTokens: 100000, requestId: "h1",
  });
  // 600 000 uncached at $2.50, 400 000 cached at $0.25, 100 000 output at $10 per million.
  assert.equal(entry.costUsd, 1.5 + 0.1 + 1);

  // Editing fills the form from the row.
  await page.click('[data-edit-price="house-model"]');
  assert.equal(await page.inputValue("#price-model"), "house-model");
  assert.equal(await page.inputValue("#price-cached"), "0.25");
  await page.context().close();
});

test("Editing a price with tiers the form does not show sends them back unchanged, and says so", async () => {
  const tiers = [{ above: 200000, inputPerMTok: 6, outputPerMTok: 22.5 }];
  const serviceTiers = { batch: { inputPerMTok: 1.5, outputPerMTok: 7.5 } };
  await site.api.call("PUT", "/v1/prices/tiered-model", { inputPerMTok: 3, outputPerMTok: 15, tiers, serviceTiers });
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPrices(page);
  const requests = recordRequests(page);
  await page.click('[data-edit-price="tiered-model"]');
  assert.match(await page.textContent("#price-kept"), /tiers on the request's size and service tier prices are kept/);
  await page.fill("#price-input", "4");
  await page.click("#save-price");
  await page.waitForSelector('#price-status:has-text("Saved the price of tiered-model")');
  const writes = requests.filter((r) => r.method !== "GET");
  assert.deepEqual(writes.map((r) => [r.method, r.path]), [["PUT", "/v1/prices/tiered-model"]]);
  const sent = JSON.parse(writes[0].body);
  assert.equal(sent.inputPerMTok, 4);
  const { json } = await site.api.call("GET", "/v1/prices/tiered-model");
  assert.equal(json.inputPerMTok, 4);
  assert.equal(json.tiers.length, 1);
  assert.equal(json.tiers[0].above, 200000);
  assert.equal(json.tiers[0].inputPerMTok, 6);
  assert.equal(json.serviceTiers.batch.inputPerMTok, 1.5);
  await page.context().close();
});

test("Delete removes a price after a confirmation; the model is then unpriced", async () => {
  await site.api.call("PUT", "/v1/prices/doomed-model", { inputPerMTok: 1, outputPerMTok: 2 });
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPrices(page);
  page.once("dialog", (dialog) => dialog.accept());
  await page.click('[data-delete-price="doomed-model"]');
  await page.waitForSelector('#price-status:has-text("Deleted the price of doomed-model")');
  assert.equal((await cells(page, "#prices")).find((r) => r[0] === "doomed-model"), undefined);
  const { status } = await site.api.call("GET", "/v1/prices/doomed-model", undefined, { allow: [404] });
  assert.equal(status, 404);
  await page.context().close();
});

test("a budget in dollars is shown in dollars: summary, banner, overview and the cost of each row and feature", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  const status = await site.api.status("dollars");
  const overview = await page.$$eval('tr[data-port="dollars"] td', (tds) => tds.map((td) => td.textContent.trim()));
  assert.equal(parseUsd(overview[1]), status.capStatus.usedUsd);
  assert.equal(parseUsd(overview[4]), status.budget.hardCapUsd);
  assert.equal(parseUsd(overview[5]), status.capStatus.remainingUsd);

  await openPort(page, "dollars");
  const field = async (name) => parseUsd(await page.textContent(`#summary [data-field="${name}"]`));
  assert.equal(await field("usedUsd"), status.usage.usedUsd);
  assert.equal(await field("usedUsd"), 0.072, "100 000 input at $0.40 and 20 000 output at $1.60 per million");
  assert.equal(await field("gateUsd"), status.usage.gateUsd);
  assert.equal(await field("softCapUsd"), 0.05);
  assert.equal(await field("hardCapUsd"), 0.1);
  assert.equal(await field("remaining"), status.capStatus.remainingUsd);
  assert.equal(await page.getAttribute("#banner", "data-state"), "soft");
  assert.match(await page.textContent("#banner"), /\$0\.028 left before the hard cap/);

  const ledger = await cells(page, "#ledger");
  assert.equal(parseUsd(ledger[0][8]), status.recentLedger[0].costUsd);
  const features = await cells(page, "#breakdown");
  assert.equal(parseUsd(features[0][3]), status.breakdown[0].costUsd);
  assert.match(await page.getAttribute("#main .chart", "aria-label"), /\$0\.072 in total/);
  await page.screenshot({ path: join(SCREENSHOTS, "port-usd.png"), fullPage: false });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a token budget keeps its token caps and shows what its priced rows cost", async () => {
  await site.api.recordUsage("tokens", {
    feature: "chat", provider: "anthropic", model: "claude-haiku-4-5", inputTokens: 1000, outputTokens: 100, requestId: "t1",
  });
  await site.api.recordUsage("tokens", {
    feature: "chat", provider: "house", model: "no-such-model", inputTokens: 10, outputTokens: 1, requestId: "t2",
  });
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "tokens");
  const status = await site.api.status("tokens");
  assert.equal(await page.textContent('#summary [data-field="hardCapTokens"]'), "5,000");
  assert.equal(parseUsd(await page.textContent('#summary [data-field="usedUsd"]')), status.usage.usedUsd);
  const ledger = await cells(page, "#ledger");
  assert.equal(ledger[0][4], "no-such-model");
  assert.equal(ledger[0][8], "unpriced");
  assert.equal(parseUsd(ledger[1][8]), status.recentLedger[1].costUsd);
  assert.match(await page.textContent("#banner"), /tokens left before the hard cap/);
  await page.context().close();
});

/** The error `f` throws (the package's, with `message`, `code`, `field`). */
function coreError(f) {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("expected the core to reject this input");
}

test("switching a budget to dollars validates and previews in dollars with the package's rules, then Save sends one partial update", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "switch");
  const requests = recordRequests(page);
  const status = await site.api.status("switch");
  const saved = { ...status.budget };
  delete saved.updatedAt;
  delete saved.updatedBy;
  assert.equal(await page.isVisible("#hardCapTokens"), true);
  assert.equal(await page.isVisible("#hardCapUsd"), false);

  await page.selectOption("#unit", "usd");
  assert.equal(await page.isVisible("#hardCapTokens"), false);
  assert.equal(await page.isVisible("#hardCapUsd"), true);
  assert.equal(await page.isVisible("#estimatedUsd"), true);
  assert.equal(await page.isVisible("#estimatedTokens"), false);
  assert.match(await page.textContent("#hardCapUsd-error"), /Enter an amount of dollars/);

  await page.fill("#hardCapUsd", "0.005");
  const gateUsd = status.usageByPeriod.month.gateUsd;
  assert.equal(gateUsd, 0.0056);
  const over = rules.capStatus(rules.mergeBudget(saved, { unit: "usd", hardCapUsd: 0.005 }), gateUsd);
  assert.equal(over.state, "hard");
  assert.equal(await page.getAttribute("#preview-banner", "data-state"), "hard");
  assert.equal(await page.textContent('#preview [data-field="preview-used"]'), "$0.0056");

  await page.fill("#hardCapUsd", "1");
  assert.equal(await page.getAttribute("#preview-banner", "data-state"), "ok");
  assert.equal(await page.textContent('#preview [data-field="preview-remaining"]'), "$0.9944");

  await page.fill("#softCapUsd", "2");
  const aboveHard = coreError(() => rules.mergeBudget(saved, { unit: "usd", hardCapUsd: 1, softCapUsd: 2 }));
  assert.equal(await page.textContent(`[data-error-for="${aboveHard.field}"]`), aboveHard.message);
  await page.fill("#softCapUsd", "0.0000001");
  const tooFine = coreError(() => rules.mergeBudget(saved, { unit: "usd", hardCapUsd: 1, softCapUsd: 0.0000001 }));
  assert.equal(tooFine.code, "too-many-decimals");
  assert.equal(await page.textContent("#softCapUsd-error"), tooFine.message);
  await page.fill("#softCapUsd", "0.5");

  // "Would this call pass?" in dollars, as the Worker's gate answers it.
  const answers = [];
  for (const estimate of [0.5, 2]) {
    await page.fill("#estimatedUsd", String(estimate));
    answers.push({
      ok: (await page.getAttribute("#check-answer [data-ok]", "data-ok")) === "true",
      reason: await page.getAttribute("#check-answer [data-ok]", "data-reason"),
    });
  }
  assert.deepEqual(requests, [], "nothing was sent before Save");

  await page.click("#save");
  await page.waitForSelector('#save-status:has-text("Saved")');
  const writes = requests.filter((r) => r.method !== "GET");
  assert.deepEqual(writes.map((r) => [r.method, r.path]), [["PUT", "/v1/ports/switch/budget"]]);
  assert.deepEqual(JSON.parse(writes[0].body), { unit: "usd", softCapUsd: 0.5, hardCapUsd: 1 });
  const after = await site.api.status("switch");
  assert.equal(after.budget.unit, "usd");
  assert.equal(after.capStatus.unit, "usd");
  assert.equal(await page.textContent('#summary [data-field="hardCapUsd"]'), "$1.00");
  for (const [i, estimate] of [0.5, 2].entries()) {
    const { json } = await site.api.call("POST", "/v1/ports/switch/check", { estimatedTokens: 1, estimatedUsd: estimate });
    assert.deepEqual(answers[i], { ok: json.ok, reason: json.reason ?? null }, `estimate $${estimate}`);
  }
  assert.deepEqual(answers.map((a) => a.ok), [true, false]);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a call is priced from its model and tokens with the Worker's price and the package's bound, and checked in dollars", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPort(page, "dollars");
  assert.equal(await page.isVisible("#pricer"), true);
  const requests = recordRequests(page);
  await page.fill("#pricer-model", "gpt-4.1-mini-2025-04-14");
  await page.fill("#pricer-input", "50000");
  await page.fill("#pricer-output", "10000");
  await page.click("#price-call");
  await page.waitForSelector('#pricer-result:has-text("At most")');
  assert.deepEqual(requests.map((r) => [r.method, r.path]), [["GET", "/v1/prices/gpt-4.1-mini-2025-04-14"]]);
  const { json: price } = await site.api.call("GET", "/v1/prices/gpt-4.1-mini-2025-04-14");
  assert.equal(price.pricedAs, "gpt-4.1-mini");
  const bound = rules.holdUsd(50000, 10000, price);
  assert.equal(bound.usd, 0.036);
  assert.equal(Number(await page.inputValue("#estimatedUsd")), bound.usd);
  assert.match(await page.textContent("#pricer-result"), /priced as gpt-4\.1-mini/);
  // The Worker holds the same bound for a reservation with this model.
  const { json: check } = await site.api.call("POST", "/v1/ports/dollars/check", {
    model: "gpt-4.1-mini-2025-04-14", estimatedInputTokens: 50000, estimatedOutputTokens: 10000,
  });
  const answer = (await page.getAttribute("#check-answer [data-ok]", "data-ok")) === "true";
  assert.equal(answer, check.ok);
  assert.equal(check.ok, false, "$0.028 are left: a bound of $0.036 does not fit");
  assert.equal(await page.getAttribute("#check-answer [data-ok]", "data-reason"), check.reason);

  await page.fill("#pricer-model", "no-such-model");
  await page.click("#price-call");
  await page.waitForSelector('#pricer-result:has-text("has no price")');
  await page.context().close();
});

test("a price change can be scheduled for a later time (the price in force stays until then); one in the past is refused on its field and nothing is saved", async () => {
  const page = await newPage(browser);
  await signIn(page, site.origin);
  await openPrices(page);
  const requests = recordRequests(page);
  const before = (await site.api.call("GET", "/v1/prices/gpt-4.1-nano")).json;
  await page.fill("#price-model", "gpt-4.1-nano");
  await page.fill("#price-input", "9");
  await page.fill("#price-output", "90");
  await page.fill("#price-from", "2000-01-01T00:00");
  await page.click("#save-price");
  await page.waitForSelector('#price-status:has-text("Not saved")');
  assert.match(await page.textContent("#price-from-error"), /./, "the Worker's refusal shown on the field");
  assert.equal(await page.getAttribute("#price-from", "aria-invalid"), "");
  const unchanged = (await site.api.call("GET", "/v1/prices/gpt-4.1-nano")).json;
  assert.deepEqual(unchanged, before, "nothing saved");
  await page.fill("#price-from", "2099-01-01T12:00");
  await page.click("#save-price");
  await page.waitForSelector('#price-status:has-text("Scheduled the price of gpt-4.1-nano")');
  const writes = requests.filter((r) => r.method !== "GET");
  assert.equal(writes.length, 2);
  const sent = JSON.parse(writes[1].body);
  const local = await page.evaluate(() => new Date("2099-01-01T12:00").toISOString());
  assert.deepEqual(sent, { inputPerMTok: 9, outputPerMTok: 90, effectiveFrom: local });
  const after = (await site.api.call("GET", "/v1/prices/gpt-4.1-nano")).json;
  assert.equal(after.inputPerMTok, before.inputPerMTok, "the price in force stays until then");
  assert.equal(after.scheduled?.[0]?.effectiveFrom, local);
  // The table shows it beside the price in force.
  await page.waitForSelector('#price-status:has-text("Scheduled")');
  const row = (await cells(page, "#prices")).find((r) => r[0] === "gpt-4.1-nano");
  assert.match(row[6], /\$9\.00 \/ MTok in, \$90\.00 \/ MTok out from /);
  const { json } = await site.api.call("GET", "/v1/prices");
  assert.equal(json.prices.find((p) => p.model === "gpt-4.1-nano").scheduled[0].effectiveFrom, local);
});
