// The seed-behaviour table (tests/seed-cases.json) through the packed package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeBudget, mergeBudget, periodStart, periodEnd, evaluateBudget, summarizeUsage } from 'ai-budget';

const table = JSON.parse(readFileSync(join(process.env.AI_BUDGET_ROOT, 'tests/seed-cases.json'), 'utf8'));

/** The table spells JS Infinity as "Infinity" and instants as strings. */
function fromTable(value) {
  if (value === 'Infinity') return Infinity;
  if (Array.isArray(value)) return value.map(fromTable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'resetsAt' ? new Date(v) : fromTable(v)]));
  }
  return value;
}

function expectError(fn, error) {
  assert.throws(fn, (err) => {
    assert.equal(err.code, error.code);
    if (error.message) assert.equal(err.message, error.message);
    return true;
  });
}

for (const c of table.readBudget) {
  test(`readBudget: ${c.name}`, () => assert.deepEqual(normalizeBudget(c.stored), c.expected));
}

for (const c of table.setAiBudget) {
  test(`setAiBudget: ${c.name}`, () => {
    if (c.error) expectError(() => mergeBudget(c.current, c.input), c.error);
    else assert.deepEqual(mergeBudget(c.current, c.input), c.expected);
  });
}

for (const c of table.periodStart) {
  test(`periodStart: ${c.name}`, () => {
    assert.equal(periodStart(c.period, c.now).getTime(), Date.parse(c.start));
    assert.equal(periodEnd(c.period, c.now).getTime(), Date.parse(c.end));
  });
}

for (const c of table.checkBudget) {
  test(`checkBudget: ${c.name}`, () => {
    const run = () => evaluateBudget(c.budget, c.usedTokens, c.estimatedTokens, c.now);
    if (c.error) expectError(run, c.error);
    else assert.deepEqual(run(), fromTable(c.expected));
  });
}

for (const c of table.periodBreakdown) {
  test(`periodBreakdown: ${c.name}`, () => {
    const budget = { enabled: true, softCapTokens: 0, hardCapTokens: 0, period: c.period };
    const { usedTokens, calls, breakdown, byFeature } = summarizeUsage(budget, c.rows, c.now);
    assert.deepEqual({ usedTokens, calls, breakdown }, c.expected);
    assert.deepEqual(byFeature, Object.fromEntries(c.expected.breakdown.map((f) => [f.feature, f.tokens])));
  });
}
