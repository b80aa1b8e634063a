// Shards of a hot port, through the API: the budget's `shards` field is
// saved with the port's budget and read back (shown only above 1), a bad
// value is refused with its field and nothing is saved, and a group's
// budget does not take it.
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
