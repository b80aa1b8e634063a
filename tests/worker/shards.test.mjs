// Shards of a hot port, through the API: the budget's `shards` field is
// saved with the port's budget and read back (shown only above 1), a bad
// value is refused with its field and nothing is saved, and a group's
// budget does not take it. A port with shards spreads its reservations
// over its shard objects, each borrowing from the port's own object:
// never over the cap under 400 concurrent reservations, one ledger, the
// status the sum; a change of count, restarts and D1 down lose nothing.
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

const budgetOf = (res) => res.json.budget ?? res.json;

test("shards is saved with the port's budget, kept by other saves and shown only above 1", async () => {
  const first = await w.put("/v1/ports/hot/budget", { enabled: true, softCapTokens: 800, hardCapTokens: 1000 });
  assert.equal(first.status, 200, first.text);
  assert.equal(budgetOf(first).shards, undefined, "one shard by default, not shown");
  const eight = await w.put("/v1/ports/hot/budget", { shards: 8 });
  assert.equal(eight.status, 200, eight.text);
  assert.equal(budgetOf(eight).shards, 8);
  assert.equal(budgetOf(eight).hardCapTokens, 1000);
  assert.deepEqual(budgetOf(eight).shardCounts.map((c) => c.count), [8, 1], "the counts in force, newest first");
  assert.equal(budgetOf(first).shardCounts, undefined, "never changed: not shown");
  const other = await w.put("/v1/ports/hot/budget", { hardCapTokens: 2000 });
  assert.equal(budgetOf(other).shards, 8, "another field's save keeps it");
  assert.equal(budgetOf(await w.get("/v1/ports/hot/budget")).shards, 8);
  const one = await w.put("/v1/ports/hot/budget", { shards: 1 });
  assert.equal(one.status, 200, one.text);
  assert.equal(budgetOf(one).shards, undefined);
  assert.deepEqual(budgetOf(one).shardCounts.map((c) => c.count), [1, 8, 1], "the changes kept, newest first: 8 is still in force for a day");
  const readOnly = await w.put("/v1/ports/hot/budget", { shardCounts: [] });
  assert.equal(readOnly.status, 400, readOnly.text);
  assert.equal(readOnly.json.error.field, "shardCounts");
});

test("a shards value out of range is 400 with its field and nothing is saved", async () => {
  await w.put("/v1/ports/warm/budget", { enabled: true, softCapTokens: 800, hardCapTokens: 1000, shards: 4 });
  const before = budgetOf(await w.get("/v1/ports/warm/budget"));
  for (const [shards, code] of [[0, "invalid-value"], [33, "invalid-value"], [2.5, "invalid-value"], ["8", "invalid-type"]]) {
    const res = await w.put("/v1/ports/warm/budget", { shards, hardCapTokens: 3000 });
    assert.equal(res.status, 400, `${shards}: ${res.text}`);
    assert.equal(res.json.error.code, code, `${shards}`);
    assert.equal(res.json.error.field, "shards", `${shards}`);
  }
  assert.deepEqual(budgetOf(await w.get("/v1/ports/warm/budget")), before, "nothing saved");
});

test("a group's budget does not take shards", async () => {
  const res = await w.put("/v1/groups/org/budget", { enabled: true, hardCapTokens: 1000, shards: 2 });
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.field, "shards");
});

/** The documented slack bound: allowance lent ahead of need stays within
 * an eighth of what remains under the lender's cap (src/allowance). */
const SLACK_PER_MILLE = 125;

/** The shard a reservation id names (`rsv_s3_...`), or null for the port's
 * own object. */
const shardOf = (id) => /^rsv_s(\d+)_/.exec(id)?.[1] ?? null;

/** Polls the port's status until `done(status)` (the shards report what
 * they consumed after each commit's answer, off the call's path). */
async function statusWhen(port, done) {
  let status;
  for (let i = 0; i < 100; i++) {
    status = await w.synced(port);
    if (done(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return status;
}

test("a port with 8 shards under 400 concurrent reservations: no overshoot, one ledger, status the sum of its shards", async () => {
  const cap = 20_000;
  const estimate = 70;
  await w.setBudget("hot8", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day", shards: 8 });
  const results = await Promise.all(
    Array.from({ length: 400 }, (_, i) =>
      w.post("/v1/ports/hot8/reservations", { estimatedTokens: estimate, requestId: `hot8-${i}` }),
    ),
  );
  const granted = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(granted.length + refused.length, 400, results.filter((r) => r.status !== 201 && r.status !== 429).map((r) => r.text).join("\n"));
  const total = granted.length * estimate;
  assert.ok(total <= cap, `granted ${total} within the port's cap ${cap}: no overshoot`);
  const slack = Math.floor((cap * SLACK_PER_MILLE) / 1000);
  assert.ok(total >= cap - slack - 8 * estimate, `granted ${total} within the slack ${slack} of the cap`);
  const shards = new Set(granted.map((r) => shardOf(r.json.id)));
  assert.ok(!shards.has(null), "every reservation was held in a shard");
  assert.ok(shards.size >= 6, `the reservations spread over the shards (${[...shards]})`);
  for (const r of refused) {
    assert.equal(r.json.scope, "port", r.text);
    assert.equal(r.json.capTokens, cap, "a refusal names the port's cap");
  }

  // Each refusal counted once, as the port's, whichever shard answered it.
  const counted = (await w.get("/v1/ports/hot8/status")).json.refusals;
  assert.deepEqual(counted, [{ reason: "hard-cap-exceeded", scope: "port", count: refused.length }]);
  // The port lists every open reservation, whichever shard holds it.
  const open = await w.holds("hot8", { all: false });
  assert.deepEqual(open.map((h) => h.id).sort(), granted.map((r) => r.json.id).sort(), "every shard's holds, once");
  // A retry reaches the same shard and answers as the first time.
  const again = await w.post("/v1/ports/hot8/reservations", { estimatedTokens: estimate, requestId: "hot8-0" });
  const first = results[0];
  if (first.status === 201) {
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.id, first.json.id, "the same reservation, not a second one");
  }

  // Commit every hold for 50 tokens: each reaches the shard that holds it.
  const commits = await Promise.all(
    granted.map((r) =>
      w.post(`/v1/ports/hot8/reservations/${r.json.id}/commit`, { provider: "p", model: "m", inputTokens: 50, outputTokens: 0 }),
    ),
  );
  assert.deepEqual([...new Set(commits.map((c) => c.status))], [200], commits.find((c) => c.status !== 200)?.text);
  const expected = granted.length * 50;
  const status = await statusWhen("hot8", (s) => s.usage.usedTokens === expected && s.usage.heldTokens === 0);
  assert.equal(status.usage.usedTokens, expected, "the port's status is the sum of its shards");
  assert.equal(status.usage.heldTokens, 0, "nothing held once every hold is committed");

  // One ledger: every commit is one row of the port in D1, numbered apart.
  let rows;
  for (let i = 0; i < 100; i++) {
    rows = await w.sql("SELECT seq, total_tokens AS t FROM usage_ledger WHERE port_id = ?", "hot8");
    if (rows.length === granted.length) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(rows.length, granted.length, "one row per commit, in the port's ledger");
  assert.equal(new Set(rows.map((r) => r.seq)).size, rows.length, "no two rows share a number");
  assert.equal(rows.reduce((sum, r) => sum + r.t, 0), expected);
  const ports = await w.get("/v1/ports");
  assert.equal(ports.status, 200, ports.text);
  const listed = (ports.json.ports ?? ports.json).find((p) => (p.port ?? p.id) === "hot8");
  assert.ok(listed, "one port in the list, not one per shard");
  assert.equal((ports.json.ports ?? ports.json).filter((p) => String(p.port ?? p.id).includes("#")).length, 0);
});

test("going from 8 shards to 2 loses nothing: holds taken under 8 are committed and released under 2", async () => {
  await w.setBudget("shrink", { enabled: true, softCapTokens: 100_000, hardCapTokens: 100_000, period: "day", shards: 8 });
  const holds = await Promise.all(
    Array.from({ length: 80 }, (_, i) => w.post("/v1/ports/shrink/reservations", { estimatedTokens: 100, requestId: `shrink-${i}` })),
  );
  assert.deepEqual([...new Set(holds.map((h) => h.status))], [201]);
  assert.ok(new Set(holds.map((h) => shardOf(h.json.id))).size > 2, "held over more than 2 shards");
  const two = await w.put("/v1/ports/shrink/budget", { shards: 2 });
  assert.equal(two.status, 200, two.text);
  const settled = await Promise.all(
    holds.map((h, i) =>
      i % 2 === 0
        ? w.post(`/v1/ports/shrink/reservations/${h.json.id}/commit`, { provider: "p", model: "m", inputTokens: 30, outputTokens: 0 })
        : w.post(`/v1/ports/shrink/reservations/${h.json.id}/release`),
    ),
  );
  assert.deepEqual([...new Set(settled.map((s) => s.status))], [200], settled.find((s) => s.status !== 200)?.text);
  const fresh = await Promise.all(
    Array.from({ length: 20 }, (_, i) => w.post("/v1/ports/shrink/reservations", { estimatedTokens: 10, requestId: `shrink-new-${i}` })),
  );
  assert.deepEqual([...new Set(fresh.map((h) => h.status))], [201]);
  for (const h of fresh) assert.ok(["0", "1"].includes(shardOf(h.json.id)), `new holds go to the 2 shards left (${h.json.id})`);
  for (const h of fresh) await w.post(`/v1/ports/shrink/reservations/${h.json.id}/release`);
  const expected = 40 * 30;
  const status = await statusWhen("shrink", (s) => s.usage.usedTokens === expected && s.usage.heldTokens === 0);
  assert.equal(status.usage.usedTokens, expected, "every commit counted once");
  assert.equal(status.usage.heldTokens, 0, "every hold ended");
});

test("a port with shards refuses a parent group and caps inside it; back to one shard takes them", async () => {
  await w.put("/v1/groups/shard-org/budget", { enabled: true, softCapTokens: 1000, hardCapTokens: 1000 });
  await w.setBudget("wide", { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, shards: 4 });
  const before = budgetOf(await w.get("/v1/ports/wide/budget"));
  for (const update of [{ parent: "shard-org" }, { featureCaps: { chat: { hardCap: 10 } } }]) {
    const res = await w.put("/v1/ports/wide/budget", update);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.field, "shards");
  }
  assert.deepEqual(budgetOf(await w.get("/v1/ports/wide/budget")), before, "nothing saved");
  const one = await w.put("/v1/ports/wide/budget", { shards: 1, parent: "shard-org" });
  assert.equal(one.status, 200, one.text);
});

test("a shard restarted between a hold and its commit, the port's object restarted while allowances are out, D1 down all along: nothing lost", async () => {
  const cap = 1_000;
  await w.setBudget("sturdy8", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day", shards: 4 });
  const down = { headers: { "x-fault": "d1:down" } };
  // Each request's faults ride to the objects it reaches: D1 is down for
  // the port's object and every shard these reservations reach.
  await w.post("/v1/ports/sturdy8/check", { estimatedTokens: 1 }, down);
  const holds = [];
  for (let i = 0; i < 8; i++) {
    const res = await w.post("/v1/ports/sturdy8/reservations", { estimatedTokens: 100, requestId: `sturdy-${i}` }, down);
    assert.equal(res.status, 201, res.text);
    holds.push(res.json);
  }
  const shards = new Set(holds.map((h) => shardOf(h.id)));
  assert.ok(shards.size >= 2, `held in more than one shard (${[...shards]})`);
  const body = { provider: "p", model: "m", inputTokens: 60, outputTokens: 0 };
  // The shard restarts after storing the commit, before answering it.
  const restarted = await w.post(`/v1/ports/sturdy8/reservations/${holds[0].id}/commit`, body, { headers: { "x-fault": "gate.restart:after" } });
  assert.ok([200, 503].includes(restarted.status), restarted.text);
  const again = await w.post(`/v1/ports/sturdy8/reservations/${holds[0].id}/commit`, body);
  assert.equal(again.status, 200, again.text);
  const [none] = await w.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", "sturdy8");
  assert.equal(none.n, 0, "D1 down: the commit waits in its shard");
  // The port's own object restarts with allowances out: it still counts them.
  const portRestart = await w.post("/v1/ports/sturdy8/check", { estimatedTokens: 1 }, { headers: { "x-fault": "gate.restart" } });
  assert.ok([200, 503].includes(portRestart.status), portRestart.text);
  for (const hold of holds.slice(1)) {
    const res = await w.post(`/v1/ports/sturdy8/reservations/${hold.id}/commit`, body, { headers: { "x-fault": "d1:up" } });
    assert.equal(res.status, 200, res.text);
  }
  // 8 x 60 used; the rest of the cap and no more can be held.
  const granted = [];
  for (let i = 0; i < 20; i++) {
    const res = await w.post("/v1/ports/sturdy8/reservations", { estimatedTokens: 40, requestId: `sturdy-fill-${i}` });
    if (res.status === 201) granted.push(res.json);
    else assert.equal(res.status, 429, res.text);
  }
  assert.ok(480 + granted.length * 40 <= cap, `no overshoot after the restarts: ${granted.length} more`);
  assert.ok(granted.length >= 10, `the room left was lent again: ${granted.length} more`);
  for (const hold of granted) await w.post(`/v1/ports/sturdy8/reservations/${hold.id}/release`, undefined, { headers: { "x-fault": "d1:up" } });
  await w.post("/v1/ports/sturdy8/check", { estimatedTokens: 1 }, { headers: { "x-fault": "d1:up" } });
  // D1 back for every object: every commit reaches the ledger, once.
  let row;
  for (let i = 0; i < 150; i++) {
    [row] = await w.sql("SELECT COALESCE(SUM(total_tokens), 0) AS tokens, COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", "sturdy8");
    if (row.n === 8) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(row, { tokens: 480, n: 8 });
  const status = await statusWhen("sturdy8", (s) => s.usage.usedTokens === 480 && s.usage.heldTokens === 0);
  assert.equal(status.usage.usedTokens, 480, "counted once, whatever restarted");
});
