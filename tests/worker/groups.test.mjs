// Groups: budgets above ports, enforced by allowances lent to the ports'
// objects. In workerd: a parent is checked before anything is saved; a
// group's cap binds across its ports however many calls race; a refusal
// names the group; the group's status adds up; allowance flows back after
// the return delay; a port's object restarted between a hold and its
// commit loses nothing and counts nothing twice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, CLOCK } from "./harness.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

/** The documented slack bound: allowance lent ahead of need stays within
 * an eighth of what remains under the group's cap (src/allowance). */
const SLACK_PER_MILLE = 125;
/** The idle time after which a port gives its unused allowance back. */
const RETURN_AFTER_MS = 5_000;

const later = (ms) => new Date(Date.parse(CLOCK.iso) + ms).toISOString();

async function setGroup(group, budget, client = w) {
  const res = await client.put(`/v1/groups/${group}/budget`, budget);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function groupStatus(group, client = w) {
  const res = await client.get(`/v1/groups/${group}/status`);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

test("a parent is checked before anything is saved: unknown, cycle, other unit, too deep", async () => {
  await setGroup("org", { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const unknown = await w.put("/v1/ports/lone/budget", { enabled: true, parent: "nobody" });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.error.code, "unknown-parent");
  assert.equal(unknown.json.error.field, "parent");
  const lone = await w.get("/v1/ports/lone/budget");
  assert.equal(lone.json.budget?.parent ?? lone.json.parent, undefined, "nothing saved");

  const money = await w.put("/v1/ports/lone/budget", { enabled: true, unit: "usd", hardCapUsd: 5, parent: "org" });
  assert.equal(money.status, 400);
  assert.equal(money.json.error.code, "parent-unit");

  await setGroup("team", { enabled: true, hardCapTokens: 500, softCapTokens: 500, parent: "org" });
  const cycle = await w.put("/v1/groups/org/budget", { parent: "team" });
  assert.equal(cycle.status, 400);
  assert.equal(cycle.json.error.code, "parent-cycle");
  assert.equal((await w.get("/v1/groups/org/budget")).json.budget.parent, null, "nothing saved");

  await setGroup("squad", { enabled: true, parent: "team" });
  await setGroup("pod", { enabled: true, parent: "squad" });
  // org > team > squad > pod: a port under pod is four deep; a group under
  // pod would put its ports five deep.
  const deep = await w.put("/v1/groups/cell/budget", { enabled: true, parent: "pod" });
  assert.equal(deep.status, 400);
  assert.equal(deep.json.error.code, "too-deep");
  assert.equal((await w.put("/v1/ports/leaf/budget", { enabled: true, parent: "pod" })).status, 200);

  const bad = await w.put("/v1/groups/org/budget", { parent: 7 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, "invalid-type");
  const listed = await w.get("/v1/groups");
  assert.equal(listed.status, 200);
  assert.deepEqual(
    listed.json.groups.map((g) => g.group).sort(),
    ["org", "pod", "squad", "team"],
  );
});

test("300 concurrent reservations over 3 ports of one group: within the group's cap and its slack, each port within its own", async () => {
  const cap = 10_000;
  const estimate = 70;
  await setGroup("race", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day" });
  const ports = ["race-a", "race-b", "race-c"];
  for (const port of ports) {
    await w.setBudget(port, { enabled: true, softCapTokens: 6_000, hardCapTokens: 6_000, period: "day", parent: "race" });
  }
  const results = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      w.post(`/v1/ports/${ports[i % 3]}/reservations`, { estimatedTokens: estimate }),
    ),
  );
  const granted = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(granted.length + refused.length, 300, results.filter((r) => r.status !== 201 && r.status !== 429).map((r) => r.text).join("\n"));
  const total = granted.length * estimate;
  assert.ok(total <= cap, `granted ${total} within the group's cap ${cap}`);
  const slack = Math.floor((cap * SLACK_PER_MILLE) / 1000);
  assert.ok(total >= cap - slack - estimate, `granted ${total} within the slack ${slack} of the cap`);
  for (const port of ports) {
    const held = (await w.holds(port, { all: false })).reduce((sum, h) => sum + h.estimatedTokens, 0);
    assert.ok(held <= 6_000, `${port} within its own cap`);
  }
  const byGroup = refused.filter((r) => r.json.scope === "group");
  assert.ok(byGroup.length > 0, "the group's cap refused");
  const one = byGroup[0];
  assert.equal(one.json.scopeId, "race");
  assert.equal(one.headers.get("x-budget-scope"), "group");
  assert.equal(one.headers.get("x-budget-scope-id"), "race");
  assert.equal(one.json.capTokens, cap);

  // The status adds up: what is lent covers every hold, within the cap.
  const status = await groupStatus("race");
  assert.equal(status.cap, cap);
  assert.equal(status.used, 0);
  assert.equal(status.children.length, 3);
  assert.equal(status.children.reduce((sum, c) => sum + c.lent, 0), status.lent);
  assert.ok(status.lent >= total && status.lent <= cap, `lent ${status.lent} covers ${total}`);
  assert.equal(status.unused, status.lent - status.held);

  // Commits move held to used; the group counts each once.
  await Promise.all(
    granted.map((r) =>
      w.post(`/v1/ports/${r.json.port}/reservations/${r.json.id}/commit`, { provider: "p", model: "m", inputTokens: 50, outputTokens: 0 }),
    ),
  );
  // Each port reports its consumption with its next word to the group.
  const after = w.at(later(RETURN_AFTER_MS + 1_000));
  for (const port of ports) {
    const res = await after.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 });
    assert.equal(res.status, 201, res.text);
    await after.post(`/v1/ports/${port}/reservations/${res.json.id}/release`);
  }
  const settled = await groupStatus("race", after);
  assert.equal(settled.used, granted.length * 50, "each commit counted once at the group");
});

test("after the return delay, a reservation that fits the group's cap is granted on any port", async () => {
  const cap = 1_000;
  await setGroup("flow", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day" });
  await w.setBudget("flow-a", { enabled: true, hardCapTokens: 5_000, softCapTokens: 5_000, period: "day", parent: "flow" });
  await w.setBudget("flow-b", { enabled: true, hardCapTokens: 5_000, softCapTokens: 5_000, period: "day", parent: "flow" });
  // flow-a asks ahead of need, then goes idle.
  const held = [];
  for (let i = 0; i < 5; i++) {
    const res = await w.post("/v1/ports/flow-a/reservations", { estimatedTokens: 100 });
    assert.equal(res.status, 201, res.text);
    held.push(res.json.id);
  }
  for (const id of held) await w.post(`/v1/ports/flow-a/reservations/${id}/release`);
  // Everything is free again: the whole cap fits on flow-b once flow-a's
  // allowance is back (it gives it back when asked, or when idle).
  const idle = w.at(later(RETURN_AFTER_MS + 1));
  const res = await idle.post("/v1/ports/flow-b/reservations", { estimatedTokens: cap });
  assert.equal(res.status, 201, res.text);
  const over = await idle.post("/v1/ports/flow-a/reservations", { estimatedTokens: 1 });
  assert.equal(over.status, 429);
  assert.equal(over.json.scope, "group");
});

test("a port's object restarted between a hold and its commit: nothing lost, nothing counted twice at the group", async () => {
  await setGroup("steady", { enabled: true, softCapTokens: 1_000, hardCapTokens: 1_000, period: "day" });
  await w.setBudget("steady-a", { enabled: true, hardCapTokens: 5_000, softCapTokens: 5_000, period: "day", parent: "steady" });
  const hold = await w.post("/v1/ports/steady-a/reservations", { estimatedTokens: 400 });
  assert.equal(hold.status, 201, hold.text);
  const body = { provider: "p", model: "m", inputTokens: 300, outputTokens: 0 };
  const restarted = await w.post(`/v1/ports/steady-a/reservations/${hold.json.id}/commit`, body, {
    headers: { "x-fault": "gate.restart:after" },
  });
  assert.ok([200, 503].includes(restarted.status), restarted.text);
  const again = await w.post(`/v1/ports/steady-a/reservations/${hold.json.id}/commit`, body);
  assert.equal(again.status, 200, again.text);
  // The group learns the usage with the port's next report.
  const next = w.at(later(1_000));
  const more = await next.post("/v1/ports/steady-a/reservations", { estimatedTokens: 700 });
  assert.equal(more.status, 201, more.text);
  const refused = await next.post("/v1/ports/steady-a/reservations", { estimatedTokens: 1 });
  assert.equal(refused.status, 429, "300 used and 700 held fill the group's cap");
  assert.equal(refused.json.scope, "group");
  const status = await groupStatus("steady", next);
  assert.equal(status.used, 300);
  assert.equal(status.held, 700);
});

test("the group's object restarted while allowances are out, D1 down all along: nothing lost, the cap still binds", async () => {
  await setGroup("sturdy", { enabled: true, softCapTokens: 1_000, hardCapTokens: 1_000, period: "day" });
  const ports = ["sturdy-a", "sturdy-b"];
  for (const port of ports) {
    await w.setBudget(port, { enabled: true, hardCapTokens: 5_000, softCapTokens: 5_000, period: "day", parent: "sturdy" });
    // D1 down for the port's object from here on.
    await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 1 }, { headers: { "x-fault": "d1:down" } });
  }
  const first = await Promise.all(ports.map((port) => w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 300 })));
  assert.deepEqual(first.map((r) => r.status), [201, 201]);
  const before = await groupStatus("sturdy");
  const restarted = await w.get("/v1/groups/sturdy/status", { headers: { "x-fault": "group.restart" } });
  assert.equal(restarted.status, 200, "answered after the restart");
  assert.equal(restarted.json.lent, before.lent, "the allowances survived the restart");
  // Commit one, then fill the rest: 300 used + 300 held leave 400.
  const body = { provider: "p", model: "m", inputTokens: 300, outputTokens: 0 };
  assert.equal((await w.post(`/v1/ports/sturdy-a/reservations/${first[0].json.id}/commit`, body)).status, 200);
  const fill = await w.post("/v1/ports/sturdy-a/reservations", { estimatedTokens: 400 });
  assert.equal(fill.status, 201, fill.text);
  const over = await w.post("/v1/ports/sturdy-b/reservations", { estimatedTokens: 1 });
  assert.equal(over.status, 429, over.text);
  assert.equal(over.json.scope, "group");
  // D1 back: every row of the port reaches the ledger, once.
  await w.post("/v1/ports/sturdy-a/check", { estimatedTokens: 1 }, { headers: { "x-fault": "d1:up" } });
  const synced = await w.synced("sturdy-a");
  assert.equal(synced.pendingLedgerRows, 0);
  const [row] = await w.sql("SELECT COALESCE(SUM(total_tokens), 0) AS tokens, COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", "sturdy-a");
  assert.deepEqual(row, { tokens: 300, n: 1 });
});

test("a port whose parent is removed gives its group the whole allowance back; then it is on its own", async () => {
  await setGroup("left", { enabled: true, softCapTokens: 1_000, hardCapTokens: 1_000, period: "day" });
  await w.setBudget("leaver", { enabled: true, hardCapTokens: 5_000, softCapTokens: 5_000, period: "day", parent: "left" });
  const hold = await w.post("/v1/ports/leaver/reservations", { estimatedTokens: 600 });
  assert.equal(hold.status, 201, hold.text);
  assert.ok((await groupStatus("left")).lent >= 600);
  const moved = await w.put("/v1/ports/leaver/budget", { parent: null });
  assert.equal(moved.status, 200, moved.text);
  assert.equal(moved.json.parent, undefined);
  assert.equal((await groupStatus("left")).lent, 0, "the allowance came back whole");
  // On its own: only its own cap binds.
  const big = await w.post("/v1/ports/leaver/reservations", { estimatedTokens: 2_000 });
  assert.equal(big.status, 201, big.text);
});

test("an idle port gives its unused allowance back by its own alarm, and its group to the group above, with no request", async () => {
  await setGroup("idle-top", { enabled: true, softCapTokens: 1_000, hardCapTokens: 1_000, period: "day" });
  await setGroup("idle-mid", { enabled: true, softCapTokens: 1_000, hardCapTokens: 1_000, period: "day", parent: "idle-top" });
  await w.setBudget("idle-a", { enabled: true, hardCapTokens: 5_000, softCapTokens: 5_000, period: "day", parent: "idle-mid" });
  const hold = await w.post("/v1/ports/idle-a/reservations", { estimatedTokens: 100 });
  assert.equal(hold.status, 201, hold.text);
  const released = await w.post(`/v1/ports/idle-a/reservations/${hold.json.id}/release`);
  assert.equal(released.status, 200, released.text);
  const out = await groupStatus("idle-top");
  assert.ok(out.lent >= 100, `the allowance is out: ${out.lent}`);
  // No request reaches the port or the groups now: only their alarms,
  // once each has been idle for the return delay.
  await new Promise((r) => setTimeout(r, RETURN_AFTER_MS + 2_000));
  const back = w.at(later(RETURN_AFTER_MS + 3_000));
  const mid = await groupStatus("idle-mid", back);
  assert.equal(mid.lent, 0, "the port gave its allowance back to its group");
  const top = await groupStatus("idle-top", back);
  assert.equal(top.lent, 0, "the group gave its allowance back to the group above");
  assert.equal(top.used, 0);
});

test("a port's answers flag its group over the group's soft cap, naming the group; a port of a group under it is not flagged", async () => {
  await setGroup("softy", { enabled: true, softCapTokens: 500, hardCapTokens: 10_000, period: "day" });
  await w.setBudget("softy-a", { enabled: true, softCapTokens: 9_000, hardCapTokens: 9_000, period: "day", parent: "softy" });
  await w.setBudget("softy-b", { enabled: true, softCapTokens: 9_000, hardCapTokens: 9_000, period: "day", parent: "softy" });
  const quiet = await w.post("/v1/ports/softy-b/reservations", { estimatedTokens: 10 });
  assert.equal(quiet.status, 201, quiet.text);
  assert.equal(quiet.headers.get("x-budget-soft-cap"), null, "the group is under its soft cap");
  assert.equal(quiet.headers.get("x-budget-soft-cap-scope"), null);
  await w.post(`/v1/ports/softy-b/reservations/${quiet.json.id}/release`);
  // Port a uses 600 of the group's 500 soft cap (its own soft cap is far).
  const big = await w.post("/v1/ports/softy-a/reservations", { estimatedTokens: 600 });
  assert.equal(big.status, 201, big.text);
  const commit = await w.post(`/v1/ports/softy-a/reservations/${big.json.id}/commit`, { provider: "p", model: "m", inputTokens: 600, outputTokens: 0 });
  assert.equal(commit.status, 200, commit.text);
  // Port b learns it with its group's next grant (each of its reports is
  // answered with one).
  let flagged;
  for (let i = 0; i < 50 && !flagged; i++) {
    const res = await w.post("/v1/ports/softy-b/reservations", { estimatedTokens: 10 });
    assert.equal(res.status, 201, res.text);
    if (res.headers.get("x-budget-soft-cap") === "exceeded") flagged = res;
    await w.post(`/v1/ports/softy-b/reservations/${res.json.id}/release`);
  }
  assert.ok(flagged, "port b's answers flag the group's soft cap");
  assert.equal(flagged.headers.get("x-budget-soft-cap-scope"), "group");
  assert.equal(flagged.headers.get("x-budget-soft-cap-scope-id"), "softy");
  assert.equal((await groupStatus("softy")).overSoftCap, true);
});
