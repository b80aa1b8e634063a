// Credits, temporary raises and rollover in workerd: judged inside the
// port's object in the same turn as each reservation, so concurrent calls
// across the cap/credit boundary are granted exactly what the cap plus the
// credits allow; a raise binds at its end; a hold keeps what it drew from
// a credit that expires before its commit; the rollover is recorded once,
// at the period's end, by the object's alarm.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, CLOCK } from "./harness.mjs";
import { windows } from "../clock.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.dispose();
});

const at = (ms) => ({ headers: { "x-now": new Date(ms).toISOString() } });
const iso = (ms) => new Date(ms).toISOString();
/** The ledger's credit parts per credit id, read from D1's funded_by. */
function creditParts(rows) {
  const parts = {};
  for (const { funded_by } of rows) {
    for (const part of (funded_by ?? "").split(",").filter(Boolean)) {
      const [source, amount] = part.split(":");
      parts[source] = (parts[source] ?? 0) + Number(amount);
    }
  }
  return parts;
}

test("200 concurrent reservations across the cap/credit boundary are granted exactly what the cap plus the credits allow", async () => {
  const port = "credit-burst";
  await w.setBudget(port, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day" });
  const end = windows(CLOCK.ms).day.end;
  const soon = await w.post(`/v1/ports/${port}/credits`, { amount: 500, expiresAt: iso(end + 86_400_000), requestId: "grant-soon" });
  assert.equal(soon.status, 201, soon.text);
  const late = await w.post(`/v1/ports/${port}/credits`, { amount: 350, note: "prepaid", requestId: "grant-late" });
  assert.equal(late.status, 201, late.text);
  assert.deepEqual([late.json.room.effectiveCap, late.json.room.creditsLeft], [1000, 850]);
  const answers = await Promise.all(
    Array.from({ length: 200 }, (_, i) => w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10, requestId: `burst-${i}` })),
  );
  const held = answers.filter((a) => a.status === 201);
  const refused = answers.filter((a) => a.status === 429);
  assert.equal(held.length + refused.length, 200, answers.find((a) => a.status !== 201 && a.status !== 429)?.text);
  assert.equal(held.length, 185, "1000 of the cap and 850 of credits, 10 at a time");
  const room = refused[0].json.room;
  assert.deepEqual([room.cap, room.effectiveCap, room.creditsLeft], [1000, 1000, 0], "a refusal says where the room came from");
  const listed = await w.get(`/v1/ports/${port}/credits`);
  assert.deepEqual(
    listed.json.credits.map((c) => [c.id, c.spent, c.left]),
    [
      [soon.json.credit.id, 500, 0],
      [late.json.credit.id, 350, 0],
    ],
    "soonest-expiring first, each spent once",
  );
  await Promise.all(held.map((h) => w.post(`/v1/ports/${port}/reservations/${h.json.id}/commit`, { provider: "p", model: "m", inputTokens: 10, outputTokens: 0 })));
  assert.equal((await w.synced(port)).pendingLedgerRows, 0);
  const rows = await w.sql("SELECT funded_by FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(rows.length, 185);
  assert.deepEqual(creditParts(rows), { [soon.json.credit.id]: 500, [late.json.credit.id]: 350 }, "the ledger says what funded each row");
  const csv = await w.get(`/v1/ports/${port}/ledger?format=csv&limit=500`);
  const [header, ...lines] = csv.text.trim().split("\n");
  assert.ok(header.endsWith(",fundedBy"));
  // The last field of each line: "cap", or the sources quoted (they hold commas).
  const funded = lines.map((l) => (l.endsWith('"') ? l.slice(l.lastIndexOf(',"') + 2, -1) : l.slice(l.lastIndexOf(",") + 1)));
  assert.equal(funded.filter((f) => f === "cap").length, 100, "a hundred rows the cap alone funded");
  assert.deepEqual(creditParts(funded.filter((f) => f !== "cap").map((funded_by) => ({ funded_by }))), creditParts(rows), "the CSV carries what D1 has");
});

test("a raise that ends mid-burst: holds granted stay, new ones are judged on the cap in force", async () => {
  const port = "raise-burst";
  await w.setBudget(port, { enabled: true, softCapTokens: 100, hardCapTokens: 100, period: "month" });
  const ends = CLOCK.ms + 60_000;
  const raise = await w.post(`/v1/ports/${port}/raises`, { extra: 400, endsAt: iso(ends), note: "launch", requestId: "launch" });
  assert.equal(raise.status, 201, raise.text);
  assert.equal(raise.json.room.effectiveCap, 500);
  const send = (i, when) => w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10, ttlSeconds: 3600, requestId: `r-${i}` }, at(when));
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? send(i, ends + 1) : send(i, ends - 1))));
  const granted = (odd) => answers.filter((a, i) => i % 2 === odd && a.status === 201).length;
  assert.equal(granted(0) + granted(1), 50, "500 held in all: 60 calls before the end could not all fit");
  assert.ok(granted(1) <= 10, "after its end no more than the cap of 100 was granted");
  const after = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 }, at(ends + 2));
  assert.equal(after.status, 429);
  assert.deepEqual([after.json.room.raises, after.json.room.effectiveCap], [0, 100]);
  assert.equal((await w.holds(port, { all: false })).length, 50, "every hold granted stays");
  const listed = await w.get(`/v1/ports/${port}/raises`, at(ends + 3));
  assert.deepEqual(listed.json.raises.map((r) => [r.extra, r.inForce, r.note]), [[400, false, "launch"]]);
});

test("a credit that expires between a hold and its commit: the hold keeps what it took", async () => {
  const port = "credit-expiry";
  await w.setBudget(port, { enabled: true, softCapTokens: 0, hardCapTokens: 0, period: "month" });
  const expires = CLOCK.ms + 60_000;
  const grant = await w.post(`/v1/ports/${port}/credits`, { amount: 100, expiresAt: iso(expires), requestId: "g" });
  assert.equal(grant.status, 201);
  const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 80, ttlSeconds: 3600 });
  assert.equal(hold.status, 201, hold.text);
  const later = at(expires + 60_000);
  const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 80, outputTokens: 0 }, later);
  assert.equal(commit.status, 200, commit.text);
  const listed = await w.get(`/v1/ports/${port}/credits`, later);
  const [c] = listed.json.credits;
  assert.deepEqual([c.spent, c.left, c.expired], [80, 0, true]);
  const refused = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 1 }, later);
  assert.equal(refused.status, 429);
  await w.synced(port);
  const [row] = await w.sql("SELECT funded_by, total_tokens FROM usage_ledger WHERE port_id = ?", port);
  assert.deepEqual(row, { funded_by: `${c.id}:80`, total_tokens: 80 });
});

test("the rollover is recorded once at the period's end by the object's alarm, with no request at that instant", async () => {
  const port = "rollover-alarm";
  const end = windows(CLOCK.ms).day.end;
  const before = at(end - 2500);
  const saved = await w.put(`/v1/ports/${port}/budget`, { enabled: true, softCapTokens: 1000, hardCapTokens: 1000, period: "day", rollover: { max: 300 } }, before);
  assert.equal(saved.status, 200, saved.text);
  assert.deepEqual(saved.json.rollover, { max: 300 });
  const used = await w.post(`/v1/ports/${port}/usage`, { feature: "f", provider: "p", model: "m", inputTokens: 900, outputTokens: 0, requestId: "u1" }, before);
  assert.equal(used.status, 201, used.text);
  // No request reaches the port now: only its alarm, at the day's end.
  await new Promise((r) => setTimeout(r, 5000));
  const next = end + 3_600_000;
  const status = await w.get(`/v1/ports/${port}/status`, at(next));
  const room = status.json.room;
  assert.deepEqual([room.rollover, room.effectiveCap], [100, 1100]);
  const recorded = Date.parse(room.rolloverRecordedAt);
  assert.ok(recorded >= end && recorded < next, `recorded by the alarm at the day's end, not by this request: ${room.rolloverRecordedAt}`);
  // A late write into yesterday does not recompute it.
  const late = await w.post(`/v1/ports/${port}/usage`, { feature: "f", provider: "p", model: "m", inputTokens: 50, outputTokens: 0, requestId: "late", occurredAt: iso(end - 1000) }, at(next + 1000));
  assert.equal(late.status, 201, late.text);
  const again = await w.get(`/v1/ports/${port}/status`, at(next + 2000));
  assert.deepEqual([again.json.room.rollover, again.json.room.rolloverRecordedAt], [100, room.rolloverRecordedAt]);
});

test("bad input is refused with a code and the field, nothing written; a port key reads its own credits and raises but writes none", async () => {
  const port = "credit-input";
  await w.setBudget(port, { enabled: true, softCapTokens: 10, hardCapTokens: 10, period: "day" });
  const cases = [
    [{ amount: -1 }, "negative-tokens", "amount"],
    [{ amount: 0 }, "invalid-value", "amount"],
    [{ amount: 2.5 }, "fractional-tokens", "amount"],
    [{ amount: 2 ** 53 }, "too-many-tokens", "amount"],
    [{}, "missing-field", "amount"],
    [{ amount: "5" }, "invalid-type", "amount"],
    [{ amount: 5, unit: "usd" }, "invalid-value", "unit"],
    [{ amount: 5, expiresAt: iso(CLOCK.ms - 1000) }, "invalid-instant", "expiresAt"],
    [{ amount: 5, colour: "red" }, "unknown-field", "colour"],
  ];
  for (const [body, code, field] of cases) {
    const res = await w.post(`/v1/ports/${port}/credits`, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(body));
  }
  const raises = [
    [{ extra: 5 }, "missing-field", "endsAt"],
    [{ extra: 5, endsAt: iso(CLOCK.ms - 1000) }, "invalid-instant", "endsAt"],
    [{ extra: 5, startsAt: iso(CLOCK.ms + 7_200_000), endsAt: iso(CLOCK.ms + 3_600_000) }, "invalid-instant", "endsAt"],
    [{ extra: 5, endsAt: iso(CLOCK.ms + 400 * 86_400_000) }, "invalid-instant", "endsAt"],
    [{ extra: 0, endsAt: iso(CLOCK.ms + 3_600_000) }, "invalid-value", "extra"],
  ];
  for (const [body, code, field] of raises) {
    const res = await w.post(`/v1/ports/${port}/raises`, body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.deepEqual([res.json.error.code, res.json.error.field], [code, field], JSON.stringify(body));
  }
  assert.equal((await w.delete(`/v1/ports/${port}/credits/cr_unknown`)).status, 404);
  assert.equal((await w.delete(`/v1/ports/${port}/raises/rz_unknown`)).status, 404);
  const key = await w.issueKey(port);
  assert.equal((await w.post(`/v1/ports/${port}/credits`, { amount: 5 }, { token: key })).status, 403);
  assert.equal((await w.post(`/v1/ports/${port}/raises`, { extra: 5, endsAt: iso(CLOCK.ms + 3_600_000) }, { token: key })).status, 403);
  const own = await w.get(`/v1/ports/${port}/credits`, { token: key });
  assert.equal(own.status, 200);
  assert.deepEqual(own.json.credits, [], "nothing was written");
  assert.deepEqual((await w.get(`/v1/ports/${port}/raises`, { token: key })).json.raises, []);
  assert.equal((await w.get(`/v1/ports/other/credits`, { token: key })).status, 403);
});
