// The budget of work on a gated call's path, counted (never timed) through
// the test seams' tallies (`x-test-operations`, `x-test-operations-of`):
// a warm call makes one round trip to its port's object before the
// upstream call, no D1 statement and no KV read (its key is remembered by
// the isolate; the hold carries the key's hash, and the port's object
// refuses a revoked key at once), and runs a bounded number of SQL
// statements in the object; its commit follows the answer; the object
// delivers the commits of a busy port to D1 in shared batches. Without the
// seams no tally is shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, openPort, settled } from "./harness.mjs";

/** The SQL statements and storage transactions a warm call may run in its
 * port's object before its answer (the hold), and in all (with its commit). */
const HOLD_SQL = 4;
const HOLD_TRANSACTIONS = 1;
const CALL_SQL = 9;
const CALL_TRANSACTIONS = 2;

let g;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g?.stop();
});

const body = JSON.stringify({
  model: "gpt-work?in=40&out=8",
  max_tokens: 32,
  messages: [{ role: "user", content: "Count the work." }],
});

/** One plain chat completion through the gateway, answered `status`
 * (200 unless told); its answer's headers. */
async function call(port, key, { status = 200, headers = {} } = {}) {
  const res = await g.fetch(`${g.openaiURL(port)}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body,
  });
  await res.arrayBuffer();
  assert.equal(res.status, status);
  return res.headers;
}

/** A tally header (`kv=1 d1batch=0 ...`) as numbers. */
const tally = (text) => Object.fromEntries(text.split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));

/** A request refused before any I/O (no key), asking for a finished call's
 * whole tally; its answer's headers. */
async function probe(port, of) {
  const res = await g.fetch(`${g.openaiURL(port)}/chat/completions`, {
    method: "POST",
    headers: of ? { "x-test-operations-of": of } : {},
    body: "{}",
  });
  await res.arrayBuffer();
  assert.equal(res.status, 401);
  return res.headers;
}

/** The whole tally of the call with this request id, once it is done. */
async function wholeTally(port, requestId) {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const shown = (await probe(port, requestId)).get("x-test-operations-of");
    if (shown !== "pending") return tally(shown);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`call ${requestId} never finished`);
}

/** A port with a key, called once and settled; and a reader of the
 * isolate's whole tally. */
async function warmPort(port) {
  const key = await openPort(g.worker, port);
  await call(port, key);
  await settled(g.worker, port);
  return { key, isolate: async () => tally((await probe(port)).get("x-test-isolate")) };
}

/** Once the port settled: `rows` ledger rows in D1, and no hold open. */
async function countedOnce(port, rows, message) {
  await settled(g.worker, port);
  const [row] = await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(row.n, rows, message);
  assert.ok((await g.worker.holds(port)).every((h) => h.state !== "held"), "nothing stays held");
}

test("a warm call: one round trip to its object before the answer, no KV read, no D1, bounded SQL; the commit after the answer", async () => {
  const port = "work-warm";
  const key = await openPort(g.worker, port);
  await call(port, key); // the isolate reads the key and the prices once
  await settled(g.worker, port);

  const headers = await call(port, key);
  const path = tally(headers.get("x-test-operations"));
  assert.equal(path.trip, 1, "one round trip to the port's object before the upstream call");
  assert.equal(path.kv, 0, "no KV read: the key and the prices are remembered");
  assert.equal(path.d1, 0, "no D1 statement on the call's path");
  assert.equal(path.d1batch, 0);
  assert.equal(path.json, 2, "one request and one answer encoded between the Worker and the object");
  assert.ok(path.sql > 0 && path.sql <= HOLD_SQL, `SQL statements of the hold: ${path.sql} (budget ${HOLD_SQL})`);
  assert.ok(path.txn >= 1 && path.txn <= HOLD_TRANSACTIONS, `transactions of the hold: ${path.txn} (budget ${HOLD_TRANSACTIONS})`);

  const whole = await wholeTally(port, headers.get("x-budget-request-id"));
  assert.equal(whole.trip, 2, "the hold before the answer, the commit after it");
  assert.equal(whole.kv, 0, "settling reads no KV either (the price is remembered)");
  assert.equal(whole.d1, 0, "the call itself writes nothing to D1: its object delivers the ledger");
  assert.equal(whole.json, 4);
  assert.ok(whole.sql > path.sql && whole.sql <= CALL_SQL, `SQL statements of the call: ${whole.sql} (budget ${CALL_SQL})`);
  assert.ok(whole.txn > path.txn && whole.txn <= CALL_TRANSACTIONS, `transactions of the call: ${whole.txn} (budget ${CALL_TRANSACTIONS})`);

  await settled(g.worker, port);
  const [row] = await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(row.n, 2, "both calls reached the ledger of record");
});

test("a key revoked through the API is refused on the very next call, though the isolate remembers it: by the port's object, with no KV read", async () => {
  const port = "work-revoked";
  const key = await openPort(g.worker, port);
  await call(port, key);
  assert.equal(tally((await call(port, key)).get("x-test-operations")).kv, 0, "the key is remembered");
  const [{ keyId }] = (await g.worker.get(`/v1/ports/${port}/keys`)).json.keys;
  assert.equal((await g.worker.delete(`/v1/ports/${port}/keys/${keyId}`)).status, 200);
  const sent = g.upstream.requests.length;

  const refused = await call(port, key, { status: 401 });
  const path = tally(refused.get("x-test-operations"));
  assert.equal(path.kv, 0, "the isolate still remembered the key: no KV read decided the refusal");
  assert.equal(path.trip, 1, "the hold's one trip: the port's object refused the key");
  assert.equal(refused.get("x-budget-remaining"), null, "the port's budget is not disclosed");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");

  const again = tally((await call(port, key, { status: 401 })).get("x-test-operations"));
  assert.equal(again.kv, 1, "the isolate forgot the key and read it again: gone from KV");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  await countedOnce(port, 2, "only the calls made before the revocation are counted");
});

test("a revocation cut short after the port's object recorded it leaves a listed key that no longer works, even read from KV by a new object; revoking again finishes", async () => {
  const port = "work-half-revoked";
  const key = await openPort(g.worker, port);
  await call(port, key);
  const [{ keyId }] = (await g.worker.get(`/v1/ports/${port}/keys`)).json.keys;
  const cut = await g.worker.delete(`/v1/ports/${port}/keys/${keyId}`, { headers: { "x-fault": "kv.write" } });
  assert.equal(cut.status, 503, "KV failed after the port's object recorded the revocation");
  const sent = g.upstream.requests.length;

  assert.equal(tally((await call(port, key, { status: 401 })).get("x-test-operations")).kv, 0, "refused by the object, the key remembered");
  // The isolate forgot it: read from KV (still there), then refused by a
  // new instance of the port's object, which keeps the revocation stored.
  const restarted = await call(port, key, { status: 401, headers: { "x-fault": "gate.restart" } });
  assert.equal(tally(restarted.get("x-test-operations")).kv, 1, "the key was read from KV, where it still is");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  assert.deepEqual((await g.worker.get(`/v1/ports/${port}/keys`)).json.keys.map((k) => k.keyId), [keyId], "still listed");

  assert.equal((await g.worker.delete(`/v1/ports/${port}/keys/${keyId}`)).status, 200);
  assert.deepEqual((await g.worker.get(`/v1/ports/${port}/keys`)).json.keys, []);
  await call(port, key, { status: 401 });
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
});

test("a key rotated (a new one issued, the old revoked): the old is refused on its very next call, the new works and is then remembered", async () => {
  const port = "work-rotated";
  const old = await openPort(g.worker, port);
  await call(port, old);
  await call(port, old);
  const [{ keyId: oldId }] = (await g.worker.get(`/v1/ports/${port}/keys`)).json.keys;
  const fresh = await g.worker.issueKey(port);
  assert.equal((await g.worker.delete(`/v1/ports/${port}/keys/${oldId}`)).status, 200);

  const refused = tally((await call(port, old, { status: 401 })).get("x-test-operations"));
  assert.equal(refused.kv, 0, "refused by the port's object, not by a KV read");
  const first = tally((await call(port, fresh)).get("x-test-operations"));
  assert.equal(first.kv, 1, "the new key is read from KV once");
  const warm = tally((await call(port, fresh)).get("x-test-operations"));
  assert.equal(warm.kv, 0, "then remembered");
  const listed = (await g.worker.get(`/v1/ports/${port}/keys`)).json.keys.map((k) => k.keyId);
  assert.equal(listed.length, 1, "one key listed: the new one");
  assert.notEqual(listed[0], oldId);
});

test("the commits of calls made together reach D1 in shared batches, every one of them", async () => {
  const port = "work-busy";
  const { key, isolate } = await warmPort(port);
  const before = await isolate();
  const calls = 12;
  await Promise.all(Array.from({ length: calls }, () => call(port, key)));
  // Read D1 directly (not through the Worker) until every row is there.
  for (const deadline = Date.now() + 10_000; ; ) {
    const [row] = await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
    if (row.n === calls + 1) break;
    assert.ok(Date.now() < deadline, `${row.n} of ${calls + 1} rows in D1`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const spent = await isolate();
  const batches = spent.d1batch - before.d1batch;
  assert.ok(batches >= 1 && batches < calls, `${calls} commits reached D1 in ${batches} batches`);
});

test("a finished call's commit rides the port's next trip: the next call's hold carries it, and each call makes one trip", async () => {
  const port = "work-carried";
  const key = await openPort(g.worker, port);
  await call(port, key);
  await settled(g.worker, port);

  // The first call's commit waits up to 1.5 s for a trip (10 ms unless a
  // test says otherwise): the second call's hold carries it.
  const first = await call(port, key, { headers: { "x-test-carry-wait": "1500" } });
  const second = await call(port, key);
  const path = tally(second.get("x-test-operations"));
  assert.equal(path.trip, 1, "the second call's hold: one trip");
  assert.equal(path.carried, 1, "which carried the first call's commit");
  assert.equal(path.d1, 0);

  const whole = await wholeTally(port, first.get("x-budget-request-id"));
  assert.equal(whole.trip, 1, "the first call made one trip in all: its commit rode the next call's");
  assert.equal(whole.carried, 0);

  await settled(g.worker, port);
  const rows = await g.worker.sql("SELECT reservation_id, input_tokens, output_tokens FROM usage_ledger WHERE port_id = ? ORDER BY seq", port);
  assert.equal(rows.length, 3, "every call reached the ledger of record, once");
  assert.ok(rows.every((r) => r.input_tokens === 40 && r.output_tokens === 8), "each at its own usage");
  assert.equal(new Set(rows.map((r) => r.reservation_id)).size, 3);
});

test("a commit whose carrying trip is refused before anything is done (an API request with a revoked key) is sent again by its own call, and counted once", async () => {
  const port = "work-carried-refused";
  const key = await openPort(g.worker, port);
  const [{ keyId }] = (await g.worker.get(`/v1/ports/${port}/keys`)).json.keys;
  const other = await g.worker.issueKey(port);
  const otherId = (await g.worker.get(`/v1/ports/${port}/keys`)).json.keys.map((k) => k.keyId).find((id) => id !== keyId);
  await call(port, key);
  await call(port, other);
  await settled(g.worker, port);

  // Revoked first (the isolate still remembers the key: its port's object
  // refuses it), so the revocation's own trip carries nothing.
  assert.equal((await g.worker.delete(`/v1/ports/${port}/keys/${otherId}`)).status, 200);
  const first = await call(port, key, { headers: { "x-test-carry-wait": "1500" } });
  // The API's check with the revoked key, which the isolate remembers: its
  // trip presents the key's hash, and the port's object answers 401 before
  // it runs anything, the carried commit included.
  const res = await g.worker.post(`/v1/ports/${port}/check`, { estimatedTokens: 10 }, { token: other });
  assert.equal(res.status, 401, res.text);
  const refused = tally(res.headers.get("x-test-operations"));
  assert.equal(refused.trip, 1, "the refused request's one trip");
  assert.equal(refused.carried, 1, "which carried the first call's commit");

  const whole = await wholeTally(port, first.get("x-budget-request-id"));
  assert.equal(whole.trip, 2, "the first call's commit went again on its own");
  await countedOnce(port, 3, "counted once");
});

test("the commits of calls made together ride each other's trips: every commit is carried or sent once, in fewer trips than two a call", async () => {
  const port = "work-carried-busy";
  const { key, isolate } = await warmPort(port);
  const before = await isolate();
  const calls = 12;
  const answers = await Promise.all(
    Array.from({ length: calls }, () => call(port, key, { headers: { "x-test-carry-wait": "500" } })),
  );
  for (const headers of answers) await wholeTally(port, headers.get("x-budget-request-id"));
  const spent = await isolate();
  const trips = spent.trip - before.trip;
  const carried = spent.carried - before.carried;
  const alone = trips - calls;
  assert.equal(alone + carried, calls, `${calls} commits: ${carried} carried, ${alone} sent on their own`);
  assert.ok(carried >= calls / 2, `${carried} of ${calls} commits carried`);

  await settled(g.worker, port);
  const [row] = await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(row.n, calls + 1, "every call counted once");
});

test("without the test seams no tally is shown", async () => {
  const prod = await startGateway({ vars: { FAULT_INJECTION: "off" } });
  try {
    prod.worker.now = null;
    const key = await openPort(prod.worker, "work-prod");
    const res = await fetch(`${prod.openaiURL("work-prod")}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-test-operations-of": "anything" },
      body,
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    for (const name of ["x-test-operations", "x-test-isolate", "x-test-operations-of"]) {
      assert.equal(res.headers.get(name), null, name);
    }
  } finally {
    await prod.stop();
  }
});

