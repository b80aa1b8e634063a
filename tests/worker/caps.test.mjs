// Caps inside a port, in workerd: feature caps, a default end-user cap and
// overrides, judged in the port's object in one turn with the port's own cap,
// so no cap is crossed under concurrency; a refusal names its scope.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { evaluateCaps } from "ai-budget";
import { startWorker, CLOCK } from "./harness.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

const reserve = (port, body) => w.post(`/v1/ports/${port}/reservations`, body);
const check = (port, body) => w.post(`/v1/ports/${port}/check`, body);
const commit = (port, id, tokens) =>
  w.post(`/v1/ports/${port}/reservations/${id}/commit`, { provider: "p", model: "m", inputTokens: tokens, outputTokens: 0 });

test("200 concurrent reservations over features and users never cross any cap, and every refusal is a true one", async () => {
  const port = "caps-race";
  const featureCaps = { chat: { hardCap: 3_000 }, search: { hardCap: 1_500 }, draft: { hardCap: 2_000 } };
  const userCap = { hardCap: 700 };
  const userCaps = { vip: { hardCap: 2_500 } };
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 6_000, hardCapTokens: 6_000, featureCaps, userCap, userCaps });
  const features = ["chat", "search", "draft", "other"];
  const users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "vip"];
  const calls = Array.from({ length: 200 }, (_, i) => ({
    estimatedTokens: 40 + (i % 7) * 10,
    feature: features[i % features.length],
    userId: users[(i * 3) % users.length],
  }));
  const results = await Promise.all(calls.map((c) => reserve(port, c)));
  const held = { port: 0, feature: {}, user: {} };
  results.forEach((r, i) => {
    if (r.status !== 201) return;
    const c = calls[i];
    held.port += c.estimatedTokens;
    held.feature[c.feature] = (held.feature[c.feature] ?? 0) + c.estimatedTokens;
    held.user[c.userId] = (held.user[c.userId] ?? 0) + c.estimatedTokens;
  });
  assert.ok(results.every((r) => r.status === 201 || r.status === 429), "only holds and refusals");
  assert.ok(held.port <= 6_000, "the port's cap holds");
  for (const [f, cap] of Object.entries(featureCaps)) assert.ok((held.feature[f] ?? 0) <= cap.hardCap, `feature ${f} stays under its cap`);
  for (const u of users) {
    const cap = userCaps[u]?.hardCap ?? userCap.hardCap;
    assert.ok((held.user[u] ?? 0) <= cap, `user ${u} stays under their cap`);
  }
  // Holds only grew after each refusal, so the cap a refusal names must not
  // fit the call even now: no call was refused by a cap it fitted under.
  const refused = results.map((r, i) => [r, calls[i]]).filter(([r]) => r.status === 429);
  assert.ok(refused.length > 0, "some calls were refused");
  for (const [r, c] of refused) {
    const { scope, scopeId } = r.json;
    const [used, cap] =
      scope === "port"
        ? [held.port, 6_000]
        : scope === "feature"
          ? [held.feature[scopeId] ?? 0, featureCaps[scopeId].hardCap]
          : [held.user[scopeId] ?? 0, userCaps[scopeId]?.hardCap ?? userCap.hardCap];
    assert.ok(scope !== "feature" || scopeId === c.feature, "a feature refusal names the call's feature");
    assert.ok(scope !== "user" || scopeId === c.userId, "a user refusal names the call's user");
    assert.ok(used + c.estimatedTokens > cap, `${scope} ${scopeId ?? ""} truly refuses ${c.estimatedTokens}`);
  }
  const listed = await w.holds(port, { all: false });
  assert.equal(listed.reduce((s, h) => s + h.estimatedTokens, 0), held.port, "the gate holds what was granted");
});

test("a user at their cap is refused with the user's scope, numbers and headers, while others and an override pass", async () => {
  const port = "caps-user";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100_000, hardCapTokens: 100_000, userCap: { hardCap: 500 }, userCaps: { vip: { hardCap: 5_000 } } });
  const first = await reserve(port, { estimatedTokens: 400, userId: "alice" });
  assert.equal(first.status, 201);
  assert.equal((await commit(port, first.json.id, 450)).status, 200);
  const refused = await reserve(port, { estimatedTokens: 100, userId: "alice" });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error.code, "budget-exceeded");
  assert.equal(refused.json.scope, "user");
  assert.equal(refused.json.scopeId, "alice");
  assert.equal(refused.json.usedTokens, 450, "the user's own use, not the port's");
  assert.equal(refused.json.capTokens, 500);
  assert.equal(refused.json.remaining, 50);
  assert.match(refused.json.error.message, /user "alice"/);
  assert.equal(refused.headers.get("x-budget-scope"), "user");
  assert.equal(refused.headers.get("x-budget-scope-id"), "alice");
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.equal((await reserve(port, { estimatedTokens: 50, userId: "alice" })).status, 201, "what is left still fits");
  assert.equal((await reserve(port, { estimatedTokens: 400, userId: "bob" })).status, 201, "another user passes");
  assert.equal((await reserve(port, { estimatedTokens: 4_000, userId: "vip" })).status, 201, "an override lifts the default");
  assert.equal((await reserve(port, { estimatedTokens: 4_000 })).status, 201, "a call without a user meets no user cap");

  const asked = await check(port, { estimatedTokens: 10, userId: "alice" });
  assert.equal(asked.status, 200);
  assert.equal(asked.json.ok, false);
  assert.equal(asked.json.scope, "user");
  assert.equal(asked.json.scopeId, "alice");
  const fine = await check(port, { estimatedTokens: 10, userId: "carol" });
  assert.equal(fine.json.ok, true);
  assert.equal(fine.json.scope, "port");
});

test("lowering a feature cap binds the next call; null removes it", async () => {
  const port = "caps-feature";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 50_000, hardCapTokens: 50_000, featureCaps: { chat: { softCap: 800, hardCap: 1_000 } } });
  assert.equal((await reserve(port, { estimatedTokens: 600, feature: "chat" })).status, 201);
  assert.equal((await reserve(port, { estimatedTokens: 300, feature: "chat" })).status, 201);
  const saved = await w.setBudget(port, { featureCaps: { chat: { hardCap: 950 } } });
  assert.deepEqual(saved.featureCaps, { chat: { hardCap: 950 } });
  const refused = await reserve(port, { estimatedTokens: 100, feature: "chat" });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.scope, "feature");
  assert.equal(refused.json.scopeId, "chat");
  assert.equal(refused.json.usedTokens, 900);
  assert.equal((await reserve(port, { estimatedTokens: 100, feature: "search" })).status, 201, "other features are free");
  const removed = await w.setBudget(port, { featureCaps: { chat: null } });
  assert.equal(removed.featureCaps, undefined, "no feature caps left");
  assert.equal((await reserve(port, { estimatedTokens: 100, feature: "chat" })).status, 201, "the cap no longer binds");
});

test("the port's cap still refuses first, with scope port", async () => {
  const port = "caps-port-first";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 100, featureCaps: { chat: { hardCap: 50 } } });
  const refused = await reserve(port, { estimatedTokens: 200, feature: "chat" });
  assert.equal(refused.status, 429);
  assert.equal(refused.json.scope, "port");
  assert.equal(refused.json.scopeId, null);
  assert.equal(refused.headers.get("x-budget-scope"), "port");
  assert.equal(refused.headers.get("x-budget-scope-id"), null);
});

test("malformed sub-caps get a 400 with a code and field, and nothing is saved", async () => {
  const port = "caps-bad";
  const before = await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 1_000, hardCapTokens: 1_000, featureCaps: { chat: { hardCap: 10 } } });
  const cases = [
    [{ featureCaps: { chat: { hardCap: -1 } } }, "featureCaps.chat.hardCap"],
    [{ featureCaps: { chat: { hardCap: 1.5 } } }, "featureCaps.chat.hardCap"],
    [{ featureCaps: { chat: { hardCap: "10" } } }, "featureCaps.chat.hardCap"],
    [{ featureCaps: { chat: { softCap: 5 } } }, "featureCaps.chat.hardCap"],
    [{ featureCaps: { chat: { hardCap: 10, softCap: 20 } } }, "featureCaps.chat.softCap"],
    [{ featureCaps: { chat: { hardCap: 10, limit: 3 } } }, "featureCaps.chat.limit"],
    [{ featureCaps: { "bad\u0000id": { hardCap: 10 } } }, "featureCaps.bad\u0000id"],
    [{ featureCaps: { ["x".repeat(65)]: { hardCap: 10 } } }, `featureCaps.${"x".repeat(65)}`],
    [{ featureCaps: [] }, "featureCaps"],
    [{ userCap: 5 }, "userCap"],
    [{ userCaps: { ["u".repeat(129)]: { hardCap: 1 } } }, `userCaps.${"u".repeat(129)}`],
    [{ userCap: { hardCap: 10 }, hardCapTokens: -5 }, "hardCapTokens"],
  ];
  for (const [body, field] of cases) {
    const res = await w.put(`/v1/ports/${port}/budget`, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(typeof res.json.error.code, "string");
    assert.equal(res.json.error.field, field, JSON.stringify(body));
  }
  const after = await w.get(`/v1/ports/${port}/budget`);
  assert.deepEqual(after.json, before, "nothing was saved");
});

test("status shows each feature cap and the end users nearest their caps, ten at most", async () => {
  const port = "caps-status";
  await w.setBudget(port, {
    enabled: true, period: "day", softCapTokens: 100_000, hardCapTokens: 100_000,
    featureCaps: { chat: { softCap: 500, hardCap: 1_000 } }, userCap: { hardCap: 200 }, userCaps: { vip: { hardCap: 50_000 } },
  });
  for (let n = 0; n < 12; n++) {
    const r = await reserve(port, { estimatedTokens: 10 + n * 10, feature: n % 2 ? "chat" : "ocr", userId: `user-${n}` });
    assert.equal(r.status, 201);
    assert.equal((await commit(port, r.json.id, 10 + n * 10)).status, 200);
  }
  await reserve(port, { estimatedTokens: 300, feature: "chat", userId: "vip" });
  const status = await w.synced(port);
  assert.equal(status.featureCaps.length, 1);
  const chat = status.featureCaps[0];
  assert.equal(chat.feature, "chat");
  assert.equal(chat.hardCap, 1_000);
  assert.equal(chat.usedTokens, 20 + 40 + 60 + 80 + 100 + 120);
  assert.equal(chat.heldTokens, 300);
  assert.equal(chat.capStatus.state, "soft");
  assert.equal(status.topUsers.length, 10);
  assert.deepEqual(status.topUsers.slice(0, 3).map((u) => u.userId), ["user-11", "user-10", "user-9"]);
  assert.equal(status.topUsers[0].usedTokens, 120);
  assert.equal(status.topUsers[0].capStatus.hardPercent, 60);
  assert.ok(!status.topUsers.some((u) => u.userId === "vip"), "the vip's share (0.6%) is not among the ten nearest");
});

test("the npm package's evaluateCaps answers every check as the Worker does", async () => {
  const port = "caps-parity";
  const caps = { featureCaps: { chat: { softCap: 300, hardCap: 400 }, ocr: { hardCap: 0 } }, userCap: { hardCap: 250 }, userCaps: { vip: { hardCap: 900 } } };
  const budget = { enabled: true, period: "week", softCapTokens: 1_500, hardCapTokens: 2_000 };
  await w.setBudget(port, { ...budget, ...caps });
  const rows = [["chat", "ann", 200], ["chat", "vip", 150], ["draft", "ann", 40], ["draft", "bob", 700], ["chat", null, 30]];
  const usage = { usedTokens: 0, features: {}, users: {} };
  for (const [i, [feature, userId, tokens]] of rows.entries()) {
    const res = await w.post(`/v1/ports/${port}/usage`, { feature, userId: userId ?? undefined, provider: "p", model: "m", inputTokens: tokens, outputTokens: 0, requestId: `row-${i}` });
    assert.equal(res.status, 201);
    usage.usedTokens += tokens;
    usage.features[feature] = (usage.features[feature] ?? 0) + tokens;
    if (userId) usage.users[userId] = (usage.users[userId] ?? 0) + tokens;
  }
  let refusals = 0;
  for (const feature of ["chat", "ocr", "draft", undefined]) {
    for (const userId of ["ann", "bob", "vip", "new", undefined]) {
      for (const estimatedTokens of [0, 10, 50, 60, 200, 700, 900, 1_200]) {
        const call = { estimatedTokens, feature, userId };
        const http = await check(port, call);
        assert.equal(http.status, 200);
        const local = evaluateCaps(budget, caps, usage, call, new Date(CLOCK.date));
        const pick = (a) => [a.ok, a.scope, a.scopeId, a.reason, a.usedTokens, a.capTokens];
        assert.deepEqual(pick(http.json), pick(local), JSON.stringify(call));
        assert.equal(Date.parse(http.json.resetsAt), local.resetsAt.getTime());
        if (!local.ok) refusals++;
      }
    }
  }
  assert.ok(refusals > 20, "the grid crosses caps of every scope");
});
