// ai-budget/client, installed from the packed tarball, against the built
// Worker in workerd (tests/worker/harness.mjs, on a real 127.0.0.1 port).
// Every request carries the suite's instant (x-now, tests/clock.mjs), and
// every answer the client receives is checked against the schema that
// docs/openapi.json documents for its route, method and status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient, withBudget, usageOf, verifyAlertSignature, BudgetRefused, BudgetApiError, isBudgetApiError } from 'ai-budget/client';

const root = process.env.AI_BUDGET_ROOT;
const app = process.env.AI_BUDGET_APP;
const rootRequire = createRequire(join(root, 'package.json'));
const { startWorker, ADMIN_TOKEN, CLOCK } = await import(pathToFileURL(join(root, 'tests/worker/harness.mjs')).href);
const { windows } = await import(pathToFileURL(join(root, 'tests/clock.mjs')).href);
const { Receiver, eventually } = await import(pathToFileURL(join(root, 'tests/alerts/receiver.mjs')).href);
const Ajv2020 = rootRequire('ajv/dist/2020').default;
const addFormats = rootRequire('ajv-formats').default;

// --- answers against the documented schemas ---------------------------------
const doc = JSON.parse(readFileSync(join(root, 'docs/openapi.json'), 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');
const templates = Object.keys(doc.paths).map((path) => ({
  path,
  re: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`),
}));
const deref = (node) => (node && node.$ref && !node.$ref.includes('/schemas/') ? deref(node.$ref.slice(2).split('/').reduce((n, k) => n[k], doc)) : node);
const validators = new Map();
/** `${METHOD} ${path template} ${status} ${media}` of every answer checked. */
const checked = new Set();

async function checkAnswer(method, url, res) {
  const pathname = new URL(url).pathname;
  const template = templates.find((t) => t.re.test(pathname));
  assert.ok(template, `${pathname} is not documented`);
  const operation = doc.paths[template.path][method.toLowerCase()];
  assert.ok(operation, `${method} ${template.path} is not documented`);
  const response = deref(operation.responses[String(res.status)] ?? operation.responses.default);
  assert.ok(response, `${method} ${template.path} does not document status ${res.status}`);
  const media = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  const content = response.content?.[media];
  assert.ok(content, `${method} ${template.path} ${res.status} does not document ${media}`);
  const key = `${method} ${template.path} ${res.status} ${media}`;
  if (!validators.has(key)) {
    // The document's own references, read against the document.
    const schema = JSON.parse(JSON.stringify(content.schema).replace(/"\$ref":"#/g, '"$ref":"openapi.json#'));
    validators.set(key, ajv.compile(schema));
  }
  const text = await res.text();
  const value = media === 'application/json' ? JSON.parse(text) : text;
  const validate = validators.get(key);
  assert.ok(validate(value), `${key}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 2000)}`);
  checked.add(key);
}

// --- the Worker and clients ----------------------------------------------------
let worker;
before(async () => {
  worker = await startWorker({ http: true });
});
after(() => worker?.mf.dispose());

/** The real fetch, answers checked against the document. */
const mismatches = [];
const schemaFetch = async (url, init) => {
  const res = await fetch(url, init);
  // Recorded, not thrown: the client would take a throw for a network error.
  await checkAnswer(init.method, url, res.clone()).catch((e) => mismatches.push(e.message));
  return res;
};
const fast = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const clientOf = (port, key = ADMIN_TOKEN, more = {}) =>
  createClient({ baseUrl: worker.origin, key, port, fetch: schemaFetch, headers: { 'x-now': CLOCK.iso }, retry: fast, ...more });
const dayEnd = new Date(windows(CLOCK.ms).day.end);

test('the client module loads no wasm and imports nothing', () => {
  const source = readFileSync(join(app, 'node_modules/ai-budget/client/index.mjs'), 'utf8');
  assert.doesNotMatch(source, /^\s*import\b|\bimport\(|require\(|\.wasm/m);
});

test('gateway settings: saved whole over If-Match, read back as the Worker answers them, bad ones refused with the field', async () => {
  const admin = clientOf('gw-client');
  const none = await admin.gatewaySettings();
  assert.equal(none.updatedAt, null);
  assert.equal(typeof none.defaults.defaultMaxTokens, 'number');
  const saved = await admin.saveGatewaySettings({ models: ['gpt-4.1*'], onSoftCap: { action: 'throttle', callsPerMinute: 30 }, onHardCap: { action: 'downgrade', models: { 'gpt-4.1': 'gpt-4.1-mini' } } });
  assert.deepEqual(saved.onSoftCap, { action: 'throttle', callsPerMinute: 30 });
  assert.deepEqual((await admin.gatewaySettings()).onHardCap, { action: 'downgrade', models: { 'gpt-4.1': 'gpt-4.1-mini' } });
  const stale = await admin.saveGatewaySettings({}, { ifMatch: '2020-01-01T00:00:00.000Z' }).catch((e) => e);
  assert.ok(stale instanceof BudgetApiError);
  assert.deepEqual([stale.status, stale.code], [412, 'precondition-failed']);
  const bad = await admin.saveGatewaySettings({ onSoftCap: { action: 'slow-down' } }).catch((e) => e);
  assert.deepEqual([bad.status, bad.code, bad.field], [400, 'unknown-action', 'onSoftCap.action']);
  const kept = await admin.saveGatewaySettings({ strict: false }, { ifMatch: saved.updatedAt });
  assert.equal(kept.strict, false);
  assert.equal(kept.onSoftCap, undefined, 'a save replaces the settings whole');
});

test('every method, with a port key and the admin token', async () => {
  const admin = clientOf('acme');
  const saved = await admin.setBudget({ enabled: true, softCapTokens: 8000, hardCapTokens: 10000, period: 'day' });
  assert.equal(saved.port, 'acme');
  assert.equal(saved.hardCapTokens, 10000);
  const stale = await admin.setBudget({ softCapTokens: 7000 }, { ifMatch: '2020-01-01T00:00:00.000Z' }).catch((e) => e);
  assert.ok(stale instanceof BudgetApiError && !(stale instanceof BudgetRefused));
  assert.equal(stale.status, 412);
  assert.equal(stale.code, 'precondition-failed');
  const matched = await admin.setBudget({ softCapTokens: 7000 }, { ifMatch: saved.updatedAt });
  assert.equal(matched.softCapTokens, 7000);

  const issued = await admin.issueKey();
  assert.match(issued.key, /^abk_[0-9a-f]{64}$/);
  assert.deepEqual((await admin.keys()).keys.map((k) => k.keyId), [issued.keyId]);
  const c = clientOf('acme', issued.key);

  assert.equal((await c.budget()).softCapTokens, 7000);
  const check = await c.check({ estimatedTokens: 500, feature: 'chat' });
  assert.equal(check.ok, true);
  if (check.ok) assert.equal(check.remaining, 10000);

  const held = await c.reserve({ estimatedTokens: 4000, feature: 'chat', userId: 'u-7' });
  assert.match(held.id, /^rsv_/);
  assert.match(held.requestId, /^cli_/, 'the client names the request');
  assert.equal(held.state, 'held');
  assert.equal(held.usage.heldTokens, 4000);
  assert.equal((await c.reservation(held.id)).state, 'held');
  assert.deepEqual((await c.reservations()).reservations.map((r) => r.id), [held.id]);
  const committed = await c.commit(held.id, { inputTokens: 1200, outputTokens: 800, provider: 'openai', model: 'gpt-4.1-mini' });
  assert.equal(committed.reservation.state, 'committed');
  assert.equal(committed.entry.totalTokens, 2000);
  assert.equal(committed.remaining, 8000);

  const other = await c.reserve({ estimatedTokens: 100, requestId: 'acme-2', ttlSeconds: 60 });
  assert.equal(other.requestId, 'acme-2');
  assert.equal((await c.release(other.id)).reservation.state, 'released');
  assert.equal((await c.reservations()).reservations.length, 0);
  assert.equal((await c.reservations({ state: 'all', limit: 10 })).reservations.length, 2);

  const recorded = await c.recordUsage({ feature: 'ocr', provider: 'anthropic', model: 'claude-sonnet', inputTokens: 900, outputTokens: 100 });
  assert.match(recorded.entry.requestId, /^cli_/);
  assert.equal((await c.usage()).usedTokens, 3000);
  assert.equal((await c.usage({ feature: 'ocr' })).usedTokens, 1000);
  assert.deepEqual((await c.breakdown()).breakdown.map((r) => [r.feature, r.tokens]), [['chat', 2000], ['ocr', 1000]]);

  const page = await c.ledger({ limit: 1 });
  assert.equal(page.rows.length, 1);
  assert.equal(page.rows[0].feature, 'ocr');
  assert.ok(page.nextCursor);
  const next = await c.ledger({ limit: 1, cursor: page.nextCursor });
  assert.equal(next.rows[0].feature, 'chat');
  const csv = await c.ledgerCsv({ limit: 1 });
  assert.match(csv.csv, /^id,createdAt,portId,/);
  assert.equal(csv.nextCursor, page.nextCursor);

  const status = await c.status();
  assert.equal(status.usage.usedTokens, 3000);
  assert.equal(status.keys, null);
  assert.ok(Array.isArray((await admin.status()).keys));

  const forbidden = await c.ports().catch((e) => e);
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.code, 'forbidden');
  assert.ok((await admin.ports()).ports.some((p) => p.port === 'acme'));
  assert.deepEqual(await admin.revokeKey(issued.keyId), { port: 'acme', keyId: issued.keyId, revoked: true });
  const gone = await admin.revokeKey(issued.keyId).catch((e) => e);
  assert.equal(gone.code, 'key-not-found');
});

test('money through the client: prices, a budget in dollars, holds priced by the Worker, refusals in dollars', async () => {
  const admin = clientOf('money');
  assert.ok((await admin.prices()).prices.some((p) => p.model === 'gpt-4.1'));
  const dated = await admin.price('gpt-4.1-2025-04-14');
  assert.deepEqual([dated.pricedAs, dated.inputPerMTok, dated.outputPerMTok], ['gpt-4.1', 2, 8]);
  const { effectiveFrom, ...saved1 } = await admin.setPrice('client/model', { inputPerMTok: 1, outputPerMTok: 4 });
  assert.deepEqual(saved1, {
    model: 'client/model', inputPerMTok: 1, cachedInputPerMTok: 1, cacheWritePerMTok: 1, cacheWrite1hPerMTok: 1, outputPerMTok: 4, source: 'custom',
  });
  assert.ok(Number.isFinite(Date.parse(effectiveFrom)), `in force from the Worker's now: ${effectiveFrom}`);
  assert.equal((await admin.price('client/model')).outputPerMTok, 4, 'a model id with a slash, percent-encoded');
  const bad = await admin.setPrice('client/model', { inputPerMTok: 1.0000001, outputPerMTok: 4 }).catch((e) => e);
  assert.deepEqual([bad.status, bad.code, bad.field], [400, 'too-many-decimals', 'inputPerMTok']);
  const saved = await admin.setBudget({ enabled: true, unit: 'usd', hardCapUsd: 0.01, period: 'day' });
  assert.deepEqual([saved.unit, saved.hardCapUsd, saved.softCapUsd], ['usd', 0.01, null]);
  // 1 000 x $1 + 1 000 x $4 per million: $0.005.
  const held = await admin.reserve({ model: 'client/model', estimatedInputTokens: 1000, estimatedOutputTokens: 1000 });
  assert.deepEqual([held.estimatedUsd, held.estimatedTokens, held.remaining], [0.005, 2000, 0.005]);
  const check = await admin.check({ estimatedTokens: 1, estimatedUsd: 0.006 });
  assert.deepEqual([check.ok, check.unit, check.usedUsd, check.capUsd], [false, 'usd', 0.005, 0.01]);
  const refused = await admin.reserve({ estimatedTokens: 1, estimatedUsd: 0.006 }).catch((e) => e);
  assert.ok(refused instanceof BudgetRefused);
  assert.deepEqual([refused.body.unit, refused.body.remainingUsd], ['usd', 0.005]);
  const unpriced = await admin.reserve({ model: 'nobody/prices', estimatedInputTokens: 1, estimatedOutputTokens: 1 }).catch((e) => e);
  assert.deepEqual([unpriced.status, unpriced.code, unpriced.field], [400, 'unpriced-model', 'model']);
  const done = await admin.commit(held.id, { provider: 'p', model: 'client/model', inputTokens: 1000, outputTokens: 100 });
  assert.equal(done.entry.costUsd, 0.0014);
  const status = await admin.status();
  assert.deepEqual([status.capStatus.unit, status.capStatus.usedUsd, status.usage.usedUsd], ['usd', 0.0014, 0.0014]);
  assert.deepEqual(await admin.deletePrice('client/model'), { model: 'client/model', deleted: true });
  const gone = await admin.price('client/model').catch((e) => e);
  assert.equal(gone.code, 'price-not-found');
});

test('alert methods: thresholds and endpoints, a sample, deliveries, a resend, the default endpoint; the signature verifies', async () => {
  const rx = await new Receiver().start();
  try {
    const admin = clientOf('alerting');
    await admin.setBudget({ enabled: true, softCapTokens: 100, hardCapTokens: 1000, period: 'day' });
    const saved = await admin.setAlerts({ thresholds: [80, 50], webhookUrl: `${rx.origin}/ok/client` });
    assert.deepEqual(saved.thresholds, [50, 80]);
    assert.match(saved.secret, /^whsec_/);
    const read = await admin.alerts();
    assert.equal(read.webhookUrl, `${rx.origin}/ok/client`);
    assert.equal(read.secret, undefined);
    const bad = await admin.setAlerts({ thresholds: [0] }).catch((e) => e);
    assert.deepEqual([bad.status, bad.code, bad.field], [400, 'invalid-threshold', 'thresholds[0]']);
    const sample = await admin.testAlerts();
    assert.equal(sample.deliveries[0].delivered, true);
    const [got] = rx.at('/ok/client');
    assert.equal(await verifyAlertSignature(got.headers['x-budget-signature'], got.body, saved.secret, { now: CLOCK.ms }), true);
    assert.equal(await verifyAlertSignature(got.headers['x-budget-signature'], got.body, 'whsec_other', { now: CLOCK.ms }), false);
    assert.equal(await verifyAlertSignature(got.headers['x-budget-signature'], `${got.body} `, saved.secret, { now: CLOCK.ms }), false);
    const t = Number(/t=(\d+)/.exec(got.headers['x-budget-signature'])[1]);
    assert.equal(await verifyAlertSignature(got.headers['x-budget-signature'], got.body, saved.secret, { now: (t + 301) * 1000 }), false, 'stale');
    const listed = await admin.alertDeliveries({ limit: 5 });
    assert.equal(listed.deliveries[0].eventId, sample.eventId);
    assert.equal((await admin.resendAlert(sample.eventId)).queued, true);
    await eventually(() => rx.at('/ok/client').length === 2, { what: 'the resend' });
    assert.equal(rx.at('/ok/client')[1].event.id, sample.eventId);
    const missing = await admin.resendAlert('evt_missing').catch((e) => e);
    assert.equal(missing.code, 'event-not-found');
    // Rotating: the next delivery carries both signatures, and either secret verifies.
    const rotated = await admin.rotateAlertSecret({ webhookUrl: `${rx.origin}/ok/client`, overlapHours: 2 });
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, saved.secret);
    assert.equal(rotated.previousSecretExpiresAt, new Date(CLOCK.ms + 2 * 3_600_000).toISOString());
    await admin.testAlerts();
    const both = rx.at('/ok/client').at(-1);
    const header = both.headers['x-budget-signature'];
    assert.equal(header.split(',').filter((p) => p.startsWith('v1=')).length, 2);
    assert.equal(await verifyAlertSignature(header, both.body, rotated.secret, { now: CLOCK.ms }), true);
    assert.equal(await verifyAlertSignature(header, both.body, saved.secret, { now: CLOCK.ms }), true);
    assert.equal(await verifyAlertSignature(header, both.body, 'whsec_other', { now: CLOCK.ms }), false);
    const unknown = await admin.rotateAlertSecret({ webhookUrl: `${rx.origin}/ok/elsewhere` }).catch((e) => e);
    assert.deepEqual([unknown.status, unknown.code], [404, 'webhook-endpoint-not-found']);
    const def = await admin.setDefaultAlerts({ webhookUrl: `${rx.origin}/ok/client-default` });
    assert.match(def.secret, /^whsec_/);
    const defRotated = await admin.rotateDefaultAlertSecret({ webhookUrl: `${rx.origin}/ok/client-default`, overlapHours: 0 });
    assert.deepEqual([defRotated.port, defRotated.previousSecretExpiresAt], [undefined, null]);
    assert.equal((await admin.defaultAlerts()).secret, undefined);
    await admin.setDefaultAlerts({ webhookUrl: null });
    const none = await clientOf('alert-less').testAlerts().catch((e) => e);
    assert.deepEqual([none.status, none.code], [409, 'no-webhook-endpoint']);
  } finally {
    await rx.stop();
  }
});

test('admin keys and the audit trail through the client: a role, a rotation, a revocation, the records as JSON and CSV', async () => {
  const owner = clientOf('audited');
  const issued = await owner.issueAdminKey({ name: 'client lead', role: 'editor', ports: ['audited'] });
  assert.match(issued.key, /^adk_/);
  const lead = clientOf('audited', issued.key);
  await lead.setBudget({ enabled: true, softCapTokens: 100, hardCapTokens: 1000, period: 'day' });
  const refused = await clientOf('elsewhere', issued.key).setBudget({ hardCapTokens: 5 }).catch((e) => e);
  assert.deepEqual([refused.status, refused.code], [403, 'port-out-of-scope']);
  const priced = await lead.setPrice('client-model', { inputPerMTok: 1, outputPerMTok: 1 }).catch((e) => e);
  assert.deepEqual([priced.status, priced.code], [403, 'role-insufficient']);
  const listed = await owner.adminKeys();
  assert.deepEqual(listed.keys.find((k) => k.keyId === issued.keyId).ports, ['audited']);
  const rotated = await owner.rotateAdminKey(issued.keyId, { overlapSeconds: 60 });
  assert.notEqual(rotated.key, issued.key);
  const page = await owner.audit({ port: 'audited', actor: issued.keyId, limit: 10 });
  assert.equal(page.records.length, 1);
  assert.deepEqual([page.records[0].action, page.records[0].actorName, page.records[0].after.hardCapTokens], ['PUT /v1/ports/{port}/budget', 'client lead', 1000]);
  const csv = await owner.auditCsv({ port: 'audited' });
  assert.match(csv.csv, /^seq,at,actorId,actorName,action,port,group,before,after\n/);
  assert.equal((await owner.revokeAdminKey(issued.keyId)).revokedAt, CLOCK.iso);
  const gone = await clientOf('audited', rotated.key).budget().catch((e) => e);
  assert.deepEqual([gone.status, gone.code], [401, 'unauthorized']);
  assert.deepEqual(mismatches, []);
});

test('errors are values: code, status, field', async () => {
  const c = clientOf('errs');
  const negative = await c.check({ estimatedTokens: -1 }).catch((e) => e);
  assert.ok(isBudgetApiError(negative));
  assert.equal(negative.name, 'BudgetApiError');
  assert.deepEqual([negative.status, negative.code, negative.field], [400, 'negative-tokens', 'estimatedTokens']);
  const unknown = await c.reserve({ estimatedTokens: 1, colour: 'red' }).catch((e) => e);
  assert.deepEqual([unknown.code, unknown.field], ['unknown-field', 'colour']);
  const missing = await c.reservation('rsv_missing').catch((e) => e);
  assert.deepEqual([missing.status, missing.code], [404, 'reservation-not-found']);
  const held = await c.reserve({ estimatedTokens: 10 });
  await c.release(held.id);
  const late = await c.commit(held.id, { inputTokens: 1, outputTokens: 1, provider: 'p', model: 'm' }).catch((e) => e);
  assert.deepEqual([late.status, late.code], [409, 'reservation-released']);
  const noAuth = await clientOf('errs', 'wrong-secret').status().catch((e) => e);
  assert.deepEqual([noAuth.status, noAuth.code], [401, 'unauthorized']);
});

test('a 429 is a BudgetRefused with its reason, numbers and reset', async () => {
  const c = clientOf('tight');
  await c.setBudget({ enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: 'day' });
  await c.recordUsage({ feature: 'chat', provider: 'p', model: 'm', inputTokens: 300, outputTokens: 0 });
  const refused = await c.reserve({ estimatedTokens: 2000 }).catch((e) => e);
  assert.ok(refused instanceof BudgetRefused, String(refused));
  assert.ok(refused instanceof BudgetApiError);
  assert.equal(refused.name, 'BudgetRefused');
  assert.deepEqual(
    [refused.status, refused.code, refused.reason, refused.scope, refused.used, refused.cap],
    [429, 'budget-exceeded', 'estimated-exceeds-cap', 'port', 300, 1000],
  );
  assert.ok(refused.resetsAt instanceof Date);
  assert.equal(refused.resetsAt.getTime(), dayEnd.getTime());
  assert.equal(refused.retryAfter, Math.ceil((dayEnd.getTime() - CLOCK.ms) / 1000));
  assert.match(refused.message, /estimated-exceeds-cap/);
});

test('a 429 naming its scope, and Retry-After from the header', async () => {
  const synthetic = async () =>
    new Response(JSON.stringify({
      error: { code: 'budget-exceeded', message: 'the user budget refuses' }, ok: false, reason: 'hard-cap-exceeded',
      usedTokens: 50, capTokens: 50, resetsAt: '2026-06-18T00:00:00.000Z', retryAfterSeconds: 99, scope: 'user', scopeId: 'u-9',
    }), { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '42' } });
  const e = await createClient({ baseUrl: 'http://x', key: 'k', port: 'p', fetch: synthetic }).reserve({ estimatedTokens: 1 }).catch((x) => x);
  assert.ok(e instanceof BudgetRefused);
  assert.deepEqual([e.scope, e.scopeId, e.used, e.cap, e.retryAfter, e.resetsAt.toISOString()], ['user', 'u-9', 50, 50, 42, '2026-06-18T00:00:00.000Z']);
});

/** A fetch that lets the first write of `path` reach the Worker, then answers the client a 503 (or breaks). */
function flaky(match, { mode = '503-after', times = 1 } = {}) {
  const seen = { replayed: [], calls: 0 };
  let left = times;
  const f = async (url, init) => {
    if (init.method === 'POST' && match.test(new URL(url).pathname)) {
      seen.calls++;
      if (left > 0) {
        left--;
        if (mode === 'network-before') throw new TypeError('fetch failed');
        await schemaFetch(url, init);
        return new Response(JSON.stringify({ error: { code: 'store-unavailable', message: 'injected' } }), {
          status: 503,
          headers: { 'content-type': 'application/json', 'retry-after': '0' },
        });
      }
      const res = await schemaFetch(url, init);
      seen.replayed.push(res.headers.get('idempotent-replayed'));
      return res;
    }
    return schemaFetch(url, init);
  };
  return { fetch: f, seen };
}

test('a 503 after the write is retried with the same requestId, recognized as a replay, counted once', async () => {
  const port = 'retry';
  const { fetch: f, seen } = flaky(/\/usage$/);
  const c = clientOf(port, ADMIN_TOKEN, { fetch: f });
  const recorded = await c.recordUsage({ feature: 'chat', provider: 'openai', model: 'gpt', inputTokens: 70, outputTokens: 30 });
  assert.equal(seen.calls, 2);
  assert.deepEqual(seen.replayed, ['true'], 'the retry is a replay of the first write');
  assert.equal(recorded.entry.totalTokens, 100);
  const ledger = await clientOf(port).ledger();
  assert.deepEqual(ledger.rows.map((r) => r.requestId), [recorded.entry.requestId]);
  assert.equal((await clientOf(port).usage()).usedTokens, 100);

  const r = flaky(/\/reservations$/);
  const held = await clientOf(port, ADMIN_TOKEN, { fetch: r.fetch }).reserve({ estimatedTokens: 50 });
  assert.deepEqual(r.seen.replayed, ['true']);
  assert.deepEqual((await clientOf(port).reservations()).reservations.map((x) => x.id), [held.id]);

  const cm = flaky(/\/commit$/);
  await clientOf(port, ADMIN_TOKEN, { fetch: cm.fetch }).commit(held.id, { inputTokens: 5, outputTokens: 5, provider: 'p', model: 'm' });
  assert.deepEqual(cm.seen.replayed, ['true']);
  assert.equal((await clientOf(port).usage()).usedTokens, 110);
  assert.equal((await clientOf(port).ledger()).rows.length, 2);
});

test('a network error is retried; a 503 that lasts ends as store-unavailable after the attempts', async () => {
  const n = flaky(/\/usage$/, { mode: 'network-before' });
  const recorded = await clientOf('net', ADMIN_TOKEN, { fetch: n.fetch }).recordUsage({ feature: 'f', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1 });
  assert.equal(n.seen.calls, 2);
  assert.equal(recorded.entry.totalTokens, 2);
  const down = flaky(/\/usage$/, { times: 10 });
  const error = await clientOf('net', ADMIN_TOKEN, { fetch: down.fetch })
    .recordUsage({ feature: 'f', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, requestId: 'net-2' })
    .catch((e) => e);
  assert.equal(down.seen.calls, 3, 'three attempts in all');
  assert.deepEqual([error.status, error.code, error.retryAfter], [503, 'store-unavailable', 0]);
  assert.equal((await clientOf('net').ledger()).rows.length, 2, 'every attempt was the same write');
  const unreachable = await createClient({ baseUrl: 'http://127.0.0.1:9', key: 'k', port: 'p', retry: fast }).status().catch((e) => e);
  assert.deepEqual([unreachable.status, unreachable.code], [0, 'network-error']);
});

test('withBudget commits an OpenAI chat completion, a Responses result and an Anthropic message', async () => {
  const c = clientOf('wb');
  const completion = {
    id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4.1-mini-2025-04-14',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 200 }, completion_tokens_details: { reasoning_tokens: 100 } },
  };
  let seenReservation;
  const out = await withBudget(c, { estimate: 4000, feature: 'chat', user: 'u-1' }, async (reservation) => {
    seenReservation = reservation;
    assert.equal((await c.reservation(reservation.id)).state, 'held');
    return completion;
  });
  assert.equal(out, completion);
  const first = await c.reservation(seenReservation.id);
  assert.deepEqual([first.state, first.actualTokens, first.feature, first.userId, first.estimatedTokens], ['committed', 1500, 'chat', 'u-1', 4000]);

  const message = {
    id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'hi' }],
    stop_reason: 'end_turn', usage: { input_tokens: 100, cache_read_input_tokens: 50, cache_creation_input_tokens: 25, output_tokens: 40 },
  };
  assert.equal(await withBudget(c, { estimate: 1000, feature: 'summary', user: 'u-2', requestId: 'wb-anthropic' }, () => message), message);
  const response = { id: 'resp_1', object: 'response', model: 'gpt-5', usage: { input_tokens: 10, output_tokens: 20, total_tokens: 30, output_tokens_details: { reasoning_tokens: 15 } } };
  await withBudget(c, { estimate: 100, feature: 'responses' }, async () => response);

  const rows = (await c.ledger()).rows;
  const byFeature = Object.fromEntries(rows.map((r) => [r.feature, r]));
  const pick = (r) => [r.provider, r.model, r.inputTokens, r.cachedInputTokens, r.cacheWriteTokens, r.outputTokens, r.reasoningTokens];
  assert.deepEqual(pick(byFeature.chat), ['openai', 'gpt-4.1-mini-2025-04-14', 1200, 200, 0, 300, 100]);
  assert.deepEqual(pick(byFeature.summary), ['anthropic', 'claude-sonnet-4-5', 175, 50, 25, 40, 0]);
  assert.equal(byFeature.summary.requestId, 'wb-anthropic');
  assert.deepEqual(pick(byFeature.responses), ['openai', 'gpt-5', 10, 0, 0, 20, 15]);
  assert.equal((await c.reservations()).reservations.length, 0, 'no hold left');
});

test('withBudget releases the hold when fn throws, and rethrows; a refusal never runs fn', async () => {
  const c = clientOf('wb-throw');
  const boom = new Error('the provider failed');
  const thrown = await withBudget(c, { estimate: 500, feature: 'chat' }, async () => {
    assert.equal((await c.reservations()).reservations.length, 1);
    throw boom;
  }).catch((e) => e);
  assert.equal(thrown, boom);
  assert.equal((await c.reservations()).reservations.length, 0, 'no open hold left');
  const all = (await c.reservations({ state: 'all' })).reservations;
  assert.deepEqual(all.map((r) => r.state), ['released']);

  const noUsage = await withBudget(c, { estimate: 5 }, () => ({ text: 'no usage here' })).catch((e) => e);
  assert.equal(noUsage.code, 'invalid-usage');
  assert.equal((await c.reservations()).reservations.length, 0);
  const custom = await withBudget(c, { estimate: 5, provider: 'local', model: 'llama', usage: (r) => ({ inputTokens: r.n, outputTokens: 1 }) }, () => ({ n: 3 }));
  assert.deepEqual(custom, { n: 3 });
  assert.deepEqual(pickRow((await c.ledger()).rows[0]), ['local', 'llama', 3, 1]);

  await c.setBudget({ enabled: true, softCapTokens: 10, hardCapTokens: 10, period: 'day' });
  let ran = false;
  const refused = await withBudget(c, { estimate: 1000 }, () => {
    ran = true;
    return { inputTokens: 1, outputTokens: 1 };
  }).catch((e) => e);
  assert.ok(refused instanceof BudgetRefused);
  assert.equal(ran, false);
});
const pickRow = (r) => [r.provider, r.model, r.inputTokens, r.outputTokens];

test('usageOf reads plain, OpenAI and Anthropic shapes', () => {
  assert.deepEqual(usageOf({ inputTokens: 1, outputTokens: 2, model: 'm', extra: true }), { inputTokens: 1, outputTokens: 2, model: 'm' });
  assert.deepEqual(usageOf({ model: 'gpt', usage: { prompt_tokens: 3, completion_tokens: 4 } }), { provider: 'openai', model: 'gpt', inputTokens: 3, outputTokens: 4 });
  assert.deepEqual(usageOf({ usage: { input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 0, cache_creation_input_tokens: null } }), { provider: 'anthropic', inputTokens: 3, outputTokens: 4 });
  assert.equal(usageOf({ usage: null }), undefined);
  assert.equal(usageOf('text'), undefined);
});

test('OpenAPI: /v1/openapi.json through the client origin, and the answers checked cover success and error bodies', async () => {
  const res = await fetch(`${worker.origin}/v1/openapi.json`);
  await checkAnswer('GET', `${worker.origin}/v1/openapi.json`, res);
  assert.deepEqual(mismatches, [], 'every answer matches its documented schema');
  const statuses = new Set([...checked].map((k) => k.split(' ')[2]));
  for (const s of ['200', '201', '400', '401', '403', '404', '409', '412', '429']) assert.ok(statuses.has(s), `no ${s} answer was checked`);
  for (const op of ['PUT /v1/ports/{port}/budget', 'POST /v1/ports/{port}/reservations', 'GET /v1/ports/{port}/ledger 200 text/csv', 'GET /v1/ports 200', 'DELETE /v1/ports/{port}/keys/{keyId} 200']) {
    assert.ok([...checked].some((k) => k.startsWith(op)), `${op} was not checked`);
  }
  assert.ok(checked.size >= 25, `${checked.size} kinds of answers checked`);
});

// tsconfig.client.json: every method and error, and wrong uses refused
// (@ts-expect-error); tsconfig.client-sdk.json: withBudget over the real
// OpenAI and Anthropic SDK result types (the repository's own copies).
for (const config of ['tsconfig.client.json', 'tsconfig.client-sdk.json']) {
  test(`TypeScript --strict accepts a typed use of the client and rejects wrong ones (${config})`, async () => {
    const { execFileSync } = await import('node:child_process');
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', config], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(e.stdout + e.stderr);
    }
  });
}

test('the schema check itself refuses an answer that breaks the document', async () => {
  const wrong = new Response(JSON.stringify({ error: { code: 'no-such-code', message: 'x' } }), { status: 404, headers: { 'content-type': 'application/json' } });
  await assert.rejects(checkAnswer('GET', `${worker.origin}/v1/ports/acme/reservations/rsv_1`, wrong), /must be equal to one of the allowed values/);
  const undocumented = new Response('{}', { status: 418, headers: { 'content-type': 'application/json' } });
  await assert.rejects(checkAnswer('GET', `${worker.origin}/v1/ports/acme/status`, undocumented), /does not document status 418/);
});
