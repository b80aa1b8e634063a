// Port keys on the HTTP API as the isolate remembers them: a warm request
// reads no KV (the port's own object confirms the key on the request's
// first trip there), and a key revoked through the API is refused on its
// very next request all the same, whatever the route, the shard or the
// answer. Work is counted (never timed) through the test seams' tally
// (`x-test-operations`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

/** A tally header (`kv=1 d1batch=0 ...`) as numbers. */
const tally = (res) =>
  Object.fromEntries(
    res.headers
      .get("x-test-operations")
      .split(" ")
      .map((kv) => kv.split("="))
      .map(([k, v]) => [k, Number(v)]),
  );

/** A port with a budget and a key; the key's id too. */
async function keyed(port, budget = {}) {
  await w.setBudget(port, { enabled: true, softCapTokens: 800_000, hardCapTokens: 1_000_000, period: "month", ...budget });
  const issued = await w.post(`/v1/ports/${port}/keys`);
  assert.equal(issued.status, 201);
  return { key: issued.json.key, keyId: issued.json.keyId };
}

const check = (port, key, body = { estimatedTokens: 100 }) => w.post(`/v1/ports/${port}/check`, body, { token: key });
const reserve = (port, key, requestId) =>
  w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100, ...(requestId ? { requestId } : {}) }, { token: key });
const commit = (port, key, id) =>
  w.post(`/v1/ports/${port}/reservations/${id}/commit`, { provider: "openai", model: "gpt-4.1-mini", inputTokens: 60, outputTokens: 20 }, { token: key });

/** 401 `unauthorized`, with nothing of the port's budget told. */
function refused(res) {
  assert.equal(res.status, 401, res.text);
  assert.equal(res.json.error.code, "unauthorized");
  assert.equal(res.headers.get("x-budget-remaining"), null, "the port's budget is not disclosed");
}

test("a warm check, reservation and commit with a port key read no KV: the port's object confirms the key", async () => {
  const port = "keys-warm";
  const { key } = await keyed(port);
  const first = await check(port, key);
  assert.equal(first.status, 200, first.text);
  assert.ok(tally(first).kv >= 1, "the first request reads the key from KV");

  const warm = await check(port, key);
  assert.equal(warm.status, 200, warm.text);
  assert.equal(tally(warm).kv, 0, "then the isolate remembers it");
  assert.equal(tally(warm).trip, 1, "one trip to the port's object, which confirmed the key");
  assert.equal(tally(warm).txn, 0, "a check only reads: no storage transaction");
  assert.equal(warm.headers.get("x-budget-remaining"), "1000000");

  const held = await reserve(port, key);
  assert.equal(held.status, 201, held.text);
  assert.equal(tally(held).kv, 0);
  assert.equal(tally(held).txn, 1, "a reservation is one storage transaction");
  const settled = await commit(port, key, held.json.id);
  assert.equal(settled.status, 200, settled.text);
  const again = await commit(port, key, (await reserve(port, key)).json.id);
  assert.equal(tally(again).kv, 0, "a warm commit reads neither the key nor the price");
  assert.equal((await w.get(`/v1/ports/${port}/usage`, { token: key })).json.usedTokens, 160);
});

test("a key revoked through the API is refused on its very next request by the port's object, though the isolate remembers it; nothing is held or committed", async () => {
  const port = "keys-revoked";
  const { key, keyId } = await keyed(port);
  await check(port, key);
  const held = await reserve(port, key);
  assert.equal(held.status, 201);
  assert.equal((await w.delete(`/v1/ports/${port}/keys/${keyId}`)).status, 200);

  const checked = await check(port, key);
  refused(checked);
  assert.equal(tally(checked).kv, 0, "the isolate still remembered the key: the port's object refused it");
  const reserved = await reserve(port, key, "after-revocation");
  refused(reserved);
  assert.equal(tally(reserved).kv, 1, "the isolate forgot the key: read again, gone from KV");
  refused(await commit(port, key, held.json.id));
  refused(await w.get(`/v1/ports/${port}/budget`, { token: key }));

  const holds = await w.holds(port);
  assert.deepEqual(holds.map((h) => [h.id, h.state]), [[held.json.id, "held"]], "the hold taken before stays held; no other");
  assert.equal((await w.get(`/v1/ports/${port}/usage`)).json.usedTokens, 0, "nothing committed");
});

test("a remembered key whose request reaches no gate is confirmed with KV before its answer: a revoked key sees 401, not the answer", async () => {
  const port = "keys-no-trip";
  const { key, keyId } = await keyed(port);
  await check(port, key);
  const invalid = await check(port, key, { estimatedTokens: -1 });
  assert.equal(invalid.status, 400, invalid.text);
  assert.equal(tally(invalid).trip, 0, "refused as malformed before the gate");
  assert.equal(tally(invalid).kv, 1, "so KV confirmed the remembered key");

  await check(port, key);
  assert.equal((await w.delete(`/v1/ports/${port}/keys/${keyId}`)).status, 200);
  const after = await check(port, key, { estimatedTokens: -1 });
  refused(after);
});

test("a revocation cut short after the port's object recorded it: the key, still in KV, is refused by the API too; revoking again finishes", async () => {
  const port = "keys-half-revoked";
  const { key, keyId } = await keyed(port);
  await check(port, key);
  const cut = await w.delete(`/v1/ports/${port}/keys/${keyId}`, { headers: { "x-fault": "kv.write" } });
  assert.equal(cut.status, 503, "KV failed after the port's object recorded the revocation");

  const remembered = await check(port, key);
  refused(remembered);
  assert.equal(tally(remembered).kv, 0, "refused by the port's object");
  const read = await reserve(port, key);
  refused(read);
  assert.equal(tally(read).kv, 1, "read from KV, where it still is, and refused by the port's object all the same");
  const again = await check(port, key);
  refused(again);
  assert.equal(tally(again).kv, 1, "a key the object refused is not remembered: read from KV again");
  assert.deepEqual(await w.holds(port), [], "nothing held");

  assert.equal((await w.delete(`/v1/ports/${port}/keys/${keyId}`)).status, 200);
  assert.deepEqual((await w.get(`/v1/ports/${port}/keys`)).json.keys, []);
  refused(await check(port, key));
});

test("a port with shards: a remembered key is confirmed with KV before a trip straight to a shard, so a revoked one commits nothing there", async () => {
  const port = "keys-sharded";
  const { key, keyId } = await keyed(port, { shards: 4 });
  const first = await reserve(port, key, "sharded-0");
  assert.equal(first.status, 201, first.text);
  assert.match(first.json.id, /^rsv_s\d+_/, "held in a shard");
  const second = await reserve(port, key, "sharded-1");
  assert.equal(second.status, 201, second.text);
  assert.equal(tally(second).kv, 1, "the isolate knows the shards: the key is confirmed with KV before the shard's trip");

  assert.equal((await w.delete(`/v1/ports/${port}/keys/${keyId}`)).status, 200);
  const committed = await commit(port, key, first.json.id);
  refused(committed);
  assert.equal(tally(committed).trip, 0, "no trip to the shard");
  refused(await reserve(port, key, "sharded-2"));
  const holds = await w.holds(port);
  assert.deepEqual(holds.map((h) => h.state).sort(), ["held", "held"], "both holds stay held, nothing new");
});

test("a remembered key on another port's routes is still refused 403, and an admin route 403, with nothing of either port told", async () => {
  const { key } = await keyed("keys-own");
  await keyed("keys-other");
  assert.equal((await check("keys-own", key)).status, 200);
  assert.equal(tally(await check("keys-own", key)).kv, 0, "remembered");

  const other = await check("keys-other", key);
  assert.equal(other.status, 403, other.text);
  assert.equal(other.json.error.code, "forbidden");
  assert.equal(other.headers.get("x-budget-remaining"), null);
  const admin = await w.put("/v1/ports/keys-own/budget", { hardCapTokens: 5 }, { token: key });
  assert.equal(admin.status, 403, admin.text);
  assert.equal((await w.get("/v1/ports/keys-own/budget")).json.hardCapTokens, 1_000_000, "unchanged");
});
