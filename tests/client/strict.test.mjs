// ai-budget/client's strict edges, with no Worker: verifyAlertSignature
// takes only the header docs/api.md ("Alerts") defines and never skips the
// time check; and no request of the client follows a redirect (local Node
// servers on 127.0.0.1, and fetch doubles for a browser's opaque redirect).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { createClient, verifyAlertSignature, BudgetApiError } from 'ai-budget/client';

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

// --- redirects -------------------------------------------------------------------
/** A server on 127.0.0.1 that records each request and answers with `respond(req, res, server)`. */
async function serve(respond) {
  const server = createServer((req, res) => {
    server.seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => respond(req, res, server));
  });
  server.seen = [];
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.origin = `http://127.0.0.1:${server.address().port}`;
  return server;
}
const json = (res, status, value, headers = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));

let elsewhere, redirecting;
before(async () => {
  // Another origin (another port): it must never be asked anything.
  elsewhere = await serve((req, res) => json(res, 200, { port: 'acme', stolen: true }));
  redirecting = await serve((req, res, self) => {
    const [, status, where] = /^\/(\d+)\/(\w+)/.exec(req.url) ?? [];
    if (!status) return json(res, 404, { error: { code: 'not-found', message: 'no route' } });
    const location = { other: `${elsewhere.origin}${req.url}`, same: `${self.origin}/ok`, relative: '/ok', none: null }[where];
    res.writeHead(Number(status), location ? { location } : {}).end('moved');
  });
});
after(async () => {
  for (const s of [elsewhere, redirecting]) {
    s?.closeAllConnections();
    await new Promise((resolve) => s?.close(resolve));
  }
});
const fast = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const clientAt = (prefix, more = {}) => createClient({ baseUrl: `${redirecting.origin}${prefix}`, key: 'abk_secret', port: 'acme', retry: fast, ...more });

test('a redirect to another origin is not followed: a redirect-refused error naming the Location, nothing sent there, no retry', async () => {
  for (const [status, call] of [
    [307, (c) => c.status()],
    [308, (c) => c.reserve({ estimatedTokens: 10 })],
    [301, (c) => c.ledger()],
    [302, (c) => c.recordUsage({ feature: 'f', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1 })],
    [303, (c) => c.commit('rsv_1', { inputTokens: 1, outputTokens: 1, provider: 'p', model: 'm' })],
  ]) {
    redirecting.seen.length = 0;
    const error = await call(clientAt(`/${status}/other`)).then(
      (value) => assert.fail(`${status}: resolved ${JSON.stringify(value)}`),
      (e) => e,
    );
    assert.ok(error instanceof BudgetApiError, String(error));
    assert.deepEqual([error.code, error.status], ['redirect-refused', status]);
    assert.ok(error.message.includes(`${elsewhere.origin}/${status}/other/v1/ports/acme/`), error.message);
    assert.equal(redirecting.seen.length, 1, `${status}: one request, not retried`);
    assert.equal(redirecting.seen[0].authorization, 'Bearer abk_secret');
  }
  assert.deepEqual(elsewhere.seen, [], 'the other origin received no request');
});

test('a redirect to the same origin is not followed either; a relative or missing Location is named as such', async () => {
  redirecting.seen.length = 0;
  const same = await clientAt('/307/same').status().catch((e) => e);
  assert.deepEqual([same.code, same.status], ['redirect-refused', 307]);
  assert.match(same.message, new RegExp(`to ${redirecting.origin}/ok;`));
  const relative = await clientAt('/302/relative').budget().catch((e) => e);
  assert.deepEqual([relative.code, relative.status], ['redirect-refused', 302]);
  assert.match(relative.message, new RegExp(`to ${redirecting.origin}/ok;`), 'resolved against the request URL');
  const none = await clientAt('/301/none').budget().catch((e) => e);
  assert.deepEqual([none.code, none.status], ['redirect-refused', 301]);
  assert.match(none.message, /to no Location/);
  assert.deepEqual(redirecting.seen.map((r) => r.url), [
    '/307/same/v1/ports/acme/status', '/302/relative/v1/ports/acme/budget', '/301/none/v1/ports/acme/budget',
  ], 'never /ok');
  // Statuses fetch does not follow are ordinary failed answers.
  const plain = await clientAt('/300/other').status().catch((e) => e);
  assert.deepEqual([plain.code, plain.status], ['invalid-response', 300]);
  assert.deepEqual(elsewhere.seen, []);
});

/** A fetch double: answers `answers` in turn (a function throws it, a value is returned), recording each init. */
function scripted(...answers) {
  const inits = [];
  const f = async (url, init) => {
    inits.push(init);
    const next = answers.shift();
    if (typeof next === 'function') return next();
    return next;
  };
  return { fetch: f, inits };
}
const ok = (value) => new Response(JSON.stringify(value), { status: 200, headers: { 'content-type': 'application/json' } });

test("a browser's opaque redirect (status 0, no Location) is refused; so is an answer a fetch option reached through a redirect", async () => {
  const opaque = new Response(null, { status: 200 });
  Object.defineProperties(opaque, { type: { value: 'opaqueredirect' }, status: { value: 0 }, ok: { value: false } });
  const browser = scripted(opaque, ok({ stolen: true }));
  const error = await createClient({ baseUrl: 'https://budget.example.com', key: 'k', port: 'acme', fetch: browser.fetch, retry: fast }).status().catch((e) => e);
  assert.ok(error instanceof BudgetApiError);
  assert.deepEqual([error.code, error.status], ['redirect-refused', 0]);
  assert.match(error.message, /Location is hidden/);
  assert.equal(browser.inits.length, 1, 'not retried');

  const followed = ok({ port: 'acme', stolen: true });
  Object.defineProperties(followed, { redirected: { value: true }, url: { value: 'https://elsewhere.example/v1/ports/acme/status' } });
  const lax = scripted(followed);
  const refused = await createClient({ baseUrl: 'https://budget.example.com', key: 'k', port: 'acme', fetch: lax.fetch }).status().catch((e) => e);
  assert.deepEqual([refused.code, refused.status], ['redirect-refused', 200]);
  assert.match(refused.message, /https:\/\/elsewhere\.example\/v1\/ports\/acme\/status/);
});

test('every request asks for redirect: manual, retries included; 503s and network errors are still retried', async () => {
  const unavailable = () => new Response(JSON.stringify({ error: { code: 'store-unavailable', message: 'x' } }), { status: 503, headers: { 'retry-after': '0' } });
  const s = scripted(unavailable(), () => {
    throw new TypeError('fetch failed');
  }, ok({ port: 'acme', usage: {} }));
  const c = createClient({ baseUrl: 'https://budget.example.com/', key: 'k', port: 'acme', fetch: s.fetch, retry: fast });
  assert.deepEqual(await c.status(), { port: 'acme', usage: {} });
  assert.equal(s.inits.length, 3);
  for (const init of s.inits) assert.equal(init.redirect, 'manual');

  // Against a real server: a 503 then the answer, same redirect policy.
  let n = 0;
  const flaky = await serve((req, res) => (n++ === 0 ? json(res, 503, { error: { code: 'store-unavailable', message: 'x' } }, { 'retry-after': '0' }) : json(res, 200, { port: 'acme', keys: [] })));
  try {
    const real = createClient({ baseUrl: flaky.origin, key: 'k', port: 'acme', retry: fast });
    assert.deepEqual(await real.keys(), { port: 'acme', keys: [] });
    assert.equal(flaky.seen.length, 2);
  } finally {
    flaky.closeAllConnections();
    await new Promise((resolve) => flaky.close(resolve));
  }
});
