// Money through the gateway, with the official SDKs and the fake upstream:
// each call's cost equals the price table by hand (OpenAI chat with cached
// input, Anthropic with cache reads and writes, Responses with reasoning),
// a usd cap refuses with 429 before anything is forwarded, 50 concurrent
// calls never cross a money cap, and an unpriced model is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, ledger, CLOCK_HEADERS, ADMIN_TOKEN } from "./harness.mjs";

let g;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g?.stop();
});

const openai = (port, key) => new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const anthropic = (port, key) => new Anthropic({ apiKey: key, baseURL: g.anthropicURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });

/** Prices a fake model: the id the call asks for (its knobs included) and
 * the `-snapshot` id the fake upstream answers with. */
async function price(requested, perMTok) {
  const answered = `${requested.split("?")[0]}-snapshot`;
  for (const model of [requested, answered]) {
    const res = await g.worker.put(`/v1/prices/${encodeURIComponent(model)}`, perMTok);
    assert.equal(res.status, 200, res.text);
  }
}

const GPT_41 = { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 };
const SONNET = { inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, outputPerMTok: 15 };
const O4_MINI = { inputPerMTok: 1.1, cachedInputPerMTok: 0.275, outputPerMTok: 4.4 };

const lastRow = async (port) => {
  await settled(g.worker, port);
  return (await ledger(g.worker, port)).at(-1);
};

test("an OpenAI chat call with cached input costs what the price table says by hand", async () => {
  const port = "gm-openai";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const model = "gm-chat?in=10000&out=500&cached=6000";
  await price(model, GPT_41);
  await openai(port, key).chat.completions.create({ model, max_tokens: 600, messages: [{ role: "user", content: "Hi" }] });
  const row = await lastRow(port);
  // 4 000 uncached x $2 + 6 000 cached x $0.50 + 500 x $8, per million: $0.015.
  assert.deepEqual([row.input_tokens, row.cached_input_tokens, row.output_tokens, row.cost_usd_micros], [10000, 6000, 500, 15000]);
  const api = (await g.worker.get(`/v1/ports/${port}/ledger`)).json.rows[0];
  assert.equal(api.costUsd, 0.015);
});

test("an Anthropic call with cache reads and writes costs what the price table says by hand", async () => {
  const port = "gm-anthropic";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const model = "gm-claude?in=1000&out=400&cacheRead=2000&cacheWrite=3000";
  await price(model, SONNET);
  const msg = await anthropic(port, key).messages.create({ model, max_tokens: 500, messages: [{ role: "user", content: "Hi" }] });
  assert.equal(msg.usage.cache_read_input_tokens, 2000);
  const row = await lastRow(port);
  // 1 000 x $3 + 2 000 read x $0.30 + 3 000 written x $3.75 + 400 x $15 = 20 850 per million.
  assert.deepEqual(
    [row.input_tokens, row.cached_input_tokens, row.cache_write_tokens, row.output_tokens, row.cost_usd_micros],
    [6000, 2000, 3000, 400, 20850],
  );
});

test("a Responses call with reasoning tokens costs what the price table says by hand (reasoning is output)", async () => {
  const port = "gm-responses";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const model = "gm-reason?in=1000&out=800&reasoning=500";
  await price(model, O4_MINI);
  const res = await openai(port, key).responses.create({ model, input: "Think", max_output_tokens: 900 });
  assert.equal(res.usage.output_tokens_details.reasoning_tokens, 500);
  const row = await lastRow(port);
  // 1 000 x $1.10 + 800 x $4.40 = 4 620 per million.
  assert.deepEqual([row.reasoning_tokens, row.output_tokens, row.cost_usd_micros], [500, 800, 4620]);
});

test("a usd cap refuses with 429 in the provider's format and nothing is forwarded or held", async () => {
  const port = "gm-cap";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 0.001 });
  const model = "gm-capped?in=10&out=10";
  await price(model, GPT_41);
  const sent = g.upstream.requests.length;
  // The hold: max_tokens 1 000 x $8 alone is $0.008, above the $0.001 cap.
  const err = await openai(port, key)
    .chat.completions.create({ model, max_tokens: 1000, messages: [{ role: "user", content: "Hi" }] })
    .then(() => null, (e) => e);
  assert.equal(err?.status, 429);
  assert.match(err.message, /usd/);
  assert.equal(err.headers.get("x-budget-unit"), "usd");
  assert.equal(g.upstream.requests.length, sent, "nothing forwarded");
  assert.deepEqual(await g.worker.holds(port), [], "nothing held");
});

test("50 concurrent calls never cross a money cap", async () => {
  const port = "gm-race";
  const cap = 0.05;
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: cap, period: "day" });
  const model = "gm-race?in=200&out=300";
  await price(model, GPT_41);
  const client = openai(port, key);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      client.chat.completions
        .create({ model, max_tokens: 400, messages: [{ role: "user", content: `call ${i}` }] })
        .then(() => 200, (e) => e.status),
    ),
  );
  assert.ok(results.every((s) => s === 200 || s === 429), JSON.stringify(results));
  const passed = results.filter((s) => s === 200).length;
  assert.ok(passed > 0 && passed < 50, `some pass, some are refused (${passed})`);
  await settled(g.worker, port);
  const rows = await ledger(g.worker, port);
  assert.equal(rows.length, passed, "every call that passed is in the ledger once");
  const micros = rows.reduce((s, r) => s + r.cost_usd_micros, 0);
  // 200 x $2 + 300 x $8 per million: 2 800 micro-dollars each.
  assert.deepEqual([micros, rows.every((r) => r.cost_usd_micros === 2800)], [passed * 2800, true]);
  assert.ok(micros <= cap * 1e6, `${micros} micro-dollars within the $${cap} cap`);
});

test("an unpriced model in a usd budget is refused before anything is forwarded", async () => {
  const port = "gm-unpriced";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const sent = g.upstream.requests.length;
  const err = await openai(port, key)
    .chat.completions.create({ model: "nobody-prices-me?in=1&out=1", max_tokens: 5, messages: [{ role: "user", content: "Hi" }] })
    .then(() => null, (e) => e);
  assert.equal(err?.status, 400);
  assert.equal(err.code, "unpriced_model");
  assert.match(err.message, /nobody-prices-me/);
  const claude = await anthropic(port, key)
    .messages.create({ model: "nobody-prices-me-either", max_tokens: 5, messages: [{ role: "user", content: "Hi" }] })
    .then(() => null, (e) => e);
  assert.equal(claude?.status, 400);
  assert.equal(g.upstream.requests.length, sent, "nothing forwarded");
  assert.deepEqual(await g.worker.holds(port), []);
  // A token budget still serves it, and records no cost.
  const tokensPort = "gm-unpriced-tokens";
  const tokensKey = await openPort(g.worker, tokensPort);
  await openai(tokensPort, tokensKey).chat.completions.create({ model: "nobody-prices-me?in=3&out=2", max_tokens: 5, messages: [{ role: "user", content: "Hi" }] });
  const row = await lastRow(tokensPort);
  assert.deepEqual([row.total_tokens, row.cost_usd_micros], [5, null]);
});

test("prices KV cannot read: a token budget's call is served without a cost, a usd budget's is refused 503 and not forwarded", async () => {
  const model = "gm-kv?in=4&out=2";
  await price(model, GPT_41);
  const tokensPort = "gm-kv-tokens";
  await openPort(g.worker, tokensPort);
  const usdPort = "gm-kv-usd";
  await openPort(g.worker, usdPort, { unit: "usd", hardCapUsd: 10 });
  // The admin token: authenticating it reads no KV, so only the prices fail.
  const down = { ...CLOCK_HEADERS, "x-fault": "kv.read" };
  const client = (port) => new OpenAI({ apiKey: ADMIN_TOKEN, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: down });
  await client(tokensPort).chat.completions.create({ model, max_tokens: 5, messages: [{ role: "user", content: "Hi" }] });
  const row = await lastRow(tokensPort);
  assert.deepEqual([row.total_tokens, row.cost_usd_micros], [6, null], "counted in tokens, no cost");
  const sent = g.upstream.requests.length;
  const refused = await client(usdPort)
    .chat.completions.create({ model, max_tokens: 5, messages: [{ role: "user", content: "Hi" }] })
    .then(() => null, (e) => e);
  assert.deepEqual([refused?.status, refused?.code], [503, "store_unavailable"]);
  assert.equal(g.upstream.requests.length, sent, "nothing forwarded");
  assert.equal((await g.worker.holds(usdPort, { all: false })).length, 0, "nothing held");
});

test("a call is priced at the service tier the answer says served it, not the one asked for", async () => {
  const port = "gm-tiers";
  // The requested id (with its knobs) is held at the fallback price; the
  // answered one is a dated id of the shipped gpt-4.1.
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10, fallbackPrice: { inputPerMTok: 20, outputPerMTok: 40 } });
  const client = openai(port, key);
  const ask = (tier) => ({ model: `gpt-4.1?in=10000&out=1000&cached=4000&dated=1&tier=${tier}`, service_tier: "priority", max_tokens: 1000, messages: [{ role: "user", content: "Hi" }] });
  await client.chat.completions.create(ask("priority"));
  let row = await lastRow(port);
  // gpt-4.1 at priority: 6 000 x $3.50 + 4 000 x $0.875 + 1 000 x $14, per million.
  assert.deepEqual([row.model, row.cost_usd_micros], ["gpt-4.1-2025-04-14", 38500]);
  const shipped = JSON.parse(readFileSync(new URL("../../src/pricing/prices.json", import.meta.url), "utf8"));
  assert.deepEqual([row.price_version, row.price_source], [shipped.asOf, "shipped"], "the shipped figures' version");
  await client.chat.completions.create(ask("default"));
  row = await lastRow(port);
  // Asked for priority, served at the default tier: 6 000 x $2 + 4 000 x $0.50 + 1 000 x $8.
  assert.equal(row.cost_usd_micros, 22000);
  const stream = await client.chat.completions.create({ ...ask("priority"), stream: true });
  for await (const _ of stream);
  row = await lastRow(port);
  assert.equal(row.cost_usd_micros, 38500, "a stream's tier is read from its chunks");
});

test("Anthropic 1-hour cache writes are priced at their own price, plain and streamed", async () => {
  const port = "gm-1h";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10, fallbackPrice: { inputPerMTok: 20, outputPerMTok: 40 } });
  const model = "claude-sonnet-4-5?in=1000&out=500&cacheWrite=12000&cacheWrite1h=10000&dated=1";
  const client = anthropic(port, key);
  await client.messages.create({ model, max_tokens: 500, messages: [{ role: "user", content: "Hi" }] });
  let row = await lastRow(port);
  // 1 000 x $3 + 2 000 five-minute writes x $3.75 + 10 000 one-hour writes x $6 + 500 x $15.
  assert.deepEqual([row.input_tokens, row.cache_write_tokens, row.cost_usd_micros], [13000, 12000, 78000]);
  const stream = await client.messages.create({ model, max_tokens: 500, stream: true, messages: [{ role: "user", content: "Hi" }] });
  for await (const _ of stream);
  row = await lastRow(port);
  assert.equal(row.cost_usd_micros, 78000);
});

test("a price change while a call is in flight does not reprice it: the version in force when it was held prices it", async () => {
  const port = "gm-version";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const model = "gm-version?in=1000&out=100&chunkDelay=40";
  await price(model, GPT_41);
  const stream = await openai(port, key).chat.completions.create({ model, max_tokens: 100, stream: true, messages: [{ role: "user", content: "Hi" }] });
  const later = new Date(Date.parse(CLOCK_HEADERS["x-now"]) + 60_000).toISOString();
  // The price doubles a minute after the call was held, while it streams.
  const doubled = { inputPerMTok: 4, cachedInputPerMTok: 1, outputPerMTok: 16 };
  for (const id of [model, "gm-version-snapshot"]) {
    const res = await g.worker.at(later).put(`/v1/prices/${encodeURIComponent(id)}`, doubled);
    assert.equal(res.status, 200, res.text);
  }
  for await (const _ of stream);
  let row = await lastRow(port);
  // 1 000 x $2 + 100 x $8: the version in force when the call was held.
  assert.deepEqual([row.cost_usd_micros, row.price_version, row.price_source], [2800, CLOCK_HEADERS["x-now"], "admin"]);
  const after = new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: { "x-now": later } });
  await after.chat.completions.create({ model, max_tokens: 100, messages: [{ role: "user", content: "Hi" }] });
  row = await lastRow(port);
  assert.deepEqual([row.cost_usd_micros, row.price_version], [5600, later], "a call held after the change gets the new version");
  const api = (await g.worker.get(`/v1/ports/${port}/ledger`)).json.rows;
  assert.deepEqual(api.map((r) => [r.priceVersion, r.priceSource]), [[later, "admin"], [CLOCK_HEADERS["x-now"], "admin"]]);
});

test("an admin price with a long-context tier re-prices the whole call above its threshold, 1-hour writes and service tiers at its own rates", async () => {
  const port = "gm-admin-tiers";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const entry = {
    inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, cacheWrite1hPerMTok: 6, outputPerMTok: 15,
    tiers: [{ above: 200000, inputPerMTok: 6, cachedInputPerMTok: 0.6, cacheWritePerMTok: 7.5, cacheWrite1hPerMTok: 12, outputPerMTok: 22.5 }],
    serviceTiers: { flex: { inputPerMTok: 1, outputPerMTok: 4 } },
  };
  const above = "gm-long?in=1000&out=500&cacheRead=150000&cacheWrite=60000&cacheWrite1h=20000";
  await price(above, entry);
  const shown = (await g.worker.get("/v1/prices/gm-long-snapshot")).json;
  assert.deepEqual([shown.tiers, shown.serviceTiers.flex.outputPerMTok, shown.source], [[{ ...entry.tiers[0] }], 4, "custom"]);
  const client = anthropic(port, key);
  await client.messages.create({ model: above, max_tokens: 500, messages: [{ role: "user", content: "Hi" }] });
  let row = await lastRow(port);
  // 211 000 input tokens, above 200 000: the whole call at the tier's rates,
  // 1 000 x $6 + 150 000 x $0.60 + 40 000 five-minute writes x $7.50
  // + 20 000 one-hour writes x $12 + 500 x $22.50, per million.
  assert.deepEqual(
    [row.input_tokens, row.cost_usd_micros, row.price_version, row.price_source],
    [211000, 647250, CLOCK_HEADERS["x-now"], "admin"],
  );
  const below = "gm-long?in=1000&out=500&cacheRead=150000&cacheWrite=40000&cacheWrite1h=20000";
  await price(below, entry);
  await client.messages.create({ model: below, max_tokens: 500, messages: [{ role: "user", content: "Hi" }] });
  row = await lastRow(port);
  // 191 000 input tokens: the base rates, 1 000 x $3 + 150 000 x $0.30
  // + 20 000 x $3.75 + 20 000 x $6 + 500 x $15.
  assert.deepEqual([row.input_tokens, row.cost_usd_micros], [191000, 250500]);
  const flex = "gm-long?in=2000&out=100&tier=flex";
  await price(flex, entry);
  await openai(port, key).chat.completions.create({ model: flex, service_tier: "flex", max_tokens: 100, messages: [{ role: "user", content: "Hi" }] });
  row = await lastRow(port);
  // Served at flex: 2 000 x $1 + 100 x $4.
  assert.deepEqual([row.cost_usd_micros, row.price_source], [2400, "admin"]);
});

test("an admin price scheduled for a later instant prices calls from that instant on, and one dated before now is refused", async () => {
  const port = "gm-scheduled";
  const key = await openPort(g.worker, port, { unit: "usd", hardCapUsd: 10 });
  const model = "gm-sched?in=1000&out=100";
  const ids = [model, "gm-sched-snapshot"];
  await price(model, GPT_41);
  const now = Date.parse(CLOCK_HEADERS["x-now"]);
  const from = new Date(now + 3_600_000).toISOString();
  const doubled = { inputPerMTok: 4, cachedInputPerMTok: 1, outputPerMTok: 16 };
  for (const id of ids) {
    const res = await g.worker.put(`/v1/prices/${encodeURIComponent(id)}`, { ...doubled, effectiveFrom: from });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.json.inputPerMTok, res.json.effectiveFrom], [4, from]);
  }
  // The price in force is still the old one; the change is listed as to come.
  const shown = (await g.worker.get("/v1/prices/gm-sched-snapshot")).json;
  assert.equal(shown.inputPerMTok, 2);
  assert.deepEqual(shown.scheduled.map((s) => [s.effectiveFrom, s.inputPerMTok]), [[from, 4]]);
  const listed = (await g.worker.get("/v1/prices")).json.prices.find((p) => p.model === "gm-sched-snapshot");
  assert.equal(listed.inputPerMTok, 2);
  const at = (ms) => new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: { "x-now": new Date(ms).toISOString() } });
  const call = (ms) => at(ms).chat.completions.create({ model, max_tokens: 100, messages: [{ role: "user", content: "Hi" }] });
  await call(now);
  await call(Date.parse(from) - 1);
  await call(Date.parse(from));
  await settled(g.worker, port);
  const rows = await ledger(g.worker, port);
  // 1 000 x $2 + 100 x $8 before the change, 1 000 x $4 + 100 x $16 from it.
  assert.deepEqual(
    rows.map((r) => [r.cost_usd_micros, r.price_version, r.price_source]),
    [[2800, CLOCK_HEADERS["x-now"], "admin"], [2800, CLOCK_HEADERS["x-now"], "admin"], [5600, from, "admin"]],
  );
  // At the instant itself the new price is the one in force, nothing left to come.
  const then = (await g.worker.at(from).get("/v1/prices/gm-sched-snapshot")).json;
  assert.deepEqual([then.inputPerMTok, then.scheduled], [4, undefined]);

  // A change dated before now would rewrite what past calls cost: refused, nothing saved.
  const past = new Date(now - 1000).toISOString();
  const refused = await g.worker.put(`/v1/prices/${encodeURIComponent(ids[1])}`, { ...doubled, inputPerMTok: 9, effectiveFrom: past });
  assert.equal(refused.status, 400, refused.text);
  assert.deepEqual([refused.json.error.code, refused.json.error.field], ["effective-from-past", "effectiveFrom"]);
  const bad = await g.worker.put(`/v1/prices/${encodeURIComponent(ids[1])}`, { ...doubled, effectiveFrom: "next week" });
  assert.deepEqual([bad.status, bad.json.error.code, bad.json.error.field], [400, "invalid-instant", "effectiveFrom"]);
  const kept = (await g.worker.get("/v1/prices/gm-sched-snapshot")).json;
  assert.deepEqual([kept.inputPerMTok, kept.scheduled.map((s) => s.inputPerMTok)], [2, [4]]);
});
