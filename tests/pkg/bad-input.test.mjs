// Bad input through the installed package: each kind throws an AiBudgetError
// with its code and field, and never passes as a decision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  periodStart, periodEnd, normalizeBudget, mergeBudget, evaluateBudget, summarizeUsage, capStatus, decideMany,
} from 'ai-budget';

const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'day' };
const noon = '2026-11-28T12:00:00Z';

function throwsWith(fn, code, field) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, 'a real Error');
    assert.equal(err.name, 'AiBudgetError');
    assert.equal(err.code, code, err.message);
    if (field !== undefined) assert.equal(err.field, field);
    assert.ok(err.message.length > 0);
    return true;
  });
}

const badCounts = [
  ['negative', -1, 'negative-tokens'],
  ['fractional', 0.5, 'fractional-tokens'],
  ['NaN', NaN, 'invalid-number'],
  ['Infinity', Infinity, 'invalid-number'],
  ['above 2^53 - 1', 2 ** 53, 'too-many-tokens'],
  ['a string', '5', 'invalid-type'],
  ['a bigint', 5n, 'invalid-type'],
  ['null', null, 'invalid-type'],
  ['missing', undefined, 'invalid-type'],
  ['an object', { valueOf: () => 5 }, 'invalid-type'],
];

for (const [what, value, code] of badCounts) {
  test(`an estimate that is ${what} throws ${code}`, () => {
    throwsWith(() => evaluateBudget(budget, 0, value, noon), code, 'estimatedTokens');
  });
  test(`a usage that is ${what} throws ${code}`, () => {
    throwsWith(() => evaluateBudget(budget, value, 0, noon), code, 'usedTokens');
    throwsWith(() => capStatus(budget, value, noon), code, 'usedTokens');
  });
}

test('a negative estimate throws even where any estimate would pass', () => {
  throwsWith(() => evaluateBudget({ ...budget, enabled: false }, 0, -1, noon), 'negative-tokens', 'estimatedTokens');
});

for (const period of ['year', 'Day', '', 7, null, undefined]) {
  test(`period ${JSON.stringify(period) ?? 'undefined'} throws unknown-period`, () => {
    throwsWith(() => periodStart(period, noon), 'unknown-period', 'period');
    throwsWith(() => periodEnd(period, noon), 'unknown-period', 'period');
  });
}

const badInstants = [
  ['an invalid Date', new Date('nope')],
  ['an unreadable string', 'yesterday'],
  ['a date without an offset', '2026-11-28T12:00:00'],
  ['NaN', NaN],
  ['beyond the Date range', 8.64e15 + 1],
  ['a boolean', true],
  ['an object', {}],
];
for (const [what, now] of badInstants) {
  test(`now that is ${what} throws invalid-instant`, () => {
    throwsWith(() => periodStart('day', now), 'invalid-instant', 'now');
    throwsWith(() => evaluateBudget(budget, 0, 0, now), 'invalid-instant', 'now');
  });
}

const badBudgets = [
  ['null', null, 'invalid-type', 'budget'],
  ['a string', 'day', 'invalid-type', 'budget'],
  ['an array', [], 'invalid-type', 'budget'],
  ['an empty object', {}, 'invalid-type', 'enabled'],
  ['missing hardCapTokens', { enabled: true, softCapTokens: 1, period: 'day' }, 'invalid-type', 'hardCapTokens'],
  ['a string cap', { ...budget, hardCapTokens: '1000' }, 'invalid-type', 'hardCapTokens'],
  ['a string enabled', { ...budget, enabled: 'true' }, 'invalid-type', 'enabled'],
  ['a negative cap', { ...budget, softCapTokens: -1 }, 'negative-tokens', 'softCapTokens'],
  ['a fractional cap', { ...budget, hardCapTokens: 1000.5 }, 'fractional-tokens', 'hardCapTokens'],
  ['a NaN cap', { ...budget, hardCapTokens: NaN }, 'invalid-number', 'hardCapTokens'],
  ['a huge cap', { ...budget, hardCapTokens: 2 ** 60 }, 'too-many-tokens', 'hardCapTokens'],
  ['an unknown period', { ...budget, period: 'year' }, 'unknown-period', 'period'],
  ['an unknown field', { ...budget, hardCap: 5 }, 'unknown-field', 'hardCap'],
];
for (const [what, value, code, field] of badBudgets) {
  test(`a budget with ${what} throws ${code} everywhere it is taken`, () => {
    throwsWith(() => evaluateBudget(value, 0, 0, noon), code, field);
    throwsWith(() => capStatus(value, 0, noon), code, field);
    throwsWith(() => summarizeUsage(value, [], noon), code, field);
    throwsWith(() => mergeBudget(value, {}), code, field === 'budget' ? 'current' : field);
  });
}

test('a stored budget with its soft cap above its hard cap is judged as the gate judges it', () => {
  // The tolerant reader keeps such a value (as the original did); the gate
  // enforces it as it is, so the preview must be able to judge it too.
  const stored = normalizeBudget({ enabled: true, softCapTokens: 600000 });
  assert.deepEqual(stored, { enabled: true, softCapTokens: 600000, hardCapTokens: 500000, period: 'month' });
  const check = evaluateBudget(stored, 499000, 1000, noon);
  assert.equal(check.ok, true);
  assert.equal(check.softCap, false);
  assert.equal(evaluateBudget(stored, 500000, 0, noon).reason, 'hard-cap-exceeded');
  assert.equal(capStatus(stored, 499000, noon).state, 'ok');
  assert.equal(capStatus(stored, 500000, noon).state, 'hard');
  assert.equal(summarizeUsage(stored, [], noon).usedTokens, 0);
  // Saving it unchanged is still refused, with the original's message.
  throwsWith(() => mergeBudget(stored, {}), 'soft-cap-above-hard-cap', 'hardCapTokens');
});

test('a bad update changes nothing', () => {
  const current = { ...budget };
  throwsWith(() => mergeBudget(current, { softCapTokens: 5, hardCapTokens: -5 }), 'negative-tokens');
  assert.deepEqual(current, budget);
});

const row = { feature: 'ocr', inputTokens: 1, outputTokens: 1, createdAt: noon };
const badRows = [
  ['rows that are not an array', { 0: row }, 'invalid-type', 'rows'],
  ['a row that is not an object', [row, 5], 'invalid-type', 'rows[1]'],
  ['a row without a feature', [{ ...row, feature: undefined }], 'invalid-type', 'rows[0].feature'],
  ['a negative input count', [row, { ...row, inputTokens: -3 }], 'negative-tokens', 'rows[1].inputTokens'],
  ['a fractional output count', [{ ...row, outputTokens: 1.25 }], 'fractional-tokens', 'rows[0].outputTokens'],
  ['a string count', [{ ...row, inputTokens: '3' }], 'invalid-type', 'rows[0].inputTokens'],
  ['a missing createdAt', [{ ...row, createdAt: undefined }], 'invalid-instant', 'rows[0].createdAt'],
  ['an invalid createdAt', [{ ...row, createdAt: 'soon' }], 'invalid-instant', 'rows[0].createdAt'],
];
for (const [what, rows, code, field] of badRows) {
  test(`summarizeUsage with ${what} throws ${code} naming the row`, () => {
    throwsWith(() => summarizeUsage(budget, rows, noon), code, field);
  });
}

test('decideMany with arrays of different lengths throws and writes nothing', () => {
  const out = new Uint8Array([7, 7]);
  throwsWith(
    () => decideMany(new Uint8Array(2), new Float64Array(2), new Float64Array(1), new Float64Array(2), new Float64Array(2), out),
    'invalid-type', 'hardCapTokens',
  );
  assert.deepEqual([...out], [7, 7]);
});

test('a getter that throws is read as missing, and the module keeps working', () => {
  const hostile = { ...budget };
  Object.defineProperty(hostile, 'hardCapTokens', { enumerable: true, get() { throw new Error('boom'); } });
  const row = { feature: 'ocr', inputTokens: 1, outputTokens: 1, createdAt: noon };
  Object.defineProperty(row, 'inputTokens', { enumerable: true, get() { throw new Error('boom'); } });
  // Many times over: an exception unwinding through wasm would leak its stack.
  for (let i = 0; i < 20000; i++) {
    throwsWith(() => evaluateBudget(hostile, 0, 0, noon), 'invalid-type', 'hardCapTokens');
    throwsWith(() => summarizeUsage(budget, [row], noon), 'invalid-type', 'rows[0].inputTokens');
  }
  assert.equal(evaluateBudget(budget, 0, 1, noon).ok, true);
});
