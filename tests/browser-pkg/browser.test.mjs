// The installed package in Debian's Chromium (driven by playwright-core):
// the web build loaded as an ES module, and an app bundled by Vite. Both
// must compute exactly what Node computes with the same package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, normalize, extname } from 'node:path';
import * as nodeApi from 'ai-budget';
import { scenario } from './scenario.mjs';

const app = process.env.AI_BUDGET_APP;
const root = process.env.AI_BUDGET_ROOT;
const { chromium } = createRequire(join(root, 'package.json'))('playwright-core');

const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };

/** A static file server on 127.0.0.1 for `dir`; returns its origin and a stop function. */
async function serve(dir) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((r) => server.close(r)) };
}

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => browser?.close());

/** Opens `url`, waits for the page's answer, and returns it with the requests made. */
async function resultOf(url) {
  const page = await browser.newPage();
  const errors = [];
  const requests = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('requestfinished', (req) => requests.push(new URL(req.url()).pathname));
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.aiBudgetResult !== undefined, null, { timeout: 15000 });
    assert.deepEqual(errors, []);
    return { result: await page.evaluate(() => window.aiBudgetResult), requests };
  } finally {
    await page.close();
  }
}

const expected = scenario(nodeApi);

test('the scenario is meaningful in Node', () => {
  assert.equal(expected.allowed.ok, true);
  assert.equal(expected.refused.reason, 'estimated-exceeds-cap');
  assert.equal(expected.error.code, 'fractional-tokens');
  assert.deepEqual(expected.fast, [1, 1, 2, 255]);
});

test('a browser loads the web build as an ES module and answers as Node does', async () => {
  const server = await serve(app);
  try {
    const { result, requests } = await resultOf(`${server.origin}/index.html`);
    assert.deepEqual(result, expected);
    assert.ok(requests.includes('/node_modules/ai-budget/dist/web/ai_budget_bg.wasm'), requests.join(' '));
  } finally {
    await server.stop();
  }
});

test('an app bundled by Vite runs in a browser and answers as Node does', async () => {
  const vite = join(root, 'node_modules/vite/bin/vite.js');
  execFileSync(process.execPath, [vite, 'build', '--logLevel', 'warn', '--outDir', 'dist', '--emptyOutDir'],
    { cwd: join(app, 'vite-app'), stdio: 'pipe' });
  const server = await serve(join(app, 'vite-app/dist'));
  try {
    const { result, requests } = await resultOf(`${server.origin}/`);
    assert.deepEqual(result, expected);
    assert.ok(requests.some((path) => path.endsWith('.wasm')), requests.join(' '));
  } finally {
    await server.stop();
  }
});
