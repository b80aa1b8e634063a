// What the third probe found in the gateway, with the official SDKs and the
// fake upstream: an output bound whose money hold passes 2^53 - 1
// micro-dollars is 409 in the provider's error format with nothing forwarded
// or held (not a 503 telling the SDK to retry), and an upstream that reports
// usage past the exact range has its call charged its hold: every settled
// call ends its hold, and D1 keeps every row.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, ledger, reservations, CLOCK_HEADERS } from "./harness.mjs";

const MAX = Number.MAX_SAFE_INTEGER;

let g;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g?.stop();
});

const openai = (port, key) => new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const anthropic = (port, key) => new Anthropic({ apiKey: key, baseURL: g.anthropicURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });

async function price(model) {
  const res = await g.worker.put(`/v1/prices/${encodeURIComponent(model)}`, { inputPerMTok: 2, outputPerMTok: 8 });
  assert.equal(res.status, 200, res.text);
}

test("an output bound whose money hold passes 2^53 - 1 micro-dollars is 409 total-too-large in each format, nothing forwarded or held", async () => {
  const port = "gp-bound";
  const key = await openPort(g.worker, port, { softCapTokens: MAX, hardCapTokens: MAX });
  await price("gp-priced");
  const sent = g.upstream.requests.length;
  const calls = [
    () => openai(port, key).chat.completions.create({ model: "gp-priced", max_tokens: MAX, messages: [{ role: "user", content: "x" }] }),
    () => openai(port, key).responses.create({ model: "gp-priced", max_output_tokens: MAX, input: "x" }),
    // (A timeout of its own: the SDK refuses a plain call this long otherwise.)
    () => anthropic(port, key).messages.create({ model: "gp-priced", max_tokens: MAX, messages: [{ role: "user", content: "x" }] }, { timeout: 10_000 }),
  ];
  for (const [i, call] of calls.entries()) {
    const err = await call().catch((e) => e);
    assert.equal(err.status, 409, `call ${i}: ${err.message}`);
    assert.match(err.message, /total|2\^53|past/i, `call ${i}`);
    assert.equal(err.headers?.get?.("retry-after") ?? null, null, `call ${i}: nothing to retry`);
  }
  assert.equal(g.upstream.requests.length, sent, "nothing forwarded");
  assert.deepEqual(await reservations(g.worker, port), [], "nothing held");
});

test("an upstream that reports usage past 2^53 - 1 has its call charged its hold: the hold ends, D1 keeps the row", async () => {
  const port = "gp-usage";
  const key = await openPort(g.worker, port);
  // Anthropic: the cache reads alone are 2^53 - 1, so the input total passes it.
  const msg = await anthropic(port, key).messages.create({
    model: `gp-claude?in=10&out=5&cacheRead=${MAX}`,
    max_tokens: 50,
    messages: [{ role: "user", content: "x" }],
  });
  assert.equal(msg.usage.cache_read_input_tokens, MAX, "the client sees the provider's answer");
  // OpenAI: each count in range, their sum not.
  await openai(port, key).chat.completions.create({
    model: `gp-chat?in=${MAX}&out=10`,
    max_tokens: 20,
    messages: [{ role: "user", content: "x" }],
  });
  // Streamed: the same, settled after the last byte.
  const stream = await anthropic(port, key).messages.create({
    model: `gp-claude?in=10&out=5&cacheRead=${MAX}`,
    max_tokens: 50,
    stream: true,
    messages: [{ role: "user", content: "x" }],
  });
  for await (const _ of stream);
  await settled(g.worker, port);
  const holds = await reservations(g.worker, port);
  assert.equal(holds.length, 3);
  for (const h of holds) {
    assert.equal(h.state, "committed", `${h.request_id} ended`);
    assert.equal(h.actual_tokens, h.estimated_tokens, "charged its hold");
  }
  const rows = await ledger(g.worker, port);
  assert.equal(rows.length, 3, "every row reached D1");
  for (const r of rows) {
    assert.equal(r.total_tokens, r.input_tokens + r.output_tokens);
    assert.ok(r.total_tokens < 1_000_000);
  }
  const status = (await g.worker.get(`/v1/ports/${port}/status`)).json;
  assert.deepEqual([status.pendingLedgerRows, status.setAsideLedgerRows], [0, 0]);
});
