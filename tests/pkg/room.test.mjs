// A port's room beyond its cap through the installed package: budgetRoom is
// the port gate's own function (cap + raises in force + rollover, and the
// credits left, soonest expiry first), so a page previews a new credit or
// raise as the gate will count it; bad input is refused with its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { budgetRoom, isAiBudgetError } from 'ai-budget';

const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'day' };
const noon = '2026-11-18T12:00:00Z';

test('the effective cap adds the raises in force and the rollover; the credits left count live grants', () => {
  const room = budgetRoom(
    budget,
    {
      rollover: 100,
      raises: [
        { extra: 500, startsAt: '2026-11-18T00:00:00Z', endsAt: '2026-11-19T00:00:00Z' },
        { extra: 50, softExtra: 0, startsAt: '2026-11-18T11:00:00Z', endsAt: '2026-11-18T13:00:00Z' },
        { extra: 999, startsAt: '2026-11-18T12:00:01Z', endsAt: '2026-11-20T00:00:00Z' },
      ],
      credits: [
        { id: 'cr_a', amount: 300, spent: 100, expiresAt: '2026-11-30T00:00:00Z' },
        { id: 'cr_b', amount: 50, expiresAt: '2026-11-18T12:00:00Z' },
        { id: 'cr_c', amount: 70, voidedAt: '2026-11-18T10:00:00Z' },
        { id: 'cr_d', amount: 40, expiresAt: '2026-11-25T00:00:00Z' },
      ],
    },
    noon,
  );
  assert.deepEqual(room, {
    unit: 'tokens',
    cap: 1000,
    raises: 550,
    rollover: 100,
    effectiveCap: 1650,
    effectiveSoftCap: 1400,
    creditsLeft: 240,
    nextCreditExpiry: new Date('2026-11-25T00:00:00Z'),
  });
});

test('a budget in dollars counts in dollars, exactly', () => {
  const usd = { enabled: true, softCapTokens: 0, hardCapTokens: 0, period: 'month', unit: 'usd', hardCapUsd: 10, softCapUsd: 8 };
  const room = budgetRoom(usd, { credits: [{ amount: 2.5, spent: 0.000001 }], raises: [{ extra: 0.1, startsAt: 0, endsAt: '2030-01-01T00:00:00Z' }] }, noon);
  assert.deepEqual([room.unit, room.effectiveCap, room.effectiveSoftCap, room.creditsLeft, room.nextCreditExpiry], ['usd', 10.1, 8.1, 2.499999, null]);
});

test('bad input names its field', () => {
  const bad = (extras, field, code) => {
    assert.throws(
      () => budgetRoom(budget, extras, noon),
      (e) => isAiBudgetError(e) && e.field === field && e.code === code,
      JSON.stringify(extras),
    );
  };
  bad({ credits: [{ amount: -1 }] }, 'credits[0].amount', 'negative-tokens');
  bad({ credits: [{ amount: 1.5 }] }, 'credits[0].amount', 'fractional-tokens');
  bad({ raises: [{ extra: 5, startsAt: 'soon', endsAt: noon }] }, 'raises[0].startsAt', 'invalid-instant');
  bad({ credits: 'many' }, 'credits', 'invalid-type');
  bad({ rollover: 2 ** 53 }, 'rollover', 'too-many-tokens');
});
