// Money budgets in workerd (real local D1, KV and the ports' objects): a
// budget's unit and caps in dollars, the price table in KV with its admin
// routes, reservations held in micro-dollars, costs priced at settlement and
// kept when a price changes later, unpriced models refused, and the money in
// every report.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

const reserve = (port, body) => w.post(`/v1/ports/${port}/reservations`, body);
const commit = (port, id, body) =>
  w.post(`/v1/ports/${port}/reservations/${id}/commit`, { provider: "openai", ...body });
const usage = (port, body) => w.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", ...body });

test("a budget in dollars is saved from decimal dollars and read back with its unit", async () => {
  const saved = await w.setBudget("m-unit", { enabled: true, unit: "usd", softCapUsd: 40.5, hardCapUsd: 50.000001, period: "day" });
  assert.deepEqual(
    [saved.unit, saved.softCapUsd, saved.hardCapUsd, saved.fallbackPrice],
    ["usd", 40.5, 50.000001, null],
  );
  const read = await w.get("/v1/ports/m-unit/budget");
  assert.equal(read.json.hardCapUsd, 50.000001);
  const tokens = await w.get("/v1/ports/m-never-set/budget");
  assert.deepEqual(
    [tokens.json.unit, tokens.json.softCapUsd, tokens.json.hardCapUsd, tokens.json.hardCapTokens],
    ["tokens", null, null, 500000],
    "a token budget shows its unit and no caps in dollars",
  );
});

test("bad caps in dollars and bad prices are 400 with a code and nothing is saved", async () => {
  await w.setBudget("m-bad", { enabled: true, unit: "usd", hardCapUsd: 5 });
  for (const [body, code, field] of [
    [{ hardCapUsd: -1 }, "negative-amount", "hardCapUsd"],
    [{ hardCapUsd: 1.0000001 }, "too-many-decimals", "hardCapUsd"],
    [{ hardCapUsd: 1e10 }, "amount-too-large", "hardCapUsd"],
    [{ hardCapUsd: "5" }, "invalid-type", "hardCapUsd"],
    [{ unit: "eur" }, "invalid-value", "unit"],
    [{ softCapUsd: 6 }, "soft-cap-above-hard-cap", "softCapUsd"],
    [{ fallbackPrice: { inputPerMTok: 1, outputPerMTok: -1 } }, "negative-amount", "fallbackPrice.outputPerMTok"],
  ]) {
    const res = await w.put("/v1/ports/m-bad/budget", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(body));
  }
  assert.equal((await w.get("/v1/ports/m-bad/budget")).json.hardCapUsd, 5, "nothing saved");
  const before = (await w.get("/v1/prices/gpt-4.1")).json;
  for (const [body, code, field] of [
    [{ inputPerMTok: -2, outputPerMTok: 8 }, "negative-amount", "inputPerMTok"],
    [{ inputPerMTok: 2.0000001, outputPerMTok: 8 }, "too-many-decimals", "inputPerMTok"],
    [{ inputPerMTok: 2, outputPerMTok: 1e12 }, "amount-too-large", "outputPerMTok"],
    [{ inputPerMTok: 2 }, "missing-field", "outputPerMTok"],
    [{ inputPerMTok: 2, outputPerMTok: 8, cheap: true }, "unknown-field", "cheap"],
    [{ inputPerMTok: "2", outputPerMTok: 8 }, "invalid-type", "inputPerMTok"],
  ]) {
    const res = await w.put("/v1/prices/gpt-4.1", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(body));
  }
  assert.deepEqual((await w.get("/v1/prices/gpt-4.1")).json, before, "nothing saved");
});

test("the price table: the shipped figures with their date, a dated id priced as its base, set and delete by the admin only", async () => {
  const list = await w.get("/v1/prices");
  assert.equal(list.status, 200);
  assert.match(list.json.asOf, /^\d{4}-\d{2}-\d{2}$/);
  const sonnet = list.json.prices.find((p) => p.model === "claude-sonnet-4-5");
  assert.deepEqual(
    [sonnet.inputPerMTok, sonnet.cachedInputPerMTok, sonnet.cacheWritePerMTok, sonnet.cacheWrite1hPerMTok, sonnet.outputPerMTok, sonnet.source],
    [3, 0.3, 3.75, 6, 15, "default"],
  );
  assert.deepEqual([sonnet.tiers[0].above, sonnet.tiers[0].outputPerMTok, sonnet.serviceTiers.batch.outputPerMTok], [200000, 22.5, 7.5]);
  const dated = await w.get("/v1/prices/claude-sonnet-4-5-20250929");
  assert.deepEqual([dated.status, dated.json.pricedAs, dated.json.outputPerMTok], [200, "claude-sonnet-4-5", 15]);
  const key = await w.issueKey("m-prices");
  assert.equal((await w.get("/v1/prices", { token: key })).status, 200, "a port key reads prices");
  assert.equal((await w.put("/v1/prices/my-model", { inputPerMTok: 1, outputPerMTok: 2 }, { token: key })).status, 403);
  const set = await w.put("/v1/prices/my-model", { inputPerMTok: 1, outputPerMTok: 2 });
  // In force from the instant it was saved (the request's clock).
  assert.deepEqual(set.json, { model: "my-model", inputPerMTok: 1, cachedInputPerMTok: 1, cacheWritePerMTok: 1, cacheWrite1hPerMTok: 1, outputPerMTok: 2, source: "custom", effectiveFrom: w.now });
  assert.ok((await w.get("/v1/prices")).json.prices.some((p) => p.model === "my-model"));
  assert.deepEqual((await w.delete("/v1/prices/my-model")).json, { model: "my-model", deleted: true });
  assert.equal((await w.get("/v1/prices/my-model")).json.error.code, "price-not-found");
  assert.equal((await w.delete("/v1/prices/my-model")).status, 404);
  // A shipped model deleted stays unpriced until set again.
  assert.equal((await w.delete("/v1/prices/gpt-4o-mini")).status, 200);
  assert.equal((await w.get("/v1/prices/gpt-4o-mini")).status, 404);
  assert.ok(!(await w.get("/v1/prices")).json.prices.some((p) => p.model === "gpt-4o-mini"));
  await w.put("/v1/prices/gpt-4o-mini", { inputPerMTok: 0.15, cachedInputPerMTok: 0.075, outputPerMTok: 0.6 });
  assert.equal((await w.get("/v1/prices/gpt-4o-mini")).json.source, "default", "the shipped figure again");
});

test("an admin price is a whole entry as billed: tiers, 1-hour cache writes and service tiers, shown as saved; a bad one is 400 naming its field and nothing is saved", async () => {
  const entry = {
    inputPerMTok: 1.25, cachedInputPerMTok: 0.125, cacheWritePerMTok: 1.25, cacheWrite1hPerMTok: 2.5, outputPerMTok: 10,
    tiers: [{ above: 200000, inputPerMTok: 2.5, cachedInputPerMTok: 0.25, cacheWritePerMTok: 2.5, cacheWrite1hPerMTok: 5, outputPerMTok: 15 }],
    serviceTiers: {
      batch: { inputPerMTok: 0.625, cachedInputPerMTok: 0.625, cacheWritePerMTok: 0.625, cacheWrite1hPerMTok: 0.625, outputPerMTok: 5 },
      priority: { inputPerMTok: 2.5, cachedInputPerMTok: 2.5, cacheWritePerMTok: 2.5, cacheWrite1hPerMTok: 2.5, outputPerMTok: 20 },
    },
  };
  const set = await w.put("/v1/prices/tiered-model", entry);
  assert.equal(set.status, 200, set.text);
  assert.deepEqual(set.json, { model: "tiered-model", ...entry, source: "custom", effectiveFrom: w.now });
  const one = (await w.get("/v1/prices/tiered-model-2025-04-14")).json;
  assert.deepEqual(one, { model: "tiered-model-2025-04-14", pricedAs: "tiered-model", ...entry, source: "custom" });
  assert.deepEqual((await w.get("/v1/prices")).json.prices.find((p) => p.model === "tiered-model"), { model: "tiered-model", ...entry, source: "custom" });
  // The shipped tiers show the same way.
  const pro = (await w.get("/v1/prices/gemini-2.5-pro")).json;
  assert.deepEqual([pro.source, pro.tiers[0].above], ["default", 200000]);
  for (const [change, code, field] of [
    [{ tiers: [{ ...entry.tiers[0], above: 200000.5 }] }, "invalid-type", "above"],
    [{ tiers: [{ ...entry.tiers[0], above: -1 }] }, "invalid-type", "above"],
    [{ tiers: [{ ...entry.tiers[0], outputPerMTok: -15 }] }, "negative-amount", "outputPerMTok"],
    [{ tiers: [entry.tiers[0], { ...entry.tiers[0], above: 100000 }] }, "invalid-value", "tiers"],
    [{ tiers: { above: 1 } }, "invalid-type", "tiers"],
    [{ cacheWrite1hPerMTok: -1 }, "negative-amount", "cacheWrite1hPerMTok"],
    [{ serviceTiers: { scale: { inputPerMTok: 1, outputPerMTok: 2 } } }, "unknown-field", "scale"],
    [{ serviceTiers: { batch: { inputPerMTok: 1, outputPerMTok: 2, fast: true } } }, "unknown-field", "fast"],
    [{ effectiveUntil: "2030-01-01T00:00:00Z" }, "unknown-field", "effectiveUntil"],
  ]) {
    const res = await w.put("/v1/prices/tiered-model", { ...entry, ...change });
    assert.equal(res.status, 400, JSON.stringify(change));
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(change));
  }
  assert.deepEqual((await w.get("/v1/prices/tiered-model")).json, { model: "tiered-model", pricedAs: "tiered-model", ...entry, source: "custom" }, "nothing saved");
  // A flat price set over it drops its tiers.
  await w.put("/v1/prices/tiered-model", { inputPerMTok: 1, outputPerMTok: 2 });
  const flat = (await w.get("/v1/prices/tiered-model")).json;
  assert.deepEqual([flat.tiers, flat.serviceTiers, flat.cacheWrite1hPerMTok], [undefined, undefined, 1]);
  // An entry larger than KV keeps as a key's metadata (1024 bytes) is
  // saved, and listed, all the same.
  const wide = { ...entry, tiers: [100000, 200000, 400000, 800000].map((above, i) => ({ ...entry.tiers[0], above, outputPerMTok: 15 + i })) };
  wide.serviceTiers = Object.fromEntries(["batch", "flex", "priority"].map((t) => [t, { ...entry.serviceTiers.batch, tiers: wide.tiers }]));
  assert.ok(JSON.stringify(wide).length > 1024);
  const saved = await w.put("/v1/prices/wide-model", wide);
  assert.equal(saved.status, 200, saved.text);
  const listed = (await w.get("/v1/prices")).json.prices.find((p) => p.model === "wide-model");
  assert.deepEqual(listed, { model: "wide-model", ...wide, source: "custom" });
});

test("a usd budget holds the money bound of a model's estimate and refuses with 429 in dollars", async () => {
  const port = "m-hold";
  await w.setBudget(port, { enabled: true, unit: "usd", softCapUsd: 0.01, hardCapUsd: 0.02, period: "day" });
  // gpt-4.1: $2 input (the highest input price), $8 output per million.
  // 1 000 x 2 + 1 000 x 8 = 10 000 per million: $0.01.
  const first = await reserve(port, { model: "gpt-4.1", estimatedInputTokens: 1000, estimatedOutputTokens: 1000 });
  assert.equal(first.status, 201, first.text);
  assert.deepEqual([first.json.estimatedUsd, first.json.estimatedTokens, first.json.remaining], [0.01, 2000, 0.01]);
  assert.equal(first.headers.get("x-budget-unit"), "usd");
  assert.equal(first.headers.get("x-budget-remaining"), "0.01");
  assert.equal(first.headers.get("ratelimit-policy"), '"usd";q=20000;w=86400');
  const second = await reserve(port, { estimatedTokens: 10, estimatedUsd: 0.010001 });
  assert.equal(second.status, 429);
  assert.deepEqual(
    [second.json.reason, second.json.unit, second.json.usedUsd, second.json.capUsd, second.json.remainingUsd],
    ["estimated-exceeds-cap", "usd", 0.01, 0.02, 0.01],
  );
  assert.equal(second.json.usedTokens, undefined, "no token numbers for a money refusal");
  assert.ok(second.headers.get("retry-after"));
  const exact = await reserve(port, { estimatedTokens: 10, estimatedUsd: 0.01 });
  assert.equal(exact.status, 201, "exactly what is left fits");
  const check = await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 0, estimatedUsd: 0 });
  assert.deepEqual([check.json.ok, check.json.reason, check.json.usedUsd, check.json.heldUsd], [false, "hard-cap-exceeded", 0.02, 0.02]);
  // The commit is priced at the table: 600 uncached x 2 + 400 cached x 0.5 + 300 x 8 = 3 800 per million.
  const done = await commit(port, first.json.id, { model: "gpt-4.1-2025-04-14", inputTokens: 1000, cachedInputTokens: 400, outputTokens: 300 });
  assert.equal(done.status, 200, done.text);
  assert.equal(done.json.entry.costUsd, 0.0038);
  assert.deepEqual([done.json.usage.usedUsd, done.json.usage.heldUsd, done.json.usage.gateUsd], [0.0038, 0.01, 0.0138]);
});

test("an unpriced model in a usd budget is 400 unpriced-model naming it, nothing held or counted, unless the port sets a fallback price", async () => {
  const port = "m-unpriced";
  await w.setBudget(port, { enabled: true, unit: "usd", hardCapUsd: 1, period: "day" });
  const held = await reserve(port, { model: "mystery-1", estimatedInputTokens: 10, estimatedOutputTokens: 10 });
  assert.equal(held.status, 400);
  assert.deepEqual([held.json.error.code, held.json.error.field, held.json.model], ["unpriced-model", "model", "mystery-1"]);
  const noMoney = await reserve(port, { estimatedTokens: 10 });
  assert.deepEqual([noMoney.status, noMoney.json.error.code, noMoney.json.error.field], [400, "missing-field", "estimatedUsd"]);
  const used = await usage(port, { model: "mystery-1", inputTokens: 10, outputTokens: 10 });
  assert.deepEqual([used.status, used.json.error.code, used.json.model], [400, "unpriced-model", "mystery-1"]);
  assert.deepEqual(await w.holds(port), [], "nothing held");
  assert.equal((await w.get(`/v1/ports/${port}/usage`)).json.calls, 0, "nothing counted");
  await w.setBudget(port, { fallbackPrice: { inputPerMTok: 1, outputPerMTok: 3 } });
  const priced = await reserve(port, { model: "mystery-1", estimatedInputTokens: 1000, estimatedOutputTokens: 1000 });
  assert.deepEqual([priced.status, priced.json.estimatedUsd], [201, 0.004]);
  const done = await commit(port, priced.json.id, { model: "mystery-1", inputTokens: 500, outputTokens: 100 });
  assert.equal(done.json.entry.costUsd, 0.0008, "500 x 1 + 100 x 3 per million");
});

test("a price change applies to calls settled after it; rows keep their cost; the reports carry money", async () => {
  const port = "m-reports";
  await w.put("/v1/prices/report-model", { inputPerMTok: 1, outputPerMTok: 2 });
  // A token budget: money is shown where a price is known.
  await w.setBudget(port, { enabled: true, softCapTokens: 1_000_000, hardCapTokens: 2_000_000, period: "month" });
  const a = await usage(port, { model: "report-model", inputTokens: 1_000_000, outputTokens: 0, requestId: "a" });
  assert.equal(a.json.entry.costUsd, 1);
  await w.put("/v1/prices/report-model", { inputPerMTok: 3, outputPerMTok: 2 });
  const b = await usage(port, { model: "report-model", inputTokens: 1_000_000, outputTokens: 500_000, requestId: "b", feature: "ocr" });
  assert.equal(b.json.entry.costUsd, 4);
  const c = await usage(port, { model: "unknown-model", inputTokens: 10, outputTokens: 0, requestId: "c" });
  assert.equal(c.json.entry.costUsd, null, "unpriced in a token budget: no cost, still counted");
  const status = await w.synced(port);
  assert.equal(status.pendingLedgerRows, 0);
  assert.deepEqual([status.usage.usedUsd, status.usage.usedTokens], [5, 2_500_010]);
  assert.deepEqual(status.capStatus.unit, "tokens");
  const byFeature = Object.fromEntries(status.breakdown.map((r) => [r.feature, r.costUsd]));
  assert.deepEqual(byFeature, { chat: 1, ocr: 4 });
  assert.equal(status.daily.reduce((s, d) => s + d.costUsd, 0), 5);
  const rows = (await w.get(`/v1/ports/${port}/ledger`)).json.rows;
  assert.deepEqual(rows.map((r) => [r.requestId, r.costUsd]), [["c", null], ["b", 4], ["a", 1]], "row a kept its cost");
  const csv = (await w.get(`/v1/ports/${port}/ledger?format=csv`)).text.trim().split("\n");
  assert.ok(csv[0].endsWith(",reasoningTokens,costUsd,fundedBy"));
  assert.deepEqual(csv.slice(1).map((l) => l.split(",").slice(-2)), [["", "cap"], ["4", "cap"], ["1", "cap"]]);
  const breakdown = await w.get(`/v1/ports/${port}/breakdown`);
  assert.equal(breakdown.json.breakdown.find((r) => r.feature === "ocr").costUsd, 4);
  const list = (await w.get("/v1/ports")).json.ports.find((p) => p.port === port);
  assert.equal(list.usedUsd, 5);
  const [d1] = await w.sql("SELECT SUM(cost_usd_micros) AS micros FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(d1.micros, 5_000_000, "D1 keeps whole micro-dollars");
});

test("a usd budget's status shows its cap status in dollars", async () => {
  const port = "m-status";
  await w.setBudget(port, { enabled: true, unit: "usd", softCapUsd: 0.5, hardCapUsd: 1, period: "week" });
  await w.put("/v1/prices/status-model", { inputPerMTok: 1, outputPerMTok: 1 });
  await usage(port, { model: "status-model", inputTokens: 600_000, outputTokens: 0 });
  const status = await w.synced(port);
  assert.deepEqual(
    [status.capStatus.state, status.capStatus.unit, status.capStatus.usedUsd, status.capStatus.softCapUsd, status.capStatus.hardCapUsd, status.capStatus.remainingUsd, status.capStatus.hardPercent],
    ["soft", "usd", 0.6, 0.5, 1, 0.4, 60],
  );
  const res = await w.get(`/v1/ports/${port}/usage`);
  assert.equal(res.headers.get("x-budget-soft-cap"), "exceeded");
  assert.equal(res.headers.get("x-budget-remaining"), "0.4");
});

test("50 concurrent reservations in dollars never cross the cap, and exactly as many pass as fit", async () => {
  const port = "m-race";
  await w.setBudget(port, { enabled: true, unit: "usd", hardCapUsd: 0.1, period: "day" });
  // Each: 1 000 in at $2 + 500 out at $8 = $0.006; 16 fit in $0.10.
  const results = await Promise.all(
    Array.from({ length: 50 }, () => reserve(port, { model: "gpt-4.1", estimatedInputTokens: 1000, estimatedOutputTokens: 500 })),
  );
  const held = results.filter((r) => r.status === 201);
  assert.ok(results.every((r) => r.status === 201 || r.status === 429));
  assert.equal(held.length, 16);
  const status = await w.synced(port);
  assert.ok(status.usage.gateUsd <= 0.1);
  assert.equal(status.usage.heldUsd, 0.096);
});

test("bad money estimates are 400 with a code and the field, and nothing is held", async () => {
  const port = "m-bad-estimate";
  await w.setBudget(port, { enabled: true, unit: "usd", hardCapUsd: 1, period: "day" });
  for (const [body, code, field] of [
    [{ estimatedTokens: 1, estimatedUsd: -0.5 }, "negative-amount", "estimatedUsd"],
    [{ estimatedTokens: 1, estimatedUsd: 0.0000001 }, "too-many-decimals", "estimatedUsd"],
    [{ estimatedTokens: 1, estimatedUsd: 1e10 }, "amount-too-large", "estimatedUsd"],
    [{ estimatedTokens: 1, estimatedUsd: "0.5" }, "invalid-type", "estimatedUsd"],
    [{ model: "gpt-4.1", estimatedInputTokens: 10 }, "missing-field", "estimatedOutputTokens"],
    [{ estimatedInputTokens: 10, estimatedOutputTokens: 10 }, "missing-field", "model"],
    [{ model: "gpt-4.1", estimatedInputTokens: -1, estimatedOutputTokens: 10 }, "negative-tokens", "estimatedInputTokens"],
    [{ model: "", estimatedInputTokens: 1, estimatedOutputTokens: 1 }, "invalid-value", "model"],
    [{ estimatedUsd: 0.5 }, "missing-field", "estimatedTokens"],
  ]) {
    for (const route of ["reservations", "check"]) {
      const res = await w.post(`/v1/ports/${port}/${route}`, body);
      assert.equal(res.status, 400, `${route} ${JSON.stringify(body)}`);
      assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], `${route} ${JSON.stringify(body)}`);
    }
  }
  assert.deepEqual(await w.holds(port), []);
});

test("no write takes a port's dollars past 2^53 - 1 micro-dollars: 409 total-too-large in usd, nothing written, in the gate and in D1", async () => {
  const port = "m-exact";
  const MAX = Number.MAX_SAFE_INTEGER;
  // An absurd but valid price: $1e9 per million tokens, $1 000 a token.
  await w.put("/v1/prices/absurd-model", { inputPerMTok: 1e9, outputPerMTok: 1e9 });
  await w.setBudget(port, { enabled: true, softCapTokens: MAX, hardCapTokens: MAX, period: "month" });
  const first = await usage(port, { model: "absurd-model", inputTokens: 9_000_000, outputTokens: 0, requestId: "a" });
  assert.equal(first.status, 201, first.text);
  assert.equal(first.json.entry.costUsd, 9e9);
  // $8e6 more would take the month to 9 008 000 000 000 000 micro-dollars.
  const more = await usage(port, { model: "absurd-model", inputTokens: 8_000, outputTokens: 0, requestId: "b" });
  assert.equal(more.status, 409, more.text);
  assert.equal(more.json.error.code, "total-too-large");
  assert.deepEqual([more.json.unit, more.json.wouldBe, more.json.max], ["usd", 9_008_000_000_000_000, MAX]);
  assert.match(more.json.error.message, /micro-dollars/);
  // A hold whose money bound would pass it is refused the same way.
  const hold = await reserve(port, { model: "absurd-model", estimatedInputTokens: 8_000, estimatedOutputTokens: 0 });
  assert.equal(hold.status, 409, hold.text);
  assert.equal(hold.json.unit, "usd");
  // Within the range, still counted.
  const fits = await usage(port, { model: "absurd-model", inputTokens: 7_000, outputTokens: 0, requestId: "c" });
  assert.equal(fits.status, 201, fits.text);
  const status = await w.synced(port);
  assert.deepEqual([status.usage.usedUsd, status.usage.usedTokens], [9_007_000_000, 9_007_000]);
  assert.equal(status.usage.heldTokens ?? 0, 0, "nothing was held");
  const [ledger] = await w.sql("SELECT COUNT(*) AS n, SUM(cost_usd_micros) AS micros FROM usage_ledger WHERE port_id = ?", port);
  assert.deepEqual(ledger, { n: 2, micros: 9_007_000_000_000_000 });
  const [rollup] = await w.sql("SELECT usd_micros, typeof(usd_micros) AS kind FROM usage_rollup WHERE port_id = ? AND period = 'month'", port);
  assert.deepEqual(rollup, { usd_micros: 9_007_000_000_000_000, kind: "integer" }, "D1 keeps the total as an exact integer");
});
