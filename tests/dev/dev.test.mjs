// The README's main command, run as a user runs it: `scripts/dev.sh` sets up,
// builds, applies the migrations to the local D1, keeps an admin token in
// .dev.vars and serves the Worker and the admin page with `wrangler dev`.
// These tests walk the README's curl examples against it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startDev, devToken } from "./server.mjs";
import { testClock } from "../clock.mjs";
import { Receiver, verifySignature, eventually } from "../alerts/receiver.mjs";

// The walk-through runs at one instant (TEST_NOW, else a Thursday morning in
// August): the dev Worker is started with its test seams on, and every call
// carries the instant as `x-now`, so a daily budget's numbers never depend
// on the date or on a run that crosses midnight.
const CLOCK = testClock("2028-08-10T09:00:00.000Z");

// A port of its own, so the walk-through's numbers are exact on every run
// (the local D1 and KV persist between runs of the dev command).
const port = `acme-${randomBytes(6).toString("hex")}`;

let dev;
let base;

before(async () => {
  dev = await startDev(["--var", "FAULT_INJECTION:on"]);
  base = dev.base;
});

after(() => dev?.stop());

const token = devToken;

async function call(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token()}`, "x-now": CLOCK.iso },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

test("the main command prints the admin token it keeps in .dev.vars", () => {
  assert.match(token(), /^adm_[0-9a-f]{48}$/);
  assert.ok(dev.output().includes(`admin token: ${token()}`), "the printed token is the kept one");
});

test("the README's walk-through works against the local Worker", async () => {
  const saved = await call("PUT", `/v1/ports/${port}/budget`, {
    enabled: true, softCapTokens: 80000, hardCapTokens: 100000, period: "day",
  });
  assert.equal(saved.status, 200, saved.text);
  assert.equal(saved.json.hardCapTokens, 100000);

  const hold = await call("POST", `/v1/ports/${port}/reservations`, {
    estimatedTokens: 4000, feature: "chat", requestId: "demo-1",
  });
  assert.equal(hold.status, 201, hold.text);
  assert.equal(hold.json.state, "held");
  assert.equal(hold.headers.get("x-budget-remaining"), "96000");

  const commit = await call("POST", `/v1/ports/${port}/reservations/${hold.json.id}/commit`, {
    inputTokens: 1200, outputTokens: 800, provider: "openai", model: "gpt-4.1-mini",
  });
  assert.equal(commit.status, 200, commit.text);
  assert.equal(commit.json.entry.totalTokens, 2000);

  const usage = {
    feature: "ocr", provider: "anthropic", model: "claude-sonnet", inputTokens: 900, outputTokens: 100, requestId: "scan-1",
  };
  assert.equal((await call("POST", `/v1/ports/${port}/usage`, usage)).status, 201);
  const again = await call("POST", `/v1/ports/${port}/usage`, usage);
  assert.equal(again.headers.get("idempotent-replayed"), "true", "the same requestId counts nothing");

  const check = await call("POST", `/v1/ports/${port}/check`, { estimatedTokens: 2000 });
  assert.equal(check.status, 200, check.text);
  assert.deepEqual([check.json.ok, check.json.usedTokens, check.json.remaining], [true, 3000, 97000]);

  const status = await call("GET", `/v1/ports/${port}/status`);
  assert.equal(status.json.usage.gateTokens, 3000);
  assert.deepEqual(status.json.breakdown.map((b) => [b.feature, b.tokens]), [["chat", 2000], ["ocr", 1000]]);

  const csv = await call("GET", `/v1/ports/${port}/ledger?format=csv`);
  assert.equal(csv.text.split("\n")[0].split(",")[0], "id");
  assert.equal(csv.text.trim().split("\n").length, 3, "a header and two rows");

  const key = await call("POST", `/v1/ports/${port}/keys`);
  assert.equal(key.status, 201, key.text);
  assert.match(key.json.key, /^abk_/);
});

test("alerts run on the local queues: a crossing reaches a webhook on localhost, signed", async () => {
  const rx = await new Receiver().start();
  try {
    const alerted = `${port}-alerts`;
    await call("PUT", `/v1/ports/${alerted}/budget`, { enabled: true, softCapTokens: 100, hardCapTokens: 1000, period: "day" });
    const put = await call("PUT", `/v1/ports/${alerted}/alerts`, { thresholds: [50], webhookUrl: `${rx.origin}/ok/dev` });
    assert.equal(put.status, 200, put.text);
    const usage = { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 600, outputTokens: 0, requestId: "alert-1" };
    assert.equal((await call("POST", `/v1/ports/${alerted}/usage`, usage)).status, 201);
    await eventually(() => rx.at("/ok/dev").length >= 2, { ms: 60_000, what: "two events at the local receiver" });
    const events = rx.at("/ok/dev").map((r) => r.event);
    assert.deepEqual(events.map((e) => String(e.threshold)).sort(), ["50", "soft"]);
    for (const r of rx.at("/ok/dev")) assert.ok(verifySignature(r.headers["x-budget-signature"], r.body, put.json.secret));
  } finally {
    await rx.stop();
  }
});

test("the main command serves the admin page with the package's wasm", async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>[^<]*ai-budget/i);
  const wasm = await fetch(`${base}/vendor/ai-budget/ai_budget_bg.wasm`);
  assert.equal(wasm.status, 200);
  const magic = new Uint8Array(await wasm.arrayBuffer()).slice(0, 4);
  assert.deepEqual([...magic], [0x00, 0x61, 0x73, 0x6d], "a WebAssembly module");
});
