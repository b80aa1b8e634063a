// ai-budget/client's strict edges, with no Worker: verifyAlertSignature
// takes only the header docs/api.md ("Alerts") defines and never skips the
// time check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { verifyAlertSignature } from 'ai-budget/client';

// --- verifyAlertSignature ------------------------------------------------------
const SECRET = 'whsec_strict';
const OLD = 'whsec_strict_old';
const BODY = '{"id":"evt_1","type":"threshold-crossed","port":"acme"}';
const T = 1_700_000_000;
const NOW = T * 1000;
/** The v1 tag of `body` at `t` (a string, as it goes into the header) under `secret`. */
const tag = (secret, t = String(T), body = BODY) => createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
const GOOD = `t=${T},v1=${tag(SECRET)}`;
const verify = (header, options = { now: NOW }, secret = SECRET, body = BODY) => verifyAlertSignature(header, body, secret, options);

test('a well-formed header verifies: one v1, several v1 (either secret), the edges of the tolerance', async () => {
  assert.equal(await verify(GOOD), true);
  const rotating = `t=${T},v1=${tag(SECRET)},v1=${tag(OLD)}`;
  assert.equal(await verify(rotating), true);
  assert.equal(await verify(rotating, { now: NOW }, OLD), true);
  assert.equal(await verify(rotating, { now: NOW }, 'whsec_other'), false);
  assert.equal(await verify(GOOD, { now: NOW }, SECRET, `${BODY} `), false);
  assert.equal(await verify(GOOD, { now: NOW + 300_000 }), true, 'the default tolerance: 300 s');
  assert.equal(await verify(GOOD, { now: NOW - 300_000 }), true);
  assert.equal(await verify(GOOD, { now: NOW + 301_000 }), false, 'stale');
  assert.equal(await verify(GOOD, { now: NOW - 301_000 }), false, 'from the future');
  assert.equal(await verify(GOOD, { now: NOW, toleranceSeconds: 0 }), true, 'a tolerance of 0: this very second');
  assert.equal(await verify(GOOD, { now: NOW + 1000, toleranceSeconds: 0 }), false);
  assert.equal(await verify(GOOD, { now: NOW + 10_000, toleranceSeconds: 10.5 }), true);
  assert.equal(await verify(`t=0,v1=${tag(SECRET, '0')}`, { now: 0 }), true, 't=0 is a number like another');
  assert.equal(await verifyAlertSignature(GOOD, BODY, SECRET), false, 'the current clock by default: long past T');
  assert.equal(await verify(GOOD, { now: undefined, toleranceSeconds: undefined }), false, 'undefined options take their defaults');
});

test('a trailing "=x" after t (or after a v1) is refused, though the rest would verify', async () => {
  assert.equal(await verify(`t=${T}=x,v1=${tag(SECRET)}`), false);
  assert.equal(await verify(`t=${T},v1=${tag(SECRET)}=x`), false);
  assert.equal(await verify(`t=${T}=,v1=${tag(SECRET)}`), false);
  assert.equal(await verify(`t==${T},v1=${tag(SECRET)}`), false);
});

test('every header outside the documented grammar is refused (false, never a throw)', async () => {
  const v1 = tag(SECRET);
  const malformed = {
    'empty header': '',
    'no v1': `t=${T}`,
    'no t': `v1=${v1}`,
    'v1 before t': `v1=${v1},t=${T}`,
    't twice': `t=${T},t=${T},v1=${v1}`,
    't after the v1s': `t=${T},v1=${v1},t=${T}`,
    'an empty part': `t=${T},,v1=${v1}`,
    'a trailing comma': `${GOOD},`,
    'a leading comma': `,${GOOD}`,
    'an unknown key': `${GOOD},v0=${v1}`,
    'an unknown key first': `k=1,${GOOD}`,
    'a part with no =': `${GOOD},v1`,
    'an empty v1': `${GOOD},v1=`,
    'an empty t': `t=,v1=${v1}`,
    'a key in capitals': `T=${T},v1=${v1}`,
    'V1 in capitals': `t=${T},V1=${v1}`,
    'a space after the comma': `t=${T}, v1=${v1}`,
    'a space before the comma': `t=${T} ,v1=${v1}`,
    'a leading space': ` ${GOOD}`,
    'a trailing space': `${GOOD} `,
    'a trailing newline': `${GOOD}\n`,
    'a tab': `t=${T},\tv1=${v1}`,
    'spaces around =': `t = ${T},v1 = ${v1}`,
    'a semicolon for a comma': `t=${T};v1=${v1}`,
    't with a leading +': `t=+${T},v1=${v1}`,
    'a negative t': `t=-${T},v1=${v1}`,
    't with a leading zero': `t=0${T},v1=${tag(SECRET, `0${T}`)}`,
    't with a fraction': `t=${T}.0,v1=${tag(SECRET, `${T}.0`)}`,
    't in exponent form': `t=1.7e9,v1=${tag(SECRET, '1.7e9')}`,
    't in hex': `t=0x${T.toString(16)},v1=${v1}`,
    't with a letter': `t=${T}a,v1=${v1}`,
    't in other digits': `t=${String(T).replace(/1/g, '\u0661')},v1=${v1}`,
    'hex one digit short': `t=${T},v1=${v1.slice(1)}`,
    'hex one digit long': `t=${T},v1=${v1}0`,
    'hex in capitals': `t=${T},v1=${v1.toUpperCase()}`,
    'one capital hex digit': `t=${T},v1=${v1.replace(/[a-f]/, (c) => c.toUpperCase())}`,
    'hex with a non-hex digit': `t=${T},v1=${v1.slice(0, 63)}g`,
    'a bad v1 beside a good one': `t=${T},v1=${v1.toUpperCase()},v1=${v1}`,
    'a short v1 beside a good one': `t=${T},v1=${v1},v1=00`,
    'base64 for hex': `t=${T},v1=${Buffer.from(v1, 'hex').toString('base64')}`,
  };
  for (const [what, header] of Object.entries(malformed)) {
    assert.equal(await verify(header), false, `${what}: ${JSON.stringify(header)}`);
  }
  // A t past 2^53 - 1 is no exact number of seconds; refused whatever the tolerance.
  const huge = '9007199254740993';
  assert.equal(await verify(`t=${huge},v1=${tag(SECRET, huge)}`, { now: NOW, toleranceSeconds: 1e300 }), false);
  for (const header of [undefined, null, 42, ['t=1'], { toString: () => GOOD }]) {
    assert.equal(await verify(header), false, `a ${typeof header} header`);
  }
  assert.equal(await verifyAlertSignature(GOOD, BODY, ''), false, 'an empty secret');
  assert.equal(await verifyAlertSignature(GOOD, Buffer.from(BODY), SECRET, { now: NOW }), false, 'a body that is not a string');
});

test('a bad toleranceSeconds or now is an error, never "no check"', async () => {
  const stale = { now: NOW + 3_600_000 };
  for (const toleranceSeconds of [NaN, -1, -0.5, -Infinity, Infinity]) {
    await assert.rejects(verify(GOOD, { ...stale, toleranceSeconds }), RangeError, `toleranceSeconds ${toleranceSeconds} on a stale header`);
    await assert.rejects(verify(GOOD, { now: NOW, toleranceSeconds }), RangeError, `toleranceSeconds ${toleranceSeconds} on a fresh header`);
    await assert.rejects(verify('t=1=x', { now: NOW, toleranceSeconds }), RangeError, `toleranceSeconds ${toleranceSeconds} on a malformed header`);
  }
  for (const toleranceSeconds of ['300', null, 300n, {}, true]) {
    await assert.rejects(verify(GOOD, { now: NOW, toleranceSeconds }), TypeError, `toleranceSeconds ${typeof toleranceSeconds}`);
  }
  await assert.rejects(verify(GOOD, { now: NOW, toleranceSeconds: NaN }), /toleranceSeconds must be a finite number >= 0, not NaN/);
  for (const now of [NaN, Infinity, -Infinity]) {
    await assert.rejects(verify(GOOD, { now }), RangeError, `now ${now}`);
  }
  for (const now of [String(NOW), null, new Date(NOW)]) {
    await assert.rejects(verify(GOOD, { now }), TypeError, `now ${typeof now}`);
  }
  assert.equal(await verify(GOOD, { now: NOW, toleranceSeconds: -0 }), true, '-0 is 0');
});
