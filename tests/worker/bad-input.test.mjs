// Bad input of every kind gets a 4xx with a specific code and changes
// nothing: no ledger row, no rollup count, no hold, no budget change.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, ADMIN_TOKEN, CLOCK } from "./harness.mjs";

const PORT = "badinput";
let w;
let hold;

before(async () => {
  w = await startWorker();
  await w.setBudget(PORT, { enabled: true, softCapTokens: 500, hardCapTokens: 1000, period: "month" });
  await w.post(`/v1/ports/${PORT}/usage`, {
    feature: "ocr", provider: "openai", model: "m", inputTokens: 10, outputTokens: 5, requestId: "known",
  });
  hold = (await w.post(`/v1/ports/${PORT}/reservations`, { estimatedTokens: 100, requestId: "held-1" })).json;
});
after(async () => {
  await w?.dispose();
});

async function state() {
  const gate = await w.synced(PORT);
  return {
    gate: { usage: gate.usageByPeriod, pending: gate.pendingLedgerRows },
    ledger: await w.sql("SELECT request_id, total_tokens, created_at FROM usage_ledger ORDER BY id"),
    rollup: await w.sql("SELECT * FROM usage_rollup ORDER BY port_id, period, period_start, feature"),
    holds: await w.holds(PORT),
    budget: (await w.get(`/v1/ports/${PORT}/budget`)).json,
  };
}

const good = {
  usage: { feature: "ocr", provider: "openai", model: "m", inputTokens: 1, outputTokens: 1 },
  commit: { provider: "openai", model: "m", inputTokens: 1, outputTokens: 1 },
};

/** [title, method, path, body (object or raw string), status, code] */
function cases() {
  const check = `/v1/ports/${PORT}/check`;
  const reserve = `/v1/ports/${PORT}/reservations`;
  const usage = `/v1/ports/${PORT}/usage`;
  const commit = `/v1/ports/${PORT}/reservations/${hold.id}/commit`;
  const tokenCases = (path, field, base) => [
    [`${path} negative ${field}`, "POST", path, { ...base, [field]: -1 }, 400, "negative-tokens"],
    [`${path} fractional ${field}`, "POST", path, { ...base, [field]: 1.5 }, 400, "fractional-tokens"],
    [`${path} huge ${field}`, "POST", path, { ...base, [field]: 2 ** 53 }, 400, "too-many-tokens"],
    [`${path} astronomically huge ${field}`, "POST", path, { ...base, [field]: 1e300 }, 400, "too-many-tokens"],
    [`${path} missing ${field}`, "POST", path, Object.fromEntries(Object.entries(base).filter(([k]) => k !== field)), 400, "missing-field"],
    [`${path} null ${field}`, "POST", path, { ...base, [field]: null }, 400, "missing-field"],
    [`${path} string ${field}`, "POST", path, { ...base, [field]: "10" }, 400, "invalid-type"],
    [`${path} boolean ${field}`, "POST", path, { ...base, [field]: true }, 400, "invalid-type"],
    [`${path} array ${field}`, "POST", path, { ...base, [field]: [1] }, 400, "invalid-type"],
  ];
  return [
    ...tokenCases(check, "estimatedTokens", { estimatedTokens: 1 }),
    ...tokenCases(reserve, "estimatedTokens", { estimatedTokens: 1 }),
    ...tokenCases(usage, "inputTokens", good.usage),
    ...tokenCases(usage, "outputTokens", good.usage),
    ...tokenCases(commit, "inputTokens", good.commit),
    ...tokenCases(commit, "outputTokens", good.commit),
    ["input + output above 2^53 - 1", "POST", usage, { ...good.usage, inputTokens: 2 ** 52, outputTokens: 2 ** 52 }, 400, "too-many-tokens"],
    ["malformed JSON", "POST", usage, "{\"feature\": ", 400, "invalid-json"],
    ["a body that is not an object", "POST", reserve, "[1, 2]", 400, "invalid-type"],
    ["a body that is a number", "POST", check, "42", 400, "invalid-type"],
    ["an unknown field", "POST", reserve, { estimatedTokens: 1, estimatedTokenz: 2 }, 400, "unknown-field"],
    ["an empty feature", "POST", usage, { ...good.usage, feature: "" }, 400, "invalid-value"],
    ["a feature with a control character", "POST", usage, { ...good.usage, feature: "a\nb" }, 400, "invalid-value"],
    ["a too long model", "POST", usage, { ...good.usage, model: "m".repeat(129) }, 400, "invalid-value"],
    ["a numeric provider", "POST", usage, { ...good.usage, provider: 7 }, 400, "invalid-type"],
    ["a missing provider", "POST", usage, { feature: "ocr", model: "m", inputTokens: 1, outputTokens: 1 }, 400, "missing-field"],
    ["a bad requestId", "POST", usage, { ...good.usage, requestId: "has space" }, 400, "invalid-request-id"],
    ["a numeric requestId", "POST", usage, { ...good.usage, requestId: 12 }, 400, "invalid-type"],
    ["an unparsable occurredAt", "POST", usage, { ...good.usage, occurredAt: "yesterday" }, 400, "invalid-instant"],
    ["an occurredAt without zone", "POST", usage, { ...good.usage, occurredAt: "2026-01-01T00:00:00" }, 400, "invalid-instant"],
    ["a future occurredAt", "POST", usage, { ...good.usage, occurredAt: CLOCK.ms + 3_600_000 }, 400, "occurred-in-future"],
    ["a zero ttlSeconds", "POST", reserve, { estimatedTokens: 1, ttlSeconds: 0 }, 400, "invalid-value"],
    ["a too long ttlSeconds", "POST", reserve, { estimatedTokens: 1, ttlSeconds: 86400 }, 400, "invalid-value"],
    ["a negative ttlSeconds", "POST", reserve, { estimatedTokens: 1, ttlSeconds: -5 }, 400, "invalid-value"],
    ["a fractional ttlSeconds", "POST", reserve, { estimatedTokens: 1, ttlSeconds: 1.5 }, 400, "invalid-value"],
    ["a string ttlSeconds", "POST", reserve, { estimatedTokens: 1, ttlSeconds: "60" }, 400, "invalid-type"],
    ["an unknown period", "PUT", `/v1/ports/${PORT}/budget`, { period: "year" }, 400, "unknown-period"],
    ["a negative cap", "PUT", `/v1/ports/${PORT}/budget`, { softCapTokens: -5 }, 400, "negative-tokens"],
    ["a string cap", "PUT", `/v1/ports/${PORT}/budget`, { hardCapTokens: "1000" }, 400, "invalid-type"],
    ["an oversized body", "POST", usage, JSON.stringify({ ...good.usage, userId: "u", pad: "x".repeat(70_000) }), 413, "body-too-large"],
    ["an oversized budget body", "PUT", `/v1/ports/${PORT}/budget`, " ".repeat(65 * 1024) + "{}", 413, "body-too-large"],
    ["a commit of an unknown reservation", "POST", `/v1/ports/${PORT}/reservations/rsv_nope/commit`, good.commit, 404, "reservation-not-found"],
    ["a release of an unknown reservation", "POST", `/v1/ports/${PORT}/reservations/rsv_nope/release`, undefined, 404, "reservation-not-found"],
    ["another port's reservation", "POST", `/v1/ports/other/reservations/${hold.id}/commit`, good.commit, 404, "reservation-not-found"],
    ["a reused requestId with another body", "POST", usage, { ...good.usage, requestId: "known" }, 409, "request-id-conflict"],
    ["a reused reservation requestId with another estimate", "POST", reserve, { estimatedTokens: 99, requestId: "held-1" }, 409, "request-id-conflict"],
    ["an invalid port id", "POST", "/v1/ports/bad port/usage", good.usage, 400, "invalid-port"],
    ["a feature with a right-to-left override", "POST", usage, { ...good.usage, feature: "\u202Efdp.exe" }, 400, "invalid-value"],
    ["a userId with a zero-width space", "POST", usage, { ...good.usage, userId: "ad\u200Bmin" }, 400, "invalid-value"],
    ["a model with a bidi isolate", "POST", usage, { ...good.usage, model: "gpt\u2067x" }, 400, "invalid-value"],
    ["a provider with a byte order mark", "POST", `/v1/ports/${PORT}/reservations/${hold.id}/commit`, { ...good.commit, provider: "\uFEFFopenai" }, 400, "invalid-value"],
    ["a reservation feature with a left-to-right mark", "POST", reserve, { estimatedTokens: 1, feature: "chat\u200E" }, 400, "invalid-value"],
  ];
}

test("every kind of bad input gets a specific 4xx code and changes nothing", async () => {
  const before = await state();
  for (const [title, method, path, body, status, code] of cases()) {
    const raw = typeof body === "string" ? body : undefined;
    const res = await w.request(method, path, raw !== undefined ? { raw, headers: { "content-type": "application/json" } } : { body });
    assert.equal(res.status, status, `${title}: ${res.text}`);
    assert.equal(res.json?.error?.code, code, `${title}: ${res.text}`);
    assert.equal(typeof res.json.error.message, "string", title);
  }
  assert.deepEqual(await state(), before);
});

test("whole numbers follow one rule everywhere: 60, 60.0 and 6e1 are the same ttlSeconds, as they are the same token count", async () => {
  const port = "whole-numbers";
  for (const [i, [ttl, estimate]] of [["60", "1"], ["60.0", "1.0"], ["6e1", "1e0"]].entries()) {
    const raw = `{"estimatedTokens": ${estimate}, "ttlSeconds": ${ttl}, "requestId": "w${i}"}`;
    const res = await w.request("POST", `/v1/ports/${port}/reservations`, { raw, headers: { "content-type": "application/json" } });
    assert.equal(res.status, 201, `${raw}: ${res.text}`);
    assert.equal(Date.parse(res.json.expiresAt) - Date.parse(res.json.createdAt), 60_000, raw);
    assert.equal(res.json.estimatedTokens, 1, raw);
  }
});

test("a field-level error names the field", async () => {
  const res = await w.post(`/v1/ports/${PORT}/reservations`, { estimatedTokens: -3 });
  assert.equal(res.json.error.field, "estimatedTokens");
  assert.equal(res.json.error.message, "estimatedTokens must be non-negative");
});

test("a body sent without Content-Length is still capped at 64 KiB: 413, nothing counted", async () => {
  const port = "chunked";
  const chunk = new TextEncoder().encode(" ".repeat(16 * 1024));
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent++ < 6) controller.enqueue(chunk);
      else {
        controller.enqueue(new TextEncoder().encode(JSON.stringify({ feature: "f", provider: "p", model: "m", inputTokens: 1, outputTokens: 1 })));
        controller.close();
      }
    },
  });
  const res = await w.mf.dispatchFetch(`http://localhost/v1/ports/${port}/usage`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body,
    duplex: "half",
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.code, "body-too-large");
  const [ledger] = await w.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
  assert.equal(ledger.n, 0);
  // The same stream under the limit is read whole and counted.
  const small = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(JSON.stringify({ feature: "f", provider: "p", model: "m", inputTokens: 1, outputTokens: 1 })));
      controller.close();
    },
  });
  const ok = await w.mf.dispatchFetch(`http://localhost/v1/ports/${port}/usage`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: small,
    duplex: "half",
  });
  assert.equal(ok.status, 201);
});
