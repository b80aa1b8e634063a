// The roles table of docs/api.md against docs/openapi.json: each role's row
// names exactly the operations whose `x-role` is that role. The route table
// (src/worker/routes.rs) is held to the document by a unit test there; this
// keeps the prose a reader trusts from drifting away from both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const doc = JSON.parse(readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8'));
const apiMd = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** The operations the document gives `role`, as `METHOD /path`. */
function documented(role) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      if (item[method]?.['x-role'] === role) out.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return out.sort();
}

/** The operations docs/api.md's table row for `role` names. */
function tabled(role) {
  const row = apiMd.split('\n').find((line) => line.startsWith(`| \`${role}\` |`));
  assert.ok(row, `docs/api.md has a roles table row for ${role}`);
  const cell = row.split('|')[2];
  return [...cell.matchAll(/`([A-Z]+ \/[^`]+)`/g)].map((m) => m[1]).sort();
}

for (const role of ['viewer', 'editor', 'owner']) {
  test(`docs/api.md's roles table lists exactly the ${role} operations of the OpenAPI document`, () => {
    const names = tabled(role);
    assert.equal(new Set(names).size, names.length, `a route is listed twice for ${role}`);
    assert.deepEqual(names, documented(role));
  });
}
