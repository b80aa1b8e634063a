// Actions at a feature's own cap (`features` in a port's gateway settings),
// with the OpenAI SDK as the client: above its cap a feature's downgrade and
// its throttle judge its calls while the port's own action is another one,
// the port's other features untouched; the answers name the feature's cap;
// bad per-feature settings refused with 400 and the field, nothing saved.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startGateway, openPort, settled, ledger, CLOCK, CLOCK_HEADERS } from "./harness.mjs";

let g;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g?.stop();
});

/** A client of `port` whose calls are of `feature`. */
const client = (port, key, feature) =>
  new OpenAI({
    apiKey: key,
    baseURL: g.openaiURL(port),
    maxRetries: 0,
    defaultHeaders: { ...CLOCK_HEADERS, "x-budget-feature": feature },
  });
const saveSettings = (port, body) => g.worker.put(`/v1/ports/${port}/gateway`, body);
const chat = (c, model) => c.chat.completions.create({ model, max_tokens: 20, messages: [{ role: "user", content: "hi" }] });

/** A port far under its own soft cap whose feature `chat` is capped at 10 / 1 000 000 tokens. */
const openFeaturePort = (port) =>
  openPort(g.worker, port, { softCapTokens: 900_000, hardCapTokens: 1_000_000, featureCaps: { chat: { softCap: 10, hardCap: 1_000_000 } } });

test("above a feature's soft cap its downgrade sends the cheaper model while the port refuses above its own, and other features go on as asked", async () => {
  const port = "fa-downgrade";
  const key = await openFeaturePort(port);
  const big = "fa-big?in=100&out=5";
  const small = "fa-small?in=100&out=5";
  const saved = await saveSettings(port, {
    onSoftCap: { action: "refuse" },
    features: { chat: { onSoftCap: { action: "downgrade", models: { "fa-big*": small } } } },
  });
  assert.equal(saved.status, 200, saved.text);
  assert.deepEqual(saved.json.features, { chat: { onSoftCap: { action: "downgrade", models: { "fa-big*": small } } } });
  const chatClient = client(port, key, "chat");
  // Under chat's cap: as asked.
  const first = await chat(chatClient, big).withResponse();
  assert.equal(first.response.headers.get("x-budget-action"), null);
  assert.equal(g.upstream.requests.at(-1).body.model, big);
  // Above chat's soft cap (the port far under its own): chat's downgrade.
  const { response } = await chat(chatClient, big).withResponse();
  assert.equal(g.upstream.requests.at(-1).body.model, small, "the upstream sees the cheaper model");
  assert.equal(response.headers.get("x-budget-action"), "downgraded");
  assert.equal(response.headers.get("x-budget-cap"), "soft");
  assert.equal(response.headers.get("x-budget-scope"), "feature");
  assert.equal(response.headers.get("x-budget-scope-id"), "chat");
  assert.equal(response.headers.get("x-budget-original-model"), big);
  // Another feature has no cap of its own: as asked, no action.
  const other = await chat(client(port, key, "search"), big).withResponse();
  assert.equal(g.upstream.requests.at(-1).body.model, big);
  assert.equal(other.response.headers.get("x-budget-action"), null);
  await settled(g.worker, port);
  const rows = await ledger(g.worker, port);
  assert.deepEqual(
    rows.map((r) => [r.feature, r.model.startsWith("fa-small")]),
    [["chat", false], ["chat", true], ["search", false]],
    "the ledger records the model sent",
  );
});

test("a feature's throttle lets exactly its n of 20 concurrent calls through a minute while the port's own throttle is looser, and other features are not throttled", async () => {
  const port = "fa-throttle";
  const key = await openFeaturePort(port);
  const saved = await saveSettings(port, {
    onSoftCap: { action: "throttle", callsPerMinute: 50 },
    features: { chat: { onSoftCap: { action: "throttle", callsPerMinute: 3 } } },
  });
  assert.equal(saved.status, 200, saved.text);
  const chatClient = client(port, key, "chat");
  await chat(chatClient, "fa-t?in=100&out=5");
  const searchClient = client(port, key, "search");
  const results = await Promise.all([
    ...Array.from({ length: 20 }, () => chat(chatClient, "fa-t?in=3&out=1").then(() => "chat", (e) => e)),
    ...Array.from({ length: 5 }, () => chat(searchClient, "fa-t?in=3&out=1").then(() => "search", (e) => e)),
  ]);
  assert.equal(results.filter((r) => r === "chat").length, 3, "chat's 3 a minute");
  assert.equal(results.filter((r) => r === "search").length, 5, "the port under its soft cap: search is not throttled");
  const throttled = results.filter((r) => r instanceof OpenAI.RateLimitError);
  assert.equal(throttled.length, 17);
  const nowMs = Date.parse(CLOCK.iso);
  const toNextMinute = Math.max(1, Math.ceil((Math.floor(nowMs / 60_000) * 60_000 + 60_000 - nowMs) / 1000));
  for (const e of throttled) {
    assert.equal(e.error.code, "budget_throttled");
    assert.equal(e.headers.get("retry-after"), String(toNextMinute));
    assert.equal(e.headers.get("x-budget-action"), "throttled");
    assert.equal(e.headers.get("x-budget-cap"), "soft");
    assert.equal(e.headers.get("x-budget-scope"), "feature");
    assert.equal(e.headers.get("x-budget-scope-id"), "chat");
  }
  await settled(g.worker, port);
  assert.equal((await ledger(g.worker, port)).length, 1 + 3 + 5, "only the calls let through were forwarded and counted");
});

test("bad per-feature actions are refused with 400 naming the field, and nothing is saved", async () => {
  const port = "fa-bad";
  await openPort(g.worker, port);
  const good = await saveSettings(port, { features: { chat: { onSoftCap: { action: "pass" } } } });
  assert.equal(good.status, 200, good.text);
  const cases = [
    [{ features: { chat: { onSoftCap: { action: "slow-down" } } } }, "unknown-action", "features.chat.onSoftCap.action"],
    [
      { models: ["gpt-4.1*"], features: { chat: { onSoftCap: { action: "downgrade", models: { "gpt-4.1": "claude-haiku-4-5" } } } } },
      "model-not-allowed",
      "features.chat.onSoftCap.models.gpt-4.1",
    ],
    [{ features: { chat: { onSoftCap: { action: "throttle", callsPerMinute: -1 } } } }, "invalid-value", "features.chat.onSoftCap.callsPerMinute"],
    [{ features: { chat: { onSoftCap: { action: "throttle", callsPerMinute: 0.5 } } } }, "invalid-value", "features.chat.onSoftCap.callsPerMinute"],
    [{ features: { chat: { onHardCap: { action: "pass" } } } }, "invalid-value", "features.chat.onHardCap.action"],
    [{ features: { chat: { onSoft: { action: "pass" } } } }, "unknown-field", "features.chat.onSoft"],
  ];
  for (const [body, code, field] of cases) {
    const res = await saveSettings(port, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(body));
  }
  const kept = await g.worker.get(`/v1/ports/${port}/gateway`);
  assert.deepEqual(kept.json.features, { chat: { onSoftCap: { action: "pass" } } });
  assert.equal(kept.headers.get("etag"), good.headers.get("etag"), "nothing was saved");
});
