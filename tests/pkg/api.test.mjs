// The object API through the installed package, as a Node ESM caller sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  periodStart, periodEnd, normalizeBudget, mergeBudget, evaluateBudget,
  summarizeUsage, capStatus, isAiBudgetError, costUsd,
} from 'ai-budget';

const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'day' };
const noon = '2026-11-28T12:00:00Z';

test('an instant may be a Date, epoch milliseconds or an RFC 3339 string', () => {
  const asString = periodStart('week', '2026-11-25T12:00:00Z');
  const asDate = periodStart('week', new Date('2026-11-25T12:00:00Z'));
  const asMillis = periodStart('week', Date.parse('2026-11-25T12:00:00Z'));
  for (const start of [asString, asDate, asMillis]) {
    assert.ok(start instanceof Date);
    assert.equal(start.toISOString(), '2026-11-23T00:00:00.000Z');
  }
});

test('an omitted now is the current time', () => {
  const before = periodStart('day', Date.now()).getTime();
  const start = periodStart('day').getTime();
  const after = periodStart('day', Date.now()).getTime();
  assert.ok(start === before || start === after);
  assert.ok(periodEnd('day').getTime() > Date.now());
});

test('periodEnd is the next periodStart', () => {
  for (const period of ['day', 'week', 'month']) {
    const end = periodEnd(period, '2024-02-29T23:59:59.999Z');
    assert.equal(periodStart(period, end).getTime(), end.getTime());
    assert.ok(periodStart(period, end.getTime() - 1) < end);
  }
});

test('an allowed call reports remaining, usage, soft cap and reset', () => {
  assert.deepEqual(evaluateBudget(budget, 900, 100, noon), {
    ok: true, remaining: 100, usedTokens: 900, softCap: true,
    resetsAt: new Date('2026-11-29T00:00:00Z'),
  });
});

test('a refused call reports reason, usage, cap and reset', () => {
  assert.deepEqual(evaluateBudget(budget, 900, 101, noon), {
    ok: false, reason: 'estimated-exceeds-cap', usedTokens: 900, capTokens: 1000,
    resetsAt: new Date('2026-11-29T00:00:00Z'),
  });
});

test('a disabled budget has Infinity remaining and reports the true usage', () => {
  const result = evaluateBudget({ ...budget, enabled: false }, 5000, 5000, noon);
  assert.equal(result.ok, true);
  assert.equal(result.remaining, Infinity);
  assert.equal(result.usedTokens, 5000);
});

test('token counts up to 2^53 - 1 are exact', () => {
  const max = Number.MAX_SAFE_INTEGER;
  const big = { enabled: true, softCapTokens: max, hardCapTokens: max, period: 'month' };
  const result = evaluateBudget(big, max - 1, 1, noon);
  assert.equal(result.ok, true);
  assert.equal(result.remaining, 1);
});

test('normalizeBudget reads a stored value tolerantly', () => {
  assert.deepEqual(normalizeBudget({ enabled: 'yes', softCapTokens: -1, hardCapTokens: 9000, period: 'week' }), {
    enabled: false, softCapTokens: 100000, hardCapTokens: 9000, period: 'week',
  });
  assert.deepEqual(normalizeBudget(undefined), normalizeBudget({}));
  assert.deepEqual(normalizeBudget('garbage'), normalizeBudget({}));
});

test('mergeBudget applies a partial update and leaves its arguments untouched', () => {
  const current = { ...budget };
  const input = { hardCapTokens: 2000 };
  assert.deepEqual(mergeBudget(current, input), { ...budget, hardCapTokens: 2000 });
  assert.deepEqual(current, budget);
  assert.deepEqual(input, { hardCapTokens: 2000 });
});

test('a budget from normalizeBudget or mergeBudget is accepted everywhere', () => {
  const stored = normalizeBudget({ enabled: true, hardCapTokens: 200000 });
  const merged = mergeBudget(stored, { period: 'week' });
  assert.equal(evaluateBudget(merged, 0, 1, noon).ok, true);
  assert.equal(capStatus(merged, 0, noon).state, 'ok');
});

test('capStatus gives the band, percentages and remaining tokens', () => {
  assert.deepEqual(capStatus(budget, 900, noon), {
    state: 'soft', usedTokens: 900, softCapTokens: 800, hardCapTokens: 1000,
    softPercent: 112.5, hardPercent: 90, remaining: 100,
    periodStart: new Date('2026-11-28T00:00:00Z'), resetsAt: new Date('2026-11-29T00:00:00Z'),
  });
  assert.equal(capStatus(budget, 1000, noon).state, 'hard');
  assert.equal(capStatus(budget, 1000, noon).remaining, 0);
  assert.equal(capStatus(budget, 800, noon).state, 'ok');
  assert.equal(capStatus({ ...budget, enabled: false }, 5000, noon).state, 'disabled');
  assert.equal(capStatus({ ...budget, enabled: false }, 5000, noon).remaining, Infinity);
});

test('capStatus agrees with the gate: hard exactly when a zero estimate is refused', () => {
  for (const used of [0, 799, 800, 801, 999, 1000, 1001]) {
    const refused = !evaluateBudget(budget, used, 0, noon).ok;
    assert.equal(capStatus(budget, used, noon).state === 'hard', refused, `used ${used}`);
  }
});

test('summarizeUsage sums the rows of the current period per feature', () => {
  const rows = [
    { feature: 'ocr', inputTokens: 70, outputTokens: 30, createdAt: '2026-11-28T01:00:00Z' },
    { feature: 'chat', inputTokens: 5, outputTokens: 5, createdAt: new Date('2026-11-28T02:00:00Z') },
    { feature: 'ocr', inputTokens: 10, outputTokens: 0, createdAt: Date.parse('2026-11-28T03:00:00Z') },
    { feature: 'ocr', inputTokens: 999, outputTokens: 0, createdAt: '2026-11-27T23:59:59.999Z' },
  ];
  assert.deepEqual(summarizeUsage(budget, rows, noon), {
    periodStart: new Date('2026-11-28T00:00:00Z'),
    resetsAt: new Date('2026-11-29T00:00:00Z'),
    usedTokens: 120,
    calls: 3,
    byFeature: { ocr: 110, chat: 10 },
    breakdown: [{ feature: 'ocr', tokens: 110, calls: 2 }, { feature: 'chat', tokens: 10, calls: 1 }],
  });
});

test('byFeature holds any feature name as an own key, __proto__ included', () => {
  const rows = [
    { feature: '__proto__', inputTokens: 1, outputTokens: 2, createdAt: noon },
    { feature: 'constructor', inputTokens: 4, outputTokens: 0, createdAt: noon },
  ];
  const { byFeature } = summarizeUsage(budget, rows, noon);
  assert.equal(Object.getPrototypeOf(byFeature), Object.prototype);
  assert.deepEqual(Object.keys(byFeature).sort(), ['__proto__', 'constructor']);
  assert.equal(Object.getOwnPropertyDescriptor(byFeature, '__proto__').value, 3);
});

test('every thrown error is a real Error with name, code and field', () => {
  try {
    mergeBudget(budget, { softCapTokens: -1 });
    assert.fail('expected a throw');
  } catch (err) {
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'AiBudgetError');
    assert.equal(err.code, 'negative-tokens');
    assert.equal(err.field, 'softCapTokens');
    assert.equal(err.message, 'Token caps must be non-negative');
    assert.ok(typeof err.stack === 'string');
    assert.equal(isAiBudgetError(err), true);
  }
  assert.equal(isAiBudgetError(new Error('other')), false);
  assert.equal(isAiBudgetError({ name: 'AiBudgetError', code: 'x' }), false);
});

test('costUsd prices a call by kind of token, as the Worker will, rounded up to the micro-dollar', () => {
  // gpt-4.1: $2 input, $0.50 cached, $8 output per million tokens.
  const price = { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 };
  assert.deepEqual(costUsd({ inputTokens: 10_000, cachedInputTokens: 6_000, outputTokens: 500 }, price), { usd: 0.015, micros: 15_000 });
  // Anthropic-style cache reads and writes, each at its own price.
  const sonnet = { inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, outputPerMTok: 15 };
  assert.equal(costUsd({ inputTokens: 6_000, cachedInputTokens: 2_000, cacheWriteTokens: 3_000, outputTokens: 400 }, sonnet).micros, 20_850);
  // A tenth of a micro-dollar is charged as one.
  assert.equal(costUsd({ inputTokens: 1, outputTokens: 0 }, { inputPerMTok: 0.1, outputPerMTok: 0.4 }).micros, 1);
  for (const [usage, bad, code] of [
    [{ inputTokens: 1, outputTokens: 1 }, { inputPerMTok: -1, outputPerMTok: 1 }, 'negative-amount'],
    [{ inputTokens: 1, outputTokens: 1 }, { inputPerMTok: 0.0000001, outputPerMTok: 1 }, 'too-many-decimals'],
    [{ inputTokens: 1.5, outputTokens: 1 }, price, 'fractional-tokens'],
    [{ inputTokens: 1, outputTokens: 1 }, { inputPerMTok: '2', outputPerMTok: 1 }, 'invalid-type'],
  ]) {
    assert.throws(() => costUsd(usage, bad), (err) => isAiBudgetError(err) && err.code === code, code);
  }
});
