// Same answers as the npm package: the same budget, usage rows and estimate
// give the same check result through the Worker's HTTP API as through
// `ai-budget` (the package's wasm) in Node, because both run the same core.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { evaluateBudget, normalizeBudget, summarizeUsage, capStatus } from "ai-budget";
import { startWorker, CLOCK } from "./harness.mjs";
import { windows } from "../clock.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

const now = CLOCK.ms;
const dayStart = windows(now).day.start;
/** An instant `k` steps back inside today (never before today's start). */
const today = (k) => Math.max(dayStart, now - 1000 - k * 997);
const yesterday = dayStart - 3_600_000;
const lastMonth = windows(now).month.start - 86_400_000;

const budgets = {
  day: { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "day" },
  week: { enabled: true, softCapTokens: 300, hardCapTokens: 2000, period: "week" },
  month: { enabled: true, softCapTokens: 0, hardCapTokens: 650, period: "month" },
  zero: { enabled: true, softCapTokens: 0, hardCapTokens: 0, period: "day" },
  off: { enabled: false, softCapTokens: 10, hardCapTokens: 20, period: "month" },
};
const rowSets = {
  none: [],
  some: [
    { feature: "ocr", inputTokens: 300, outputTokens: 100, createdAt: today(1) },
    { feature: "chat", inputTokens: 50, outputTokens: 50, createdAt: today(2) },
    { feature: "ocr", inputTokens: 70, outputTokens: 30, createdAt: yesterday },
    { feature: "chat", inputTokens: 900, outputTokens: 0, createdAt: lastMonth },
  ],
  atSoft: [{ feature: "ocr", inputTokens: 500, outputTokens: 0, createdAt: today(1) }],
  atHard: [
    { feature: "a", inputTokens: 600, outputTokens: 0, createdAt: today(1) },
    { feature: "b", inputTokens: 350, outputTokens: 50, createdAt: today(2) },
  ],
};

function httpToPackage(answer) {
  const out = { ...answer };
  if (out.ok && out.remaining === null) out.remaining = Infinity;
  out.resetsAt = new Date(out.resetsAt);
  // Without caps inside the port, every answer is the port's own.
  assert.equal(out.scope, "port");
  assert.equal(out.scopeId, null);
  delete out.scope;
  delete out.scopeId;
  delete out.heldTokens;
  delete out.periodStart;
  // A token budget's answer names its unit and the money held beside it.
  assert.equal(out.unit, "tokens");
  assert.equal(out.heldUsd, 0);
  delete out.unit;
  delete out.heldUsd;
  // Without credits, raises or rollover the room is the budget's own cap.
  assert.deepEqual(
    [out.room.raises, out.room.rollover, out.room.creditsLeft, out.room.nextCreditExpiry, out.room.effectiveCap],
    [0, 0, 0, null, out.room.cap],
  );
  delete out.room;
  return out;
}

let n = 0;
for (const [budgetName, budget] of Object.entries(budgets)) {
  for (const [rowsName, rows] of Object.entries(rowSets)) {
    test(`check parity: ${budgetName} budget, ${rowsName} rows`, async () => {
      const port = `parity-${n++}`;
      await w.setBudget(port, budget);
      for (const [i, r] of rows.entries()) {
        const res = await w.post(`/v1/ports/${port}/usage`, {
          feature: r.feature, provider: "openai", model: "m", inputTokens: r.inputTokens, outputTokens: r.outputTokens,
          requestId: `r${i}`, occurredAt: new Date(r.createdAt).toISOString(),
        });
        assert.equal(res.status, 201);
      }
      const summary = summarizeUsage(budget, rows.map((r) => ({ ...r, createdAt: new Date(r.createdAt) })), CLOCK.date);
      const used = summary.usedTokens;
      const remaining = budget.hardCapTokens - used;
      const estimates = [...new Set([0, 1, remaining - 1, remaining, remaining + 1, 10_000].filter((e) => e >= 0))];
      for (const estimate of estimates) {
        const http = await w.post(`/v1/ports/${port}/check`, { estimatedTokens: estimate });
        assert.equal(http.status, 200);
        assert.deepEqual(httpToPackage(http.json), evaluateBudget(budget, used, estimate, CLOCK.date), `estimate ${estimate}`);
      }
      const breakdown = await w.get(`/v1/ports/${port}/breakdown`);
      // The seed's breakdown, plus what each feature cost (model "m" has no price).
      assert.deepEqual(breakdown.json.breakdown, summary.breakdown.map((r) => ({ ...r, costUsd: 0 })));
      const status = (await w.get(`/v1/ports/${port}/status`)).json.capStatus;
      const expected = capStatus(budget, used, CLOCK.date);
      assert.equal(status.state, expected.state);
      assert.equal(status.remaining ?? Infinity, expected.remaining);
      assert.equal(status.hardPercent, expected.hardPercent);
      assert.equal(status.softPercent, expected.softPercent);
    });
  }
}

test("a stored budget with bad fields reads the same as the package's normalizeBudget", async () => {
  const kv = await w.mf.getKVNamespace("BUDGETS");
  const stored = [
    { enabled: true, softCapTokens: -5, hardCapTokens: 9000, period: "fortnight" },
    { enabled: "true", softCapTokens: 1.5, hardCapTokens: "9000", period: "week" },
    { softCapTokens: 2 ** 60, hardCapTokens: null },
    [1, 2, 3],
  ];
  for (const [i, raw] of stored.entries()) {
    await kv.put(`budget:v1:stored-${i}`, JSON.stringify(raw));
    const res = await w.get(`/v1/ports/stored-${i}/budget`);
    const { enabled, softCapTokens, hardCapTokens, period } = res.json;
    assert.deepEqual({ enabled, softCapTokens, hardCapTokens, period }, normalizeBudget(raw), JSON.stringify(raw));
  }
});
