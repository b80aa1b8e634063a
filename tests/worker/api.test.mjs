// The HTTP API of the Worker in workerd (Miniflare) with local D1 and KV:
// routes, auth and isolation, headers, strict input, pagination.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, ADMIN_TOKEN, CLOCK } from "./harness.mjs";
import { windows } from "../clock.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

const usage = (extra = {}) => ({
  feature: "ocr",
  provider: "openai",
  model: "gpt-4.1-mini",
  inputTokens: 70,
  outputTokens: 30,
  ...extra,
});

/** Everything a request could have changed for a port. */
async function snapshot(port) {
  const gate = await w.synced(port);
  const [ledger] = await w.sql("SELECT COUNT(*) AS n, COALESCE(SUM(total_tokens), 0) AS t FROM usage_ledger WHERE port_id = ?", port);
  const [rollup] = await w.sql("SELECT COALESCE(SUM(tokens), 0) AS t, COALESCE(SUM(calls), 0) AS c FROM usage_rollup WHERE port_id = ?", port);
  const holds = await w.holds(port);
  const budget = (await w.get(`/v1/ports/${port}/budget`)).json;
  return { ledger, rollup, holds, budget, usage: gate.usageByPeriod, pending: gate.pendingLedgerRows };
}

test("an unknown route answers 404 not-found", async () => {
  const res = await w.get("/v1/nothing-here");
  assert.equal(res.status, 404);
  assert.equal(res.json.error.code, "not-found");
});

test("a known route with the wrong method answers 405 with Allow", async () => {
  const res = await w.request("DELETE", "/v1/ports/acme/budget");
  assert.equal(res.status, 405);
  assert.equal(res.json.error.code, "method-not-allowed");
  assert.equal(res.headers.get("allow"), "GET, HEAD, PUT, OPTIONS");
});

test("a method no route answers is 405 with Allow, never served as another method", async () => {
  for (const [method, path] of [["PROPFIND", "/v1/ports/m/keys"], ["PATCH", "/v1/ports/m/budget"], ["HEAD", "/v1/ports/m/check"]]) {
    const res = await w.request(method, path);
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.ok(res.headers.get("allow"), `${method} ${path}`);
    if (method !== "HEAD") assert.equal(res.json.error.code, "method-not-allowed");
  }
  assert.equal((await w.request("PROPFIND", "/v1/ports/m/keys")).headers.get("allow"), "GET, HEAD, POST, OPTIONS");
  assert.deepEqual((await w.get("/v1/ports/m/keys")).json.keys, [], "and nothing was issued");
});

test("HEAD answers like GET without a body, and OPTIONS lists the methods", async () => {
  await w.setBudget("head", { enabled: true, softCapTokens: 10, hardCapTokens: 100, period: "day" });
  const get = await w.get("/v1/ports/head/budget");
  const head = await w.request("HEAD", "/v1/ports/head/budget");
  assert.equal(head.status, 200);
  assert.equal(head.text, "");
  for (const name of ["content-type", "etag", "x-budget-remaining", "x-budget-reset"]) {
    assert.equal(head.headers.get(name), get.headers.get(name), name);
  }
  assert.equal((await w.request("HEAD", "/v1/ports/head/budget", { token: null })).status, 401);
  const options = await w.request("OPTIONS", "/v1/ports/head/check");
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("allow"), "POST, OPTIONS");
});

test("no credentials answer 401 with WWW-Authenticate", async () => {
  const res = await w.get("/v1/ports/acme/budget", { token: null });
  assert.equal(res.status, 401);
  assert.equal(res.json.error.code, "unauthorized");
  assert.match(res.headers.get("www-authenticate"), /^Bearer/);
});

test("a non-Bearer Authorization header does not hide a valid x-api-key", async () => {
  const key = await w.issueKey("api-key-port");
  for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"]) {
    const res = await w.get("/v1/ports/api-key-port/budget", { token: null, headers: { authorization, "x-api-key": key } });
    assert.equal(res.status, 200, authorization);
  }
  const bad = await w.get("/v1/ports/api-key-port/budget", { token: null, headers: { authorization: "Basic dXNlcjpwYXNz" } });
  assert.equal(bad.status, 401, "with nothing else presented it is still 401");
  const bearerFirst = await w.get("/v1/ports/api-key-port/budget", { token: "abk_wrong", headers: { "x-api-key": key } });
  assert.equal(bearerFirst.status, 401, "a well-formed Bearer is the credential, right or wrong");
});

test("an unknown secret answers 401", async () => {
  const res = await w.get("/v1/ports/acme/budget", { token: "abk_" + "0".repeat(64) });
  assert.equal(res.status, 401);
  const near = await w.get("/v1/ports/acme/budget", { token: ADMIN_TOKEN + "x" });
  assert.equal(near.status, 401);
});

test("a port with no saved budget reads as the defaults", async () => {
  const res = await w.get("/v1/ports/fresh-port/budget");
  assert.equal(res.status, 200);
  assert.deepEqual(
    { enabled: res.json.enabled, soft: res.json.softCapTokens, hard: res.json.hardCapTokens, period: res.json.period },
    { enabled: false, soft: 100000, hard: 500000, period: "month" },
  );
  assert.equal(res.headers.get("x-budget-remaining"), "unlimited");
});

test("PUT budget merges a partial update and records who and when", async () => {
  await w.setBudget("merge", { enabled: true, softCapTokens: 1000, hardCapTokens: 5000, period: "week" });
  const res = await w.put("/v1/ports/merge/budget", { hardCapTokens: 8000 });
  assert.equal(res.status, 200);
  assert.equal(res.json.hardCapTokens, 8000);
  assert.equal(res.json.softCapTokens, 1000);
  assert.equal(res.json.period, "week");
  assert.equal(res.json.updatedBy, "admin");
  assert.ok(Date.parse(res.json.updatedAt) > 0);
  assert.equal((await w.get("/v1/ports/merge/budget")).json.hardCapTokens, 8000);
});

test("PUT budget with an empty body changes nothing, not even updatedAt", async () => {
  const port = "empty-put";
  const saved = await w.setBudget(port, { enabled: true, hardCapTokens: 5000, softCapTokens: 4000 });
  const res = await w.put(`/v1/ports/${port}/budget`, {}, { headers: { "x-now": "2099-01-01T00:00:00.000Z" } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, saved);
  assert.deepEqual((await w.get(`/v1/ports/${port}/budget`)).json, saved);
});

test("PUT budget with If-Match saves only over the budget it names, else 412 and nothing saved", async () => {
  const port = "if-match";
  await w.setBudget(port, { enabled: true, hardCapTokens: 5000, softCapTokens: 4000 });
  const read = await w.get(`/v1/ports/${port}/budget`);
  assert.equal(read.headers.get("etag"), `"${read.json.updatedAt}"`);
  const first = await w.put(`/v1/ports/${port}/budget`, { hardCapTokens: 6000 }, {
    headers: { "if-match": read.headers.get("etag"), "x-now": "2099-01-01T00:00:00.000Z" },
  });
  assert.equal(first.status, 200);
  assert.equal(first.json.hardCapTokens, 6000);
  const stale = await w.put(`/v1/ports/${port}/budget`, { softCapTokens: 100 }, { headers: { "if-match": read.json.updatedAt } });
  assert.equal(stale.status, 412);
  assert.equal(stale.json.error.code, "precondition-failed");
  assert.equal(stale.json.budget.updatedAt, first.json.updatedAt);
  assert.deepEqual((await w.get(`/v1/ports/${port}/budget`)).json, first.json);
  const fresh = await w.put(`/v1/ports/${port}/budget`, { softCapTokens: 100 }, { headers: { "if-match": first.json.updatedAt } });
  assert.equal(fresh.status, 200);
  assert.deepEqual([fresh.json.hardCapTokens, fresh.json.softCapTokens], [6000, 100]);
  const neverSaved = await w.put("/v1/ports/if-match-new/budget", { hardCapTokens: 1 }, { headers: { "if-match": "\"2026-01-01T00:00:00.000Z\"" } });
  assert.equal(neverSaved.status, 412, "a port never saved matches no updatedAt");
});

test("PUT budget rejects what the core rejects, with the core's words, and saves nothing", async () => {
  await w.setBudget("strict", { enabled: true, softCapTokens: 100, hardCapTokens: 200, period: "day" });
  const cases = [
    [{ softCapTokens: 300 }, "soft-cap-above-hard-cap", "softCapTokens cannot exceed hardCapTokens"],
    [{ hardCapTokens: -1 }, "negative-tokens", "Token caps must be non-negative"],
    [{ hardCapTokens: 10.5 }, "fractional-tokens"],
    [{ hardCapTokens: 2 ** 60 }, "too-many-tokens"],
    [{ hardCapTokens: "500" }, "invalid-type"],
    [{ enabled: "yes" }, "invalid-type"],
    [{ period: "fortnight" }, "unknown-period"],
    [{ hardCap: 5 }, "unknown-field"],
    [[1, 2], "invalid-type"],
  ];
  const before = await snapshot("strict");
  for (const [body, code, message] of cases) {
    const res = await w.put("/v1/ports/strict/budget", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.error.code, code, JSON.stringify(body));
    if (message) assert.equal(res.json.error.message, message);
  }
  assert.deepEqual(await snapshot("strict"), before);
});

test("a port key reads and writes its own port", async () => {
  await w.setBudget("own", { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "day" });
  const key = await w.issueKey("own");
  const opts = { token: key };
  assert.equal((await w.get("/v1/ports/own/budget", opts)).status, 200);
  assert.equal((await w.post("/v1/ports/own/check", { estimatedTokens: 1 }, opts)).status, 200);
  const hold = await w.post("/v1/ports/own/reservations", { estimatedTokens: 10 }, opts);
  assert.equal(hold.status, 201);
  assert.equal((await w.post(`/v1/ports/own/reservations/${hold.json.id}/release`, undefined, opts)).status, 200);
  assert.equal((await w.post("/v1/ports/own/usage", usage(), opts)).status, 201);
  for (const path of ["usage", "breakdown", "ledger", "status"]) {
    assert.equal((await w.get(`/v1/ports/own/${path}`, opts)).status, 200, path);
  }
  const status = await w.get("/v1/ports/own/status", opts);
  assert.equal(status.json.keys, null, "a port key does not see the key list");
});

test("a port key never reads or writes another port", async () => {
  await w.setBudget("victim", { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "day" });
  await w.post("/v1/ports/victim/usage", usage({ requestId: "v-1" }));
  const hold = await w.post("/v1/ports/victim/reservations", { estimatedTokens: 100 });
  const key = await w.issueKey("intruder");
  const before = await snapshot("victim");
  const opts = { token: key };
  const attempts = [
    ["GET", "/v1/ports/victim/budget"],
    ["PUT", "/v1/ports/victim/budget", { hardCapTokens: 1 }],
    ["POST", "/v1/ports/victim/check", { estimatedTokens: 1 }],
    ["POST", "/v1/ports/victim/reservations", { estimatedTokens: 1 }],
    ["POST", `/v1/ports/victim/reservations/${hold.json.id}/commit`, { inputTokens: 1, outputTokens: 1, provider: "p", model: "m" }],
    ["POST", `/v1/ports/victim/reservations/${hold.json.id}/release`],
    ["POST", "/v1/ports/victim/usage", usage()],
    ["GET", "/v1/ports/victim/usage"],
    ["GET", "/v1/ports/victim/breakdown"],
    ["GET", "/v1/ports/victim/ledger"],
    ["GET", "/v1/ports/victim/status"],
    ["POST", "/v1/ports/victim/keys"],
  ];
  for (const [method, path, body] of attempts) {
    const res = await w.request(method, path, { ...opts, body });
    assert.equal(res.status, 403, `${method} ${path}`);
    assert.equal(res.json.error.code, "forbidden");
    assert.ok(!res.text.includes("v-1"), "no data of the other port leaks");
  }
  // A reservation id of another port is not found through one's own port either.
  const own = await w.post(`/v1/ports/intruder/reservations/${hold.json.id}/release`, undefined, opts);
  assert.equal(own.status, 404);
  assert.deepEqual(await snapshot("victim"), before);
});

test("admin-only routes refuse a port key with 403", async () => {
  const key = await w.issueKey("limited");
  const opts = { token: key };
  assert.equal((await w.get("/v1/ports", opts)).status, 403);
  assert.equal((await w.put("/v1/ports/limited/budget", { hardCapTokens: 1 }, opts)).status, 403);
  assert.equal((await w.post("/v1/ports/limited/keys", undefined, opts)).status, 403);
  assert.equal((await w.get("/v1/ports/limited/keys", opts)).status, 403);
});

test("port keys are stored only as hashes and work until revoked", async () => {
  const issued = await w.post("/v1/ports/keyed/keys");
  assert.equal(issued.status, 201);
  const { key, keyId } = issued.json;
  assert.match(key, /^abk_[0-9a-f]{64}$/);
  const kv = await w.mf.getKVNamespace("BUDGETS");
  const { keys } = await kv.list();
  for (const { name } of keys) {
    assert.ok(!name.includes(key.slice(4)), "no KV key contains the secret");
    const value = await kv.get(name);
    assert.ok(!value.includes(key.slice(4)), "no KV value contains the secret");
  }
  const listed = await w.get("/v1/ports/keyed/keys");
  assert.deepEqual(listed.json.keys.map((k) => k.keyId), [keyId]);
  assert.equal((await w.get("/v1/ports/keyed/budget", { token: key })).status, 200);
  const revoked = await w.delete(`/v1/ports/keyed/keys/${keyId}`);
  assert.equal(revoked.status, 200);
  assert.equal((await w.get("/v1/ports/keyed/budget", { token: key })).status, 401);
  assert.equal((await w.delete(`/v1/ports/keyed/keys/${keyId}`)).status, 404);
});

test("keys issued concurrently are all listed, each revocable, then all refused", async () => {
  const port = "many-keys";
  const issued = await Promise.all(Array.from({ length: 10 }, () => w.post(`/v1/ports/${port}/keys`)));
  assert.ok(issued.every((r) => r.status === 201));
  const listed = await w.get(`/v1/ports/${port}/keys`);
  assert.deepEqual(listed.json.keys.map((k) => k.keyId).sort(), issued.map((r) => r.json.keyId).sort());
  for (const { json } of issued) assert.equal((await w.get(`/v1/ports/${port}/budget`, { token: json.key })).status, 200);
  const revoked = await Promise.all(issued.map((r) => w.delete(`/v1/ports/${port}/keys/${r.json.keyId}`)));
  assert.ok(revoked.every((r) => r.status === 200));
  for (const { json } of issued) assert.equal((await w.get(`/v1/ports/${port}/budget`, { token: json.key })).status, 401);
  assert.deepEqual((await w.get(`/v1/ports/${port}/keys`)).json.keys, []);
});

test("a key id that names no key answers 404 key-not-found", async () => {
  for (const id of ["key_000000000000000000000000", "nonsense", "x".repeat(600)]) {
    const res = await w.delete(`/v1/ports/keyless/keys/${id}`);
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, "key-not-found");
  }
});

test("an invalid port id answers 400 invalid-port", async () => {
  for (const port of ["a%20b", "x".repeat(65), "semi;colon"]) {
    const res = await w.get(`/v1/ports/${port}/budget`);
    assert.equal(res.status, 400, port);
    assert.equal(res.json.error.code, "invalid-port");
  }
});

test("check answers the seed's shape and reserves nothing", async () => {
  await w.setBudget("ask", { enabled: true, softCapTokens: 100, hardCapTokens: 1000, period: "month" });
  await w.post("/v1/ports/ask/usage", usage({ inputTokens: 150, outputTokens: 0 }));
  const before = await snapshot("ask");
  const yes = await w.post("/v1/ports/ask/check", { estimatedTokens: 850 });
  assert.equal(yes.status, 200);
  assert.deepEqual(
    { ok: yes.json.ok, remaining: yes.json.remaining, usedTokens: yes.json.usedTokens, softCap: yes.json.softCap },
    { ok: true, remaining: 850, usedTokens: 150, softCap: true },
  );
  const no = await w.post("/v1/ports/ask/check", { estimatedTokens: 851 });
  assert.equal(no.status, 200);
  assert.deepEqual(
    { ok: no.json.ok, reason: no.json.reason, usedTokens: no.json.usedTokens, capTokens: no.json.capTokens },
    { ok: false, reason: "estimated-exceeds-cap", usedTokens: 150, capTokens: 1000 },
  );
  assert.deepEqual(await snapshot("ask"), before);
});

test("a disabled budget allows everything, reports true usage and remaining null", async () => {
  await w.setBudget("off", { enabled: false, hardCapTokens: 10, softCapTokens: 5 });
  await w.post("/v1/ports/off/usage", usage());
  const res = await w.post("/v1/ports/off/check", { estimatedTokens: 1e6 });
  assert.deepEqual(
    { ok: res.json.ok, remaining: res.json.remaining, usedTokens: res.json.usedTokens, softCap: res.json.softCap },
    { ok: true, remaining: null, usedTokens: 100, softCap: false },
  );
  assert.equal((await w.post("/v1/ports/off/reservations", { estimatedTokens: 1e6 })).status, 201);
});

test("every answer about a port carries its budget state in headers", async () => {
  await w.setBudget("hdr", { enabled: true, softCapTokens: 100, hardCapTokens: 1000, period: "day" });
  await w.post("/v1/ports/hdr/usage", usage({ inputTokens: 200, outputTokens: 0 }));
  await w.post("/v1/ports/hdr/reservations", { estimatedTokens: 300 });
  const paths = [
    ["GET", "/v1/ports/hdr/budget"],
    ["POST", "/v1/ports/hdr/check", { estimatedTokens: 1 }],
    ["GET", "/v1/ports/hdr/usage"],
    ["GET", "/v1/ports/hdr/breakdown"],
    ["GET", "/v1/ports/hdr/ledger"],
    ["GET", "/v1/ports/hdr/status"],
  ];
  const tomorrow = new Date(windows(CLOCK.ms).day.end);
  const secondsLeft = Math.ceil((tomorrow - CLOCK.ms) / 1000);
  for (const [method, path, body] of paths) {
    const res = await w.request(method, path, { body });
    assert.equal(res.headers.get("x-budget-remaining"), "500", path);
    assert.equal(res.headers.get("x-budget-reset"), tomorrow.toISOString(), path);
    assert.equal(res.headers.get("ratelimit-policy"), '"tokens";q=1000;w=86400', path);
    const m = /^"tokens";r=500;t=(\d+)$/.exec(res.headers.get("ratelimit"));
    assert.ok(m, path);
    assert.equal(Number(m[1]), secondsLeft, path);
    assert.equal(res.headers.get("x-budget-soft-cap"), "exceeded", path);
  }
});

test("a refused reservation answers 429 with the refusal and Retry-After to the reset", async () => {
  await w.setBudget("full", { enabled: true, softCapTokens: 100, hardCapTokens: 100, period: "day" });
  await w.post("/v1/ports/full/usage", usage({ inputTokens: 100, outputTokens: 0 }));
  const res = await w.post("/v1/ports/full/reservations", { estimatedTokens: 1 });
  assert.equal(res.status, 429);
  assert.equal(res.json.error.code, "budget-exceeded");
  assert.equal(res.json.reason, "hard-cap-exceeded");
  assert.equal(res.json.usedTokens, 100);
  assert.equal(res.json.capTokens, 100);
  const reset = new Date(windows(CLOCK.ms).day.end);
  assert.equal(res.json.resetsAt, reset.toISOString());
  assert.equal(Number(res.headers.get("retry-after")), Math.ceil((reset - CLOCK.ms) / 1000));
  assert.equal(res.headers.get("x-budget-remaining"), "0");
});

test("held tokens count as used: a hold lowers what the next check sees", async () => {
  await w.setBudget("held", { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const hold = await w.post("/v1/ports/held/reservations", { estimatedTokens: 600 });
  assert.equal(hold.status, 201);
  assert.equal(hold.json.remaining, 400);
  const check = await w.post("/v1/ports/held/check", { estimatedTokens: 401 });
  assert.equal(check.json.ok, false);
  assert.equal(check.json.heldTokens, 600);
  await w.post(`/v1/ports/held/reservations/${hold.json.id}/release`);
  assert.equal((await w.post("/v1/ports/held/check", { estimatedTokens: 1000 })).json.ok, true);
});

test("usage with occurredAt in the future answers 400 occurred-in-future and counts nothing", async () => {
  const before = await snapshot("future");
  const res = await w.post("/v1/ports/future/usage", usage({ occurredAt: CLOCK.at(1) }));
  assert.equal(res.status, 400);
  assert.equal(res.json.error.code, "occurred-in-future");
  assert.deepEqual(await snapshot("future"), before);
});

test("a backfill counts in the period it occurred in, not the current one", async () => {
  await w.setBudget("backfill", { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  // Noon of the last day of the previous month.
  const lastMonth = new Date(windows(CLOCK.ms).month.start - 12 * 3_600_000);
  const res = await w.post("/v1/ports/backfill/usage", usage({ occurredAt: lastMonth.toISOString(), requestId: "old" }));
  assert.equal(res.status, 201);
  assert.equal(res.json.entry.createdAt, lastMonth.toISOString());
  const now = await w.get("/v1/ports/backfill/usage");
  assert.equal(now.json.usedTokens, 0);
  const [row] = await w.sql(
    "SELECT tokens FROM usage_rollup WHERE port_id = 'backfill' AND period = 'day' AND period_start = ?",
    Date.UTC(lastMonth.getUTCFullYear(), lastMonth.getUTCMonth(), lastMonth.getUTCDate()),
  );
  assert.equal(row.tokens, 100);
});

test("usage per feature and the breakdown come from the ledger's rollup", async () => {
  await w.setBudget("features", { enabled: true, softCapTokens: 10000, hardCapTokens: 20000, period: "month" });
  await w.post("/v1/ports/features/usage", usage({ feature: "ocr", inputTokens: 300, outputTokens: 0 }));
  await w.post("/v1/ports/features/usage", usage({ feature: "chat", inputTokens: 100, outputTokens: 0 }));
  await w.post("/v1/ports/features/usage", usage({ feature: "ocr", inputTokens: 50, outputTokens: 50 }));
  const ocr = await w.get("/v1/ports/features/usage?feature=ocr");
  assert.equal(ocr.json.usedTokens, 400);
  assert.equal(ocr.json.calls, 2);
  assert.equal(ocr.json.feature, "ocr");
  const all = await w.get("/v1/ports/features/usage");
  assert.equal(all.json.usedTokens, 500);
  const breakdown = await w.get("/v1/ports/features/breakdown");
  // gpt-4.1-mini at $0.40 input, $1.60 output per million: ocr 300 x 0.4 +
  // 50 x 0.4 + 50 x 1.6 = 220 micro-dollars, chat 100 x 0.4 = 40.
  assert.deepEqual(breakdown.json.breakdown, [
    { feature: "ocr", tokens: 400, calls: 2, costUsd: 0.00022 },
    { feature: "chat", tokens: 100, calls: 1, costUsd: 0.00004 },
  ]);
});

test("the ledger pages with a cursor, newest first, each row once", async () => {
  for (let i = 0; i < 7; i++) {
    await w.post("/v1/ports/pages/usage", usage({ requestId: `p-${i}`, inputTokens: i }));
  }
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const res = await w.get(`/v1/ports/pages/ledger?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
    assert.equal(res.status, 200);
    seen.push(...res.json.rows.map((r) => r.requestId));
    cursor = res.json.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.deepEqual(seen, ["p-6", "p-5", "p-4", "p-3", "p-2", "p-1", "p-0"]);
  const bad = await w.get("/v1/ports/pages/ledger?cursor=abc");
  assert.equal(bad.json.error.code, "invalid-cursor");
  assert.equal((await w.get("/v1/ports/pages/ledger?limit=0")).json.error.code, "invalid-value");
});

test("the ledger comes as CSV on request", async () => {
  await w.post("/v1/ports/csv/usage", usage({ requestId: "c-1", model: 'model "quoted", with comma' }));
  for (const opts of [{ path: "/v1/ports/csv/ledger?format=csv" }, { path: "/v1/ports/csv/ledger", headers: { accept: "text/csv" } }]) {
    const res = await w.get(opts.path, { headers: opts.headers });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/csv/);
    const lines = res.text.trim().split("\n");
    assert.equal(
      lines[0],
      "id,createdAt,portId,userId,feature,provider,model,inputTokens,outputTokens,totalTokens,requestId,reservationId,estimated,cachedInputTokens,cacheWriteTokens,reasoningTokens,costUsd,fundedBy",
      "the columns of before keep their places; token kinds, then the cost, then what funded the row, come last",
    );
    assert.equal(lines.length, 2);
    assert.ok(lines[1].includes('"model ""quoted"", with comma"'));
    assert.ok(lines[1].includes(",c-1,"));
  }
});

test("CSV cells a spreadsheet would run as formulas are exported as text", async () => {
  const port = "csv-formula";
  const cells = { feature: "=HYPERLINK(\"x\")", model: "+SUM(A1)", userId: "@cmd", requestId: "-2+3" };
  assert.equal((await w.post(`/v1/ports/${port}/usage`, usage(cells))).status, 201);
  assert.equal((await w.post(`/v1/ports/${port}/usage`, usage({ requestId: "tab", feature: "\tx=1" }))).status, 400, "control characters are refused outright");
  const res = await w.get(`/v1/ports/${port}/ledger?format=csv`);
  const [header, line] = res.text.trim().split("\n");
  const columns = header.split(",");
  const row = line.split(",");
  const cell = (name) => row[columns.indexOf(name)];
  assert.equal(cell("feature"), '"\'=HYPERLINK(""x"")"');
  assert.equal(cell("model"), "'+SUM(A1)");
  assert.equal(cell("userId"), "'@cmd");
  assert.equal(cell("requestId"), "'-2+3");
  assert.equal(cell("inputTokens"), "70", "numbers stay numbers");
  const json = await w.get(`/v1/ports/${port}/ledger`);
  assert.equal(json.json.rows[0].model, "+SUM(A1)", "JSON keeps the values as written");
});

test("status has everything the admin page needs", async () => {
  await w.setBudget("dash", { enabled: true, softCapTokens: 100, hardCapTokens: 1000, period: "week" });
  await w.post("/v1/ports/dash/usage", usage({ requestId: "d-1", inputTokens: 120, outputTokens: 0 }));
  const hold = await w.post("/v1/ports/dash/reservations", { estimatedTokens: 30, feature: "chat" });
  await w.issueKey("dash");
  const res = await w.get("/v1/ports/dash/status");
  assert.equal(res.status, 200);
  const s = res.json;
  assert.equal(s.budget.hardCapTokens, 1000);
  assert.equal(s.usage.usedTokens, 120);
  assert.equal(s.usage.heldTokens, 30);
  assert.equal(s.capStatus.state, "soft");
  assert.equal(s.capStatus.usedTokens, 150);
  assert.equal(s.capStatus.remaining, 850);
  assert.equal(s.daily.length, 7);
  assert.equal(s.daily.reduce((sum, d) => sum + d.tokens, 0), 120);
  // 120 input tokens of gpt-4.1-mini at $0.40 per million: 48 micro-dollars.
  assert.deepEqual(s.breakdown, [{ feature: "ocr", tokens: 120, calls: 1, costUsd: 0.000048 }]);
  assert.deepEqual(s.recentLedger.map((r) => r.requestId), ["d-1"]);
  assert.deepEqual(s.reservations.map((r) => r.id), [hold.json.id]);
  assert.equal(s.keys.length, 1);
  assert.equal(new Date(s.periodStart).getUTCDay(), 1, "a week starts on Monday");
});

test("status gives what the gate counts under each period kind, as /usage does under that period", async () => {
  // Wednesday 13 May 2026: the week began Monday 11 May, the month on the 1st.
  const at = { headers: { "x-now": "2026-05-13T12:00:00.000Z" } };
  const port = "by-period";
  await w.setBudget(port, { enabled: true, softCapTokens: 100, hardCapTokens: 10000, period: "month" });
  const rows = [
    ["2026-04-30T10:00:00.000Z", 1], // last month: counts nowhere
    ["2026-05-04T10:00:00.000Z", 10], // this month, last week
    ["2026-05-11T00:00:00.000Z", 100], // this week's first instant
    ["2026-05-13T11:59:00.000Z", 1000], // today
  ];
  for (const [occurredAt, inputTokens] of rows) {
    const res = await w.post(`/v1/ports/${port}/usage`, usage({ requestId: occurredAt, occurredAt, inputTokens, outputTokens: 0 }), at);
    assert.equal(res.status, 201, JSON.stringify(res.json));
  }
  assert.equal((await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 5 }, at)).status, 201);

  const status = (await w.get(`/v1/ports/${port}/status`, at)).json;
  const expected = { day: 1005, week: 1105, month: 1115 };
  for (const [period, gateTokens] of Object.entries(expected)) {
    assert.equal(status.usageByPeriod[period].gateTokens, gateTokens, period);
    assert.equal(status.usageByPeriod[period].heldTokens, 5, period);
    await w.setBudget(port, { period });
    const asked = (await w.get(`/v1/ports/${port}/usage`, at)).json;
    assert.equal(asked.gateTokens, gateTokens, `/usage under ${period}`);
    assert.equal(status.usageByPeriod[period].periodStart, asked.periodStart, period);
    assert.equal(status.usageByPeriod[period].resetsAt, asked.resetsAt, period);
  }
});

test("the port list shows every port with a budget or usage, with its cap status", async () => {
  await w.setBudget("listed-a", { enabled: true, softCapTokens: 10, hardCapTokens: 100, period: "day" });
  await w.post("/v1/ports/listed-b/usage", usage());
  const res = await w.get("/v1/ports");
  assert.equal(res.status, 200);
  const byPort = Object.fromEntries(res.json.ports.map((p) => [p.port, p]));
  assert.equal(byPort["listed-a"].capStatus.state, "ok");
  assert.equal(byPort["listed-b"].usedTokens, 100);
  assert.equal(byPort["listed-b"].capStatus.state, "disabled");
  const ids = res.json.ports.map((p) => p.port);
  assert.deepEqual(ids, [...ids].sort());
});

test("early refusals keep the client's keep-alive connection: 200 calls over one connection all get their answer", async () => {
  const { startWorker: start, overOneConnection } = await import("./harness.mjs");
  const site = await start({ http: true });
  try {
    const json = { "content-type": "application/json" };
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, ...json };
    const body = JSON.stringify({ feature: "f", provider: "p", model: "m", inputTokens: 1, outputTokens: 1, pad: "x".repeat(2000) });
    const kinds = [
      [{ method: "POST", path: "/v1/ports/k/usage", headers: json, body }, 401],
      [{ method: "POST", path: "/v1/nothing", headers: auth, body }, 404],
      [{ method: "PATCH", path: "/v1/ports/k/usage", headers: auth, body }, 405],
      [{ method: "POST", path: "/v1/ports/k/usage", headers: auth, body: " ".repeat(70 * 1024) + "{}" }, 413],
      [{ method: "POST", path: "/v1/ports/bad%20port/usage", headers: auth, body }, 400],
      [{ method: "POST", path: "/v1/ports/k/check", headers: auth, body: JSON.stringify({ estimatedTokens: 1 }) }, 200],
    ];
    const requests = Array.from({ length: 200 }, (_, i) => kinds[i % kinds.length]);
    const { answers, sockets } = await overOneConnection(site.origin, requests.map(([r]) => r));
    assert.deepEqual(answers, requests.map(([, status]) => status), "every call got its own answer, none a closed connection");
    assert.equal(sockets, 1, "one connection carried them all");
  } finally {
    await site.dispose();
  }
});
