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

// The router's routes (Route::parse in src/worker/api/mod.rs) and methods
// (Route::methods), read from the source so that a new route without a
// documented path fails here.
function routerRoutes() {
  const src = readFileSync(join(ROOT, "src/worker/api/mod.rs"), "utf8");
  const parse = src.slice(src.indexOf("fn parse("), src.indexOf("fn port("));
  const routes = new Map();
  for (const m of parse.matchAll(/\[([^\]]*)\]\s*=>\s*Route::(\w+)/g)) {
    const segments = m[1].split(",").map((s) => s.trim()).filter((s) => s && s !== "rest @ ..");
    const path = segments
      .map((s) => (s.startsWith('"') ? s.slice(1, -1) : s === "port" ? "{port}" : "{id}"))
      .join("/");
    // Arms that spell the whole path (["v1", "ports"], ["v1", "alerts"]) or
    // the part after /v1/ports/{port}/.
    const full = path.startsWith("v1/") ? `/${path}` : `/v1/ports/{port}/${path}`;
    routes.set(m[2], full);
  }
  const methods = src.slice(src.indexOf("fn methods("), src.indexOf("fn admin_only("));
  const byRoute = new Map();
  for (const m of methods.matchAll(/((?:\|?\s*Route::\w+(?:\([^)]*\))?\s*)+)=>\s*(?:\{\s*)?&\[([^\]]*)\]/g)) {
    const verbs = [...m[2].matchAll(/Method::(\w+)/g)].map((v) => v[1].toLowerCase());
    for (const r of m[1].matchAll(/Route::(\w+)/g)) byRoute.set(r[1], verbs);
  }
  return [...routes].map(([name, path]) => ({ name, path, methods: byRoute.get(name) }));
}

test("every route of the router is documented, with each of its methods", () => {
  const routes = routerRoutes();
  assert.ok(routes.length >= 13, `read ${routes.length} routes from Route::parse`);
  const documented = (path) => doc.paths[path.replace(/\{id\}$/, path.includes("/keys/") ? "{keyId}" : "{id}")];
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
