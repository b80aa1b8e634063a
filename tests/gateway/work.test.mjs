// The budget of work on a gated call's path, counted (never timed) through
// the test seams' tallies (`x-test-operations`, `x-test-operations-of`):
// a warm call makes one round trip to its port's object before the
// upstream call, no D1 statement and one KV read (its key, confirmed
// alongside the hold: a revoked key is refused at once), and runs a
// bounded number of SQL statements in the object; its commit follows the
// answer; the object delivers the commits of a busy port to D1 in shared
// batches. Without the seams no tally is shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, openPort, settled } from "./harness.mjs";

/** The SQL statements and storage transactions a warm call may run in its
 * port's object before its answer (the hold), and in all (with its commit). */
const HOLD_SQL = 16;
const HOLD_TRANSACTIONS = 2;
const CALL_SQL = 36;
const CALL_TRANSACTIONS = 4;

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

/** One plain chat completion through the gateway; its answer's headers. */
async function call(port, key) {
  const res = await g.fetch(`${g.openaiURL(port)}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body,
  });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
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

test("a warm call: one round trip to its object and one KV read (its key) before the answer, no D1, bounded SQL; the commit after the answer", async () => {
  const port = "work-warm";
  const key = await openPort(g.worker, port);
  await call(port, key); // the isolate reads the key and the prices once
  await settled(g.worker, port);

  const headers = await call(port, key);
  const path = tally(headers.get("x-test-operations"));
  assert.equal(path.trip, 1, "one round trip to the port's object before the upstream call");
  assert.equal(path.kv, 1, "one KV read: the key, confirmed alongside the hold (prices remembered)");
  assert.equal(path.d1, 0, "no D1 statement on the call's path");
  assert.equal(path.d1batch, 0);
  assert.equal(path.json, 2, "one request and one answer encoded between the Worker and the object");
  assert.ok(path.sql > 0 && path.sql <= HOLD_SQL, `SQL statements of the hold: ${path.sql} (budget ${HOLD_SQL})`);
  assert.ok(path.txn >= 1 && path.txn <= HOLD_TRANSACTIONS, `transactions of the hold: ${path.txn} (budget ${HOLD_TRANSACTIONS})`);

  const whole = await wholeTally(port, headers.get("x-budget-request-id"));
  assert.equal(whole.trip, 2, "the hold before the answer, the commit after it");
  assert.equal(whole.kv, 1, "settling reads no KV (the price is remembered)");
  assert.equal(whole.d1, 0, "the call itself writes nothing to D1: its object delivers the ledger");
  assert.equal(whole.json, 4);
  assert.ok(whole.sql > path.sql && whole.sql <= CALL_SQL, `SQL statements of the call: ${whole.sql} (budget ${CALL_SQL})`);
  assert.ok(whole.txn > path.txn && whole.txn <= CALL_TRANSACTIONS, `transactions of the call: ${whole.txn} (budget ${CALL_TRANSACTIONS})`);

  await settled(g.worker, port);
  const [row] = await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(row.n, 2, "both calls reached the ledger of record");
});

test("the commits of calls made together reach D1 in shared batches, every one of them", async () => {
  const port = "work-busy";
  const key = await openPort(g.worker, port);
  await call(port, key);
  await settled(g.worker, port);
  const isolate = async () => tally((await probe(port)).get("x-test-isolate"));

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

