// The forecast in workerd: status and the port listing answer the core's
// projection, and the `projected` alert threshold is set through the API,
// raised once when the average rate would reach the hard cap before the
// reset, delivered to the port's webhook with the projection, and refused
// when misspelt.
//
// The file runs at its own instant, ten days into April 2027, so the
// projections are the hand-checked ones of tests/forecast.rs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as rules from "ai-budget";
import { startWorker } from "./harness.mjs";
import { Receiver, eventually } from "../alerts/receiver.mjs";

const NOW = "2027-04-11T00:00:00.000Z";
const month = (hard) => ({ enabled: true, softCapTokens: hard, hardCapTokens: hard, period: "month" });

let w;
let rx;
before(async () => {
  rx = await new Receiver().start();
  w = await startWorker({ now: NOW });
});
after(async () => {
  await w?.dispose();
  await rx?.stop();
});

const usage = (port, tokens, requestId) =>
  w.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: tokens, outputTokens: 0, requestId });

test("status carries the core's forecast: run-out, projection, rate", async () => {
  await w.setBudget("fc-status", month(6000));
  assert.equal((await usage("fc-status", 2400, "s-1")).status, 201);
  const status = (await w.get("/v1/ports/fc-status/status")).json;
  const core = rules.forecast(month(6000), status.usage.usedTokens, NOW);
  assert.deepEqual(status.forecast, {
    basis: core.basis,
    unit: "tokens",
    ratePerHour: core.ratePerHourTokens,
    projectedUsed: core.projectedUsedTokens,
    runOutAt: core.runOutAt.toISOString(),
    runsOutBeforeReset: true,
  });
  assert.equal(status.forecast.runOutAt, "2027-04-26T00:00:00.000Z");
  // A usd budget forecasts in dollars.
  await w.setBudget("fc-usd", { enabled: true, unit: "usd", hardCapUsd: 1, period: "month" });
  const usd = (await w.get("/v1/ports/fc-usd/status")).json.forecast;
  assert.equal(usd.unit, "usd");
  assert.equal(usd.projectedUsed, 0);
  assert.equal(usd.runOutAt, null);
});

test("the projected threshold is set and read through the API, after the percents", async () => {
  const port = "fc-set";
  const put = await w.put(`/v1/ports/${port}/alerts`, { thresholds: ["projected", 80, 50] });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json.thresholds, [50, 80, "projected"]);
  assert.deepEqual((await w.get(`/v1/ports/${port}/alerts`)).json.thresholds, [50, 80, "projected"]);
  // Percents alone turn the forecast off again.
  assert.deepEqual((await w.put(`/v1/ports/${port}/alerts`, { thresholds: [50] })).json.thresholds, [50]);
  for (const [thresholds, field] of [[["projection"], "thresholds[0]"], [[50, "projected", 0], "thresholds[2]"], [[true], "thresholds[0]"]]) {
    const res = await w.put(`/v1/ports/${port}/alerts`, { thresholds });
    assert.equal(res.status, 400, JSON.stringify(thresholds));
    assert.equal(res.json.error.code, "invalid-threshold");
    assert.equal(res.json.error.field, field);
  }
  // Ten percents and the forecast fit; eleven percents do not.
  const ten = Array.from({ length: 10 }, (_, i) => (i + 1) * 5);
  assert.equal((await w.put(`/v1/ports/${port}/alerts`, { thresholds: [...ten, "projected"] })).status, 200);
  assert.equal((await w.put(`/v1/ports/${port}/alerts`, { thresholds: [...ten, 99, "projected"] })).json.error.code, "too-many-thresholds");
  assert.deepEqual((await w.get(`/v1/ports/${port}/alerts`)).json.thresholds, [...ten, "projected"], "nothing saved by a refusal");
});

test("a projected crossing is raised once, delivered with its projection, and not raised again as the rate settles", async () => {
  const port = "fc-alert";
  await w.setBudget(port, month(6000));
  await w.put(`/v1/ports/${port}/alerts`, { thresholds: ["projected"], webhookUrl: `${rx.origin}/ok/projected` });
  // 1,900 in ten days ends the month at 5,700: within the cap.
  assert.equal((await usage(port, 1900, "a-1")).status, 201);
  // 500 more: 2,400 ends at 7,200, out on the 26th. Twenty calls race.
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => usage(port, 25, `a-race-${i}`)));
  assert.ok(answers.every((a) => a.status === 201));
  const got = await eventually(() => rx.at("/ok/projected").length >= 1 && rx.at("/ok/projected"), { what: "the projected event" });
  const event = got[0].event;
  assert.equal(event.type, "threshold-crossed");
  assert.equal(event.threshold, "projected");
  assert.equal(event.cap, 6000);
  assert.ok(event.used >= 1900 && event.used <= 2400);
  const core = rules.forecast(month(6000), event.used, NOW);
  assert.equal(event.runOutAt, core.runOutAt.toISOString());
  assert.equal(event.projectedUsed, core.projectedUsedTokens);
  // More usage later, at a slower average: nothing more is raised.
  const w20 = w.at("2027-04-20T00:00:00.000Z");
  const later = await w20.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: 10, outputTokens: 0, requestId: "a-later" });
  assert.equal(later.status, 201, later.text);
  const deliveries = await eventually(async () => {
    const list = (await w20.get(`/v1/ports/${port}/alerts/deliveries?limit=100`)).json.deliveries;
    return list.every((d) => d.status === "delivered") && list;
  }, { what: "settled deliveries" });
  assert.equal(deliveries.length, 1, "raised once in the period");
  assert.equal(rx.at("/ok/projected").length, 1);
});
