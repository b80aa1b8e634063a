// The installed package in a JS Cloudflare Worker: bundled by wrangler (the
// `workerd` export condition, the .wasm as a compiled module) and run in
// workerd through Miniflare, on 127.0.0.1 with no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const app = process.env.AI_BUDGET_APP;
const root = process.env.AI_BUDGET_ROOT;
const rootRequire = createRequire(join(root, 'package.json'));

test('a Worker bundled by wrangler runs the package in workerd with no init', async () => {
  const dir = join(app, 'workerd-app');
  const wrangler = rootRequire.resolve('wrangler/bin/wrangler.js');
  execFileSync(process.execPath, [wrangler, 'deploy', '--dry-run', '--outdir', 'out'], { cwd: dir, stdio: 'pipe' });
  assert.ok(readdirSync(join(dir, 'out')).some((file) => file.endsWith('.wasm')), 'the .wasm is its own module');

  const { Miniflare } = await import(pathToFileURL(rootRequire.resolve('miniflare')).href);
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(dir, 'out/worker.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2026-04-01',
    host: '127.0.0.1',
  });
  try {
    const response = await mf.dispatchFetch('http://localhost/');
    assert.deepEqual(await response.json(), {
      check: { ok: true, remaining: 1, usedTokens: 999, softCap: true, resetsAt: '2026-12-01T00:00:00.000Z' },
      end: '1970-01-02T00:00:00.000Z',
      error: { isError: true, code: 'negative-tokens' },
    });
  } finally {
    await mf.dispose();
  }
});
