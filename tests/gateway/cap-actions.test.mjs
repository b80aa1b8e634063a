// A port's gateway settings through the API (GET/PUT /v1/ports/{port}/gateway,
// If-Match like budgets), bound to the very next call, and the actions at its
// caps, with the official SDKs (OpenAI, Anthropic, Google Gen AI) as clients: a downgrade above the soft cap (the
// upstream sees the cheaper model, the ledger records it, priced as it), a
// downgrade at the hard cap and one that still does not fit, a throttle that
// lets exactly n of 50 concurrent calls through a minute, and bad settings
// refused with 400 and the field, nothing saved.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { startGateway, openPort, settled, ledger, CLOCK, CLOCK_HEADERS } from "./harness.mjs";

let g;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g?.stop();
});

const openai = (port, key, headers = CLOCK_HEADERS) =>
  new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: headers });
const anthropic = (port, key) => new Anthropic({ apiKey: key, baseURL: g.anthropicURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const saveSettings = (port, body, headers = {}) => g.worker.put(`/v1/ports/${port}/gateway`, body, { headers });
const chat = (client, model) => client.chat.completions.create({ model, max_tokens: 20, messages: [{ role: "user", content: "hi" }] });

/** Prices a fake model under the id asked for and the `-snapshot` id the fake answers with. */
async function price(requested, perMTok) {
  for (const model of [requested, `${requested.split("?")[0]}-snapshot`]) {
    const res = await g.worker.put(`/v1/prices/${encodeURIComponent(model)}`, perMTok);
    assert.equal(res.status, 200, res.text);
  }
}

test("settings saved through the API bind the port's next call, and If-Match guards them as it guards budgets", async () => {
  const port = "gs-bind";
  const key = await openPort(g.worker, port);
  const client = openai(port, key);
  await chat(client, "gs-any?in=3&out=1");
  const before = await g.worker.get(`/v1/ports/${port}/gateway`);
  assert.equal(before.status, 200);
  assert.equal(before.json.updatedAt, null, "never saved");
  assert.equal(before.json.defaults.strict, true, "the deployment's defaults are shown");
  assert.equal(before.json.defaults.defaultMaxTokens, 4096);

  const saved = await saveSettings(port, { models: ["gs-ok*"], defaultMaxTokens: 55 });
  assert.equal(saved.status, 200, saved.text);
  const etag = saved.headers.get("etag");
  assert.equal(etag, `"${saved.json.updatedAt}"`);
  assert.deepEqual(saved.json.models, ["gs-ok*"]);

  // The very next call is judged under them: a model off the list is refused...
  const refused = await chat(client, "gs-any?in=3&out=1").catch((e) => e);
  assert.ok(refused instanceof OpenAI.BadRequestError, `got ${refused}`);
  assert.equal(refused.code, "model_not_allowed");
  // ...and a call without a bound gets the port's default.
  await client.chat.completions.create({ model: "gs-ok?in=3&out=1", messages: [{ role: "user", content: "hi" }] });
  assert.equal(g.upstream.requests.at(-1).body.max_completion_tokens, 55);

  // An If-Match naming an older version saves nothing.
  const again = await saveSettings(port, { models: ["gs-ok*"], defaultMaxTokens: 66 }, { "If-Match": etag });
  assert.equal(again.status, 200, again.text);
  const stale = await saveSettings(port, {}, { "If-Match": etag });
  assert.equal(stale.status, 412);
  assert.equal(stale.json.error.code, "precondition-failed");
  const now = await g.worker.get(`/v1/ports/${port}/gateway`);
  assert.equal(now.json.defaultMaxTokens, 66);
  assert.equal(now.headers.get("etag"), again.headers.get("etag"));

  // A save replaces the settings whole: `{}` gives the port the deployment's again.
  assert.equal((await saveSettings(port, {})).status, 200);
  await chat(client, "gs-any?in=3&out=1");
});

test("bad settings are refused with 400 naming the field, and nothing is saved", async () => {
  const port = "gs-bad";
  await openPort(g.worker, port);
  const good = await saveSettings(port, { onSoftCap: { action: "pass" } });
  assert.equal(good.status, 200, good.text);
  const cases = [
    [{ onSoftCap: { action: "slow-down" } }, "unknown-action", "onSoftCap.action"],
    [{ models: ["gpt-4.1*"], onSoftCap: { action: "downgrade", models: { "gpt-4.1": "claude-haiku-4-5" } } }, "model-not-allowed", "onSoftCap.models.gpt-4.1"],
    [{ onSoftCap: { action: "throttle", callsPerMinute: -3 } }, "invalid-value", "onSoftCap.callsPerMinute"],
    [{ onSoftCap: { action: "throttle", callsPerMinute: 1.5 } }, "invalid-value", "onSoftCap.callsPerMinute"],
    [{ onHardCap: { action: "pass" } }, "invalid-value", "onHardCap.action"],
    [{ defaultMaxTokens: 0 }, "invalid-value", "defaultMaxTokens"],
    [{ strict: "yes" }, "invalid-type", "strict"],
    [{ model: ["x"] }, "unknown-field", "model"],
  ];
  for (const [body, code, field] of cases) {
    const res = await saveSettings(port, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(body));
  }
  const kept = await g.worker.get(`/v1/ports/${port}/gateway`);
  assert.deepEqual(kept.json.onSoftCap, { action: "pass" });
  assert.equal(kept.headers.get("etag"), good.headers.get("etag"), "nothing was saved");
  // Only the admin saves them.
  const key = await g.worker.issueKey(port);
  const byPort = await g.worker.put(`/v1/ports/${port}/gateway`, {}, { token: key });
  assert.equal(byPort.status, 403);
});

test("above the soft cap a downgrade sends the cheaper model, held and priced as it, and says so", async () => {
  const port = "gs-downgrade";
  const key = await openPort(g.worker, port, { softCapTokens: 10, hardCapTokens: 1_000_000 });
  const big = "gs-big?in=100&out=5";
  const small = "gs-small?in=100&out=5";
  await price(big, { inputPerMTok: 10, outputPerMTok: 40 });
  await price(small, { inputPerMTok: 1, outputPerMTok: 2 });
  const saved = await saveSettings(port, { onSoftCap: { action: "downgrade", models: { "gs-big*": small } } });
  assert.equal(saved.status, 200, saved.text);
  const client = openai(port, key);
  // Under the soft cap: sent as asked.
  const first = await chat(client, big).withResponse();
  assert.equal(first.response.headers.get("x-budget-action"), null);
  assert.equal(g.upstream.requests.at(-1).body.model, big);
  // Above it: the cheaper model.
  const { data, response } = await chat(client, big).withResponse();
  assert.equal(g.upstream.requests.at(-1).body.model, small, "the upstream sees the cheaper model");
  assert.equal(data.model, "gs-small-snapshot");
  assert.equal(response.headers.get("x-budget-action"), "downgraded");
  assert.equal(response.headers.get("x-budget-original-model"), big);
  assert.equal(response.headers.get("x-budget-cap"), "soft");
  await settled(g.worker, port);
  const rows = await ledger(g.worker, port);
  assert.equal(rows.length, 2);
  assert.match(rows[1].model, /^gs-small/, "the ledger records the model sent");
  // 100 x $1 + 5 x $2 per million: 110 micro-dollars (the big one: 1 200).
  assert.deepEqual([rows[0].cost_usd_micros, rows[1].cost_usd_micros], [1200, 110]);
});

test("a Gemini call above the soft cap is sent with the cheaper model in its path, and recorded as it", async () => {
  const port = "gs-gemini";
  const key = await openPort(g.worker, port, { softCapTokens: 10, hardCapTokens: 1_000_000 });
  const saved = await saveSettings(port, { onSoftCap: { action: "downgrade", models: { "gem-pro*": "gem-flash;in=7;out=2" } } });
  assert.equal(saved.status, 200, saved.text);
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: g.geminiURL(port), headers: CLOCK_HEADERS } });
  await ai.models.generateContent({ model: "gem-pro;in=50;out=5", contents: "Hello" });
  assert.equal(g.upstream.requests.at(-1).path, "/gemini/v1beta/models/gem-pro;in=50;out=5:generateContent");
  const answer = await ai.models.generateContent({ model: "gem-pro;in=50;out=5", contents: "Hello" });
  assert.equal(g.upstream.requests.at(-1).path, "/gemini/v1beta/models/gem-flash;in=7;out=2:generateContent", "the upstream is asked for the cheaper model");
  assert.equal(answer.usageMetadata.promptTokenCount, 7);
  await settled(g.worker, port);
  const rows = await ledger(g.worker, port);
  assert.deepEqual(rows.map((r) => [r.input_tokens, r.output_tokens]), [[50, 5], [7, 2]]);
  assert.match(rows[1].model, /^gem-flash/);
});

test("at the hard cap a downgrade that fits goes on, and one that still does not fit is refused naming the cap", async () => {
  const port = "gs-hard";
  const key = await openPort(g.worker, port, { unit: "usd", softCapUsd: 0.5, hardCapUsd: 0.5 });
  const big = "gs-opus?in=10&out=5";
  const small = "gs-haiku?in=10&out=5";
  const dear = "gs-dear?in=10&out=5";
  await price(big, { inputPerMTok: 1000, outputPerMTok: 5000 });
  await price(small, { inputPerMTok: 1, outputPerMTok: 5 });
  await price(dear, { inputPerMTok: 1000, outputPerMTok: 5000 });
  await price("gs-other", { inputPerMTok: 1000, outputPerMTok: 5000 });
  const saved = await saveSettings(port, { onHardCap: { action: "downgrade", models: { "gs-opus*": small, "gs-other": dear } } });
  assert.equal(saved.status, 200, saved.text);
  const client = anthropic(port, key);
  // 200 output tokens at $5 000 per million is $1: past the $0.50 cap.
  const { response } = await client.messages.create({ model: big, max_tokens: 200, messages: [{ role: "user", content: "hi" }] }).withResponse();
  assert.equal(g.upstream.requests.at(-1).body.model, small);
  assert.equal(response.headers.get("x-budget-action"), "downgraded");
  assert.equal(response.headers.get("x-budget-cap"), "hard");
  assert.equal(response.headers.get("x-budget-original-model"), big);
  // The cheaper model is just as dear: refused as without the action.
  const sent = g.upstream.requests.length;
  const err = await client.messages.create({ model: "gs-other", max_tokens: 200, messages: [{ role: "user", content: "hi" }] }).catch((e) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
  assert.equal(err.headers.get("x-budget-action"), "refused");
  assert.equal(err.headers.get("x-budget-cap"), "hard");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
});

test("refuse at the soft cap lets calls through under it and refuses them above it, naming the cap", async () => {
  const port = "gs-soft-refuse";
  const key = await openPort(g.worker, port, { softCapTokens: 10, hardCapTokens: 1_000_000 });
  assert.equal((await saveSettings(port, { onSoftCap: { action: "refuse" } })).status, 200);
  const client = openai(port, key);
  await chat(client, "gs-r?in=100&out=5");
  const sent = g.upstream.requests.length;
  const err = await chat(client, "gs-r?in=1&out=1").catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
  assert.equal(err.error.code, "budget_exceeded");
  assert.equal(err.headers.get("x-budget-action"), "refused");
  assert.equal(err.headers.get("x-budget-cap"), "soft");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
});

test("a throttle above the soft cap lets exactly n of 50 concurrent calls through a minute, and the rest retry at the next minute", async () => {
  const port = "gs-throttle";
  const key = await openPort(g.worker, port, { softCapTokens: 10, hardCapTokens: 10_000_000, period: "month" });
  await chat(openai(port, key), "gs-t?in=100&out=5");
  const saved = await saveSettings(port, { onSoftCap: { action: "throttle", callsPerMinute: 7 } });
  assert.equal(saved.status, 200, saved.text);
  const client = openai(port, key);
  const results = await Promise.all(
    Array.from({ length: 50 }, () => chat(client, "gs-t?in=3&out=1").then(() => "ok", (e) => e)),
  );
  const passed = results.filter((r) => r === "ok").length;
  assert.equal(passed, 7);
  const throttled = results.filter((r) => r instanceof OpenAI.RateLimitError);
  assert.equal(throttled.length, 43);
  const nowMs = Date.parse(CLOCK.iso);
  const toNextMinute = Math.max(1, Math.ceil((Math.floor(nowMs / 60_000) * 60_000 + 60_000 - nowMs) / 1000));
  for (const e of throttled) {
    assert.equal(e.headers.get("retry-after"), String(toNextMinute));
    assert.equal(e.headers.get("x-budget-action"), "throttled");
    assert.equal(e.headers.get("x-budget-cap"), "soft");
    assert.equal(e.error.code, "budget_throttled");
  }
  // Another minute of the same month has its own 7 slots.
  const later = new Date(nowMs + 60_000);
  const other = later.getUTCMonth() === new Date(nowMs).getUTCMonth() ? later : new Date(nowMs - 60_000);
  const next = openai(port, key, { "x-now": other.toISOString() });
  const more = await Promise.all(Array.from({ length: 10 }, () => chat(next, "gs-t?in=3&out=1").then(() => "ok", () => "no")));
  assert.equal(more.filter((r) => r === "ok").length, 7);
  await settled(g.worker, port);
  assert.equal((await ledger(g.worker, port)).length, 1 + 7 + 7, "only the calls let through were forwarded and counted");
});
