// The packed package, installed from its tarball into a scratch project,
// used the ways its README promises: ESM and CommonJS in Node (no init),
// universal code calling init, and TypeScript with --strict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { realpathSync } from 'node:fs';

const app = process.env.AI_BUDGET_APP;
const root = process.env.AI_BUDGET_ROOT;

function run(file, ...flags) {
  return JSON.parse(execFileSync(process.execPath, [...flags, file], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

const expectedCheck = { ok: true, remaining: 1, usedTokens: 999, softCap: true, resetsAt: '2026-12-01T00:00:00.000Z' };

test('the package is installed from the tarball, not linked to the workspace', () => {
  const installed = realpathSync(join(app, 'node_modules/ai-budget'));
  assert.ok(installed.startsWith(realpathSync(app)), installed);
});

test('Node ESM: named imports work with no init call', () => {
  assert.deepEqual(run('esm.mjs'), { check: expectedCheck, state: 'soft' });
});

test('Node CommonJS: require works with no init call', () => {
  assert.deepEqual(run('cjs.cjs'), { check: expectedCheck, state: 'soft', init: 'function' });
});

test('the bundler build (ai-budget/bundler) loads through WebAssembly ESM integration', () => {
  assert.deepEqual(run('bundler-esm.mjs', '--experimental-wasm-modules'), { check: expectedCheck });
});

test('Node: init is a harmless no-op, even called twice', () => {
  assert.deepEqual(run('universal.mjs'), { end: '2024-03-01T00:00:00.000Z' });
});

for (const config of ['tsconfig.json', 'tsconfig.bundler.json']) {
  test(`TypeScript --strict accepts correct use and rejects wrong use (${config})`, () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    // Fails on any type error, and on any @ts-expect-error line that is not an error.
    execFileSync(process.execPath, [tsc, '-p', config], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
  });
}
