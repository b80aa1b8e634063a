// Admin keys with roles in workerd: every API route of the table called
// with a viewer, an editor, an owner and an editor confined to one port,
// each answered by the route's role (read from the route table, as the
// OpenAPI test reads it) and the key's scope; nothing a refused call asks
// for changes (no audit record is written). A key's life: issued once
// (owner only), listed without its secret, expired and revoked keys 401,
// a rotation's old secret valid for its overlap only. The port list and
// the metrics of a confined key show only its ports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, ROOT, CLOCK } from "./harness.mjs";

const RANK = { VIEWER: 0, EDITOR: 1, OWNER: 2 };

/** The API rows of the route table: method, path and the least role (null:
 * any caller). */
function tableRows() {
  const src = readFileSync(join(ROOT, "src/worker/routes.rs"), "utf8");
  const table = src.slice(src.indexOf("pub static ROUTES"));
  const rows = [];
  for (const m of table.matchAll(/\bapi\(\s*(GET|POST|PUT|DELETE),\s*"([^"]+)",\s*Auth::(\w+)(?:\((\w+)\))?/g)) {
    const [, method, path, auth, role] = m;
    rows.push({ method, path, auth, role: role ?? null });
  }
  return rows;
}

let w;
const keys = {};
before(async () => {
  w = await startWorker();
  for (const port of ["acme", "beta"]) await w.setBudget(port, { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "month" });
  for (const [name, body] of Object.entries({
    viewer: { name: "dashboard", role: "viewer" },
    editor: { name: "team lead", role: "editor" },
    owner: { name: "second owner", role: "owner" },
    acmeEditor: { name: "acme lead", role: "editor", ports: ["acme"] },
  })) {
    const res = await w.post("/v1/admin-keys", body);
    assert.equal(res.status, 201, res.text);
    keys[name] = res.json.key;
  }
});
after(() => w?.mf.dispose());

const auditCount = async () => (await w.sql("SELECT COUNT(*) AS n FROM audit_log"))[0].n;

function concrete(path, port) {
  return path
    .replace("{port}", port)
    .replace("{group}", "team")
    .replace("{model}", "gpt-4.1-mini")
    .replace("{keyId}", "key_none")
    .replace("{id}", "none");
}

/** The 403 code a key of `role` (confined to acme when `confined`) must get
 * on `row` at `port`, or null when the route is its to call. */
function expectedRefusal(row, keyRole, confined, port) {
  if (row.role === null) return null;
  if (RANK[keyRole] < RANK[row.role]) return "role-insufficient";
  if (!confined) return null;
  if (row.path.includes("{port}")) return port === "acme" ? null : "port-out-of-scope";
  if (row.path.includes("{group}")) return "group-out-of-scope";
  return row.method === "GET" ? null : "key-confined";
}

test("the table gives every API route a role, and a viewer writes nowhere", () => {
  const rows = tableRows();
  assert.ok(rows.length >= 45, `read ${rows.length} rows`);
  for (const row of rows) {
    if (row.auth === "Caller") assert.equal(row.method, "GET", `${row.path}: only reads are open to every caller`);
    else assert.ok(row.role in RANK, `${row.method} ${row.path} states no role`);
  }
  // Every change needs an editor or an owner; the one POST a viewer may
  // send is a pre-flight check, which changes nothing.
  const viewerWrites = rows.filter((r) => r.method !== "GET" && r.role === "VIEWER").map((r) => r.path);
  assert.deepEqual(viewerWrites, ["/v1/ports/{port}/check"]);
  const ownerOnly = rows.filter((r) => r.role === "OWNER").map((r) => `${r.method} ${r.path}`);
  for (const route of ["PUT /v1/prices/{model}", "DELETE /v1/prices/{model}", "PUT /v1/alerts", "POST /v1/admin-keys"]) {
    assert.ok(ownerOnly.includes(route), `${route} is the owner's`);
  }
});

test("every route answers each role and a confined key by the table, and a refused call changes nothing", async () => {
  const cases = [
    ["viewer", "VIEWER", false],
    ["editor", "EDITOR", false],
    ["owner", "OWNER", false],
    ["acmeEditor", "EDITOR", true],
  ];
  let checked = 0;
  for (const row of tableRows()) {
    for (const port of row.path.includes("{port}") ? ["acme", "beta"] : ["-"]) {
      for (const [name, role, confined] of cases) {
        const path = concrete(row.path, port);
        const expected = expectedRefusal(row, role, confined, port);
        const before = expected ? await auditCount() : null;
        const budgetBefore = expected && port !== "-" ? (await w.get(`/v1/ports/${port}/budget`)).json : null;
        const res = await w.request(row.method, path, { token: keys[name], body: row.method === "GET" ? undefined : {} });
        const what = `${name} ${row.method} ${path}: ${res.status} ${res.text.slice(0, 200)}`;
        if (expected) {
          assert.equal(res.status, 403, what);
          assert.equal(res.json.error.code, expected, what);
          assert.equal(await auditCount(), before, `${what}: a refused call writes no record`);
          if (budgetBefore) assert.deepEqual((await w.get(`/v1/ports/${port}/budget`)).json, budgetBefore, what);
        } else {
          assert.ok(![401, 403].includes(res.status), what);
        }
        checked++;
      }
    }
  }
  assert.ok(checked > 250, `${checked} calls`);
});

test("admin keys are issued by an owner only, shown once and listed without their secret", async () => {
  const byEditor = await w.post("/v1/admin-keys", { name: "x", role: "viewer" }, { token: keys.editor });
  assert.equal(byEditor.status, 403);
  assert.equal(byEditor.json.error.code, "role-insufficient");
  const confinedOwner = await w.post("/v1/admin-keys", { name: "acme owner", role: "owner", ports: ["acme"] });
  assert.equal(confinedOwner.status, 201, confinedOwner.text);
  const byConfinedOwner = await w.put("/v1/prices/gpt-x", { inputPerMTok: 1, outputPerMTok: 2 }, { token: confinedOwner.json.key });
  assert.equal(byConfinedOwner.status, 403);
  assert.equal(byConfinedOwner.json.error.code, "key-confined", "a confined owner changes nothing instance-wide");
  const expiresAt = new Date(CLOCK.ms + 365 * 86_400_000).toISOString();
  const issued = await w.post("/v1/admin-keys", { name: "reader", role: "viewer", groups: ["team"], expiresAt });
  assert.equal(issued.status, 201, issued.text);
  assert.match(issued.json.key, /^adk_[0-9a-f]{64}$/);
  assert.match(issued.json.keyId, /^adm_/);
  assert.deepEqual(
    { role: issued.json.role, ports: issued.json.ports, groups: issued.json.groups, expiresAt: issued.json.expiresAt },
    { role: "viewer", ports: [], groups: ["team"], expiresAt },
  );
  const listed = await w.get("/v1/admin-keys");
  assert.equal(listed.status, 200);
  const entry = listed.json.keys.find((k) => k.keyId === issued.json.keyId);
  assert.equal(entry.name, "reader");
  assert.ok(!listed.text.includes(issued.json.key), "no secret in the list");
  assert.ok(!("key" in entry));
  const stored = await w.sql("SELECT hash FROM admin_key_secrets WHERE key_id = ?", issued.json.keyId);
  assert.equal(stored.length, 1);
  assert.ok(!JSON.stringify(await w.sql("SELECT * FROM admin_keys")).includes(issued.json.key), "stored hashed");
  for (const [body, field] of [
    [{ role: "viewer" }, "name"],
    [{ name: "x", role: "admin" }, "role"],
    [{ name: "x", role: "viewer", ports: ["bad port"] }, "ports"],
    [{ name: "x", role: "viewer", expiresAt: CLOCK.iso }, "expiresAt"],
    [{ name: "x", role: "viewer", scope: [] }, "scope"],
  ]) {
    const before = (await w.get("/v1/admin-keys")).json.keys.length;
    const res = await w.post("/v1/admin-keys", body);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.field, field);
    assert.equal((await w.get("/v1/admin-keys")).json.keys.length, before);
  }
});

test("an expired key and a revoked key get 401", async () => {
  const issued = await w.post("/v1/admin-keys", { name: "short", role: "viewer", expiresAt: new Date(CLOCK.ms + 60_000).toISOString() });
  assert.equal(issued.status, 201, issued.text);
  assert.equal((await w.get("/v1/ports", { token: issued.json.key })).status, 200);
  const later = w.at(new Date(CLOCK.ms + 60_000).toISOString());
  const expired = await later.get("/v1/ports", { token: issued.json.key });
  assert.equal(expired.status, 401);
  assert.equal(expired.json.error.code, "unauthorized");
  const revoked = await w.post("/v1/admin-keys", { name: "gone", role: "editor" });
  assert.equal((await w.delete(`/v1/admin-keys/${revoked.json.keyId}`)).status, 200);
  const res = await w.put("/v1/ports/acme/budget", { hardCapTokens: 5 }, { token: revoked.json.key, headers: { "if-match": "*" } });
  assert.equal(res.status, 401);
  assert.equal((await w.get("/v1/ports/acme/budget")).json.hardCapTokens, 1000, "nothing changed");
  assert.equal((await w.delete(`/v1/admin-keys/${revoked.json.keyId}`)).status, 404, "revoked once");
  const listed = (await w.get("/v1/admin-keys")).json.keys.find((k) => k.keyId === revoked.json.keyId);
  assert.equal(listed.revokedAt, CLOCK.iso);
  // The gateway takes port keys, not admin keys.
  const gated = await w.post("/v1/ports/acme/openai/chat/completions", { model: "gpt-4.1-mini", messages: [] }, { token: keys.owner });
  assert.equal(gated.status, 403);
});

test("a rotation gives a new secret and keeps the old one for the overlap only", async () => {
  const issued = await w.post("/v1/admin-keys", { name: "rotating", role: "viewer" });
  const rotated = await w.post(`/v1/admin-keys/${issued.json.keyId}/rotate`, { overlapSeconds: 600 });
  assert.equal(rotated.status, 200, rotated.text);
  assert.notEqual(rotated.json.key, issued.json.key);
  assert.equal(rotated.json.keyId, issued.json.keyId);
  assert.equal(rotated.json.previousValidUntil, new Date(CLOCK.ms + 600_000).toISOString());
  const at = (ms) => w.at(new Date(CLOCK.ms + ms).toISOString());
  assert.equal((await at(599_999).get("/v1/ports", { token: issued.json.key })).status, 200, "old secret in the overlap");
  assert.equal((await at(600_000).get("/v1/ports", { token: issued.json.key })).status, 401, "old secret after it");
  assert.equal((await at(600_000).get("/v1/ports", { token: rotated.json.key })).status, 200);
  const bad = await w.post(`/v1/admin-keys/${issued.json.keyId}/rotate`, { overlapSeconds: -1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, "overlapSeconds");
  assert.equal((await w.post("/v1/admin-keys/adm_none/rotate", {})).status, 404);
});

test("a confined key's port list, metrics and group reach show only its ports", async () => {
  const ports = await w.get("/v1/ports", { token: keys.acmeEditor });
  assert.equal(ports.status, 200);
  assert.deepEqual(ports.json.ports.map((p) => p.port), ["acme"]);
  const all = await w.get("/v1/ports", { token: keys.viewer });
  assert.deepEqual(all.json.ports.map((p) => p.port).sort(), ["acme", "beta"]);
  const metrics = await w.get("/v1/metrics", { token: keys.acmeEditor });
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /port="acme"/);
  assert.doesNotMatch(metrics.text, /port="beta"/);
  // A key confined to a group reaches the ports below it.
  assert.equal((await w.put("/v1/groups/team/budget", { enabled: true, softCapTokens: 50000, hardCapTokens: 100000, period: "month" })).status, 200);
  await w.setBudget("gamma", { enabled: true, softCapTokens: 250, hardCapTokens: 500, period: "month", parent: "team" });
  const teamKey = (await w.post("/v1/admin-keys", { name: "team lead", role: "editor", groups: ["team"] })).json.key;
  const saved = await w.put("/v1/ports/gamma/budget", { hardCapTokens: 600 }, { token: teamKey, headers: { "if-match": "*" } });
  assert.equal(saved.status, 200, saved.text);
  const outside = await w.put("/v1/ports/acme/budget", { hardCapTokens: 600 }, { token: teamKey, headers: { "if-match": "*" } });
  assert.equal(outside.status, 403);
  assert.equal(outside.json.error.code, "port-out-of-scope");
  assert.deepEqual((await w.get("/v1/ports", { token: teamKey })).json.ports.map((p) => p.port), ["gamma"]);
  assert.deepEqual((await w.get("/v1/groups", { token: teamKey })).json.groups.map((g) => g.group), ["team"]);
  assert.deepEqual((await w.get("/v1/groups", { token: keys.acmeEditor })).json.groups, [], "no group reached");
  assert.deepEqual((await w.get("/v1/groups", { token: keys.viewer })).json.groups.map((g) => g.group), ["team"]);
});
