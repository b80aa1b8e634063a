// The OpenAPI 3.1 document of /v1 (docs/openapi.json): a valid document, one
// that names every route the router knows, and the one the Worker serves at
// GET /v1/openapi.json. (Real answers are checked against its schemas by
// the client's tests, tests/client/.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { startWorker, ROOT } from "./harness.mjs";

const text = readFileSync(join(ROOT, "docs/openapi.json"), "utf8");
const doc = JSON.parse(text);

test("docs/openapi.json is a valid OpenAPI 3.1 document", async () => {
  assert.match(doc.openapi, /^3\.1\./);
  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(validator.version, "3.1");
});

test("every $ref of the document resolves", () => {
  const walk = (node) => {
    if (!node || typeof node !== "object") return;
    if (typeof node.$ref === "string") {
      const target = node.$ref.slice(2).split("/").reduce((n, k) => n?.[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
      assert.ok(target, `unresolved ${node.$ref}`);
    }
    for (const v of Object.values(node)) walk(v);
  };
  walk(doc);
});

// The route table's API rows (ROUTES in src/worker/routes.rs: one row per
// method and path), read from the source so that a new route without a
// documented path fails here. The gateway's rows are documented in
// docs/gateway.md.
function routerRoutes() {
  const src = readFileSync(join(ROOT, "src/worker/routes.rs"), "utf8");
  const table = src.slice(src.indexOf("pub static ROUTES"));
  const byPath = new Map();
  for (const m of table.matchAll(/\b(api|open)\(\s*(?:(GET|POST|PUT|DELETE),\s*)?"([^"]+)"/g)) {
    const [, kind, verb, path] = m;
    const methods = byPath.get(path) ?? [];
    methods.push(kind === "open" ? "get" : verb.toLowerCase());
    byPath.set(path, methods);
  }
  return [...byPath].map(([path, methods]) => ({ name: path, path, methods }));
}

test("every route of the router is documented, with each of its methods", () => {
  const routes = routerRoutes();
  assert.ok(routes.length >= 13, `read ${routes.length} routes from the route table`);
  const named = (path) => (path.includes("/keys/") ? "{keyId}" : path.startsWith("/v1/prices/") ? "{model}" : "{id}");
  const documented = (path) => doc.paths[path.replace(/\{id\}$/, named(path))];
  for (const { name, path, methods } of routes) {
    assert.ok(methods?.length, `no methods read for ${name}`);
    const item = documented(path);
    assert.ok(item, `${name}: ${path} is not in docs/openapi.json`);
    for (const method of methods) assert.ok(item[method], `${name}: ${method.toUpperCase()} ${path} is not documented`);
  }
  // And nothing documented that the router does not answer.
  const known = new Set(routes.map((r) => documented(r.path)));
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path === "/v1/openapi.json") continue;
    assert.ok(known.has(item), `${path} is documented but not routed`);
  }
});

test("every operation states the role the route table gives it (x-role)", () => {
  const src = readFileSync(join(ROOT, "src/worker/routes.rs"), "utf8");
  const table = src.slice(src.indexOf("pub static ROUTES"));
  const named = (path) => (path.includes("/keys/") ? "{keyId}" : path.startsWith("/v1/prices/") ? "{model}" : "{id}");
  let stated = 0;
  for (const m of table.matchAll(/\bapi\(\s*(GET|POST|PUT|DELETE),\s*"([^"]+)",\s*Auth::(\w+)(?:\((\w+)\))?/g)) {
    const [, verb, path, auth, role] = m;
    const item = doc.paths[path] ?? doc.paths[path.replace(/\{id\}$/, named(path))];
    const op = item[verb.toLowerCase()];
    assert.equal(op["x-role"], role?.toLowerCase(), `${verb} ${path} (Auth::${auth})`);
    if (role) stated++;
  }
  assert.ok(stated >= 45, `${stated} roles stated`);
});

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.mf.dispose());

test("GET /v1/openapi.json serves the document, with no auth", async () => {
  const res = await worker.get("/v1/openapi.json", { token: null });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  assert.equal(res.text, text);
  const head = await worker.request("HEAD", "/v1/openapi.json", { token: null });
  assert.equal(head.status, 200);
  assert.equal(head.text, "");
  const options = await worker.request("OPTIONS", "/v1/openapi.json", { token: null });
  assert.equal(options.status, 204);
  const post = await worker.post("/v1/openapi.json", {}, { token: null });
  assert.equal(post.status, 405);
  assert.equal(post.json.error.code, "method-not-allowed");
});
