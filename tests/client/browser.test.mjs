// The installed client in Debian's Chromium (playwright-core): a page
// imports ai-budget/client's module as it ships and calls the Worker in
// workerd with the browser's own fetch (same origin: this test's server
// serves the page and passes /v1 on to the Worker).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const app = process.env.AI_BUDGET_APP;
const root = process.env.AI_BUDGET_ROOT;
const { chromium } = createRequire(join(root, 'package.json'))('playwright-core');
const { startWorker, ADMIN_TOKEN, CLOCK } = await import(pathToFileURL(join(root, 'tests/worker/harness.mjs')).href);

const page = `<!doctype html><meta charset="utf-8"><script type="module">
import { createClient, withBudget, BudgetRefused } from '/client.mjs';
const client = createClient({ baseUrl: location.origin, key: ${JSON.stringify(ADMIN_TOKEN)}, port: 'browser', headers: { 'x-now': ${JSON.stringify(CLOCK.iso)} } });
try {
  await client.setBudget({ enabled: true, softCapTokens: 900, hardCapTokens: 1000, period: 'day' });
  await withBudget(client, { estimate: 200, feature: 'page' }, async () => ({
    model: 'gpt-4.1-mini', usage: { prompt_tokens: 40, completion_tokens: 60 },
  }));
  const refused = await client.reserve({ estimatedTokens: 5000 }).catch((e) => e);
  const usage = await client.usage();
  window.aiBudgetResult = { used: usage.usedTokens, refused: refused instanceof BudgetRefused, reason: refused.reason, open: (await client.reservations()).reservations.length };
} catch (e) {
  window.aiBudgetResult = { error: String(e) };
}
</script>`;

let worker, browser, server, origin;
before(async () => {
  worker = await startWorker({ http: true });
  const client = readFileSync(join(app, 'node_modules/ai-budget/client/index.mjs'));
  server = createServer(async (req, res) => {
    if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (req.url === '/client.mjs') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(client);
    if (!req.url.startsWith('/v1/')) return res.writeHead(404).end();
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)));
    const answer = await fetch(`${worker.origin}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const out = Object.fromEntries([...answer.headers].filter(([k]) => !['content-encoding', 'content-length', 'transfer-encoding'].includes(k)));
    res.writeHead(answer.status, out).end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r()));
  await worker?.mf.dispose();
});

test('a browser page uses the client with its own fetch, and loads no wasm', async () => {
  const tab = await browser.newPage();
  const errors = [];
  const requests = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  tab.on('requestfinished', (req) => requests.push(new URL(req.url()).pathname));
  try {
    await tab.goto(`${origin}/`);
    await tab.waitForFunction(() => window.aiBudgetResult !== undefined, null, { timeout: 15000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(await tab.evaluate(() => window.aiBudgetResult), { used: 100, refused: true, reason: 'estimated-exceeds-cap', open: 0 });
    assert.ok(!requests.some((p) => p.endsWith('.wasm')), requests.join(' '));
    assert.ok(requests.includes('/v1/ports/browser/reservations'), requests.join(' '));
  } finally {
    await tab.close();
  }
});
