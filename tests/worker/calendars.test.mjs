// Port calendars in workerd, at fixed instants of their own (x-now): a port
// in Los Angeles refuses until its local midnight, a hold taken before a
// clock change commits into the local day after it, a crossing resolves at
// the local day's end, two ports in different zones share nothing, bad
// calendar fields change nothing, and a calendar change keeps the period.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { Receiver, eventually } from "../alerts/receiver.mjs";

let w;
let rx;
before(async () => {
  rx = await new Receiver().start();
  w = await startWorker({ now: "2027-03-14T20:00:00.000Z" });
});
after(async () => {
  await w?.dispose();
  await rx?.stop();
});

const usage = (worker, port, tokens, requestId) =>
  worker.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: tokens, outputTokens: 0, requestId });
const day = (timeZone, hardCapTokens = 100) => ({ enabled: true, period: "day", softCapTokens: hardCapTokens, hardCapTokens, timeZone });

test("a port in Los Angeles refuses at 23:59 local and grants at 00:00 local", async () => {
  const port = "cal-la";
  const noon = w.at("2027-03-14T20:00:00.000Z"); // 13:00 PDT, on a 23-hour day
  await noon.setBudget(port, day("America/Los_Angeles"));
  assert.equal((await usage(noon, port, 100, "la-1")).status, 201);
  const late = w.at("2027-03-15T06:59:00.000Z"); // 23:59 PDT
  const refused = await late.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.json.periodStart, "2027-03-14T08:00:00.000Z");
  assert.equal(refused.json.resetsAt, "2027-03-15T07:00:00.000Z");
  assert.equal(refused.headers.get("retry-after"), "60");
  const check = await late.post(`/v1/ports/${port}/check`, { estimatedTokens: 0 });
  assert.equal(check.headers.get("ratelimit-policy"), '"tokens";q=100;w=82800', "a 23-hour day");
  assert.equal(check.headers.get("ratelimit"), '"tokens";r=0;t=60');
  const midnight = w.at("2027-03-15T07:00:00.000Z");
  const granted = await midnight.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
  assert.equal(granted.status, 201, granted.text);
  const status = (await midnight.get(`/v1/ports/${port}/status`)).json;
  assert.equal(status.periodStart, "2027-03-15T07:00:00.000Z");
  assert.equal(status.budget.timeZone, "America/Los_Angeles");
  assert.match(status.timeZoneData, /^\d{4}[a-z]$/);
});

test("a hold taken before clocks go back commits into the local day after the change", async () => {
  const port = "cal-fall";
  const before = w.at("2027-11-07T08:55:00.000Z"); // 01:55 PDT; clocks go back at 09:00Z
  await before.setBudget(port, day("America/Los_Angeles", 1_000));
  const hold = await before.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 50 });
  assert.equal(hold.status, 201, hold.text);
  const after = w.at("2027-11-07T09:05:00.000Z"); // 01:05 PST
  const commit = await after.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, {
    inputTokens: 30, outputTokens: 10, provider: "openai", model: "gpt-4.1-mini",
  });
  assert.equal(commit.status, 200, commit.text);
  // 23:30 PST on 7 November (07:30Z on the 8th): still the same 25-hour day.
  const lastHour = (await w.at("2027-11-08T07:30:00.000Z").get(`/v1/ports/${port}/usage`)).json;
  assert.deepEqual([lastHour.usedTokens, lastHour.periodStart, lastHour.resetsAt], [40, "2027-11-07T07:00:00.000Z", "2027-11-08T08:00:00.000Z"]);
  // The daily series lists the port's own days (delivered to the ledger after the answer).
  const daily = await eventually(async () => {
    const status = (await w.at("2027-11-08T07:30:00.000Z").get(`/v1/ports/${port}/status`)).json;
    return status.daily.some((d) => d.tokens > 0) && status.daily;
  }, { what: "the day's usage in the ledger" });
  assert.deepEqual(daily.map((d) => [d.date, d.tokens]), [["2027-11-07", 40]]);
  const next = (await w.at("2027-11-08T08:00:00.000Z").get(`/v1/ports/${port}/usage`)).json;
  assert.equal(next.usedTokens, 0);
});

test("a crossing resolves by itself at the port's local day end", async () => {
  const port = "cal-alert";
  // Kathmandu (+05:45): 1 June ends at 18:15Z; 300 ms before it.
  const late = w.at("2027-06-01T18:14:59.700Z");
  await late.setBudget(port, { ...day("Asia/Kathmandu", 1_000), softCapTokens: 100 });
  await late.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/ok/cal` });
  assert.equal((await usage(late, port, 200, "ka-1")).status, 201);
  await eventually(() => rx.at("/ok/cal").length === 2, { what: "the resolution at the local day's end" });
  const [crossed, resolved] = rx.at("/ok/cal").map((r) => r.event);
  assert.equal(crossed.type, "threshold-crossed");
  assert.equal(crossed.resetsAt, "2027-06-01T18:15:00.000Z");
  assert.deepEqual([resolved.type, resolved.used, resolved.periodStart], ["threshold-resolved", 0, "2027-06-01T18:15:00.000Z"]);
});

test("two ports in different zones share nothing", async () => {
  const at = w.at("2027-01-01T03:00:00.000Z");
  await at.setBudget("cal-tokyo", day("Asia/Tokyo", 1_000));
  await at.setBudget("cal-nyc", day("America/New_York", 1_000));
  assert.equal((await usage(at, "cal-tokyo", 70, "t-1")).status, 201);
  const tokyo = (await at.get("/v1/ports/cal-tokyo/usage")).json;
  const nyc = (await at.get("/v1/ports/cal-nyc/usage")).json;
  assert.deepEqual([tokyo.usedTokens, tokyo.periodStart, tokyo.resetsAt], [70, "2026-12-31T15:00:00.000Z", "2027-01-01T15:00:00.000Z"]);
  assert.deepEqual([nyc.usedTokens, nyc.periodStart, nyc.resetsAt], [0, "2026-12-31T05:00:00.000Z", "2027-01-01T05:00:00.000Z"]);
});

test("bad calendar fields answer 400 with the code and field, and change nothing", async () => {
  const port = "cal-bad";
  const before = await w.setBudget(port, day("Europe/London"));
  for (const [body, code, field] of [
    [{ timeZone: "Mars/Olympus" }, "unknown-time-zone", "timeZone"],
    [{ timeZone: 3 }, "invalid-type", "timeZone"],
    [{ weekStart: "Sunday" }, "unknown-week-day", "weekStart"],
    [{ monthStartDay: 0 }, "invalid-value", "monthStartDay"],
    [{ monthStartDay: 32 }, "invalid-value", "monthStartDay"],
    [{ calendarChange: { until: "2027-01-01T00:00:00Z" } }, "unknown-field", "calendarChange"],
  ]) {
    const res = await w.put(`/v1/ports/${port}/budget`, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field]);
  }
  assert.deepEqual((await w.get(`/v1/ports/${port}/budget`)).json, before);
});

test("a calendar change keeps the current period's usage and end, then hands over", async () => {
  const port = "cal-change";
  const now = w.at("2027-05-10T18:00:00.000Z");
  await now.setBudget(port, { enabled: true, period: "month", softCapTokens: 1_000, hardCapTokens: 1_000 });
  assert.equal((await usage(now, port, 300, "ch-1")).status, 201);
  const saved = await now.setBudget(port, { timeZone: "Asia/Tokyo", monthStartDay: 15 });
  assert.deepEqual(saved.calendarChange, { timeZone: "UTC", weekStart: "monday", monthStartDay: 1, until: "2027-06-01T00:00:00.000Z" });
  const still = (await now.get(`/v1/ports/${port}/usage`)).json;
  assert.deepEqual([still.usedTokens, still.periodStart, still.resetsAt], [300, "2027-05-01T00:00:00.000Z", "2027-06-01T00:00:00.000Z"]);
  // From 1 June (UTC) to Tokyo's 15 June, then Tokyo months from the 15th.
  const first = (await w.at("2027-06-01T00:00:00.000Z").get(`/v1/ports/${port}/usage`)).json;
  assert.deepEqual([first.usedTokens, first.periodStart, first.resetsAt], [0, "2027-06-01T00:00:00.000Z", "2027-06-14T15:00:00.000Z"]);
  const then = (await w.at("2027-06-20T00:00:00.000Z").get(`/v1/ports/${port}/usage`)).json;
  assert.deepEqual([then.periodStart, then.resetsAt], ["2027-06-14T15:00:00.000Z", "2027-07-14T15:00:00.000Z"]);
});
