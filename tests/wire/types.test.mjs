// The client's wire types (pkg/client/wire.gen.d.mts) are generated from
// docs/openapi.json by scripts/gen-wire-types.mjs: the file on disk is what
// the document gives now, and the generator reads the schema subset it
// claims and refuses the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, compare } from '../../scripts/gen-wire-types.mjs';

test('pkg/client/wire.gen.d.mts is up to date with docs/openapi.json', () => {
  const { wanted, current } = compare();
  assert.ok(current !== null, 'pkg/client/wire.gen.d.mts is missing: run node scripts/gen-wire-types.mjs');
  if (wanted !== current) {
    const a = wanted.split('\n');
    const b = current.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.fail(
      `pkg/client/wire.gen.d.mts is out of date with docs/openapi.json (first difference at line ${line + 1}: ` +
        `${JSON.stringify(b[line])} should be ${JSON.stringify(a[line])}); run node scripts/gen-wire-types.mjs`,
    );
  }
});

const doc = (schemas, paths = {}) => ({ paths, components: { schemas } });
const body = (text, name) => text.slice(text.indexOf(`export type ${name} =`)).split('\n\n')[0].trimEnd();

test('an object with a oneOf of branches is one object per branch, discriminated by the branch', () => {
  const text = generate(
    doc({
      Cap: {
        type: 'object',
        properties: { unit: { type: 'string', enum: ['tokens', 'usd'] }, state: { type: 'string' } },
        required: ['unit', 'state'],
        oneOf: [
          { properties: { unit: { const: 'tokens' }, used: { type: 'integer' } }, required: ['used'] },
          { properties: { unit: { const: 'usd' }, usedUsd: { type: ['number', 'null'] } }, required: ['usedUsd'] },
        ],
      },
    }),
  );
  assert.equal(
    body(text, 'Cap'),
    "export type Cap = {\n  unit: 'tokens';\n  state: string;\n  used: number;\n} | {\n  unit: 'usd';\n  state: string;\n  usedUsd: number | null;\n};",
  );
});

test('references, allOf, records, arrays, literals and descriptions', () => {
  const text = generate(
    doc({
      A: { description: 'An A.', type: 'object', properties: { 'x-y': { const: "it's" } }, required: ['x-y'] },
      B: {
        allOf: [{ $ref: '#/components/schemas/A' }, { type: 'object', properties: { n: { type: 'integer', minimum: 0, description: 'A count.' } } }],
      },
      C: { type: 'object', additionalProperties: { oneOf: [{ $ref: '#/components/schemas/A' }, { type: 'null' }] } },
      D: { type: 'array', items: { enum: ['a', 1, true, null] } },
    }),
  );
  assert.equal(body(text, 'A'), "export type A = {\n  \"x-y\": 'it\\'s';\n};");
  assert.match(text, /\/\*\* An A\. \*\/\nexport type A =/);
  assert.equal(body(text, 'B'), 'export type B = A & {\n  /** A count. */\n  n?: number;\n};');
  assert.equal(body(text, 'C'), 'export type C = Record<string, A | null>;');
  assert.equal(body(text, 'D'), "export type D = ('a' | 1 | true | null)[];");
});

test('the generator refuses what it does not read, naming where', () => {
  assert.throws(() => generate(doc({ A: { type: 'object', patternProperties: {} } })), /#\/components\/schemas\/A: the keyword "patternProperties"/);
  assert.throws(() => generate(doc({ A: { $ref: 'other.json#/A' } })), /the reference other\.json#\/A/);
  assert.throws(() => generate(doc({ A: { type: 'object', required: ['x'] } })), /"x" required but not among its properties/);
  assert.throws(() => generate(doc({ A: { not: {} } })), /the keyword "not"/);
  // A request body is always a named schema, so that it has a type.
  const inline = { '/v1/x': { post: { requestBody: { content: { 'application/json': { schema: { type: 'object' } } } } } } };
  assert.throws(() => generate(doc({}, inline)), /POST \/v1\/x application\/json: a request body that is not a \$ref/);
});
