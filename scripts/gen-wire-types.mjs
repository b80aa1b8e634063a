#!/usr/bin/env node
// Writes the HTTP API's wire types, pkg/client/wire.gen.d.mts, from the
// OpenAPI document, docs/openapi.json: one exported type per schema of
// `components.schemas` (every request body is one of them, by `$ref`), with
// the schemas' descriptions as doc comments. The client's declarations
// (pkg/client/index.d.mts) import them, so a field is written once, in the
// document.
//
//   node scripts/gen-wire-types.mjs           write the file
//   node scripts/gen-wire-types.mjs --check   exit 1 when it is out of date
//
// It reads the subset of JSON Schema the document uses and refuses the
// rest, naming the keyword and where it is, rather than guess a type:
//   $ref (to #/components/schemas/...), type (a name or a list of names),
//   enum, const, properties, required, additionalProperties, items,
//   oneOf / anyOf (a union), allOf (an intersection). An object with
//   properties and a oneOf / anyOf whose branches add properties or
//   required names is one object per branch (the branch's properties and
//   required names over the object's), so `unit: {const: "usd"}` in a
//   branch discriminates the union. Validation-only keywords (minimum,
//   pattern, format, ...) do not change the type and are skipped.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DOCUMENT = join(ROOT, 'docs/openapi.json');
export const OUTPUT = join(ROOT, 'pkg/client/wire.gen.d.mts');

/** Keywords that constrain values without changing their TypeScript type. */
const SKIPPED = new Set([
  'description', 'title', 'format', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'uniqueItems', 'default', 'examples', 'propertyNames',
]);
const READ = new Set(['$ref', 'type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'oneOf', 'anyOf', 'allOf']);
const SCHEMA_REF = '#/components/schemas/';
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

class Unsupported extends Error {
  constructor(where, what) {
    super(`docs/openapi.json ${where}: ${what} (scripts/gen-wire-types.mjs reads a subset of JSON Schema; extend it or reshape the schema)`);
    this.name = 'Unsupported';
  }
}

/** A type's text and how tightly it binds: `atom`, `and` (an intersection) or `or` (a union). */
const atom = (text) => ({ text, binds: 'atom' });

function join_(parts, binds) {
  if (parts.length === 1) return parts[0];
  const sep = binds === 'or' ? ' | ' : ' & ';
  // A union inside an intersection needs parentheses; the rest reads as is.
  const text = parts.map((p) => (binds === 'and' && p.binds === 'or' ? `(${p.text})` : p.text)).join(sep);
  return { text, binds };
}

function union(parts) {
  const seen = new Set();
  const flat = [];
  for (const p of parts) {
    for (const q of p.binds === 'or' ? splitUnion(p) : [p]) {
      if (!seen.has(q.text)) {
        seen.add(q.text);
        flat.push(q);
      }
    }
  }
  return join_(flat, 'or');
}
/** The members of a union built by `union` (kept on the object). */
const splitUnion = (p) => p.members ?? [p];
function unionOf(parts) {
  const u = union(parts);
  if (u.binds === 'or') u.members = parts.flatMap((p) => (p.binds === 'or' ? splitUnion(p) : [p]));
  return u;
}

function literal(value, where) {
  if (typeof value === 'string') return atom(`'${value.replace(/[\\']/g, '\\$&')}'`);
  if (value === null || ['number', 'boolean'].includes(typeof value)) return atom(JSON.stringify(value));
  throw new Unsupported(where, `a literal of type ${typeof value}`);
}

function comment(text, indent) {
  if (typeof text !== 'string' || !text.trim()) return '';
  const lines = text.trim().replace(/\*\//g, '*\\/').split('\n');
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

function check(schema, where) {
  if (schema === true) return;
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) throw new Unsupported(where, 'a schema that is not an object');
  for (const key of Object.keys(schema)) {
    if (!READ.has(key) && !SKIPPED.has(key)) throw new Unsupported(where, `the keyword "${key}"`);
  }
}

/** The TypeScript type of `schema`, its nested lines indented by `indent`. */
function typeOf(schema, indent, where) {
  if (schema === true) return atom('unknown');
  check(schema, where);
  if (schema.$ref !== undefined) {
    const others = Object.keys(schema).filter((k) => k !== '$ref' && !SKIPPED.has(k));
    if (others.length) throw new Unsupported(where, `"$ref" next to ${others.join(', ')}`);
    if (typeof schema.$ref !== 'string' || !schema.$ref.startsWith(SCHEMA_REF)) throw new Unsupported(where, `the reference ${schema.$ref}`);
    const name = schema.$ref.slice(SCHEMA_REF.length);
    if (!IDENTIFIER.test(name)) throw new Unsupported(where, `the schema name ${JSON.stringify(name)}`);
    return atom(name);
  }
  const parts = (schema.allOf ?? []).map((member, i) => typeOf(member, indent, `${where}/allOf/${i}`));
  const own = { ...schema };
  delete own.allOf;
  if (Object.keys(own).some((k) => READ.has(k))) parts.push(ownType(own, indent, where));
  if (!parts.length) return atom('unknown');
  return join_(parts, 'and');
}

function ownType(schema, indent, where) {
  const branchesKey = schema.oneOf ? 'oneOf' : schema.anyOf ? 'anyOf' : null;
  if (schema.oneOf && schema.anyOf) throw new Unsupported(where, 'both oneOf and anyOf');
  if (branchesKey) {
    const branches = schema[branchesKey];
    if (!Array.isArray(branches) || !branches.length) throw new Unsupported(where, `an empty ${branchesKey}`);
    const base = { ...schema };
    delete base[branchesKey];
    if (isObjectBase(base)) {
      // One object per branch: the branch's properties and required names over the base's.
      return unionOf(branches.map((branch, i) => typeOf(merge(base, branch, `${where}/${branchesKey}/${i}`), indent, `${where}/${branchesKey}/${i}`)));
    }
    const rest = Object.keys(base).filter((k) => READ.has(k));
    if (rest.length) throw new Unsupported(where, `${branchesKey} next to ${rest.join(', ')}`);
    return unionOf(branches.map((branch, i) => typeOf(branch, indent, `${where}/${branchesKey}/${i}`)));
  }
  if (schema.const !== undefined) return literal(schema.const, where);
  if (schema.enum !== undefined) {
    if (!Array.isArray(schema.enum) || !schema.enum.length) throw new Unsupported(where, 'an empty enum');
    return unionOf(schema.enum.map((v) => literal(v, where)));
  }
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (!types.length && (schema.properties || schema.additionalProperties !== undefined || schema.required)) types.push('object');
  if (!types.length) return atom('unknown');
  return unionOf(types.map((t) => simple(t, schema, indent, where)));
}

/** A schema that describes an object of its own, which a oneOf's branches refine. */
const isObjectBase = (s) => s.type === 'object' || s.properties !== undefined || s.required !== undefined;

function merge(base, branch, where) {
  check(branch, where);
  if (branch.$ref !== undefined || branch.allOf !== undefined) throw new Unsupported(where, 'a branch with $ref or allOf under an object with properties');
  if (branch.type !== undefined && branch.type !== 'object') throw new Unsupported(where, `a branch of type ${branch.type} under an object`);
  const merged = { ...base, type: 'object' };
  merged.properties = { ...(base.properties ?? {}), ...(branch.properties ?? {}) };
  merged.required = [...new Set([...(base.required ?? []), ...(branch.required ?? [])])];
  if (branch.additionalProperties !== undefined) merged.additionalProperties = branch.additionalProperties;
  for (const key of ['oneOf', 'anyOf']) if (branch[key] !== undefined) merged[key] = branch[key];
  return merged;
}

function simple(type, schema, indent, where) {
  switch (type) {
    case 'string':
    case 'boolean':
    case 'null':
      return atom(type);
    case 'integer':
    case 'number':
      return atom('number');
    case 'array': {
      if (schema.items === undefined) return atom('unknown[]');
      const item = typeOf(schema.items, indent, `${where}/items`);
      return atom(item.binds === 'atom' ? `${item.text}[]` : `(${item.text})[]`);
    }
    case 'object':
      return objectType(schema, indent, where);
    default:
      throw new Unsupported(where, `the type ${JSON.stringify(type)}`);
  }
}

function objectType(schema, indent, where) {
  const properties = schema.properties ?? {};
  const required = schema.required ?? [];
  for (const name of required) {
    if (!(name in properties)) throw new Unsupported(where, `"${name}" required but not among its properties`);
  }
  const extra = schema.additionalProperties;
  const names = Object.keys(properties);
  let record = null;
  if (extra !== undefined && extra !== false) {
    const value = extra === true ? atom('unknown') : typeOf(extra, indent, `${where}/additionalProperties`);
    record = atom(`Record<string, ${value.text}>`);
  }
  if (!names.length) return record ?? atom('Record<string, unknown>');
  const inner = `${indent}  `;
  let body = '{\n';
  for (const name of names) {
    const prop = properties[name];
    const key = IDENTIFIER.test(name) ? name : JSON.stringify(name);
    const optional = required.includes(name) ? '' : '?';
    body += comment(prop && prop.description, inner);
    body += `${inner}${key}${optional}: ${typeOf(prop, inner, `${where}/properties/${name}`).text};\n`;
  }
  body += `${indent}}`;
  return record ? join_([atom(body), record], 'and') : atom(body);
}

/** The generated declarations for `doc`, as text. */
export function generate(doc) {
  const schemas = doc?.components?.schemas;
  if (!schemas || typeof schemas !== 'object') throw new Error('docs/openapi.json has no components.schemas');
  // Every request body is a named schema, so that it is one of the types below.
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const content = op?.requestBody?.content;
      if (!content) continue;
      for (const [media, { schema }] of Object.entries(content)) {
        if (!schema?.$ref?.startsWith(SCHEMA_REF) || !(schema.$ref.slice(SCHEMA_REF.length) in schemas)) {
          throw new Unsupported(`${method.toUpperCase()} ${path} ${media}`, 'a request body that is not a $ref to a schema of components.schemas');
        }
      }
    }
  }
  let out =
    '// Generated by scripts/gen-wire-types.mjs from docs/openapi.json: do not edit.\n' +
    '// The bodies of the HTTP API, requests and answers: one type per schema of\n' +
    "// the document's components.schemas. The client's declarations (index.d.mts)\n" +
    '// name them for their methods; `Wire` there is this whole module.\n';
  for (const [name, schema] of Object.entries(schemas)) {
    if (!IDENTIFIER.test(name)) throw new Unsupported(`components/schemas/${name}`, 'a name that is not an identifier');
    const where = `#/components/schemas/${name}`;
    out += `\n${comment(schema.description, '')}export type ${name} = ${typeOf(schema, '', where).text};\n`;
  }
  return out;
}

/** The text the document gives now and the text on disk (null when missing). */
export function compare() {
  const wanted = generate(JSON.parse(readFileSync(DOCUMENT, 'utf8')));
  let current = null;
  try {
    current = readFileSync(OUTPUT, 'utf8');
  } catch {
    // Missing: out of date.
  }
  return { wanted, current };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { wanted, current } = compare();
  if (process.argv.includes('--check')) {
    if (wanted !== current) {
      console.error('pkg/client/wire.gen.d.mts is out of date with docs/openapi.json: run node scripts/gen-wire-types.mjs');
      process.exit(1);
    }
    console.log('pkg/client/wire.gen.d.mts is up to date');
  } else if (wanted !== current) {
    writeFileSync(OUTPUT, wanted);
    console.log('wrote pkg/client/wire.gen.d.mts');
  } else {
    console.log('pkg/client/wire.gen.d.mts is up to date');
  }
}
