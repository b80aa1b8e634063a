// Budgets in dollars through the installed package: read, merged and shown
// as the Worker shows them, judged by the same gate rules in micro-dollars,
// and the money bound of an estimate the Worker holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  normalizeBudget, mergeBudget, evaluateBudget, capStatus, evaluateCaps, costUsd, holdUsd, isAiBudgetError,
} from 'ai-budget';

const noon = '2027-03-31T12:00:00Z';
const usd = { enabled: true, unit: 'usd', softCapUsd: 8, hardCapUsd: 10, period: 'month' };
const gpt41 = { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 };

test('a budget in usd is read and merged with its caps in dollars; a token budget keeps its shape', () => {
  const b = normalizeBudget(usd);
  assert.deepEqual(b, {
    enabled: true, softCapTokens: 100000, hardCapTokens: 500000, period: 'month',
    unit: 'usd', softCapUsd: 8, hardCapUsd: 10, fallbackPrice: null,
  });
  const merged = mergeBudget(b, { hardCapUsd: 12.000001, fallbackPrice: gpt41 });
  assert.equal(merged.hardCapUsd, 12.000001);
  assert.deepEqual(merged.fallbackPrice, { inputPerMTok: 2, cachedInputPerMTok: 0.5, cacheWritePerMTok: 2, outputPerMTok: 8 });
  assert.equal(mergeBudget(merged, { fallbackPrice: null }).fallbackPrice, null);
  assert.deepEqual(Object.keys(normalizeBudget({ enabled: true })), ['enabled', 'softCapTokens', 'hardCapTokens', 'period']);
});

test('bad caps in dollars throw the Worker\'s codes', () => {
  for (const [update, code, field] of [
    [{ hardCapUsd: -1 }, 'negative-amount', 'hardCapUsd'],
    [{ hardCapUsd: 0.0000001 }, 'too-many-decimals', 'hardCapUsd'],
    [{ hardCapUsd: 2e9 }, 'amount-too-large', 'hardCapUsd'],
    [{ softCapUsd: 11 }, 'soft-cap-above-hard-cap', 'softCapUsd'],
    [{ unit: 'eur' }, 'invalid-value', 'unit'],
    [{ fallbackPrice: { inputPerMTok: 1, outputPerMTok: 1, extra: 1 } }, 'unknown-field', 'fallbackPrice.extra'],
  ]) {
    assert.throws(() => mergeBudget(usd, update), (e) => isAiBudgetError(e) && e.code === code && e.field === field, JSON.stringify(update));
  }
  assert.throws(() => mergeBudget(normalizeBudget({ enabled: true }), { unit: 'usd' }), (e) => e.code === 'invalid-value' && e.field === 'hardCapUsd');
});

test('evaluateBudget judges a usd budget in dollars by the gate\'s rules', () => {
  assert.deepEqual(evaluateBudget(usd, 9, 1, noon), {
    ok: true, remainingUsd: 1, usedUsd: 9, softCap: true, resetsAt: new Date('2027-04-01T00:00:00Z'), unit: 'usd',
  });
  const refused = evaluateBudget(usd, 9.5, 0.500001, noon);
  assert.deepEqual([refused.ok, refused.reason, refused.usedUsd, refused.capUsd, refused.unit], [false, 'estimated-exceeds-cap', 9.5, 10, 'usd']);
  assert.equal(evaluateBudget(usd, 10, 0, noon).reason, 'hard-cap-exceeded');
  assert.equal(evaluateBudget({ ...usd, enabled: false }, 50, 50, noon).remainingUsd, Infinity);
  assert.throws(() => evaluateBudget(usd, 1, 0.0000001, noon), (e) => e.code === 'too-many-decimals' && e.field === 'estimatedUsd');
  assert.throws(() => evaluateBudget(usd, -1, 0, noon), (e) => e.code === 'negative-amount' && e.field === 'usedUsd');
});

test('capStatus of a usd budget is in dollars', () => {
  const s = capStatus(usd, 9, noon);
  assert.deepEqual(
    [s.state, s.unit, s.usedUsd, s.softCapUsd, s.hardCapUsd, s.remainingUsd, s.hardPercent, s.usedTokens],
    ['soft', 'usd', 9, 8, 10, 1, 90, undefined],
  );
});

test('holdUsd is the Worker\'s money hold: the input at its highest price plus the output, never below the cost of a call within it', () => {
  // 1 000 x $2 + 500 x $8 per million: $0.006.
  assert.deepEqual(holdUsd(1000, 500, gpt41), { usd: 0.006, micros: 6000 });
  const sonnet = { inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, outputPerMTok: 15 };
  // Held at the cache-write price, the highest input price.
  assert.equal(holdUsd(1000, 0, sonnet).micros, 3750);
  for (const [cached, write, out] of [[0, 0, 500], [1000, 0, 500], [0, 1000, 500], [300, 700, 0]]) {
    const cost = costUsd({ inputTokens: 1000, cachedInputTokens: cached, cacheWriteTokens: write, outputTokens: out }, sonnet);
    assert.ok(cost.micros <= holdUsd(1000, 500, sonnet).micros);
  }
  // A hold judged by evaluateBudget: 2 000 calls of $0.006 fill $12 exactly.
  const b = { ...usd, hardCapUsd: 12, softCapUsd: null };
  const hold = holdUsd(1000, 500, gpt41).usd;
  assert.equal(evaluateBudget(b, 11.994, hold, noon).ok, true);
  assert.equal(evaluateBudget(b, 11.994001, hold, noon).ok, false);
});

test('evaluateCaps of a usd budget: the port in dollars, the caps inside it in tokens', () => {
  const caps = { featureCaps: { chat: { hardCap: 1000 } } };
  const allowed = evaluateCaps(usd, caps, { usedTokens: 0, usedUsd: 9, features: { chat: 900 } }, { estimatedTokens: 100, estimatedUsd: 1, feature: 'chat' }, noon);
  assert.deepEqual([allowed.ok, allowed.scope, allowed.unit, allowed.remainingUsd, allowed.usedUsd], [true, 'port', 'usd', 1, 9]);
  const byPort = evaluateCaps(usd, caps, { usedTokens: 0, usedUsd: 9.5, features: { chat: 0 } }, { estimatedTokens: 1, estimatedUsd: 0.6, feature: 'chat' }, noon);
  assert.deepEqual([byPort.ok, byPort.scope, byPort.unit, byPort.usedUsd, byPort.capUsd, byPort.remainingUsd], [false, 'port', 'usd', 9.5, 10, 0.5]);
  const byFeature = evaluateCaps(usd, caps, { usedTokens: 0, usedUsd: 1, features: { chat: 950 } }, { estimatedTokens: 100, estimatedUsd: 0.01, feature: 'chat' }, noon);
  assert.deepEqual([byFeature.ok, byFeature.scope, byFeature.scopeId, byFeature.usedTokens, byFeature.capTokens], [false, 'feature', 'chat', 950, 1000]);
  assert.throws(
    () => evaluateCaps(usd, caps, { usedTokens: 0 }, { estimatedTokens: 1, estimatedUsd: 0 }, noon),
    (e) => e.code === 'invalid-type' && e.field === 'usedUsd',
  );
});

test('costUsd prices as the provider billed: the input-size cliff, 1-hour cache writes and the tier that served the call', () => {
  const pro = {
    inputPerMTok: 1.25, cachedInputPerMTok: 0.125, outputPerMTok: 10,
    tiers: [{ above: 200000, inputPerMTok: 2.5, cachedInputPerMTok: 0.25, outputPerMTok: 15 }],
    serviceTiers: { batch: { inputPerMTok: 0.625, outputPerMTok: 5 } },
  };
  assert.equal(costUsd({ inputTokens: 200000, outputTokens: 1000 }, pro).micros, 260000);
  assert.equal(costUsd({ inputTokens: 200001, outputTokens: 1000 }, pro).micros, 515003, 'the whole request at the long-prompt rates');
  assert.equal(costUsd({ inputTokens: 100000, outputTokens: 1000, serviceTier: 'batch' }, pro).micros, 67500);
  const sonnet = { inputPerMTok: 3, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75, cacheWrite1hPerMTok: 6, outputPerMTok: 15 };
  assert.equal(costUsd({ inputTokens: 13000, cacheWriteTokens: 12000, cacheWrite1hTokens: 10000, outputTokens: 500 }, sonnet).micros, 78000);
  assert.equal(holdUsd(250000, 1000, pro).micros, 640000, 'the hold reaches the dearest tier the input may get');
  assert.throws(() => costUsd({ inputTokens: 10, outputTokens: 1, serviceTier: 'turbo' }, pro), (e) => e.code === 'invalid-value' && e.field === 'serviceTier');
  assert.throws(() => costUsd({ inputTokens: 10, cacheWriteTokens: 1, cacheWrite1hTokens: 2, outputTokens: 1 }, sonnet), (e) => e.field === 'cacheWrite1hTokens');
  assert.throws(() => costUsd({ inputTokens: 10, outputTokens: 1 }, { ...pro, tiers: [{ inputPerMTok: 1, outputPerMTok: 1 }] }), (e) => e.field === 'above');
  const row = { model: 'gemini-2.5-pro', source: 'default', ...pro };
  assert.equal(costUsd({ inputTokens: 200001, outputTokens: 1000 }, row).micros, 515003, 'a price row of the API is read for its own fields');
});
