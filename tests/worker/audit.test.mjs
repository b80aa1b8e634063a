// The audit trail in workerd: every admin change (budgets, caps, prices,
// port keys, alerts, credits, raises, groups, admin keys) leaves exactly
// one record with its actor (a key's id and name, or admin-token; never a
// secret), route, port or group, and the value before and after; a
// rejected change leaves none. GET /v1/audit filters by port, actor and
// instants, pages by cursor, answers CSV that parses back to the same
// records, and shows a confined key only its ports. The daily cron prunes
// records past AUDIT_RETENTION_DAYS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, CLOCK } from "./harness.mjs";

let w;
let editor;
let editorId;
let owner;
before(async () => {
  w = await startWorker({ bindings: { AUDIT_RETENTION_DAYS: "30" } });
  const e = await w.post("/v1/admin-keys", { name: "team lead", role: "editor" });
  editor = e.json.key;
  editorId = e.json.keyId;
  owner = (await w.post("/v1/admin-keys", { name: "finance", role: "owner" })).json.key;
});
after(() => w?.mf.dispose());

const records = async () => w.sql("SELECT * FROM audit_log ORDER BY seq");

/** Makes `change` and returns the one record it left (failing unless
 * exactly one). */
async function oneRecord(change, status = 200) {
  const before = (await records()).length;
  const res = await change();
  assert.equal(res.status, status, res.text);
  const all = await records();
  assert.equal(all.length, before + 1, `one record for ${res.status} ${res.text.slice(0, 120)}`);
  const r = all.at(-1);
  return { res, r, before: r.before_json && JSON.parse(r.before_json), after: r.after_json && JSON.parse(r.after_json) };
}

test("each change leaves one record with its actor, route, port and values before and after", async () => {
  const first = await oneRecord(() => w.put("/v1/ports/acme/budget", { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "month" }, { token: editor }));
  assert.equal(first.r.action, "PUT /v1/ports/{port}/budget");
  assert.equal(first.r.port_id, "acme");
  assert.equal(first.r.actor_id, editorId);
  assert.equal(first.r.actor_name, "team lead");
  assert.equal(first.r.at, CLOCK.ms, "the Worker's clock");
  assert.equal(first.before, null, "a new port had no budget");
  assert.equal(first.after.hardCapTokens, 1000);
  const second = await oneRecord(() => w.put("/v1/ports/acme/budget", { hardCapTokens: 2000, featureCaps: { chat: { hardCap: 300 } } }, { token: editor, headers: { "if-match": "*" } }));
  assert.equal(second.before.hardCapTokens, 1000);
  assert.equal(second.after.hardCapTokens, 2000);
  assert.equal(second.after.featureCaps.chat.hardCap, 300, "caps are budget fields");
  assert.equal(second.before.featureCaps?.chat, undefined);

  const priced = await oneRecord(() => w.put("/v1/prices/audit-model", { inputPerMTok: 1, outputPerMTok: 2 }, { token: owner }));
  assert.equal(priced.before, null);
  assert.equal(priced.after.inputPerMTok, 1);
  const repriced = await oneRecord(() => w.put("/v1/prices/audit-model", { inputPerMTok: 3, outputPerMTok: 4 }, { token: owner }));
  assert.equal(repriced.before.inputPerMTok, 1);
  assert.equal(repriced.after.inputPerMTok, 3);
  const unpriced = await oneRecord(() => w.delete("/v1/prices/audit-model", { token: owner }));
  assert.equal(unpriced.before.inputPerMTok, 3);
  assert.equal(unpriced.after.deleted, true);

  const issued = await oneRecord(() => w.post("/v1/ports/acme/keys", undefined, { token: editor }), 201);
  assert.equal(issued.after.keyId, issued.res.json.keyId);
  assert.ok(!issued.r.after_json.includes(issued.res.json.key), "never the secret");
  const revoked = await oneRecord(() => w.delete(`/v1/ports/acme/keys/${issued.res.json.keyId}`, { token: editor }));
  assert.equal(revoked.before.keyId, issued.res.json.keyId);

  const alerts = await oneRecord(() => w.put("/v1/ports/acme/alerts", { thresholds: [50, 90] }, { token: editor }));
  assert.deepEqual(alerts.after.thresholds, [50, 90]);
  const realerted = await oneRecord(() => w.put("/v1/ports/acme/alerts", { thresholds: [80] }, { token: editor }));
  assert.deepEqual(realerted.before.thresholds, [50, 90], "the value before, in the answer's shape");
  assert.deepEqual(realerted.after.thresholds, [80]);
  const gateway = await oneRecord(() => w.put("/v1/ports/acme/gateway", { strict: true, defaultMaxTokens: 500 }, { token: editor }));
  assert.equal(gateway.r.action, "PUT /v1/ports/{port}/gateway");
  assert.equal(gateway.after.defaultMaxTokens, 500);
  const regateway = await oneRecord(() => w.put("/v1/ports/acme/gateway", { strict: false }, { token: editor }));
  assert.equal(regateway.before.strict, true, "the settings this save replaced");
  assert.equal(regateway.before.defaultMaxTokens, 500);
  assert.equal(regateway.after.strict, false);
  const credit = await oneRecord(() => w.post("/v1/ports/acme/credits", { amount: 500, requestId: "audit-credit" }, { token: editor }), 201);
  assert.equal(credit.r.action, "POST /v1/ports/{port}/credits");
  assert.equal(credit.after.amount ?? credit.after.credit?.amount, 500);
  const raise = await oneRecord(() => w.post("/v1/ports/acme/raises", { extra: 100, endsAt: new Date(CLOCK.ms + 3_600_000).toISOString(), requestId: "audit-raise" }, { token: editor }), 201);
  assert.equal(raise.r.action, "POST /v1/ports/{port}/raises");
  const voided = await oneRecord(() => w.delete(`/v1/ports/acme/credits/${credit.res.json.credit.id}`, { token: editor }));
  assert.equal(voided.before.credit.id, credit.res.json.credit.id);
  assert.equal(voided.before.credit.voidedAt, null, "the credit as it was");
  assert.equal(voided.before.credit.left, 500);
  assert.ok(voided.after.credit.voidedAt, "and as it is");
  const ended = await oneRecord(() => w.delete(`/v1/ports/acme/raises/${raise.res.json.raise.id}`, { token: editor }));
  assert.equal(ended.before.raise.id, raise.res.json.raise.id);
  assert.equal(ended.before.raise.endedAt, null);
  assert.ok(ended.after.raise.endedAt);

  const group = await oneRecord(() => w.put("/v1/groups/team/budget", { enabled: true, softCapTokens: 2500, hardCapTokens: 5000, period: "month" }, { token: editor }));
  assert.equal(group.r.group_id, "team");
  assert.equal(group.r.port_id, null);
  assert.equal(group.before, null);
  const regroup = await oneRecord(() => w.put("/v1/groups/team/budget", { hardCapTokens: 6000 }, { token: editor }));
  assert.equal(regroup.before.budget.hardCapTokens, 5000);
  assert.equal(regroup.after.budget.hardCapTokens, 6000);

  const key = await oneRecord(() => w.post("/v1/admin-keys", { name: "ci", role: "viewer", ports: ["acme"] }), 201);
  assert.equal(key.r.actor_id, "admin-token");
  assert.equal(key.r.actor_name, null);
  assert.equal(key.before, null);
  assert.equal(key.after.keyId, key.res.json.keyId);
  assert.ok(!key.r.after_json.includes(key.res.json.key), "never the secret");
  const rotated = await oneRecord(() => w.post(`/v1/admin-keys/${key.res.json.keyId}/rotate`, {}));
  assert.equal(rotated.before.rotatedAt, null);
  assert.equal(rotated.after.rotatedAt, CLOCK.iso);
  assert.ok(!rotated.r.after_json.includes(rotated.res.json.key));
  const gone = await oneRecord(() => w.delete(`/v1/admin-keys/${key.res.json.keyId}`));
  assert.equal(gone.before.revokedAt, null);
  assert.equal(gone.after.revokedAt, CLOCK.iso);
  const secrets = (await w.sql("SELECT hash FROM admin_key_secrets")).map((s) => s.hash);
  const text = JSON.stringify(await records());
  for (const s of [editor, owner, key.res.json.key, rotated.res.json.key]) assert.ok(!text.includes(s));
  assert.ok(secrets.length >= 2);
});

test("a rejected change leaves no record", async () => {
  const viewer = (await w.post("/v1/admin-keys", { name: "dash", role: "viewer" })).json.key;
  const count = (await records()).length;
  const rejected = [
    await w.put("/v1/ports/acme/budget", { hardCapTokens: -5 }, { token: editor, headers: { "if-match": "*" } }),
    await w.put("/v1/ports/acme/budget", { hardCapTokens: 5 }, { token: editor, headers: { "if-match": "\"stale\"" } }),
    await w.put("/v1/ports/acme/budget", { hardCapTokens: 5 }, { token: viewer, headers: { "if-match": "*" } }),
    await w.put("/v1/prices/x", { inputPerMTok: 1, outputPerMTok: 1 }, { token: editor }),
    await w.delete("/v1/prices/never-priced", { token: owner }),
    await w.delete("/v1/ports/acme/keys/key_none", { token: editor }),
    await w.post("/v1/admin-keys", { name: "x", role: "root" }),
    await w.delete("/v1/admin-keys/adm_none"),
    await w.put("/v1/groups/team/budget", { hardCapTokens: "lots" }, { token: editor }),
  ];
  assert.deepEqual(rejected.map((r) => r.status), [400, 412, 403, 403, 404, 404, 400, 404, 400]);
  assert.equal((await records()).length, count);
});

/** RFC 4180 rows of `text` (quoted fields, doubled quotes, newlines inside
 * quotes). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(field), (field = "");
    else if (c === "\n") row.push(field), rows.push(row), (row = []), (field = "");
    else field += c;
  }
  if (field || row.length) row.push(field), rows.push(row);
  return rows;
}

test("GET /v1/audit filters, pages, answers CSV, and shows a confined key only its ports", async () => {
  await w.at(new Date(CLOCK.ms + 60_000).toISOString()).put("/v1/ports/beta/budget", { enabled: true, softCapTokens: 5, hardCapTokens: 10, period: "day" });
  const all = await w.get("/v1/audit?limit=500");
  assert.equal(all.status, 200, all.text);
  const newestFirst = all.json.records.map((r) => r.seq);
  assert.deepEqual(newestFirst, [...newestFirst].sort((a, b) => b - a));
  assert.equal(all.json.nextCursor, null);
  const acme = await w.get("/v1/audit?port=acme&limit=500");
  assert.ok(acme.json.records.length > 5);
  assert.ok(acme.json.records.every((r) => r.port === "acme"));
  const byEditor = await w.get(`/v1/audit?actor=${editorId}&limit=500`);
  assert.ok(byEditor.json.records.every((r) => r.actorId === editorId && r.actorName === "team lead"));
  const late = await w.get(`/v1/audit?since=${encodeURIComponent(new Date(CLOCK.ms + 1).toISOString())}`);
  assert.deepEqual(late.json.records.map((r) => r.port), ["beta"]);
  const early = await w.get(`/v1/audit?until=${encodeURIComponent(new Date(CLOCK.ms + 1).toISOString())}&limit=500`);
  assert.equal(early.json.records.length, all.json.records.length - 1);
  // Pages of 3 walk every record once.
  const seen = [];
  let cursor = null;
  do {
    const page = await w.get(`/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
    assert.ok(page.json.records.length <= 3);
    seen.push(...page.json.records.map((r) => r.seq));
    cursor = page.json.nextCursor;
  } while (cursor);
  assert.deepEqual(seen, newestFirst);
  // CSV: the same records, parsed back.
  const csv = await w.get("/v1/audit?limit=500", { headers: { accept: "text/csv" } });
  assert.match(csv.headers.get("content-type"), /^text\/csv/);
  const [header, ...rows] = parseCsv(csv.text);
  assert.deepEqual(header, ["seq", "at", "actorId", "actorName", "action", "port", "group", "before", "after"]);
  assert.equal(rows.length, all.json.records.length);
  rows.forEach((row, i) => {
    const r = all.json.records[i];
    assert.deepEqual(row.slice(0, 7), [String(r.seq), r.at, r.actorId, r.actorName ?? "", r.action, r.port ?? "", r.group ?? ""]);
    assert.deepEqual(row[8] ? JSON.parse(row[8]) : null, r.after);
  });
  assert.equal((await w.get("/v1/audit?format=csv&limit=2")).headers.get("x-next-cursor"), String(newestFirst[1]));
  // A key confined to acme reads acme's history only.
  const acmeViewer = (await w.post("/v1/admin-keys", { name: "acme dash", role: "viewer", ports: ["acme"] })).json.key;
  const confined = await w.get("/v1/audit?limit=500", { token: acmeViewer });
  assert.equal(confined.status, 200);
  assert.deepEqual(confined.json.records, acme.json.records);
  // Bad filters: 400 with the field.
  for (const [query, field] of [["since=yesterday", "since"], ["cursor=x", "cursor"], ["limit=0", "limit"], ["port=a%20b", null]]) {
    const res = await w.get(`/v1/audit?${query}`);
    assert.equal(res.status, 400, query);
    if (field) assert.equal(res.json.error.field, field, query);
  }
});

test("the daily cron prunes records past AUDIT_RETENTION_DAYS and keeps the rest", async () => {
  const old = w.at(new Date(CLOCK.ms - 31 * 86_400_000).toISOString());
  const kept = w.at(new Date(CLOCK.ms - 29 * 86_400_000).toISOString());
  await old.put("/v1/ports/pruned/budget", { enabled: true, softCapTokens: 5, hardCapTokens: 10, period: "day" });
  await kept.put("/v1/ports/kept/budget", { enabled: true, softCapTokens: 5, hardCapTokens: 10, period: "day" });
  const ports = async () => (await w.sql("SELECT port_id FROM audit_log WHERE port_id IN ('pruned', 'kept')")).map((r) => r.port_id);
  assert.deepEqual((await ports()).sort(), ["kept", "pruned"]);
  await (await w.mf.getWorker()).scheduled({ cron: "17 3 * * *", scheduledTime: CLOCK.date });
  assert.deepEqual(await ports(), ["kept"]);
});
