// Alerts in workerd, with local queues and a webhook receiver on 127.0.0.1:
// one event per crossing under 100 concurrent calls, resolved after a raised
// cap, retries with the same event id, the dead-letter queue, the signature,
// the sample, the record of deliveries and a resend, and bad input.
//
// The suite runs at the suite's instant moved clear of its day's end
// (CLOCK.clear): each test counts the events it raised, and a port's gate
// resolves a raised crossing by itself when its period ends, on a clock that
// keeps moving from the last request's instant. The test of that resolution
// places its own instants just before a day's end.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, CLOCK } from "./harness.mjs";
import { windows } from "../clock.mjs";
import { Receiver, verifySignature, signaturesOf, eventually } from "../alerts/receiver.mjs";

let w;
let rx;
before(async () => {
  rx = await new Receiver().start();
  w = await startWorker({ now: CLOCK.clear.iso });
});
after(async () => {
  await w?.dispose();
  await rx?.stop();
});

const usage = (port, tokens, requestId, worker = w) =>
  worker.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", model: "gpt-4.1-mini", inputTokens: tokens, outputTokens: 0, requestId });
const deliveries = async (port, worker = w) => (await worker.get(`/v1/ports/${port}/alerts/deliveries?limit=100`)).json.deliveries;
/** Waits until the port's deliveries are all settled (none pending); asks
 * through `worker` (at its instant). */
const settled = (port, count, worker = w) =>
  eventually(
    async () => {
      const list = await deliveries(port, worker);
      return list.length >= count && list.every((d) => d.status !== "pending" && d.status !== "failed") && list;
    },
    { what: `${count} settled deliveries of ${port}` },
  );

test("PUT alerts shows the endpoint's secret once; GET reads it back without it", async () => {
  const port = "al-put";
  const put = await w.put(`/v1/ports/${port}/alerts`, { thresholds: [95, 50, 80, 80], webhookUrl: `${rx.origin}/ok/put` });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json.thresholds, [50, 80, 95]);
  assert.equal(put.json.webhookUrl, `${rx.origin}/ok/put`);
  assert.match(put.json.secret, /^whsec_[0-9a-f]{48}$/);
  const got = await w.get(`/v1/ports/${port}/alerts`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.json.thresholds, [50, 80, 95]);
  assert.equal(got.json.webhookUrl, `${rx.origin}/ok/put`);
  assert.ok(!got.text.includes(put.json.secret), "the secret is never shown again");
  // The same URL again keeps its secret (and does not show it).
  const again = await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/ok/put` });
  assert.equal(again.json.secret, undefined);
  assert.deepEqual(again.json.thresholds, [50, 80, 95], "thresholds untouched when not sent");
  // A port key may not read or change alerts.
  const key = await w.issueKey(port);
  assert.equal((await w.get(`/v1/ports/${port}/alerts`, { token: key })).status, 403);
});

test("100 concurrent calls crossing the same thresholds raise one event per crossing, each delivered once and signed", async () => {
  const port = "al-race";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 800, hardCapTokens: 1_000 });
  const put = await w.put(`/v1/ports/${port}/alerts`, { thresholds: [50, 80, 95], webhookUrl: `${rx.origin}/ok/race` });
  const secret = put.json.secret;
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => usage(port, 10, `race-${i}`)));
  assert.ok(answers.every((a) => a.status === 201), "every call counted");
  await settled(port, 5);
  const got = rx.at("/ok/race");
  const crossed = got.map((r) => r.event).filter((e) => e.type === "threshold-crossed");
  assert.deepEqual(crossed.map((e) => String(e.threshold)).sort(), ["50", "80", "95", "hard", "soft"]);
  assert.equal(got.length, 5, "nothing delivered twice");
  assert.equal(new Set(got.map((r) => r.event.id)).size, 5);
  for (const r of got) {
    assert.equal(r.headers["x-budget-event-id"], r.event.id);
    assert.ok(verifySignature(r.headers["x-budget-signature"], r.body, secret), "verifies with the endpoint's secret");
    assert.ok(!verifySignature(r.headers["x-budget-signature"], r.body, "whsec_another"), "fails with another secret");
    assert.equal(r.event.port, port);
    assert.equal(r.event.unit, "tokens");
    assert.equal(r.event.period, "day");
  }
  const hard = crossed.find((e) => e.threshold === "hard");
  assert.equal(hard.cap, 1_000);
  assert.ok(hard.used >= 1_000);
  assert.equal(crossed.find((e) => e.threshold === "soft").cap, 800);
  const status = (await w.get(`/v1/ports/${port}/status`)).json;
  assert.equal(hard.resetsAt, status.resetsAt);
  assert.ok((await deliveries(port)).every((d) => d.status === "delivered" && d.responseCode === 200 && d.attempts === 1));
});

test("raising the cap resolves the crossings it undoes, once each", async () => {
  const port = "al-raise";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 800, hardCapTokens: 1_000 });
  await w.put(`/v1/ports/${port}/alerts`, { thresholds: [50], webhookUrl: `${rx.origin}/ok/raise` });
  await usage(port, 900, "r-1");
  await settled(port, 2);
  await w.setBudget(port, { softCapTokens: 5_000, hardCapTokens: 10_000 });
  await settled(port, 4);
  const events = rx.at("/ok/raise").map((r) => r.event);
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.threshold}`).sort(),
    ["threshold-crossed 50", "threshold-crossed soft", "threshold-resolved 50", "threshold-resolved soft"],
  );
  const resolved = events.find((e) => e.type === "threshold-resolved" && e.threshold === "soft");
  assert.equal(resolved.cap, 5_000);
  assert.equal(resolved.used, 900);
  // Saving the budget again changes nothing more.
  await w.setBudget(port, { softCapTokens: 5_000 });
  await usage(port, 1, "r-2");
  await settled(port, 4);
  assert.equal(rx.at("/ok/raise").length, 4);
});

test("a receiver that fails three times then succeeds gets the event with the same id each time", async () => {
  const port = "al-flaky";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/flaky/3/${port}` });
  await usage(port, 200, "f-1");
  const [record] = await settled(port, 1);
  const got = rx.at(`/flaky/3/${port}`);
  assert.equal(got.length, 4);
  assert.equal(new Set(got.map((r) => r.event.id)).size, 1, "one id on every try");
  assert.equal(new Set(got.map((r) => r.body)).size, 1, "the same body on every try");
  assert.equal(record.status, "delivered");
  assert.equal(record.attempts, 4);
  assert.equal(record.responseCode, 200);
  assert.equal(record.eventId, got[0].event.id);
});

test("a dead receiver's delivery ends in the dead-letter queue, recorded as dead", async () => {
  const port = "al-dead";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/dead/${port}` });
  await usage(port, 200, "d-1");
  const [record] = await settled(port, 1);
  assert.equal(record.status, "dead");
  assert.equal(record.responseCode, 503);
  assert.equal(record.attempts, 6, "the first try and 5 retries");
  assert.equal(rx.at(`/dead/${port}`).length, 6);
});

test("the default endpoint serves ports without their own; resend delivers the same event again", async () => {
  const put = await w.put("/v1/alerts", { webhookUrl: `${rx.origin}/ok/default` });
  assert.equal(put.status, 200, put.text);
  const secret = put.json.secret;
  assert.ok(secret);
  assert.equal((await w.get("/v1/alerts")).json.webhookUrl, `${rx.origin}/ok/default`);
  const port = "al-default";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  await usage(port, 200, "def-1");
  const [record] = await settled(port, 1);
  assert.equal(record.endpoint, `${rx.origin}/ok/default`);
  const first = rx.at("/ok/default").find((r) => r.event.port === port);
  assert.ok(verifySignature(first.headers["x-budget-signature"], first.body, secret));
  const resent = await w.post(`/v1/ports/${port}/alerts/deliveries/${record.eventId}/resend`);
  assert.equal(resent.status, 202, resent.text);
  await eventually(() => rx.at("/ok/default").filter((r) => r.event.port === port).length === 2, { what: "the resend" });
  const [a, b] = rx.at("/ok/default").filter((r) => r.event.port === port);
  assert.equal(a.event.id, b.event.id);
  assert.equal(a.body, b.body);
  assert.equal((await w.post(`/v1/ports/${port}/alerts/deliveries/evt_nope/resend`)).status, 404);
  await w.put("/v1/alerts", { webhookUrl: null });
});

test("the test route sends a signed sample now and says how the receiver answered; a slow receiver is cut", async () => {
  const port = "al-sample";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  assert.equal((await w.post(`/v1/ports/${port}/alerts/test`)).status, 409, "no endpoint yet");
  const { json } = await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: [`${rx.origin}/ok/sample`, `${rx.origin}/slow/sample`] });
  const secrets = Object.fromEntries(json.endpoints.map((e) => [e.url, e.secret]));
  assert.equal(json.secret, undefined, "several endpoints: each with its own secret in endpoints");
  const sent = await w.post(`/v1/ports/${port}/alerts/test`);
  assert.equal(sent.status, 200, sent.text);
  const [ok, slow] = sent.json.deliveries;
  assert.deepEqual([ok.delivered, ok.responseCode], [true, 200]);
  assert.equal(slow.delivered, false);
  assert.match(slow.error, /did not answer within 1000 ms/);
  const [r] = rx.at("/ok/sample");
  assert.equal(r.event.test, true);
  assert.equal(r.event.type, "threshold-crossed");
  assert.equal(r.event.id, sent.json.eventId);
  assert.ok(verifySignature(r.headers["x-budget-signature"], r.body, secrets[`${rx.origin}/ok/sample`]));
  assert.ok(!verifySignature(r.headers["x-budget-signature"], r.body, secrets[`${rx.origin}/slow/sample`]));
  const listed = await deliveries(port);
  assert.deepEqual(listed.map((d) => d.status).sort(), ["delivered", "failed"]);
});

test("bad input is refused with a code and nothing is saved", async () => {
  const port = "al-bad";
  await w.put(`/v1/ports/${port}/alerts`, { thresholds: [50], webhookUrl: `${rx.origin}/ok/bad` });
  const cases = [
    [{ thresholds: [0] }, "invalid-threshold", "thresholds[0]"],
    [{ thresholds: [50, 101] }, "invalid-threshold", "thresholds[1]"],
    [{ thresholds: [50.5] }, "invalid-threshold", "thresholds[0]"],
    [{ thresholds: ["50"] }, "invalid-threshold", "thresholds[0]"],
    [{ thresholds: Array.from({ length: 11 }, (_, i) => i + 1) }, "too-many-thresholds", "thresholds"],
    [{ thresholds: 50 }, "invalid-type", "thresholds"],
    [{ webhookUrl: "http://example.com/hook" }, "insecure-webhook-url", "webhookUrl"],
    [{ webhookUrl: "ftp://example.com/hook" }, "invalid-webhook-url", "webhookUrl"],
    [{ webhookUrl: Array.from({ length: 6 }, (_, i) => `https://h${i}.example.com/`) }, "too-many-endpoints", "webhookUrl"],
    [{ thresholds: [60], webhookUrl: "https://user:pw@example.com/" }, "invalid-webhook-url", "webhookUrl"],
    [{ thresholds: [60], hooks: [] }, "unknown-field", "hooks"],
  ];
  for (const [body, code, field] of cases) {
    const res = await w.put(`/v1/ports/${port}/alerts`, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.error.code, code, JSON.stringify(body));
    assert.equal(res.json.error.field, field, JSON.stringify(body));
  }
  const got = (await w.get(`/v1/ports/${port}/alerts`)).json;
  assert.deepEqual(got.thresholds, [50]);
  assert.equal(got.webhookUrl, `${rx.origin}/ok/bad`);
  assert.equal((await w.put("/v1/alerts", {})).json.error.code, "missing-field");
});

test("in production only https:// to public hosts is accepted", async () => {
  const prod = await startWorker({ bindings: { ENVIRONMENT: "production" } });
  try {
    const put = (url) => prod.put("/v1/ports/al-prod/alerts", { webhookUrl: url });
    assert.equal((await put(`${rx.origin}/ok/prod`)).json.error.code, "insecure-webhook-url");
    for (const url of ["https://127.0.0.1/", "https://10.0.0.7/hook", "https://169.254.169.254/", "https://[::1]/", "https://db.internal/"]) {
      const res = await put(url);
      assert.equal(res.status, 400, url);
      assert.equal(res.json.error.code, "private-webhook-url", url);
    }
    assert.equal((await prod.get("/v1/ports/al-prod/alerts")).json.webhookUrl, null, "nothing saved");
    assert.equal((await put("https://hooks.example.com/budget")).status, 200);
  } finally {
    await prod.dispose();
  }
});

test("a new period resolves the last one's crossings, and the next crossing raises again", async () => {
  const port = "al-period";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/ok/period` });
  await usage(port, 200, "p-1");
  await settled(port, 1);
  // The next day (the suite's instant plus a day, so it crosses a UTC
  // midnight). Every request from here on is sent then, the waits included:
  // one of the day before would take the gate's clock back into the last
  // period, which it would find still over its cap.
  const nextDay = w.at(new Date(Date.parse(w.now) + 86_400_000).toISOString());
  const next = (tokens, id) =>
    nextDay.post(`/v1/ports/${port}/usage`, { feature: "chat", provider: "openai", model: "m", inputTokens: tokens, outputTokens: 0, requestId: id });
  assert.equal((await next(10, "p-2")).status, 201);
  await settled(port, 2, nextDay);
  const [crossed, resolved] = rx.at("/ok/period").map((r) => r.event);
  assert.equal(crossed.type, "threshold-crossed");
  assert.equal(resolved.type, "threshold-resolved");
  assert.equal(resolved.threshold, "soft");
  assert.equal(resolved.used, 10, "the new period's usage");
  assert.ok(Date.parse(resolved.periodStart) > Date.parse(crossed.periodStart));
  assert.equal(resolved.periodStart, crossed.resetsAt);
  assert.equal((await next(200, "p-3")).status, 201);
  await settled(port, 3, nextDay);
  const third = rx.at("/ok/period")[2].event;
  assert.deepEqual([third.type, third.threshold, third.periodStart], ["threshold-crossed", "soft", resolved.periodStart]);
  assert.notEqual(third.id, crossed.id);
});

test("a crossing resolves by itself when its period ends, with no call: the new period's usage, from its start", async () => {
  const port = "al-period-end";
  // 300 ms before the end of the suite's day; no request reaches the port
  // after the call that crosses (it would set the gate's clock back): only
  // the gate's alarm can act.
  const end = windows(CLOCK.ms).day.end;
  const late = w.at(new Date(end - 300).toISOString());
  await late.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  await late.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/ok/period-end` });
  assert.equal((await usage(port, 200, "pe-1", late)).status, 201);
  await eventually(() => rx.at("/ok/period-end").length === 2, { what: "the resolution at the day's end" });
  const events = rx.at("/ok/period-end").map((r) => r.event);
  const crossed = events.find((e) => e.type === "threshold-crossed");
  const resolved = events.find((e) => e.type === "threshold-resolved");
  assert.deepEqual([crossed.threshold, crossed.used, crossed.resetsAt], ["soft", 200, new Date(end).toISOString()]);
  assert.deepEqual([resolved.threshold, resolved.used, resolved.periodStart], ["soft", 0, crossed.resetsAt]);
  assert.notEqual(resolved.id, crossed.id);
});

test("a budget in dollars crosses its thresholds on the dollars used, and its events carry them in dollars", async () => {
  const port = "al-usd";
  await w.setBudget(port, { enabled: true, period: "month", unit: "usd", softCapUsd: 0.05, hardCapUsd: 0.1, softCapTokens: 10, hardCapTokens: 20 });
  await w.put(`/v1/ports/${port}/alerts`, { thresholds: [50], webhookUrl: `${rx.origin}/ok/usd` });
  // gpt-4.1-mini at $0.40 per million input tokens: 100 000 tokens cost $0.04,
  // past both token caps but under every threshold in dollars.
  assert.equal((await usage(port, 100_000, "usd-1")).status, 201);
  assert.equal((await usage(port, 25_000, "usd-2")).status, 201); // $0.05 in all: half the hard cap
  await settled(port, 1);
  const events = rx.at("/ok/usd").map((r) => r.event);
  assert.deepEqual(events.map((e) => [e.type, e.threshold, e.unit, e.used, e.cap]), [["threshold-crossed", 50, "usd", 0.05, 0.1]]);
  assert.equal((await usage(port, 2_500, "usd-3")).status, 201); // $0.051: above the soft cap
  await settled(port, 2);
  const soft = rx.at("/ok/usd").map((r) => r.event).find((e) => e.threshold === "soft");
  assert.deepEqual([soft.type, soft.unit, soft.used, soft.cap], ["threshold-crossed", "usd", 0.051, 0.05]);
});

test("rotating a secret: during the overlap a queued delivery verifies with either secret, after its end with the new one only", async () => {
  const port = "al-rotate";
  const url = `${rx.origin}/ok/rotate`;
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  const old = (await w.put(`/v1/ports/${port}/alerts`, { webhookUrl: url })).json.secret;
  await usage(port, 200, "rot-1");
  const [record] = await settled(port, 1);
  const rotatedAt = w.now;
  const rotated = await w.post(`/v1/ports/${port}/alerts/rotate`, { webhookUrl: url });
  assert.equal(rotated.status, 200, rotated.text);
  const fresh = rotated.json.secret;
  assert.match(fresh, /^whsec_[0-9a-f]{48}$/);
  assert.notEqual(fresh, old);
  assert.equal(rotated.json.overlapHours, 24);
  const ends = new Date(Date.parse(rotatedAt) + 24 * 3_600_000).toISOString();
  assert.equal(rotated.json.previousSecretExpiresAt, ends);
  const got = await w.get(`/v1/ports/${port}/alerts`);
  assert.ok(!got.text.includes(fresh) && !got.text.includes(old), "no secret is shown again");
  assert.equal(got.json.endpoints[0].previousSecretExpiresAt, ends);
  // A resend through the queue an hour later (by the Worker's clock): both signatures.
  const at = (iso) => ({ headers: { "x-now": iso } });
  const during = new Date(Date.parse(ends) - 1_000).toISOString();
  assert.equal((await w.post(`/v1/ports/${port}/alerts/deliveries/${record.eventId}/resend`, undefined, at(during))).status, 202);
  // The receiver's copies of this event (its first delivery, then each
  // resend); the sample is told apart by its `test` flag.
  const copies = () => rx.at("/ok/rotate").filter((r) => r.event.id === record.eventId && !r.event.test);
  await eventually(() => copies().length === 2, { what: "the resend during the overlap" });
  const inside = copies()[1];
  assert.equal(signaturesOf(inside.headers["x-budget-signature"]).length, 2);
  assert.ok(verifySignature(inside.headers["x-budget-signature"], inside.body, fresh), "the new secret verifies");
  assert.ok(verifySignature(inside.headers["x-budget-signature"], inside.body, old), "the old secret still verifies");
  assert.ok(!verifySignature(inside.headers["x-budget-signature"], inside.body, "whsec_another"));
  // At the overlap's end: the new secret only.
  assert.equal((await w.post(`/v1/ports/${port}/alerts/deliveries/${record.eventId}/resend`, undefined, at(ends))).status, 202);
  await eventually(() => copies().length === 3, { what: "the resend after the overlap" });
  const after = copies()[2];
  assert.equal(signaturesOf(after.headers["x-budget-signature"]).length, 1);
  assert.ok(verifySignature(after.headers["x-budget-signature"], after.body, fresh));
  assert.ok(!verifySignature(after.headers["x-budget-signature"], after.body, old), "the old secret no longer verifies");
  assert.equal((await w.get(`/v1/ports/${port}/alerts`, at(ends))).json.endpoints[0].previousSecretExpiresAt, undefined);
  // The sample route signs on the request's clock too.
  const sample = await w.post(`/v1/ports/${port}/alerts/test`, undefined, at(during));
  assert.equal(sample.status, 200, sample.text);
  const [s] = rx.at("/ok/rotate").filter((r) => r.event.test);
  assert.ok(verifySignature(s.headers["x-budget-signature"], s.body, old) && verifySignature(s.headers["x-budget-signature"], s.body, fresh));
});

test("rotating the default endpoint's secret, an overlap of 0, and bad input changing nothing", async () => {
  const url = `${rx.origin}/ok/rotate-default`;
  const old = (await w.put("/v1/alerts", { webhookUrl: url })).json.secret;
  const other = "al-rotate-other";
  const otherUrl = `${rx.origin}/ok/rotate-other`;
  await w.put(`/v1/ports/${other}/alerts`, { webhookUrl: otherUrl });
  const port = "al-rotate-bad";
  const cases = [
    [{}, 400, "missing-field", "webhookUrl"],
    [{ webhookUrl: 7 }, 400, "invalid-type", "webhookUrl"],
    [{ webhookUrl: [url] }, 400, "invalid-type", "webhookUrl"],
    [{ webhookUrl: url, overlapHours: "24" }, 400, "invalid-type", "overlapHours"],
    [{ webhookUrl: url, overlapHours: 169 }, 400, "invalid-value", "overlapHours"],
    [{ webhookUrl: url, overlapHours: 1.5 }, 400, "invalid-value", "overlapHours"],
    [{ webhookUrl: url, secret: "x" }, 400, "unknown-field", "secret"],
  ];
  for (const [body, status, code, field] of cases) {
    const res = await w.post("/v1/alerts/rotate", body);
    assert.equal(res.status, status, JSON.stringify(body));
    assert.equal(res.json.error.code, code, JSON.stringify(body));
    assert.equal(res.json.error.field, field, JSON.stringify(body));
  }
  // Unknown URL, another port's endpoint, the default's URL on a port's route: 404.
  for (const [path, body] of [
    ["/v1/alerts/rotate", { webhookUrl: `${rx.origin}/ok/nowhere` }],
    [`/v1/ports/${port}/alerts/rotate`, { webhookUrl: otherUrl }],
    [`/v1/ports/${port}/alerts/rotate`, { webhookUrl: url }],
  ]) {
    const res = await w.post(path, body);
    assert.equal(res.status, 404, `${path} ${res.text}`);
    assert.equal(res.json.error.code, "webhook-endpoint-not-found");
  }
  // A port key may not rotate.
  const key = await w.issueKey(other);
  assert.equal((await w.post(`/v1/ports/${other}/alerts/rotate`, { webhookUrl: otherUrl }, { token: key })).status, 403);
  // Nothing changed: the default still signs with its first secret only.
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  const first = await w.post(`/v1/ports/${port}/alerts/test`);
  assert.equal(first.status, 200, first.text);
  const a = rx.at("/ok/rotate-default").at(-1);
  assert.equal(signaturesOf(a.headers["x-budget-signature"]).length, 1);
  assert.ok(verifySignature(a.headers["x-budget-signature"], a.body, old));
  // An overlap of 0: the old secret stops at once.
  const rotated = await w.post("/v1/alerts/rotate", { webhookUrl: url, overlapHours: 0 });
  assert.equal(rotated.status, 200, rotated.text);
  assert.equal(rotated.json.port, undefined);
  assert.equal(rotated.json.previousSecretExpiresAt, null);
  await w.post(`/v1/ports/${port}/alerts/test`);
  const b = rx.at("/ok/rotate-default").at(-1);
  assert.ok(verifySignature(b.headers["x-budget-signature"], b.body, rotated.json.secret));
  assert.ok(!verifySignature(b.headers["x-budget-signature"], b.body, old));
  await w.put("/v1/alerts", { webhookUrl: null });
});

test("a group's soft and hard caps raise one event each per period, naming the group, to the default endpoint", async () => {
  const put = await w.put("/v1/alerts", { webhookUrl: `${rx.origin}/ok/groups` });
  assert.equal(put.status, 200, put.text);
  const saved = await w.put("/v1/groups/al-org/budget", { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 });
  assert.equal(saved.status, 200, saved.text);
  const port = "al-member";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 10_000, hardCapTokens: 10_000, parent: "al-org" });
  const events = () => rx.at("/ok/groups").map((r) => r.event).filter((e) => e.group === "al-org");
  assert.equal((await usage(port, 200, "grp-1")).status, 201);
  await eventually(() => events().length === 1, { what: "the group's soft crossing" });
  assert.equal((await usage(port, 100, "grp-2")).status, 201);
  assert.equal((await usage(port, 700, "grp-3")).status, 201);
  await eventually(() => events().length >= 2, { what: "the group's hard crossing" });
  const status = await w.get("/v1/groups/al-org/status");
  assert.equal(status.json.overSoftCap, true);
  assert.deepEqual(status.json.alertsRaised, ["soft", "hard"]);
  const [soft, hard] = events();
  assert.deepEqual([soft.type, soft.threshold, soft.cap], ["threshold-crossed", "soft", 100]);
  assert.deepEqual([hard.type, hard.threshold, hard.cap, hard.used], ["threshold-crossed", "hard", 1_000, 1_000]);
  assert.equal(soft.port, undefined, "a group's event names no port");
  assert.equal(events().length, 2, "one event per crossing: the second usage past the soft cap raised none");
  await w.put("/v1/alerts", { webhookUrl: null });
});

test("a group's own alert settings: percents of its hard cap, raised once each, to its own endpoint; bad input saves nothing", async () => {
  const group = "al-team";
  const missing = await w.put(`/v1/groups/${group}/alerts`, { thresholds: [50] });
  assert.equal(missing.status, 404, "a group without a budget has no alerts");
  assert.equal((await w.put(`/v1/groups/${group}/budget`, { enabled: true, period: "day", softCapTokens: 100, hardCapTokens: 1_000 })).status, 200);
  const put = await w.put(`/v1/groups/${group}/alerts`, { thresholds: [80, 50], webhookUrl: `${rx.origin}/ok/team` });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json.thresholds, [50, 80]);
  assert.equal(put.json.group, group);
  assert.match(put.json.secret, /^whsec_[0-9a-f]{48}$/);
  const got = await w.get(`/v1/groups/${group}/alerts`);
  assert.deepEqual([got.status, got.json.thresholds, got.json.webhookUrl], [200, [50, 80], `${rx.origin}/ok/team`]);
  assert.ok(!got.text.includes(put.json.secret), "the secret is never shown again");
  for (const [body, field] of [
    [{ thresholds: ["projected"] }, "thresholds"],
    [{ thresholds: [0] }, "thresholds[0]"],
    [{ thresholds: [50], webhookUrl: "http://plain.example.com/x" }, "webhookUrl"],
    [{ thresholds: [50], other: 1 }, "other"],
  ]) {
    const res = await w.put(`/v1/groups/${group}/alerts`, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.error.field, field, JSON.stringify(body));
  }
  assert.deepEqual((await w.get(`/v1/groups/${group}/alerts`)).json, got.json, "nothing saved");
  const port = "al-teammate";
  await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 10_000, hardCapTokens: 10_000, parent: group });
  const events = () => rx.at("/ok/team").map((r) => r.event).filter((e) => e.group === group);
  assert.equal((await usage(port, 600, "team-1")).status, 201);
  await eventually(() => events().length === 2, { what: "the group's soft and 50 % crossings" });
  assert.equal((await usage(port, 250, "team-2")).status, 201);
  await eventually(() => events().length === 3, { what: "the group's 80 % crossing" });
  assert.deepEqual(events().map((e) => String(e.threshold)).sort(), ["50", "80", "soft"]);
  assert.equal((await usage(port, 10, "team-3")).status, 201);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(events().length, 3, "each crossed once");
  const audit = await w.get(`/v1/audit?since=2000-01-01T00:00:00Z`);
  const records = (audit.json.records ?? audit.json.entries ?? []).filter((r) => r.action === `PUT /v1/groups/{group}/alerts`);
  assert.equal(records.length, 1, "one audit record for the one change that succeeded");
  assert.equal(JSON.stringify(records[0]).includes(put.json.secret), false, "no secret in the audit");
});
