// The run-out forecast through the installed package: the core's model
// (average rate of the period so far, carried to the reset), in tokens and
// in dollars, with a given rate for what-ifs, and strict about its input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forecast, isAiBudgetError } from 'ai-budget';

const monthly = { enabled: true, softCapTokens: 3000, hardCapTokens: 6000, period: 'month' };
// Ten days into April 2027 (30 days): 2,400 used, 240 a day.
const tenDaysIn = '2027-04-11T00:00:00.000Z';

test('a flat rate is carried to the reset and the run-out instant is where the cap is reached', () => {
  const f = forecast(monthly, 2400, tenDaysIn);
  assert.deepEqual(f, {
    basis: 'period-average',
    unit: 'tokens',
    ratePerHourTokens: 10,
    projectedUsedTokens: 7200,
    runOutAt: new Date('2027-04-26T00:00:00.000Z'),
    runsOutBeforeReset: true,
    periodStart: new Date('2027-04-01T00:00:00.000Z'),
    resetsAt: new Date('2027-05-01T00:00:00.000Z'),
  });
});

test('a given rate replaces the average; a cap out of reach has no run-out', () => {
  const slow = forecast(monthly, 2400, tenDaysIn, 5);
  assert.equal(slow.basis, 'given-rate');
  assert.equal(slow.projectedUsedTokens, 2400 + 5 * 24 * 20);
  assert.equal(slow.runOutAt, null);
  assert.equal(slow.runsOutBeforeReset, false);
  const fast = forecast(monthly, 2400, tenDaysIn, 100);
  assert.deepEqual(fast.runOutAt, new Date('2027-04-12T12:00:00.000Z'));
});

test('the first hour is too early to take a rate; a disabled budget has no forecast', () => {
  const early = forecast(monthly, 500, '2027-04-01T00:59:59.999Z');
  assert.equal(early.basis, 'too-early');
  assert.equal(early.projectedUsedTokens, 500);
  assert.equal(early.runOutAt, null);
  assert.equal(forecast({ ...monthly, enabled: false }, 500, tenDaysIn), null);
});

test('a usd budget forecasts in dollars, exact to the micro-dollar', () => {
  const usd = { enabled: true, unit: 'usd', hardCapUsd: 10, period: 'month' };
  const f = forecast(usd, 2.4, tenDaysIn);
  assert.equal(f.unit, 'usd');
  assert.equal(f.ratePerHourUsd, 0.01);
  assert.equal(f.projectedUsedUsd, 7.2);
  assert.equal(f.runOutAt, null);
  assert.equal('projectedUsedTokens' in f, false);
  assert.deepEqual(forecast(usd, 4, tenDaysIn).runOutAt, new Date('2027-04-26T00:00:00.000Z'));
});

test('bad input throws the package\'s errors and answers nothing', () => {
  for (const [args, code, field] of [
    [[monthly, -1, tenDaysIn], 'negative-tokens', 'used'],
    [[monthly, 1.5, tenDaysIn], 'fractional-tokens', 'used'],
    [[monthly, 'ten', tenDaysIn], 'invalid-type', 'used'],
    [[monthly, 10, 'not a date'], 'invalid-instant', 'now'],
    [[monthly, 10, tenDaysIn, -3], 'negative-tokens', 'ratePerHour'],
    [[{ ...monthly, period: 'year' }, 10, tenDaysIn], 'unknown-period', 'period'],
  ]) {
    assert.throws(() => forecast(...args), (err) => {
      assert.ok(isAiBudgetError(err), `${args}: ${err}`);
      assert.equal(err.code, code, `${JSON.stringify(args)}: ${err.message}`);
      assert.equal(err.field, field, `${JSON.stringify(args)}: ${err.message}`);
      return true;
    });
  }
});
