// The routes of docs/openapi.json against the routes the package's client
// (pkg/client/index.mjs) calls: every method of the client is called once
// with example arguments through a recording `fetch`, and each request must
// be a documented operation (path, method, query parameters, a body exactly
// where the operation takes one, valid against its schema); every
// documented operation must be called by the client, or be listed below
// with the reason it is not. The admin page calls the API only through
// this client (www/js names no /v1 path of its own).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '../../pkg/client/index.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const doc = JSON.parse(readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8'));
const rootRequire = createRequire(join(ROOT, 'package.json'));
const Ajv2020 = rootRequire('ajv/dist/2020').default;
const addFormats = rootRequire('ajv-formats').default;

/** Documented operations the client does not call, each with its reason. */
const NOT_IN_CLIENT = {
  'GET /v1/openapi.json': 'the document itself, for tools; the client is typed from it when the package is built (pkg/client/wire.gen.d.mts)',
  'GET /v1/metrics': 'for Prometheus scrapers, in the text exposition format, not for the page or a JS backend',
};

/**
 * Example arguments of every client method. A method missing here fails the
 * test: give it arguments that reach every query parameter it can send.
 */
const port = 'acme';
const EXAMPLES = {
  check: [{ estimatedTokens: 10, feature: 'chat', userId: 'u-1' }],
  reserve: [{ model: 'gpt-4.1', estimatedInputTokens: 100, estimatedOutputTokens: 50, ttlSeconds: 60 }],
  commit: ['rsv_1', { inputTokens: 1, outputTokens: 2, provider: 'openai', model: 'gpt-4.1', cachedInputTokens: 1 }],
  release: ['rsv_1'],
  recordUsage: [{ feature: 'ocr', provider: 'anthropic', model: 'claude', inputTokens: 5, outputTokens: 1, occurredAt: 0 }],
  status: [],
  usage: [{ feature: 'chat' }],
  breakdown: [],
  ledger: [{ limit: 10, cursor: 'c' }],
  ledgerCsv: [{ limit: 10, cursor: 'c' }],
  retrySetAside: [],
  credits: [],
  grantCredits: [{ amount: 5000, expiresAt: '2027-01-01T00:00:00.000Z', note: 'prepaid' }],
  voidCredits: ['cr_1'],
  raises: [],
  addRaise: [{ extra: 1000, softExtra: 500, startsAt: '2026-12-01T00:00:00.000Z', endsAt: '2026-12-08T00:00:00.000Z', note: 'launch' }],
  endRaise: ['rz_1'],
  reservations: [{ state: 'all', limit: 5 }],
  reservation: ['rsv_1'],
  budget: [],
  setBudget: [{ hardCapTokens: 100, featureCaps: { chat: { hardCap: 5 }, old: null }, userCap: null }, { ifMatch: '2026-01-01T00:00:00.000Z' }],
  gatewaySettings: [],
  saveGatewaySettings: [{ models: ['gpt-4.1*'], onSoftCap: { action: 'downgrade', models: { 'gpt-4.1': 'gpt-4.1-mini' } }, onHardCap: { action: 'refuse' } }, { ifMatch: '2026-01-01T00:00:00.000Z' }],
  issueKey: [],
  keys: [],
  revokeKey: ['key_1'],
  ports: [],
  groups: [],
  groupBudget: ['org'],
  setGroupBudget: ['team', { hardCapTokens: 500, parent: 'org' }],
  groupStatus: ['org'],
  groupAlerts: ['org'],
  setGroupAlerts: ['org', { thresholds: [50, 80], webhookUrl: 'https://hooks.example.com/g' }],
  prices: [],
  price: ['gpt-4.1-2025-04-14'],
  setPrice: ['my-model', { inputPerMTok: 1, outputPerMTok: 2 }],
  deletePrice: ['my-model'],
  alerts: [],
  setAlerts: [{ thresholds: [50, 80], webhookUrl: ['https://hooks.example.com/a'] }],
  testAlerts: [],
  alertDeliveries: [{ limit: 20 }],
  resendAlert: ['evt_1'],
  rotateAlertSecret: [{ webhookUrl: 'https://hooks.example.com/a', overlapHours: 0 }],
  rotateDefaultAlertSecret: [{ webhookUrl: 'https://hooks.example.com/d' }],
  defaultAlerts: [],
  setDefaultAlerts: [{ webhookUrl: null }],
  adminKeys: [],
  issueAdminKey: [{ name: 'team lead', role: 'editor', ports: ['acme'], groups: ['team'], expiresAt: '2027-01-01T00:00:00Z' }],
  revokeAdminKey: ['adm_1'],
  rotateAdminKey: ['adm_1', { overlapSeconds: 600 }],
  audit: [{ port: 'acme', actor: 'adm_1', since: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:00Z', limit: 10, cursor: 'c' }],
  auditCsv: [{ port: 'acme', actor: 'adm_1', since: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:00Z', limit: 10, cursor: 'c' }],
};

const deref = (node) => (node && node.$ref ? deref(node.$ref.slice(2).split('/').reduce((n, k) => n[k], doc)) : node);
const templates = Object.keys(doc.paths).map((path) => ({
  path,
  re: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`),
}));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');
const validatorOf = (schema) => ajv.compile(JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#/g, '"$ref":"openapi.json#')));

/** Each client method's request, as `{ name, method, path, query, body }`. */
async function clientRequests() {
  const seen = [];
  const fetch = async (url, init) => {
    const u = new URL(url);
    seen.push({ method: init.method, pathname: u.pathname, query: [...u.searchParams.keys()], body: init.body === undefined ? undefined : JSON.parse(init.body) });
    return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const client = createClient({ baseUrl: 'https://budget.example.com', key: 'k', port, fetch, retry: { attempts: 1 } });
  const requests = [];
  for (const name of Object.keys(client)) {
    if (typeof client[name] !== 'function') continue;
    assert.ok(name in EXAMPLES, `the client's method ${name} has no example arguments in tests/wire/routes.test.mjs`);
    const before = seen.length;
    await client[name](...EXAMPLES[name]);
    assert.equal(seen.length, before + 1, `${name} sent ${seen.length - before} requests`);
    requests.push({ name, ...seen.at(-1) });
  }
  for (const name of Object.keys(EXAMPLES)) assert.equal(typeof client[name], 'function', `${name} is in EXAMPLES but not a method of the client`);
  return requests;
}

function documentedOperations() {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      ops.push({ key: `${method.toUpperCase()} ${path}`, path, method, op, parameters: [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref) });
    }
  }
  return ops;
}

test('every request of the client is a documented operation, its query and body as documented', async () => {
  const ops = new Map(documentedOperations().map((o) => [o.key, o]));
  for (const r of await clientRequests()) {
    const template = templates.find((t) => t.re.test(r.pathname));
    assert.ok(template, `${r.name}: ${r.pathname} is not a path of docs/openapi.json`);
    const op = ops.get(`${r.method} ${template.path}`);
    assert.ok(op, `${r.name}: ${r.method} ${template.path} is not documented`);
    const queries = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
    for (const q of r.query) assert.ok(queries.includes(q), `${r.name}: query parameter ${q} of ${op.key} is not documented`);
    const takes = op.op.requestBody?.content?.['application/json']?.schema;
    if (r.body === undefined) {
      assert.ok(!op.op.requestBody?.required, `${r.name}: ${op.key} requires a body the client does not send`);
    } else {
      assert.ok(takes, `${r.name}: the client sends a body to ${op.key}, which documents none`);
      const validate = validatorOf(takes);
      assert.ok(validate(r.body), `${r.name}: its body for ${op.key} is not valid: ${ajv.errorsText(validate.errors)}`);
    }
  }
});

test('every documented operation is called by the client, or listed with its reason', async () => {
  const called = new Set();
  for (const r of await clientRequests()) {
    const template = templates.find((t) => t.re.test(r.pathname));
    if (template) called.add(`${r.method} ${template.path}`);
  }
  const missing = documentedOperations()
    .map((o) => o.key)
    .filter((key) => !called.has(key) && !(key in NOT_IN_CLIENT));
  assert.deepEqual(missing, [], 'documented operations the client does not call (add a method, or list them in NOT_IN_CLIENT with a reason)');
  for (const key of Object.keys(NOT_IN_CLIENT)) {
    assert.ok(documentedOperations().some((o) => o.key === key), `NOT_IN_CLIENT lists ${key}, which the document does not have`);
    assert.ok(!called.has(key), `NOT_IN_CLIENT lists ${key}, which the client calls`);
  }
});

test('the client declares exactly the methods it has', async () => {
  const text = readFileSync(join(ROOT, 'pkg/client/index.d.mts'), 'utf8');
  const start = text.indexOf('export interface BudgetClient {');
  assert.ok(start >= 0, 'index.d.mts declares BudgetClient');
  const block = text.slice(start, text.indexOf('\n}\n', start));
  const declared = [...block.matchAll(/^ {2}(\w+)(?:<[^(]*>)?\(/gm)].map((m) => m[1]).sort();
  const client = createClient({ baseUrl: 'https://budget.example.com', key: 'k', port });
  const actual = Object.keys(client).filter((k) => typeof client[k] === 'function').sort();
  assert.deepEqual(declared, actual);
});

test('the admin page names no API path of its own: it calls the API through the client', () => {
  const dir = join(ROOT, 'www/js');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    assert.doesNotMatch(text, /["'`]\/v1\//, `www/js/${file} writes an API path`);
    assert.doesNotMatch(text, /\bfetch\(/, `www/js/${file} calls fetch itself`);
  }
});
