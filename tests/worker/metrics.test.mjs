// GET /v1/metrics in workerd: the Prometheus text format, read back with a
// Prometheus text-format parser, whose numbers equal each port's status
// (usage, caps, remaining, reset, state, forecast, refusals by reason and
// scope) and each group's (used, held, lent, caps, state, reset); admin
// only; one series per port and group (and per kind of refusal),
// whatever the users and features of its calls.
//
// The file runs at its own instant, ten days into April 2027, so the
// forecast is the hand-checked one of tests/forecast.rs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startWorker } from "./harness.mjs";
import { eventually } from "../alerts/receiver.mjs";

const parsePrometheus = createRequire(import.meta.url)("parse-prometheus-text-format");
const NOW = "2027-04-11T00:00:00.000Z";

let w;
before(async () => {
  w = await startWorker({ now: NOW });
  await w.setBudget("acme", { enabled: true, softCapTokens: 5000, hardCapTokens: 6000, period: "month" });
  await w.setBudget("money", { enabled: true, unit: "usd", softCapUsd: 8, hardCapUsd: 10, period: "week" });
  await w.setBudget("off", { enabled: false, period: "day" });
  // Calls of many users and features: none of them becomes a label.
  for (let i = 0; i < 12; i++) {
    const res = await w.post("/v1/ports/acme/usage", {
      feature: `feature-${i}`, userId: `user-${i}`, provider: "openai", model: "gpt-4.1-mini",
      inputTokens: 150, outputTokens: 50, requestId: `m-${i}`,
    });
    assert.equal(res.status, 201, res.text);
  }
  // gpt-4.1-mini: 1,000,000 input at $0.40 and 1,000,000 output at $1.60.
  const priced = await w.post("/v1/ports/money/usage", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 1000000, outputTokens: 1000000, requestId: "u-1",
  });
  assert.equal(priced.status, 201, priced.text);
  const held = await w.post("/v1/ports/acme/reservations", { estimatedTokens: 100, feature: "chat" });
  assert.equal(held.status, 201, held.text);
  // Refusals by the port's cap, a feature's and users': each kind a series,
  // never a feature's or user's name; a retried request counted once.
  await w.setBudget("strict", {
    enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "day",
    featureCaps: { chat: { hardCap: 100 } }, userCap: { hardCap: 50 },
  });
  const refusals = [
    { estimatedTokens: 2000, feature: "search", requestId: "r-port" },
    { estimatedTokens: 2000, feature: "search", requestId: "r-port" },
    { estimatedTokens: 200, feature: "chat", requestId: "r-feature" },
    { estimatedTokens: 80, feature: "search", userId: "u-1", requestId: "r-user-1" },
    { estimatedTokens: 80, feature: "search", userId: "u-2", requestId: "r-user-2" },
  ];
  for (const body of refusals) {
    const res = await w.post("/v1/ports/strict/reservations", body);
    assert.equal(res.status, 429, res.text);
  }
  const fits = await w.post("/v1/ports/strict/reservations", { estimatedTokens: 10, feature: "search" });
  assert.equal(fits.status, 201, fits.text);
  // A group over one port: its standing is a series of its own.
  const org = await w.put("/v1/groups/org/budget", { enabled: true, softCapTokens: 300, hardCapTokens: 2000, period: "month" });
  assert.equal(org.status, 200, org.text);
  await w.setBudget("child", { enabled: true, softCapTokens: 1500, hardCapTokens: 1500, period: "month", parent: "org" });
  const used = await w.post("/v1/ports/child/usage", {
    feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 300, outputTokens: 100, requestId: "g-1",
  });
  assert.equal(used.status, 201, used.text);
});
after(() => w?.dispose());

/** The scrape parsed: `name -> [{labels, value}]` with numbers. */
async function scrape() {
  const res = await w.get("/v1/metrics");
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheus(res.text);
  return Object.fromEntries(
    families.map((f) => [f.name, { type: f.type, samples: f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })) }]),
  );
}

/** The value of `name` for `port` (and more labels), or undefined. */
function value(metrics, name, labels) {
  const found = metrics[name]?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found?.value;
}

test("the scrape parses and its numbers equal each port's status", async () => {
  // Holds reach the port list (and so the scrape) as each gate reports
  // them, batched within a second (gate::wake::SNAPSHOT_DELAY_MS).
  const metrics = await eventually(async () => {
    const m = await scrape();
    const held = value(m, "ai_budget_port_held_tokens", { port: "acme" }) === 100
      && value(m, "ai_budget_port_held_tokens", { port: "strict" }) === 10;
    return held && m;
  }, { what: "acme's and strict's holds in the scrape" });
  assert.equal(value(metrics, "ai_budget_ports", {}), 5);
  for (const port of ["acme", "money", "off", "strict"]) {
    const s = (await w.get(`/v1/ports/${port}/status`)).json;
    const cs = s.capStatus;
    const usd = cs.unit === "usd";
    const at = { port };
    assert.equal(value(metrics, "ai_budget_port_used_tokens", at), s.usage.usedTokens, port);
    assert.equal(value(metrics, "ai_budget_port_held_tokens", at), s.usage.heldTokens, port);
    assert.equal(value(metrics, "ai_budget_port_calls", at), s.usage.calls, port);
    assert.equal(value(metrics, "ai_budget_ledger_rows_pending", at), s.pendingLedgerRows, port);
    assert.equal(value(metrics, "ai_budget_port_cost_usd", at), s.usage.usedUsd, port);
    const inUnit = { port, unit: cs.unit };
    assert.equal(value(metrics, "ai_budget_port_used", inUnit), usd ? cs.usedUsd : cs.usedTokens, port);
    assert.equal(value(metrics, "ai_budget_port_hard_cap", inUnit), usd ? cs.hardCapUsd : cs.hardCapTokens, port);
    assert.equal(value(metrics, "ai_budget_port_soft_cap", inUnit), usd ? cs.softCapUsd : cs.softCapTokens, port);
    const remaining = usd ? cs.remainingUsd : cs.remaining;
    assert.equal(value(metrics, "ai_budget_port_remaining", inUnit), remaining ?? undefined, port);
    assert.equal(value(metrics, "ai_budget_port_period_end_seconds", at), Date.parse(s.resetsAt) / 1000, port);
    for (const state of ["disabled", "ok", "soft", "hard"]) {
      assert.equal(value(metrics, "ai_budget_port_state", { port, state }), state === cs.state ? 1 : 0, `${port} ${state}`);
    }
    const f = s.forecast;
    assert.equal(value(metrics, "ai_budget_port_projected_used", inUnit), f?.projectedUsed, port);
    assert.equal(value(metrics, "ai_budget_port_runs_out_before_reset", at), f ? Number(f.runsOutBeforeReset) : undefined, port);
    assert.equal(value(metrics, "ai_budget_port_run_out_seconds", at), f?.runOutAt ? Date.parse(f.runOutAt) / 1000 : undefined, port);
  }
  // acme: 2,400 used in ten days runs out on the 26th.
  assert.equal(value(metrics, "ai_budget_port_run_out_seconds", { port: "acme" }), Date.parse("2027-04-26T00:00:00Z") / 1000);
  assert.equal(value(metrics, "ai_budget_port_cost_usd", { port: "money" }), 2);
  assert.equal(metrics.ai_budget_port_hard_cap.type, "GAUGE");
});

test("refusals are counted by reason and scope, equal to each port's status", async () => {
  const metrics = await eventually(async () => {
    const m = await scrape();
    return value(m, "ai_budget_port_refusals", { port: "strict", scope: "user" }) === 2 && m;
  }, { what: "strict's refusals in the scrape" });
  const status = (await w.get("/v1/ports/strict/status")).json;
  assert.deepEqual(status.refusals, [
    { reason: "estimated-exceeds-cap", scope: "feature", count: 1 },
    { reason: "estimated-exceeds-cap", scope: "port", count: 1 },
    { reason: "estimated-exceeds-cap", scope: "user", count: 2 },
  ]);
  for (const port of ["acme", "money", "off", "strict"]) {
    const s = (await w.get(`/v1/ports/${port}/status`)).json;
    const series = metrics.ai_budget_port_refusals.samples.filter((m) => m.labels.port === port);
    assert.deepEqual(
      series.map((m) => ({ reason: m.labels.reason, scope: m.labels.scope, count: m.value })),
      s.refusals,
      port,
    );
  }
  assert.equal(metrics.ai_budget_port_refusals.type, "GAUGE");
});

test("each group's numbers equal its status: its children's use, its lending, caps, band and reset", async () => {
  const metrics = await eventually(async () => {
    const m = await scrape();
    return value(m, "ai_budget_group_used", { group: "org" }) === 400 && m;
  }, { what: "org's use in the scrape" });
  const s = (await w.get("/v1/groups/org/status")).json;
  const at = { group: "org", unit: "tokens" };
  assert.equal(s.used, 400);
  assert.equal(value(metrics, "ai_budget_group_used", at), s.used);
  assert.equal(value(metrics, "ai_budget_group_held", at), s.held);
  assert.equal(value(metrics, "ai_budget_group_lent", at), s.lent);
  assert.equal(value(metrics, "ai_budget_group_lent_unused", at), s.unused);
  assert.equal(value(metrics, "ai_budget_group_soft_cap", at), 300);
  assert.equal(value(metrics, "ai_budget_group_hard_cap", at), 2000);
  assert.equal(value(metrics, "ai_budget_group_period_end_seconds", { group: "org" }), Date.parse(s.resetsAt) / 1000);
  for (const state of ["disabled", "ok", "soft", "hard"]) {
    assert.equal(value(metrics, "ai_budget_group_state", { group: "org", state }), state === s.state ? 1 : 0, state);
  }
  assert.equal(s.state, "soft");
});

test("labels stay bounded: one series per port, no user or feature label", async () => {
  const metrics = await scrape();
  for (const [name, family] of Object.entries(metrics)) {
    for (const s of family.samples) {
      for (const label of Object.keys(s.labels)) {
        assert.ok(["port", "group", "unit", "state", "reason", "scope"].includes(label), `${name} has label ${label}`);
      }
      if (s.labels.scope !== undefined) {
        assert.ok(["port", "feature", "user", "group"].includes(s.labels.scope), `${name} scope ${s.labels.scope}`);
      }
    }
  }
  assert.equal(metrics.ai_budget_port_used_tokens.samples.length, 5);
  assert.equal(metrics.ai_budget_group_used.samples.length, 1);
});

test("only the admin may scrape", async () => {
  const key = await w.issueKey("acme");
  assert.equal((await w.get("/v1/metrics", { token: key })).status, 403);
  assert.equal((await w.get("/v1/metrics", { token: "nope" })).status, 401);
});
