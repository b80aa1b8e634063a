// What the third probe found, in workerd (real local D1, KV and the ports'
// objects), one test per class: amounts past the exact range are 4xx with
// nothing held or written (never a 503 telling the client to retry); one
// rule for money that cannot be priced; malformed percent-escapes in a
// path; a missing feature cap bound; and a ledger row that D1 refuses for
// good, set aside while the rows behind it reach D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { Receiver, eventually } from "../alerts/receiver.mjs";

const MAX = Number.MAX_SAFE_INTEGER;

let w;
let rx;
before(async () => {
  rx = await new Receiver().start();
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
  await rx?.stop();
});

const reserve = (port, body) => w.post(`/v1/ports/${port}/reservations`, body);
const usage = (port, body) => w.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", ...body });
const commit = (port, id, body) => w.post(`/v1/ports/${port}/reservations/${id}/commit`, { provider: "openai", ...body });

async function nothingHeldOrCounted(port) {
  assert.deepEqual(await w.holds(port), [], `${port}: nothing held`);
  const status = await w.synced(port);
  assert.equal(status.usage.calls, 0, `${port}: nothing counted`);
  assert.equal((await w.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port))[0].n, 0);
}

test("a reservation whose money bound passes 2^53 - 1 micro-dollars is 409 total-too-large in usd, nothing held", async () => {
  const port = "pr-bound";
  await w.setBudget(port, { enabled: true, period: "month", softCapTokens: MAX, hardCapTokens: MAX });
  // gpt-4.1's input at $2 a million: 2^52 tokens cost about $9 billion.
  const res = await reserve(port, { model: "gpt-4.1", estimatedInputTokens: 2 ** 52, estimatedOutputTokens: 0 });
  assert.equal(res.status, 409, res.text);
  assert.deepEqual([res.json.error.code, res.json.unit, res.json.max], ["total-too-large", "usd", MAX]);
  assert.ok(res.json.wouldBe > MAX);
  assert.equal(res.headers.get("retry-after"), null, "nothing to retry");
  await nothingHeldOrCounted(port);
  // In a budget in dollars the estimate is past the cap: refused as such.
  const usd = "pr-bound-usd";
  await w.setBudget(usd, { enabled: true, unit: "usd", hardCapUsd: 1_000_000_000, period: "month" });
  const refused = await reserve(usd, { model: "gpt-4.1", estimatedInputTokens: 2 ** 52, estimatedOutputTokens: 0 });
  assert.ok([409, 429].includes(refused.status), refused.text);
  await nothingHeldOrCounted(usd);
});

test("a usage write or a commit that costs more than 2^53 - 1 micro-dollars on its own is 409, nothing written", async () => {
  const port = "pr-cost";
  assert.equal((await w.put("/v1/prices/probe-dear", { inputPerMTok: 1_000_000_000, outputPerMTok: 1_000_000_000 })).status, 200);
  await w.setBudget(port, { enabled: true, period: "month", softCapTokens: MAX, hardCapTokens: MAX });
  const used = await usage(port, { model: "probe-dear", inputTokens: 10_000_000, outputTokens: 0, requestId: "dear-1" });
  assert.equal(used.status, 409, used.text);
  assert.deepEqual([used.json.error.code, used.json.unit], ["total-too-large", "usd"]);
  await nothingHeldOrCounted(port);
  const held = await reserve(port, { estimatedTokens: 10, requestId: "dear-2" });
  assert.equal(held.status, 201, held.text);
  const done = await commit(port, held.json.id, { model: "probe-dear", inputTokens: 10_000_000, outputTokens: 0 });
  assert.equal(done.status, 409, done.text);
  assert.deepEqual([done.json.error.code, done.json.unit], ["total-too-large", "usd"]);
  const [hold] = await w.holds(port);
  assert.equal(hold.state, "held", "the hold is untouched: the caller may commit it another way or release it");
  assert.equal((await w.post(`/v1/ports/${port}/reservations/${held.json.id}/release`)).status, 200);
  const status = await w.synced(port);
  assert.deepEqual([status.usage.calls, status.pendingLedgerRows, status.setAsideLedgerRows], [0, 0, 0]);
});

test("usage past the exact range is 400 too-many-tokens, nothing written, and D1 never sees it", async () => {
  const port = "pr-tokens";
  for (const [input, output] of [[MAX, 10], [MAX - 5, 6], [2 ** 52, 2 ** 52]]) {
    const res = await usage(port, { model: "gpt-4.1-mini", inputTokens: input, outputTokens: output });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.field], [400, "too-many-tokens", "outputTokens"]);
  }
  await nothingHeldOrCounted(port);
});

test("an unpriced model committed against a $0 hold is 400 unpriced-model, like a usage write of it: never free", async () => {
  const port = "pr-free";
  await w.setBudget(port, { enabled: true, unit: "usd", hardCapUsd: 1, period: "day" });
  const held = await reserve(port, { estimatedUsd: 0, estimatedTokens: 10, requestId: "free-1" });
  assert.equal(held.status, 201, held.text);
  const done = await commit(port, held.json.id, { model: "mystery-9", inputTokens: 500, outputTokens: 500 });
  assert.deepEqual([done.status, done.json.error.code, done.json.model], [400, "unpriced-model", "mystery-9"]);
  const direct = await usage(port, { model: "mystery-9", inputTokens: 500, outputTokens: 500 });
  assert.deepEqual([direct.status, direct.json.error.code], [400, "unpriced-model"]);
  const [hold] = await w.holds(port);
  assert.equal(hold.state, "held", "still open: commit it with a priced model or release it");
  const priced = await commit(port, held.json.id, { model: "gpt-4.1-mini", inputTokens: 500, outputTokens: 500 });
  assert.equal(priced.status, 200, priced.text);
  assert.ok(priced.json.entry.costUsd > 0);
});

test("amounts finer than a micro-dollar are too-many-decimals however small the excess, and nothing is saved", async () => {
  const port = "pr-decimals";
  const before = await w.setBudget(port, { enabled: true, unit: "usd", hardCapUsd: 5, period: "day" });
  for (const raw of ["5e-324", "1e-12", "4.0000000001", "0.0000001"]) {
    const res = await w.put(`/v1/ports/${port}/budget`, undefined, {
      raw: `{"hardCapUsd": ${raw}}`,
      headers: { "content-type": "application/json" },
    });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.field], [400, "too-many-decimals", "hardCapUsd"], raw);
    const held = await w.post(`/v1/ports/${port}/reservations`, undefined, {
      raw: `{"estimatedUsd": ${raw}, "estimatedTokens": 1}`,
      headers: { "content-type": "application/json" },
    });
    assert.deepEqual([held.status, held.json.error.code], [400, "too-many-decimals"], raw);
  }
  assert.deepEqual((await w.get(`/v1/ports/${port}/budget`)).json, before);
  assert.deepEqual(await w.holds(port), []);
});

test("a price path with a malformed percent-escape is 400 and saves nothing", async () => {
  for (const path of ["a%zz", "a%4", "a%", "%g0x"]) {
    const res = await w.put(`/v1/prices/${path}`, { inputPerMTok: 1, outputPerMTok: 1 });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.field], [400, "invalid-value", "model"], path);
  }
  const models = (await w.get("/v1/prices")).json.prices.map((p) => p.model);
  assert.ok(!models.some((m) => m.includes("%")), "no model named with a %");
  // A well-formed escape still names a model with any character.
  assert.equal((await w.put("/v1/prices/org%2Fmodel%25x", { inputPerMTok: 1, outputPerMTok: 1 })).status, 200);
  assert.equal((await w.get("/v1/prices/org%2Fmodel%25x")).json.model, "org/model%x");
});

test("a feature cap without hardCap is 400 missing-field naming it", async () => {
  const res = await w.put("/v1/ports/pr-caps/budget", { featureCaps: { chat: { softCap: 5 } } });
  assert.deepEqual([res.status, res.json.error.code, res.json.error.field], [400, "missing-field", "featureCaps.chat.hardCap"]);
  const user = await w.put("/v1/ports/pr-caps/budget", { userCap: { softCap: 5 } });
  assert.deepEqual([user.status, user.json.error.code, user.json.error.field], [400, "missing-field", "userCap.hardCap"]);
});

test("a row D1 refuses for good is set aside: counted in status, sent as an event, and the rows behind it reach D1", async () => {
  const port = "pr-poison";
  await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/ok/poison` });
  // D1 refuses this one row on every try, as a constraint would.
  await w.db.exec(
    "CREATE TRIGGER IF NOT EXISTS probe_refuse BEFORE INSERT ON usage_ledger WHEN NEW.request_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by the probe trigger'); END",
  );
  try {
    for (const id of ["a", "poison", "c", "d"]) {
      const res = await usage(port, { model: "gpt-4.1-mini", inputTokens: 10, outputTokens: 5, requestId: id });
      assert.equal(res.status, 201, res.text);
    }
    const status = await eventually(
      async () => {
        const s = await w.synced(port);
        return s.pendingLedgerRows === 0 && s.setAsideLedgerRows === 1 && s;
      },
      { what: "the poison row set aside and the rest delivered" },
    );
    assert.equal(status.usage.usedTokens, 60, "still counted by the gate");
    assert.equal(status.setAside[0].requestId, "poison");
    assert.match(status.setAside[0].reason, /refused by the probe trigger/);
    const rows = await w.sql("SELECT request_id FROM usage_ledger WHERE port_id = ? ORDER BY seq", port);
    assert.deepEqual(rows.map((r) => r.request_id), ["a", "c", "d"]);
    const answer = await w.get(`/v1/ports/${port}/status`);
    assert.equal(answer.headers.get("x-budget-ledger-set-aside"), "1");
    const event = await eventually(
      () => rx.requests.find((r) => r.path === "/ok/poison" && r.event?.type === "ledger-row-set-aside")?.event,
      { what: "the ledger-row-set-aside event" },
    );
    assert.deepEqual([event.port, event.requestId, event.version], [port, "poison", 1]);
    // Rows written later are not held up.
    assert.equal((await usage(port, { model: "gpt-4.1-mini", inputTokens: 1, outputTokens: 1, requestId: "e" })).status, 201);
    await eventually(async () => (await w.synced(port)).pendingLedgerRows === 0, { what: "e delivered" });
    const after = await w.sql("SELECT request_id FROM usage_ledger WHERE port_id = ? ORDER BY seq", port);
    assert.deepEqual(after.map((r) => r.request_id), ["a", "c", "d", "e"]);
    // Only the admin puts rows back on their way; while D1 still refuses
    // the row it is set aside again.
    const key = await w.issueKey(port);
    assert.equal((await w.post(`/v1/ports/${port}/ledger/retry`, undefined, { token: key })).status, 403);
    const again = await w.post(`/v1/ports/${port}/ledger/retry`);
    assert.deepEqual([again.status, again.json.retried], [200, 1], again.text);
    await eventually(async () => (await w.synced(port)).setAsideLedgerRows === 1, { what: "set aside again" });
  } finally {
    await w.db.exec("DROP TRIGGER IF EXISTS probe_refuse");
  }
  // The cause mended, a retry delivers the row, once.
  const retried = await w.post(`/v1/ports/${port}/ledger/retry`);
  assert.deepEqual([retried.status, retried.json], [200, { port, retried: 1 }]);
  const healed = await eventually(
    async () => {
      const s = await w.synced(port);
      return s.setAsideLedgerRows === 0 && s.pendingLedgerRows === 0 && s;
    },
    { what: "the set-aside row delivered" },
  );
  assert.deepEqual(healed.setAside, []);
  const rows = await w.sql("SELECT request_id FROM usage_ledger WHERE port_id = ? ORDER BY seq", port);
  assert.deepEqual(rows.map((r) => r.request_id), ["a", "poison", "c", "d", "e"]);
  assert.equal((await w.post(`/v1/ports/${port}/ledger/retry`)).json.retried, 0, "nothing left to retry");
});
