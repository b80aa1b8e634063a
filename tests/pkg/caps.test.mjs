// Caps inside a port through the installed package: evaluateCaps judges a
// call as the port's gate does (port first, then the call's feature, then
// its end user), and refuses malformed caps with the budget's codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateCaps, evaluateBudget, isAiBudgetError } from 'ai-budget';

const budget = { enabled: true, softCapTokens: 8000, hardCapTokens: 10000, period: 'day' };
const caps = {
  featureCaps: { chat: { softCap: 400, hardCap: 500 } },
  userCap: { hardCap: 300 },
  userCaps: { vip: { hardCap: 5000 } },
};
const noon = '2026-11-18T12:00:00Z';

test('without caps that apply, the answer is the port\'s own, with scope port', () => {
  const usage = { usedTokens: 1200 };
  const answer = evaluateCaps(budget, caps, usage, { estimatedTokens: 100, feature: 'ocr' }, noon);
  const port = evaluateBudget(budget, 1200, 100, noon);
  assert.deepEqual(answer, { ...port, scope: 'port', scopeId: null });
  assert.deepEqual(evaluateCaps(budget, {}, usage, { estimatedTokens: 100 }, noon), { ...port, scope: 'port', scopeId: null });
});

test('a feature cap refuses its feature, with its own numbers', () => {
  const usage = { usedTokens: 1200, features: { chat: 450 } };
  const answer = evaluateCaps(budget, caps, usage, { estimatedTokens: 60, feature: 'chat' }, noon);
  assert.equal(answer.ok, false);
  assert.equal(answer.reason, 'estimated-exceeds-cap');
  assert.equal(answer.scope, 'feature');
  assert.equal(answer.scopeId, 'chat');
  assert.equal(answer.usedTokens, 450);
  assert.equal(answer.capTokens, 500);
  assert.equal(answer.remaining, 50);
  assert.equal(answer.resetsAt.toISOString(), '2026-11-19T00:00:00.000Z');
  assert.equal(evaluateCaps(budget, caps, usage, { estimatedTokens: 50, feature: 'chat' }, noon).ok, true);
});

test('a user meets their override, else the default; a call without a user meets no user cap', () => {
  const usage = { usedTokens: 2000, users: { ann: 300, vip: 3000 } };
  const ann = evaluateCaps(budget, caps, usage, { estimatedTokens: 1, userId: 'ann' }, noon);
  assert.deepEqual([ann.ok, ann.reason, ann.scope, ann.scopeId], [false, 'hard-cap-exceeded', 'user', 'ann']);
  assert.equal(evaluateCaps(budget, caps, usage, { estimatedTokens: 1500, userId: 'vip' }, noon).ok, true);
  assert.equal(evaluateCaps(budget, caps, usage, { estimatedTokens: 300, userId: 'bob' }, noon).ok, true);
  assert.equal(evaluateCaps(budget, caps, usage, { estimatedTokens: 301, userId: 'bob' }, noon).scopeId, 'bob');
  assert.equal(evaluateCaps(budget, caps, usage, { estimatedTokens: 5000 }, noon).ok, true);
});

test('the port refuses first, and a disabled budget lets every cap pass', () => {
  const usage = { usedTokens: 9990, features: { chat: 500 } };
  const first = evaluateCaps(budget, caps, usage, { estimatedTokens: 20, feature: 'chat' }, noon);
  assert.deepEqual([first.scope, first.scopeId, first.capTokens], ['port', null, 10000]);
  const off = evaluateCaps({ ...budget, enabled: false }, caps, usage, { estimatedTokens: 20, feature: 'chat' }, noon);
  assert.equal(off.ok, true);
});

test('malformed caps, counts and calls throw AiBudgetError with a code and field', () => {
  const usage = { usedTokens: 0 };
  const call = { estimatedTokens: 1 };
  const cases = [
    [() => evaluateCaps(budget, { featureCaps: { chat: { hardCap: -1 } } }, usage, call, noon), 'featureCaps.chat.hardCap'],
    [() => evaluateCaps(budget, { featureCaps: { chat: { hardCap: 1.5 } } }, usage, call, noon), 'featureCaps.chat.hardCap'],
    [() => evaluateCaps(budget, { userCap: { softCap: 9, hardCap: 5 } }, usage, call, noon), 'userCap.softCap'],
    [() => evaluateCaps(budget, { featureCaps: { ['x'.repeat(65)]: { hardCap: 1 } } }, usage, call, noon), `featureCaps.${'x'.repeat(65)}`],
    [() => evaluateCaps(budget, { limits: {} }, usage, call, noon), 'limits'],
    [() => evaluateCaps(budget, 'caps', usage, call, noon), 'caps'],
    [() => evaluateCaps(budget, caps, { usedTokens: -1 }, call, noon), 'usedTokens'],
    [() => evaluateCaps(budget, caps, { usedTokens: 0, users: { ann: 0.5 } }, { estimatedTokens: 1, userId: 'ann' }, noon), 'users.ann'],
    [() => evaluateCaps(budget, caps, usage, { estimatedTokens: '1' }, noon), 'estimatedTokens'],
    [() => evaluateCaps(budget, caps, usage, { estimatedTokens: 1, userId: 7 }, noon), 'userId'],
  ];
  for (const [run, field] of cases) {
    assert.throws(run, (e) => isAiBudgetError(e) && typeof e.code === 'string' && e.field === field, field);
  }
});
