// The fast path gives the same answers as the object API, over many inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, decideMany, DecisionCode, evaluateBudget } from 'ai-budget';

const noon = '2026-11-28T12:00:00Z';

/** The code the object API's answer corresponds to. */
function codeOf(result) {
  if (result.ok) return result.softCap ? DecisionCode.AllowedOverSoftCap : DecisionCode.Allowed;
  return result.reason === 'hard-cap-exceeded' ? DecisionCode.HardCapExceeded : DecisionCode.EstimatedExceedsCap;
}

/** Inputs around every boundary of the rules. */
function* grid() {
  const caps = [[0, 0], [0, 10], [5, 10], [10, 10], [800, 1000]];
  for (const enabled of [true, false]) {
    for (const [soft, hard] of caps) {
      for (const used of [0, 1, soft - 1, soft, soft + 1, hard - 1, hard, hard + 1].filter((n) => n >= 0)) {
        for (const estimated of [0, 1, hard - used - 1, hard - used, hard - used + 1, hard + 1].filter((n) => n >= 0)) {
          yield [enabled, soft, hard, used, estimated];
        }
      }
    }
  }
}

test('the codes are exported with stable values', () => {
  assert.deepEqual(
    [DecisionCode.Allowed, DecisionCode.AllowedOverSoftCap, DecisionCode.HardCapExceeded, DecisionCode.EstimatedExceedsCap, DecisionCode.InvalidInput],
    [0, 1, 2, 3, 255],
  );
});

test('decide agrees with evaluateBudget on every boundary', () => {
  let count = 0;
  for (const [enabled, soft, hard, used, estimated] of grid()) {
    const budget = { enabled, softCapTokens: soft, hardCapTokens: hard, period: 'day' };
    const expected = codeOf(evaluateBudget(budget, used, estimated, noon));
    assert.equal(decide(enabled, soft, hard, used, estimated), expected, JSON.stringify({ enabled, soft, hard, used, estimated }));
    count++;
  }
  assert.ok(count > 300);
});

test('decideMany gives, per port, what decide gives', () => {
  const inputs = [...grid()];
  const n = inputs.length;
  const enabled = new Uint8Array(n), soft = new Float64Array(n), hard = new Float64Array(n);
  const used = new Float64Array(n), estimated = new Float64Array(n), out = new Uint8Array(n).fill(99);
  inputs.forEach(([e, s, h, u, x], i) => { enabled[i] = e ? 1 : 0; soft[i] = s; hard[i] = h; used[i] = u; estimated[i] = x; });
  decideMany(enabled, soft, hard, used, estimated, out);
  inputs.forEach((args, i) => assert.equal(out[i], decide(...args), JSON.stringify(args)));
});

test('invalid input gives InvalidInput, never a pass', () => {
  const bad = [
    [true, 800, 1000, 0, -1], [true, 800, 1000, 0, 0.5], [true, 800, 1000, 0, NaN],
    [true, 800, 1000, 0, 2 ** 53], [true, 800, 1000, -1, 0], [true, 800, 1000, Infinity, 0],
    [true, -1, 1000, 0, 0], [true, 800, 1000.5, 0, 0],
    [false, 800, 1000, 0, -1], [true, 800, 1000, 0, undefined],
  ];
  for (const args of bad) assert.equal(decide(...args), DecisionCode.InvalidInput, JSON.stringify(args));
  const out = new Uint8Array(1);
  decideMany(new Uint8Array([1]), new Float64Array([800]), new Float64Array([1000]), new Float64Array([0]), new Float64Array([-1]), out);
  assert.equal(out[0], DecisionCode.InvalidInput);
});

test('a soft cap above the hard cap is judged, as evaluateBudget and the gate judge it', () => {
  const budget = { enabled: true, softCapTokens: 1001, hardCapTokens: 1000, period: 'day' };
  assert.equal(decide(true, 1001, 1000, 999, 1), DecisionCode.Allowed);
  assert.equal(evaluateBudget(budget, 999, 1).ok, true);
  assert.equal(decide(true, 1001, 1000, 1000, 0), DecisionCode.HardCapExceeded);
  assert.equal(evaluateBudget(budget, 1000, 0).reason, 'hard-cap-exceeded');
});

test('decideMany over zero ports is a no-op', () => {
  const empty = new Float64Array(0);
  decideMany(new Uint8Array(0), empty, empty, empty, empty, new Uint8Array(0));
});
