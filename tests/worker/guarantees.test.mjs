// The guarantees of the Worker, shown against workerd with the ports' gates
// in SQLite-backed Durable Objects, D1 as the ledger of record and KV: no
// overshoot under concurrency (one port, and many at once), exactly once,
// nothing lost when a port's object restarts or D1 fails for a while,
// expiry of holds, budgets that bind at once, exact totals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, CLOCK } from "./harness.mjs";
import { windows } from "../clock.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

const usage = (extra = {}) => ({ feature: "chat", provider: "openai", model: "gpt", inputTokens: 60, outputTokens: 40, ...extra });
const MAX = Number.MAX_SAFE_INTEGER;

/** The rollup equals the ledger per period kind, period start and feature;
 * returns the ledger's totals. */
async function assertRollupMatchesLedger(port) {
  const { expected, actual, ledger } = await w.rollupAgainstLedger(port);
  assert.deepEqual(actual, expected, "the rollup equals the ledger's sums");
  return ledger;
}

/** D1's figures equal the gate's: what the rollup counts under each period
 * kind is what the gate counts (held tokens aside). */
async function assertD1EqualsGate(port) {
  const status = await w.synced(port);
  assert.equal(status.pendingLedgerRows, 0, "every row reached D1");
  for (const [period, load] of Object.entries(status.usageByPeriod)) {
    const [row] = await w.sql(
      "SELECT COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(calls), 0) AS calls FROM usage_rollup WHERE port_id = ? AND period = ? AND period_start = ?",
      port,
      period,
      Date.parse(load.periodStart),
    );
    assert.deepEqual(row, { tokens: load.usedTokens, calls: load.calls }, `${period}: D1 equals the gate`);
  }
  return assertRollupMatchesLedger(port);
}

function shuffle(items, seed = 7) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

const fault = (spec, extra = {}) => ({ headers: { "x-fault": spec, ...extra } });

test("no overshoot: 200 concurrent reservations against one hard cap grant exactly as many as fit", async () => {
  const cap = 10_000;
  const estimate = 70;
  await w.setBudget("race", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day" });
  const results = await Promise.all(
    Array.from({ length: 200 }, () => w.post("/v1/ports/race/reservations", { estimatedTokens: estimate })),
  );
  const granted = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(granted.length, Math.floor(cap / estimate));
  assert.equal(refused.length, 200 - granted.length);
  const held = (await w.holds("race", { all: false })).reduce((sum, h) => sum + h.estimatedTokens, 0);
  assert.equal(held, granted.length * estimate);
  const commits = await Promise.all(
    granted.map((r) =>
      w.post(`/v1/ports/race/reservations/${r.json.id}/commit`, { provider: "p", model: "m", inputTokens: estimate, outputTokens: 0 }),
    ),
  );
  assert.ok(commits.every((c) => c.status === 200));
  const ledger = await assertD1EqualsGate("race");
  assert.equal(ledger.tokens, granted.length * estimate);
});

test("no overshoot with mixed estimates: held + committed never pass the cap", async () => {
  const cap = 5_000;
  await w.setBudget("race-mixed", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "month" });
  const estimates = Array.from({ length: 200 }, (_, i) => 1 + ((i * 37) % 120));
  const results = await Promise.all(estimates.map((e) => w.post("/v1/ports/race-mixed/reservations", { estimatedTokens: e })));
  const grantedTokens = results.reduce((sum, r, i) => sum + (r.status === 201 ? estimates[i] : 0), 0);
  assert.ok(grantedTokens <= cap, `${grantedTokens} > ${cap}`);
  const smallestRefused = Math.min(...results.map((r, i) => (r.status === 429 ? estimates[i] : Infinity)));
  assert.ok(cap - grantedTokens < smallestRefused, "a refused request would not have fit at the end");
});

test("no overshoot on 64 ports at once with mixed operations: every port stays within its cap", async () => {
  const ports = Array.from({ length: 64 }, (_, i) => `many-${i}`);
  await Promise.all(ports.map((p, i) => w.setBudget(p, { enabled: true, softCapTokens: 500, hardCapTokens: 1_000 + i * 10, period: "day" })));
  const jobs = [];
  for (const [i, port] of ports.entries()) {
    for (let k = 0; k < 8; k++) {
      jobs.push(
        (async () => {
          const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 150 + ((i + k) % 5) * 20 });
          if (hold.status !== 201) return;
          if (k % 3 === 0) return w.post(`/v1/ports/${port}/reservations/${hold.json.id}/release`);
          return w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: hold.json.estimatedTokens - 10, outputTokens: 5 });
        })(),
      );
      jobs.push(w.post(`/v1/ports/${port}/check`, { estimatedTokens: 1 }));
    }
  }
  await Promise.all(jobs);
  for (const [i, port] of ports.entries()) {
    const status = await w.synced(port);
    assert.ok(status.usage.gateTokens <= 1_000 + i * 10, `${port}: ${status.usage.gateTokens}`);
    assert.ok(status.usage.usedTokens > 0, `${port} did some work`);
  }
  for (const port of ports.slice(0, 8)) await assertD1EqualsGate(port);
});

test("exactly once: usage writes retried 1 to 5 times, some concurrently, count once per requestId", async () => {
  const port = "once";
  const sends = [];
  const expected = new Map();
  for (let i = 0; i < 40; i++) {
    const body = usage({ requestId: `req-${i}`, inputTokens: 10 + i, outputTokens: i });
    expected.set(body.requestId, 10 + 2 * i);
    const copies = 1 + (i % 5);
    for (let c = 0; c < copies; c++) sends.push(body);
  }
  shuffle(sends);
  const half = Math.floor(sends.length / 2);
  const concurrent = await Promise.all(sends.slice(0, half).map((b) => w.post(`/v1/ports/${port}/usage`, b)));
  const sequential = [];
  for (const b of sends.slice(half)) sequential.push(await w.post(`/v1/ports/${port}/usage`, b));
  const all = [...concurrent, ...sequential];
  assert.ok(all.every((r) => r.status === 201), "every copy gets the same success answer");
  const byRequest = new Map();
  for (const r of all) {
    const list = byRequest.get(r.json.entry.requestId) ?? [];
    list.push(r);
    byRequest.set(r.json.entry.requestId, list);
  }
  for (const [id, answers] of byRequest) {
    assert.equal(answers.filter((a) => a.headers.get("idempotent-replayed") !== "true").length, 1, id);
    assert.equal(new Set(answers.map((a) => JSON.stringify(a.json.entry))).size, 1, id);
  }
  const ledger = await assertD1EqualsGate(port);
  const rows = await w.sql("SELECT request_id, total_tokens FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(rows.length, 40);
  for (const row of rows) assert.equal(row.total_tokens, expected.get(row.request_id));
  assert.equal(ledger.tokens, [...expected.values()].reduce((a, b) => a + b, 0));
});

test("exactly once: reservations and commits retried concurrently hold and count once", async () => {
  const port = "once-rsv";
  await w.setBudget(port, { enabled: true, softCapTokens: 100000, hardCapTokens: 100000, period: "week" });
  const ids = [];
  for (let i = 0; i < 20; i++) {
    const copies = 1 + (i % 5);
    const body = { estimatedTokens: 500, requestId: `r-${i}` };
    const answers = await Promise.all(Array.from({ length: copies }, () => w.post(`/v1/ports/${port}/reservations`, body)));
    assert.ok(answers.every((a) => a.status === 201));
    assert.equal(new Set(answers.map((a) => a.json.id)).size, 1, "one reservation per requestId");
    ids.push(answers[0].json.id);
  }
  const holds = await w.holds(port);
  assert.deepEqual([holds.length, holds.reduce((s, h) => s + h.estimatedTokens, 0)], [20, 10000]);
  for (const [i, id] of ids.entries()) {
    const body = { provider: "p", model: "m", inputTokens: 100 + i, outputTokens: 1 };
    const copies = 1 + (i % 5);
    const answers = await Promise.all(Array.from({ length: copies }, () => w.post(`/v1/ports/${port}/reservations/${id}/commit`, body)));
    assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => a.json)));
    assert.equal(new Set(answers.map((a) => a.json.entry.id)).size, 1);
    const other = await w.post(`/v1/ports/${port}/reservations/${id}/commit`, { ...body, outputTokens: 2 });
    assert.equal(other.status, 409);
    assert.equal(other.json.error.code, "request-id-conflict");
  }
  const ledger = await assertD1EqualsGate(port);
  assert.equal(ledger.calls, 20);
  assert.equal(ledger.tokens, 20 * 101 + (19 * 20) / 2);
  assert.deepEqual(await w.holds(port, { all: false }), []);
});

test("the port's object restarts between a hold and its commit: nothing lost, nothing counted twice", async () => {
  const port = "restart";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 600 });
  assert.equal(hold.status, 201);
  // The object aborts (its memory is gone) as the next request reaches it;
  // the Worker sends that request again, to the object started afresh.
  const check = await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 401 }, fault("gate.restart"));
  assert.equal(check.status, 200);
  assert.equal(check.json.ok, false, "the hold survived the restart and still counts");
  const body = { provider: "p", model: "m", inputTokens: 300, outputTokens: 20 };
  const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, body, fault("gate.restart"));
  assert.equal(commit.status, 200);
  assert.equal(commit.headers.get("idempotent-replayed"), null);
  assert.equal((await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, body)).headers.get("idempotent-replayed"), "true");
  assert.deepEqual(await assertD1EqualsGate(port), { tokens: 320, calls: 1 });
});

test("an answer lost after the gate stored the write is not mistaken for a replay, and counts once (reservation, commit, usage)", async () => {
  const port = "lost-answers";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e6, hardCapTokens: 1e6, period: "month" });
  const lost = fault("gate.restart:after");
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 50, requestId: "la-1" }, lost);
  assert.equal(hold.status, 201);
  assert.equal(hold.headers.get("idempotent-replayed"), null, "the request's own hold");
  const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 20, outputTokens: 2 }, lost);
  assert.equal(commit.status, 200);
  assert.equal(commit.headers.get("idempotent-replayed"), null, "the request's own commit");
  const recorded = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "la-2" }), lost);
  assert.equal(recorded.status, 201);
  assert.equal(recorded.headers.get("idempotent-replayed"), null, "the request's own usage write");
  assert.equal((await w.holds(port)).length, 1);
  assert.deepEqual(await assertD1EqualsGate(port), { tokens: 122, calls: 2 });
});

test("D1 down for a while: the gate keeps answering, rows wait in the object, and D1 ends equal to it", async () => {
  const port = "d1-down";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e6, hardCapTokens: 1e6, period: "week" });
  await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "before" }), fault("d1:down"));
  let expected = 100;
  for (let i = 0; i < 12; i++) {
    const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
    assert.equal(hold.status, 201, "reservations answer while D1 is down");
    const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: i, outputTokens: 1 });
    assert.equal(commit.status, 200, "commits answer while D1 is down");
    expected += i + 1;
    assert.equal((await w.post(`/v1/ports/${port}/usage`, usage({ requestId: `down-${i}`, inputTokens: 5, outputTokens: 0 }))).status, 201);
    expected += 5;
  }
  const status = await w.synced(port);
  assert.equal(status.pendingLedgerRows, 25, "every row waits in the object");
  assert.equal(status.usage.usedTokens, expected, "the gate counts them all");
  const ledger = await w.get(`/v1/ports/${port}/ledger`);
  assert.equal(ledger.headers.get("x-budget-ledger-pending"), "25");
  const [inD1] = await w.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(inD1.n, 0, "D1 has none of them yet");
  // D1 comes back: the next delivery brings every row, once.
  await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 1 }, fault("d1:up"));
  const ledgerTotals = await assertD1EqualsGate(port);
  assert.deepEqual(ledgerTotals, { tokens: expected, calls: 25 });
  const [seqs] = await w.sql("SELECT COUNT(DISTINCT seq) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM usage_ledger WHERE port_id = ?", port);
  assert.deepEqual(seqs, { n: 25, lo: 1, hi: 25 }, "each row once, numbered by the gate");
});

test("a port's first start fails closed when D1 cannot be read: 503, nothing held; the retry works", async () => {
  const port = "first-start";
  const res = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 }, fault("d1:down"));
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, "store-unavailable");
  assert.ok(Number(res.headers.get("retry-after")) >= 1);
  assert.equal((await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 10 })).status, 503, "still down: still closed");
  const retry = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 }, fault("d1:up"));
  assert.equal(retry.status, 201);
  assert.equal((await w.holds(port)).length, 1);
});

test("a port from before the gates moved into objects keeps its budget, usage, holds and numbering", async () => {
  const port = "upgraded";
  const kv = await w.mf.getKVNamespace("BUDGETS");
  await kv.put(`budget:v1:${port}`, JSON.stringify({ enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "day", updatedBy: "admin", updatedAt: "2026-01-01T00:00:00.000Z" }));
  const t = CLOCK.ms; // in the current periods, whatever the instant
  const { day, week, month } = { day: windows(t).day.start, week: windows(t).week.start, month: windows(t).month.start };
  await w.sql(
    "INSERT INTO usage_ledger (port_id, feature, provider, model, input_tokens, output_tokens, total_tokens, request_id, body_hash, write_id, created_at) VALUES (?, 'chat', 'p', 'm', 300, 0, 300, 'old-1', 'h', 'w', ?)",
    port,
    t,
  );
  await w.sql("UPDATE usage_ledger SET seq = id WHERE port_id = ?", port);
  for (const [period, start] of [["day", day], ["week", week], ["month", month]]) {
    await w.sql("INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) VALUES (?, ?, ?, 'chat', 300, 1)", port, period, start);
  }
  await w.sql(
    "INSERT INTO reservations (id, port_id, request_id, feature, estimated_tokens, state, body_hash, created_at, expires_at) VALUES ('rsv_0123456789abcdef01234567', ?, 'old-hold', 'chat', 600, 'held', 'b', ?, ?)",
    port,
    t,
    CLOCK.ms + 600_000,
  );
  const [{ id: lastId }] = await w.sql("SELECT MAX(seq) AS id FROM usage_ledger WHERE port_id = ?", port);
  const check = await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 101 });
  assert.deepEqual([check.json.ok, check.json.usedTokens, check.json.heldTokens], [false, 900, 600], "the budget, usage and hold of before bind");
  assert.equal((await w.get(`/v1/ports/${port}/budget`)).json.hardCapTokens, 1000);
  const commit = await w.post(`/v1/ports/${port}/reservations/rsv_0123456789abcdef01234567/commit`, { provider: "p", model: "m", inputTokens: 50, outputTokens: 0 });
  assert.equal(commit.status, 200, "a hold taken before the upgrade commits after it");
  assert.equal(commit.json.entry.id, lastId + 1, "the ledger's numbering goes on");
  assert.deepEqual(await assertD1EqualsGate(port), { tokens: 350, calls: 2 });
});

test("a budget saved through the gate binds the very next call and reaches KV, even when KV failed at first", async () => {
  const port = "binds";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  assert.equal((await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 500 })).status, 201);
  const saved = await w.put(`/v1/ports/${port}/budget`, { hardCapTokens: 400, softCapTokens: 300 }, fault("kv.write"));
  assert.equal(saved.status, 200, "the save binds in the gate though KV refused its copy");
  assert.equal((await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 })).status, 429, "the lowered cap binds the very next call");
  const kv = await w.mf.getKVNamespace("BUDGETS");
  assert.equal(JSON.parse(await kv.get(`budget:v1:${port}`)).hardCapTokens, 1000, "KV still has the older copy");
  await w.synced(port); // the gate writes its copy again
  assert.equal(JSON.parse(await kv.get(`budget:v1:${port}`)).hardCapTokens, 400);
  const listed = (await w.get("/v1/ports")).json.ports.find((p) => p.port === port);
  assert.equal(listed.budget.hardCapTokens, 400);
});

test("budget saves racing with reservations: every hold fits the cap in force when it was judged, and no save is lost", async () => {
  const port = "save-race";
  await w.setBudget(port, { enabled: true, softCapTokens: 100, hardCapTokens: 5000, period: "month" });
  const caps = [4000, 1500, 3000, 800, 2500, 1200];
  const jobs = [];
  for (let i = 0; i < 60; i++) {
    jobs.push(w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 }).then((r) => ({ kind: "hold", r })));
    if (i % 10 === 5) jobs.push(w.put(`/v1/ports/${port}/budget`, { hardCapTokens: caps[(i - 5) / 10] }).then((r) => ({ kind: "save", r })));
  }
  const done = await Promise.all(jobs);
  for (const { kind, r } of done) {
    if (kind === "save") {
      assert.equal(r.status, 200);
      continue;
    }
    if (r.status !== 201) continue;
    const cap = Number(/q=(\d+)/.exec(r.headers.get("ratelimit-policy"))[1]);
    assert.ok(r.json.usage.gateTokens <= cap, `a hold took the port to ${r.json.usage.gateTokens} under a cap of ${cap}`);
  }
  // Partial saves of different fields at once: none lost.
  await Promise.all([
    w.put(`/v1/ports/${port}/budget`, { softCapTokens: 50 }),
    w.put(`/v1/ports/${port}/budget`, { period: "week" }),
    w.put(`/v1/ports/${port}/budget`, { hardCapTokens: 900 }),
  ]);
  const budget = (await w.get(`/v1/ports/${port}/budget`)).json;
  assert.deepEqual([budget.softCapTokens, budget.period, budget.hardCapTokens], [50, "week", 900]);
});

test("If-Match saves only over the version read: of two saves made with the same ETag, one wins", async () => {
  const port = "etag-race";
  await w.setBudget(port, { enabled: true, softCapTokens: 10, hardCapTokens: 100, period: "day" });
  const etag = (await w.get(`/v1/ports/${port}/budget`)).headers.get("etag");
  const answers = await Promise.all([1000, 2000, 3000].map((cap) => w.put(`/v1/ports/${port}/budget`, { hardCapTokens: cap }, { headers: { "if-match": etag } })));
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 412, 412]);
  const winner = answers.find((a) => a.status === 200).json.hardCapTokens;
  assert.equal((await w.get(`/v1/ports/${port}/budget`)).json.hardCapTokens, winner);
});

test("an expired hold becomes a ledger row at its estimate, cannot be released, and a late commit corrects that row", async () => {
  const port = "expiry";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 400, ttlSeconds: 1, feature: "chat" });
  assert.equal(hold.status, 201);
  // Two seconds later, past its expiry, but in the day it expired in (its
  // last millisecond when that day ends sooner): its row is counted there.
  const expiry = Date.parse(hold.json.expiresAt);
  const later = { headers: { "x-now": new Date(Math.min(CLOCK.ms + 2000, windows(expiry).day.end - 1)).toISOString() } };
  const usageNow = await w.get(`/v1/ports/${port}/usage`, later);
  assert.equal(usageNow.json.usedTokens, 400, "the estimate is counted as used");
  assert.equal(usageNow.json.expiredHoldTokens, 400);
  assert.equal(usageNow.json.gateTokens, 400, "an expired hold is charged once, as its estimate");
  const [state] = (await w.holds(port)).map((h) => h.state);
  assert.equal(state, "expired");
  const ledger = await w.get(`/v1/ports/${port}/ledger`, later);
  assert.equal(ledger.json.rows.length, 1);
  const [estimated] = ledger.json.rows;
  assert.deepEqual(
    [estimated.requestId, estimated.reservationId, estimated.estimated, estimated.inputTokens, estimated.outputTokens, estimated.provider, estimated.feature, estimated.createdAt],
    [hold.json.requestId, hold.json.id, true, 400, 0, "unknown", "chat", hold.json.expiresAt],
    "charged at the instant it expired",
  );
  const release = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/release`, undefined, later);
  assert.equal(release.status, 409);
  assert.equal(release.json.error.code, "reservation-expired");
  const body = { provider: "p", model: "m", inputTokens: 90, outputTokens: 10, feature: "summary" };
  const late = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, body, later);
  assert.equal(late.status, 200);
  assert.equal(late.json.reservation.state, "committed");
  assert.equal(late.headers.get("idempotent-replayed"), null);
  assert.equal(late.json.entry.id, estimated.id, "the estimated row itself was corrected");
  assert.equal(late.json.entry.estimated, false);
  assert.equal(late.json.entry.totalTokens, 100);
  const again = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, body, later);
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  const after = await w.get(`/v1/ports/${port}/usage`, later);
  assert.equal(after.json.gateTokens, 100, "the late commit replaced the estimate by the actual usage");
  assert.equal(after.json.expiredHoldTokens, 0);
  const expiredAt = { headers: { "x-now": hold.json.expiresAt } };
  assert.deepEqual((await w.get(`/v1/ports/${port}/breakdown`, expiredAt)).json.breakdown, [{ feature: "summary", tokens: 100, calls: 1, costUsd: 0 }]);
  assert.deepEqual(await assertRollupMatchesLedger(port), { tokens: 100, calls: 1 });
});

test("the object's alarm expires a hold at its expiry with no request, and delivers its row to D1", async () => {
  const port = "alarm";
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 77, ttlSeconds: 1 });
  assert.equal(hold.status, 201);
  // No request reaches the port from here on: only its alarm can act.
  const deadline = Date.now() + 10_000;
  let rows = [];
  while (Date.now() < deadline) {
    rows = await w.sql("SELECT total_tokens, estimated, created_at FROM usage_ledger WHERE port_id = ?", port);
    if (rows.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(rows, [{ total_tokens: 77, estimated: 1, created_at: Date.parse(hold.json.expiresAt) }]);
});

test("a hold taken before a reset weighs on the new period: no overshoot across midnight", async () => {
  const port = "midnight";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const midnight = windows(CLOCK.ms).day.end + 86_400_000;
  const at = (offset) => ({ headers: { "x-now": new Date(midnight + offset).toISOString() } });
  const first = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1000 }, at(-1000));
  assert.equal(first.status, 201);
  const second = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1000 }, at(1000));
  assert.equal(second.status, 429, "the open hold from yesterday still counts");
  const commit = await w.post(`/v1/ports/${port}/reservations/${first.json.id}/commit`, { provider: "p", model: "m", inputTokens: 1000, outputTokens: 0 }, at(2000));
  assert.equal(commit.status, 200);
  assert.equal((await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 }, at(3000))).status, 429);
  const today = await w.get(`/v1/ports/${port}/usage`, at(4000));
  assert.equal(today.json.periodStart, new Date(midnight).toISOString());
  assert.equal(today.json.usedTokens, 1000);
  assert.ok(today.json.gateTokens <= 1000);
  await assertRollupMatchesLedger(port);
});

test("a late commit after a month's last Sunday midnight moves the rollup in the estimated row's own periods", async () => {
  const port = "late-across-reset";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e6, hardCapTokens: 1e6, period: "month" });
  // 2026-05-31 is a Sunday and the month's last day: the day, week and month all turn at once.
  const at = (iso) => ({ headers: { "x-now": iso } });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 500, ttlSeconds: 5, feature: "chat" }, at("2026-05-31T23:59:50.000Z"));
  assert.equal(hold.status, 201);
  const next = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1, ttlSeconds: 3600 }, at("2026-05-31T23:59:58.000Z"));
  assert.equal(next.json.usage.usedTokens, 500, "expired at 23:59:55, into May");
  const late = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 70, outputTokens: 5 }, at("2026-06-01T00:00:05.000Z"));
  assert.equal(late.status, 200);
  assert.equal(late.json.entry.createdAt, "2026-05-31T23:59:55.000Z", "the corrected row keeps its instant");
  assert.equal((await w.get(`/v1/ports/${port}/usage`, at("2026-05-31T23:59:59.000Z"))).json.usedTokens, 75);
  assert.equal((await w.get(`/v1/ports/${port}/usage`, at("2026-06-01T00:00:06.000Z"))).json.usedTokens, 0);
  await assertRollupMatchesLedger(port);
  const [negative] = await w.sql("SELECT COUNT(*) AS n FROM usage_rollup WHERE port_id = ? AND (tokens < 0 OR calls < 1)", port);
  assert.equal(negative.n, 0);
});

test("a late commit weeks after expiry corrects the row's day, week and month once, despite a lost answer", async () => {
  const port = "late-weeks-later";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e6, hardCapTokens: 1e6, period: "week" });
  const at = (iso, headers = {}) => ({ headers: { "x-now": iso, ...headers } });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 500, ttlSeconds: 5, feature: "chat" }, at("2026-03-05T10:00:00.000Z"));
  assert.equal(hold.status, 201);
  const body = { provider: "p", model: "m", inputTokens: 30, outputTokens: 12 };
  const path = `/v1/ports/${port}/reservations/${hold.json.id}/commit`;
  const late = await w.post(path, body, at("2026-04-14T09:00:00.000Z", { "x-fault": "gate.restart:after" }));
  assert.equal(late.status, 200);
  assert.equal(late.headers.get("idempotent-replayed"), null, "the call's own write, though its first answer was lost");
  assert.equal(late.json.entry.createdAt, "2026-03-05T10:00:05.000Z");
  assert.equal((await w.post(path, body, at("2026-04-14T09:00:00.000Z"))).headers.get("idempotent-replayed"), "true");
  for (const iso of ["2026-03-05T12:00:00.000Z"]) {
    assert.equal((await w.get(`/v1/ports/${port}/usage`, at(iso))).json.usedTokens, 42);
  }
  await assertRollupMatchesLedger(port);
  for (const [period, start] of [["day", "2026-03-05"], ["week", "2026-03-02"], ["month", "2026-03-01"]]) {
    const [row] = await w.sql("SELECT tokens FROM usage_rollup WHERE port_id = ? AND period = ? AND period_start = ?", port, period, Date.parse(`${start}T00:00:00Z`));
    assert.equal(row.tokens, 42, period);
  }
});

test("a released hold gives its tokens back and cannot be committed", async () => {
  const port = "released";
  await w.setBudget(port, { enabled: true, softCapTokens: 100, hardCapTokens: 100, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
  assert.equal((await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 })).status, 429);
  const release = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/release`);
  assert.equal(release.status, 200);
  assert.equal(release.json.remaining, 100);
  assert.equal((await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/release`)).status, 200, "releasing twice answers the same");
  const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 1, outputTokens: 1 });
  assert.equal(commit.status, 409);
  assert.equal(commit.json.error.code, "reservation-released");
  assert.equal((await assertRollupMatchesLedger(port)).calls, 0);
});

test("no write takes a total past 2^53 - 1: a clear 409, nothing written, in the gate and in D1", async () => {
  const port = "huge";
  const first = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "h1", inputTokens: MAX, outputTokens: 0 }));
  assert.equal(first.status, 201);
  for (const id of ["h2", "h3"]) {
    const res = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: id, inputTokens: MAX, outputTokens: 0 }));
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, "total-too-large");
    assert.equal(res.json.max, MAX);
  }
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 });
  assert.equal(hold.status, 409, "a hold would take the total past it too");
  const status = await w.synced(port);
  assert.equal(status.usage.usedTokens, MAX);
  const [row] = await w.sql("SELECT tokens, typeof(tokens) AS kind FROM usage_rollup WHERE port_id = ? AND period = 'month'", port);
  assert.deepEqual(row, { tokens: MAX, kind: "integer" }, "D1 keeps the total as an exact integer");
});

test("injected faults and x-now are ignored unless FAULT_INJECTION is on", async () => {
  const plain = await startWorker({ bindings: { FAULT_INJECTION: "off" } });
  try {
    // This Worker runs on the runtime's clock, whatever the suite's instant.
    const from = Date.now();
    const res = await plain.post("/v1/ports/p/usage", usage({ requestId: "f" }), { headers: { "x-fault": "gate.restart,d1.import" } });
    assert.equal(res.status, 201);
    const clock = await plain.get("/v1/ports/p/usage", { headers: { "x-now": "2020-01-01T00:00:00.000Z" } });
    const to = Date.now();
    assert.ok(Date.parse(clock.json.periodStart) <= to && Date.parse(clock.json.resetsAt) > from, `x-now is ignored too: ${clock.text}`);
    // The call counts in the period it was made in: none when that period
    // ended between the two requests.
    const samePeriod = Date.parse(res.json.entry.createdAt) >= Date.parse(clock.json.periodStart);
    assert.equal(clock.json.usedTokens, samePeriod ? 100 : 0);
  } finally {
    await plain.dispose();
  }
});

test("the daily cron deletes rollup rows of periods that started over 400 days ago and keeps the rest", async () => {
  const port = "rollup-retention";
  const day = 86_400_000;
  const today = windows(CLOCK.ms).day.start;
  const old = today - 401 * day;
  const recent = today - 399 * day;
  for (const start of [old, recent]) {
    await w.sql("INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) VALUES (?, 'day', ?, 'f', 5, 1)", port, start);
  }
  await (await w.mf.getWorker()).scheduled({ cron: "17 3 * * *", scheduledTime: CLOCK.date });
  const left = await w.sql("SELECT period_start FROM usage_rollup WHERE port_id = ?", port);
  assert.deepEqual(left.map((r) => r.period_start), [recent]);
});

test("the port list reads every port's current periods through an index, not a table scan", async () => {
  const plan = await w.sql(
    "EXPLAIN QUERY PLAN SELECT port_id, period, SUM(tokens) AS used FROM usage_rollup " +
      "WHERE (period = 'day' AND period_start = ?1) OR (period = 'week' AND period_start = ?2) OR (period = 'month' AND period_start = ?3) " +
      "GROUP BY port_id, period",
    1,
    2,
    3,
  );
  const details = plan.map((r) => r.detail).join("\n");
  assert.match(details, /usage_rollup_period_start/);
  assert.doesNotMatch(details, /^SCAN usage_rollup$/m);
});
