// The guarantees of the Worker, shown against workerd with local D1 and KV:
// no overshoot, exactly once, nothing lost or half-written under injected
// D1 failures, expiry of holds.
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

/** The rollup equals the ledger per period kind, period start and feature;
 * returns the ledger's totals. */
async function assertRollupMatchesLedger(port) {
  const { expected, actual, ledger } = await w.rollupAgainstLedger(port);
  assert.deepEqual(actual, expected, "the rollup equals the ledger's sums");
  return ledger;
}

/** Retries a request until it is not a 503, as a client following Retry-After would. */
async function untilAnswered(send) {
  for (let i = 0; i < 20; i++) {
    const res = await send(i);
    if (res.status !== 503) return res;
  }
  throw new Error("still 503 after 20 tries");
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
  const [held] = await w.sql("SELECT COALESCE(SUM(estimated_tokens), 0) AS t FROM reservations WHERE port_id = 'race' AND state = 'held'");
  assert.ok(held.t <= cap);
  assert.equal(held.t, granted.length * estimate);

  // Committing them all concurrently (each using its estimate) keeps held + committed within the cap.
  const commits = await Promise.all(
    granted.map((r) =>
      w.post(`/v1/ports/race/reservations/${r.json.id}/commit`, { provider: "p", model: "m", inputTokens: estimate, outputTokens: 0 }),
    ),
  );
  assert.ok(commits.every((c) => c.status === 200));
  const ledger = await assertRollupMatchesLedger("race");
  assert.ok(ledger.tokens <= cap);
  assert.equal(ledger.tokens, granted.length * estimate);
});

test("no overshoot with mixed estimates: held + committed never pass the cap", async () => {
  const cap = 5_000;
  await w.setBudget("race-mixed", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "month" });
  const estimates = Array.from({ length: 200 }, (_, i) => 1 + ((i * 37) % 120));
  const results = await Promise.all(estimates.map((e) => w.post("/v1/ports/race-mixed/reservations", { estimatedTokens: e })));
  const grantedTokens = results.reduce((sum, r, i) => sum + (r.status === 201 ? estimates[i] : 0), 0);
  assert.ok(grantedTokens <= cap, `${grantedTokens} > ${cap}`);
  // Every refusal was right when it was made: what was left was smaller than its estimate.
  const smallestRefused = Math.min(...results.map((r, i) => (r.status === 429 ? estimates[i] : Infinity)));
  assert.ok(cap - grantedTokens < smallestRefused, "a refused request would have fit at the end");
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
  // Half of the copies go concurrently, the rest one after another.
  const half = Math.floor(sends.length / 2);
  const concurrent = await Promise.all(sends.slice(0, half).map((b) => w.post(`/v1/ports/${port}/usage`, b)));
  const sequential = [];
  for (const b of sends.slice(half)) sequential.push(await w.post(`/v1/ports/${port}/usage`, b));
  const all = [...concurrent, ...sequential];
  assert.ok(all.every((r) => r.status === 201), "every copy gets the same success answer");
  // Each requestId: one first answer, the rest replays of the same entry.
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
  const rows = await w.sql("SELECT request_id, total_tokens FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(rows.length, 40);
  for (const row of rows) assert.equal(row.total_tokens, expected.get(row.request_id));
  const ledger = await assertRollupMatchesLedger(port);
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
  const [holds] = await w.sql("SELECT COUNT(*) AS n, SUM(estimated_tokens) AS t FROM reservations WHERE port_id = ?", port);
  assert.deepEqual(holds, { n: 20, t: 10000 });
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
  const ledger = await assertRollupMatchesLedger(port);
  assert.equal(ledger.calls, 20);
  assert.equal(ledger.tokens, 20 * 101 + (19 * 20) / 2);
  const [open] = await w.sql("SELECT COUNT(*) AS n FROM reservations WHERE port_id = ? AND state = 'held'", port);
  assert.equal(open.n, 0);
});

test("a D1 failure before a usage write answers 503 with Retry-After and writes nothing", async () => {
  const port = "fail-before";
  const res = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "x1" }), { headers: { "x-fault": "d1.usage" } });
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, "store-unavailable");
  assert.ok(Number(res.headers.get("retry-after")) >= 1);
  assert.equal((await assertRollupMatchesLedger(port)).calls, 0);
  const retry = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "x1" }));
  assert.equal(retry.status, 201);
  assert.equal(retry.headers.get("idempotent-replayed"), null);
  assert.equal((await assertRollupMatchesLedger(port)).calls, 1);
});

test("a reply lost after a usage write is retried safely: counted once", async () => {
  const port = "fail-after";
  const res = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "x2" }), { headers: { "x-fault": "d1.usage:after" } });
  assert.equal(res.status, 503);
  const retry = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "x2" }));
  assert.equal(retry.status, 201);
  assert.equal(retry.headers.get("idempotent-replayed"), "true");
  const ledger = await assertRollupMatchesLedger(port);
  assert.equal(ledger.calls, 1);
  assert.equal(ledger.tokens, 100);
});

test("a transient D1 error is retried inside the Worker and the client sees success", async () => {
  const port = "fail-once";
  const res = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "x3" }), { headers: { "x-fault": "d1.usage:once" } });
  assert.equal(res.status, 201);
  assert.equal((await assertRollupMatchesLedger(port)).calls, 1);
});

test("the gate fails closed: no hold is granted when D1 or KV cannot answer", async () => {
  const port = "closed";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  for (const fault of ["d1.reserve", "kv.read"]) {
    const res = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 }, { headers: { "x-fault": fault } });
    assert.equal(res.status, 503, fault);
    assert.equal(res.json.error.code, "store-unavailable");
  }
  const check = await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 10 }, { headers: { "x-fault": "d1.read" } });
  assert.equal(check.status, 503);
  const [holds] = await w.sql("SELECT COUNT(*) AS n FROM reservations WHERE port_id = ?", port);
  assert.equal(holds.n, 0);
});

test("a commit whose reply was lost is retried safely; its hold is settled once", async () => {
  const port = "commit-fault";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 300 });
  const body = { provider: "p", model: "m", inputTokens: 100, outputTokens: 20 };
  const path = `/v1/ports/${port}/reservations/${hold.json.id}/commit`;
  assert.equal((await w.post(path, body, { headers: { "x-fault": "d1.commit" } })).status, 503);
  let [row] = await w.sql("SELECT state FROM reservations WHERE id = ?", hold.json.id);
  assert.equal(row.state, "held", "a failed commit leaves the hold as it was");
  assert.equal((await assertRollupMatchesLedger(port)).calls, 0);
  assert.equal((await w.post(path, body, { headers: { "x-fault": "d1.commit:after" } })).status, 503);
  const retry = await w.post(path, body);
  assert.equal(retry.status, 200);
  assert.equal(retry.headers.get("idempotent-replayed"), "true");
  [row] = await w.sql("SELECT state, actual_tokens FROM reservations WHERE id = ?", hold.json.id);
  assert.deepEqual(row, { state: "committed", actual_tokens: 120 });
  const ledger = await assertRollupMatchesLedger(port);
  assert.deepEqual(ledger, { tokens: 120, calls: 1 });
});

test("under random injected failures and client retries, nothing is lost and nothing is counted twice", async () => {
  const port = "chaos";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e9, hardCapTokens: 1e9, period: "month" });
  const faults = ["d1.usage", "d1.usage:after", "d1.usage:once", "d1.commit", "d1.commit:after", "d1.reserve", "d1.reserve:after", ""];
  let expectedTokens = 0;
  const jobs = Array.from({ length: 30 }, async (_, i) => {
    const fault = (k) => ({ headers: { "x-fault": faults[(i * 3 + k) % faults.length] } });
    if (i % 2 === 0) {
      const body = usage({ requestId: `chaos-u-${i}`, inputTokens: i, outputTokens: 1 });
      expectedTokens += i + 1;
      const res = await untilAnswered((k) => w.post(`/v1/ports/${port}/usage`, body, k < 3 ? fault(k) : {}));
      assert.equal(res.status, 201);
    } else {
      const hold = await untilAnswered((k) =>
        w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 50, requestId: `chaos-r-${i}` }, k < 3 ? fault(k) : {}),
      );
      assert.equal(hold.status, 201);
      const body = { provider: "p", model: "m", inputTokens: i, outputTokens: 2 };
      expectedTokens += i + 2;
      const res = await untilAnswered((k) =>
        w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, body, k < 3 ? fault(k + 1) : {}),
      );
      assert.equal(res.status, 200);
    }
  });
  await Promise.all(jobs);
  const ledger = await assertRollupMatchesLedger(port);
  assert.deepEqual(ledger, { tokens: expectedTokens, calls: 30 });
  const [open] = await w.sql("SELECT COUNT(*) AS n FROM reservations WHERE port_id = ? AND state != 'committed'", port);
  assert.equal(open.n, 0, "every hold was settled exactly once");
});

test("an expired hold becomes a ledger row at its estimate, cannot be released, and a late commit corrects that row", async () => {
  const port = "expiry";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 400, ttlSeconds: 1, feature: "chat" });
  assert.equal(hold.status, 201);
  // The cron trigger runs two seconds later, past the hold's expiry.
  const worker = await w.mf.getWorker();
  await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date(CLOCK.ms + 2000) });
  // Everything after runs at the cron's instant (at a period's last second, already the next period).
  const later = { headers: { "x-now": CLOCK.at(2000) } };
  const [row] = await w.sql("SELECT state FROM reservations WHERE id = ?", hold.json.id);
  assert.equal(row.state, "expired", "the cron trigger expired the stale hold");
  const usageNow = await w.get(`/v1/ports/${port}/usage`, later);
  assert.equal(usageNow.json.usedTokens, 400, "the estimate is counted as used");
  assert.equal(usageNow.json.expiredHoldTokens, 400);
  assert.equal(usageNow.json.gateTokens, 400, "an expired hold is charged once, as its estimate");
  const ledger = await w.get(`/v1/ports/${port}/ledger`, later);
  assert.equal(ledger.json.rows.length, 1);
  const [estimated] = ledger.json.rows;
  assert.deepEqual(
    [estimated.requestId, estimated.reservationId, estimated.estimated, estimated.inputTokens, estimated.outputTokens, estimated.provider, estimated.feature],
    [hold.json.requestId, hold.json.id, true, 400, 0, "unknown", "chat"],
  );
  assert.deepEqual((await w.get(`/v1/ports/${port}/breakdown`, later)).json.breakdown, [{ feature: "chat", tokens: 400, calls: 1 }]);
  await assertRollupMatchesLedger(port);
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
  assert.equal(again.status, 200);
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  const after = await w.get(`/v1/ports/${port}/usage`, later);
  assert.equal(after.json.gateTokens, 100, "the late commit replaced the estimate by the actual usage");
  assert.equal(after.json.expiredHoldTokens, 0);
  assert.deepEqual((await w.get(`/v1/ports/${port}/breakdown`, later)).json.breakdown, [{ feature: "summary", tokens: 100, calls: 1 }]);
  assert.deepEqual(await assertRollupMatchesLedger(port), { tokens: 100, calls: 1 });
});

test("a hold taken before a reset weighs on the new period: no overshoot across midnight", async () => {
  const port = "midnight";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  // The second midnight after the suite's instant.
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
  assert.ok(today.json.gateTokens <= 1000, `today counts ${today.json.gateTokens} against a cap of 1000`);
  await assertRollupMatchesLedger(port);
});

test("a late commit after a month's last Sunday midnight moves the rollup in the estimated row's own periods", async () => {
  const port = "late-across-reset";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e6, hardCapTokens: 1e6, period: "month" });
  // 2026-05-31 is a Sunday and the month's last day: the day, week and month all turn at once.
  const at = (iso) => ({ headers: { "x-now": iso } });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 500, ttlSeconds: 5, feature: "chat" }, at("2026-05-31T23:59:50.000Z"));
  assert.equal(hold.status, 201);
  // The next reservation's lazy sweep expires the first hold into May.
  const next = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1, ttlSeconds: 3600 }, at("2026-05-31T23:59:58.000Z"));
  assert.equal(next.status, 201);
  assert.equal(next.json.usage.usedTokens, 500);
  const late = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 70, outputTokens: 5 }, at("2026-06-01T00:00:05.000Z"));
  assert.equal(late.status, 200);
  assert.equal(late.json.entry.createdAt, "2026-05-31T23:59:58.000Z", "the corrected row keeps its instant");
  const may = await w.get(`/v1/ports/${port}/usage`, at("2026-05-31T23:59:59.000Z"));
  assert.equal(may.json.usedTokens, 75);
  const june = await w.get(`/v1/ports/${port}/usage`, at("2026-06-01T00:00:06.000Z"));
  assert.equal(june.json.usedTokens, 0);
  await assertRollupMatchesLedger(port);
  const [negative] = await w.sql("SELECT COUNT(*) AS n FROM usage_rollup WHERE port_id = ? AND (tokens < 0 OR calls < 1)", port);
  assert.equal(negative.n, 0);
});

test("a late commit weeks after expiry corrects the rollup in the estimated row's day, week and month, once, despite a lost reply", async () => {
  const port = "late-weeks-later";
  await w.setBudget(port, { enabled: true, softCapTokens: 1e6, hardCapTokens: 1e6, period: "week" });
  const at = (iso, headers = {}) => ({ headers: { "x-now": iso, ...headers } });
  // Thursday 2026-03-05, in the week of Monday 2026-03-02.
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 500, ttlSeconds: 5, feature: "chat" }, at("2026-03-05T10:00:00.000Z"));
  assert.equal(hold.status, 201);
  // The next reservation's lazy sweep expires the first hold into that day; the second is given back.
  const next = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 }, at("2026-03-05T10:00:10.000Z"));
  assert.equal(next.status, 201);
  assert.equal((await w.post(`/v1/ports/${port}/reservations/${next.json.id}/release`, undefined, at("2026-03-05T10:00:11.000Z"))).status, 200);

  // Tuesday 2026-04-14: another day, week and month than the estimated row's.
  const body = { provider: "p", model: "m", inputTokens: 30, outputTokens: 12 };
  const commitAt = "2026-04-14T09:00:00.000Z";
  const path = `/v1/ports/${port}/reservations/${hold.json.id}/commit`;
  const late = await w.post(path, body, at(commitAt, { "x-fault": "d1.commit:after-once" }));
  assert.equal(late.status, 200);
  assert.equal(late.headers.get("idempotent-replayed"), null, "the call's own write, though its first reply was lost");
  assert.equal(late.json.entry.createdAt, "2026-03-05T10:00:10.000Z", "the corrected row keeps its instant");
  assert.equal(late.json.entry.estimated, false);
  const again = await w.post(path, body, at(commitAt));
  assert.equal(again.status, 200);
  assert.equal(again.headers.get("idempotent-replayed"), "true");

  const rollup = await w.sql("SELECT period, period_start AS start, tokens, calls FROM usage_rollup WHERE port_id = ? ORDER BY period", port);
  assert.deepEqual(rollup, [
    { period: "day", start: Date.parse("2026-03-05T00:00:00Z"), tokens: 42, calls: 1 },
    { period: "month", start: Date.parse("2026-03-01T00:00:00Z"), tokens: 42, calls: 1 },
    { period: "week", start: Date.parse("2026-03-02T00:00:00Z"), tokens: 42, calls: 1 },
  ], "the estimate left and the actual usage entered the row's periods only");
  assert.equal((await w.get(`/v1/ports/${port}/usage`, at("2026-03-06T00:00:00.000Z"))).json.usedTokens, 42);
  assert.equal((await w.get(`/v1/ports/${port}/usage`, at(commitAt))).json.usedTokens, 0, "nothing counted in the commit's own week");
  assert.deepEqual(await assertRollupMatchesLedger(port), { tokens: 42, calls: 1 });
});

test("a reply lost once after the write landed is not mistaken for a replay (reservation, commit, usage)", async () => {
  const port = "lost-once";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const lostOnce = (point) => ({ headers: { "x-fault": `${point}:after-once` } });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100, requestId: "lo-r" }, lostOnce("d1.reserve"));
  assert.equal(hold.status, 201);
  assert.equal(hold.headers.get("idempotent-replayed"), null, "the hold is this request's own");
  const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 50, outputTokens: 5 }, lostOnce("d1.commit"));
  assert.equal(commit.status, 200);
  assert.equal(commit.headers.get("idempotent-replayed"), null);
  const recorded = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "lo-u" }), lostOnce("d1.usage"));
  assert.equal(recorded.status, 201);
  assert.equal(recorded.headers.get("idempotent-replayed"), null);
  const holds = await w.sql("SELECT COUNT(*) AS n FROM reservations WHERE port_id = ?", port);
  assert.equal(holds[0].n, 1);
  assert.deepEqual(await assertRollupMatchesLedger(port), { tokens: 155, calls: 2 });
  // A real replay (another request, same requestId and body) is still told apart.
  const replay = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "lo-u" }));
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
});

test("a commit larger than its hold is accepted and counted at the actual usage", async () => {
  const port = "over-estimate";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
  const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 300, outputTokens: 50 });
  assert.equal(commit.status, 200);
  assert.equal(commit.json.reservation.actualTokens, 350);
  assert.equal(commit.json.usage.usedTokens, 350);
  assert.equal(commit.json.usage.heldTokens, 0);
  assert.equal(commit.json.remaining, 650);
  assert.deepEqual(await assertRollupMatchesLedger(port), { tokens: 350, calls: 1 });
});

test("a lazy sweep before reserving expires stale holds without the cron", async () => {
  const port = "lazy";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const stale = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100, ttlSeconds: 1 });
  // The next reservation comes two seconds later, past the first one's expiry.
  const next = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 }, { headers: { "x-now": CLOCK.at(2000) } });
  assert.equal(next.status, 201);
  const [row] = await w.sql("SELECT state FROM reservations WHERE id = ?", stale.json.id);
  assert.equal(row.state, "expired");
  assert.equal(next.json.usage.expiredHoldTokens, 100);
  assert.equal(next.json.usage.gateTokens, 200);
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

test("token counts above 2^31 are stored and summed exactly", async () => {
  const port = "big";
  const big = 2 ** 40 + 7;
  await w.post(`/v1/ports/${port}/usage`, usage({ inputTokens: big, outputTokens: 1, requestId: "b1" }));
  await w.post(`/v1/ports/${port}/usage`, usage({ inputTokens: big, outputTokens: 2, requestId: "b2" }));
  const res = await w.get(`/v1/ports/${port}/usage`);
  assert.equal(res.json.usedTokens, 2 * big + 3);
  await assertRollupMatchesLedger(port);
});

test("a failed budget save answers 503 and keeps the budget as it was", async () => {
  const port = "kv-fault";
  await w.setBudget(port, { enabled: true, softCapTokens: 100, hardCapTokens: 200, period: "day" });
  const res = await w.put(`/v1/ports/${port}/budget`, { hardCapTokens: 900 }, { headers: { "x-fault": "kv.write" } });
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, "store-unavailable");
  assert.equal((await w.get(`/v1/ports/${port}/budget`)).json.hardCapTokens, 200);
});

test("a failed release leaves the hold held; the retry releases it", async () => {
  const port = "release-fault";
  await w.setBudget(port, { enabled: true, softCapTokens: 100, hardCapTokens: 100, period: "day" });
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
  const path = `/v1/ports/${port}/reservations/${hold.json.id}/release`;
  assert.equal((await w.post(path, undefined, { headers: { "x-fault": "d1.release" } })).status, 503);
  assert.equal((await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 1 })).json.ok, false, "still held");
  assert.equal((await w.post(path)).status, 200);
  assert.equal((await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 })).json.ok, true);
});

test("injected faults are ignored unless FAULT_INJECTION is on", async () => {
  const plain = await startWorker({ bindings: { FAULT_INJECTION: "off" } });
  try {
    const res = await plain.post("/v1/ports/p/usage", usage({ requestId: "f" }), { headers: { "x-fault": "d1.usage" } });
    assert.equal(res.status, 201);
    const clock = await plain.get("/v1/ports/p/usage", { headers: { "x-now": "2020-01-01T00:00:00.000Z" } });
    assert.notEqual(clock.json.periodStart, "2020-01-01T00:00:00.000Z", "x-now is ignored too");
    assert.equal(clock.json.usedTokens, 100);
  } finally {
    await plain.dispose();
  }
});

test("an overloaded D1 is not retried hot: 503 with Retry-After at once, nothing written", async () => {
  const port = "overloaded";
  // The fault strikes the first attempt only: a retry inside the Worker would have succeeded.
  const res = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "o1" }), { headers: { "x-fault": "d1.usage:overloaded" } });
  assert.equal(res.status, 503);
  assert.ok(Number(res.headers.get("retry-after")) >= 1);
  assert.equal((await assertRollupMatchesLedger(port)).calls, 0);
});

test("the cron deletes reservations settled long ago and keeps recent ones", async () => {
  const port = "retention";
  const old = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 });
  const recent = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 });
  const open = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 });
  await w.post(`/v1/ports/${port}/reservations/${old.json.id}/release`);
  await w.post(`/v1/ports/${port}/reservations/${recent.json.id}/release`);
  const longAgo = CLOCK.ms - 50 * 86_400_000;
  await w.sql("UPDATE reservations SET created_at = ?, settled_at = ? WHERE id = ?", longAgo, longAgo, old.json.id);
  await (await w.mf.getWorker()).scheduled({ cron: "* * * * *", scheduledTime: CLOCK.date });
  const left = await w.sql("SELECT id FROM reservations WHERE port_id = ? ORDER BY created_at", port);
  assert.deepEqual(left.map((r) => r.id).sort(), [recent.json.id, open.json.id].sort());
});

test("the cron deletes rollup rows of periods that started over 400 days ago and keeps the rest", async () => {
  const port = "rollup-retention";
  const day = 86_400_000;
  const today = windows(CLOCK.ms).day.start;
  const old = today - 401 * day;
  const recent = today - 399 * day;
  for (const start of [old, recent]) {
    await w.sql("INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) VALUES (?, 'day', ?, 'f', 5, 1)", port, start);
  }
  await (await w.mf.getWorker()).scheduled({ cron: "* * * * *", scheduledTime: CLOCK.date });
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
