// When the call goes wrong: upstream errors release the hold; timeouts,
// aborted, truncated or malformed answers are charged by the documented rule
// (the held estimate, with the provider's own input count when it was already
// reported); nothing stays held and nothing is counted twice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, logged, ledger, reservations, OPENAI_KEY, ANTHROPIC_KEY, CLOCK_HEADERS } from "./harness.mjs";
import { sleep } from "./fake-upstream.mjs";

let g;
before(async () => {
  g = await startGateway({ vars: { GATEWAY_UPSTREAM_TIMEOUT_MS: "700", FAULT_INJECTION: "on" } });
});
after(async () => {
  await g?.stop();
});

async function port(name) {
  const key = await openPort(g.worker, name);
  return {
    openai: new OpenAI({ apiKey: key, baseURL: g.openaiURL(name), maxRetries: 0, defaultHeaders: CLOCK_HEADERS }),
    anthropic: new Anthropic({ apiKey: key, baseURL: g.anthropicURL(name), maxRetries: 0, defaultHeaders: CLOCK_HEADERS }),
  };
}

/** The port's one reservation, once settled, and its ledger; the rollup agrees with the ledger. */
async function outcome(name) {
  await settled(g.worker, name);
  const holds = await reservations(g.worker, name);
  const rows = await ledger(g.worker, name);
  const { ledger: sum, rollup } = await g.worker.consistency(name);
  for (const r of rollup) assert.equal(r.tokens, sum.tokens, "the rollup equals the ledger");
  return { holds, rows };
}

const leaks = (text) => text.includes(OPENAI_KEY) || text.includes(ANTHROPIC_KEY);

test("an upstream error is passed through, its hold released, nothing counted, and the provider key scrubbed from it", async () => {
  const { openai, anthropic } = await port("upstream-500");
  const e1 = await openai.chat.completions.create({ model: "gpt-test?status=500", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(e1 instanceof OpenAI.InternalServerError, `got ${e1}`);
  assert.match(e1.message, /fake upstream error 500 for key \[redacted\]/);
  const e2 = await anthropic.messages.create({ model: "claude?status=429", max_tokens: 9, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(e2 instanceof Anthropic.RateLimitError, "the provider's own 429 passes through");
  assert.ok(!leaks(e1.message + JSON.stringify(e2.error)));
  const { holds, rows } = await outcome("upstream-500");
  assert.deepEqual(holds.map((h) => h.state), ["released", "released"]);
  assert.deepEqual(rows, []);
});

test("an SDK retrying a failed call with the same Idempotency-Key gets a fresh hold per attempt", async () => {
  const { openai } = await port("retried");
  const client = openai.withOptions({ maxRetries: 2 });
  const err = await client.chat.completions
    .create({ model: "gpt-test?status=503", messages: [{ role: "user", content: "x" }] }, { headers: { "Idempotency-Key": "call-42" } })
    .catch((e) => e);
  assert.equal(err.status, 503);
  await client.chat.completions.create({ model: "gpt-test?in=3&out=2", messages: [{ role: "user", content: "x" }] }, { headers: { "Idempotency-Key": "call-43" } });
  const { holds, rows } = await outcome("retried");
  assert.deepEqual(
    holds.map((h) => [h.request_id, h.state]),
    [["call-42", "released"], ["call-42 #2", "released"], ["call-42 #3", "released"], ["call-43", "committed"]],
  );
  assert.deepEqual(rows.map((r) => [r.request_id, r.total_tokens]), [["call-43", 5]]);
});

test("a client's key that looks like another key's retry never blocks that key's own retry", async () => {
  const { openai } = await port("key-namespace");
  const body = (model) => ({ model, messages: [{ role: "user", content: "x" }] });
  const key = (k) => ({ headers: { "Idempotency-Key": k } });
  await openai.chat.completions.create(body("gpt-test?in=1&out=1"), key("idem~2"));
  await openai.chat.completions.create(body("gpt-test?in=2&out=1"), key("idem #2")).then(
    () => assert.fail("a key with a space is malformed"),
    (e) => assert.equal(e.status, 400),
  );
  const failed = await openai.chat.completions.create(body("gpt-test?status=500"), key("idem")).catch((e) => e);
  assert.equal(failed.status, 500);
  const retry = await openai.chat.completions.create(body("gpt-test?status=500"), key("idem")).catch((e) => e);
  assert.equal(retry.status, 500, "the retry reached the upstream: no 409 idempotency_key_conflict");
  const { holds, rows } = await outcome("key-namespace");
  assert.deepEqual(holds.map((h) => [h.request_id, h.state]), [["idem~2", "committed"], ["idem", "released"], ["idem #2", "released"]]);
  assert.deepEqual(rows.map((r) => r.request_id), ["idem~2"]);
});

test("a second call with the Idempotency-Key of a call still in flight is refused with 409", async () => {
  const { openai } = await port("in-flight");
  const first = await openai.chat.completions.create(
    { model: "gpt-test?out=30&chunkDelay=20", max_tokens: 40, stream: true, messages: [{ role: "user", content: "x" }] },
    { headers: { "Idempotency-Key": "once-only" } },
  );
  const second = await openai.chat.completions
    .create({ model: "gpt-test?out=30&chunkDelay=20", max_tokens: 40, stream: true, messages: [{ role: "user", content: "x" }] }, { headers: { "Idempotency-Key": "once-only" } })
    .catch((e) => e);
  assert.equal(second.status, 409);
  assert.match(second.message, /still in flight/);
  for await (const _ of first);
  const { holds, rows } = await outcome("in-flight");
  assert.deepEqual(holds.map((h) => [h.request_id, h.state]), [["once-only", "committed"]]);
  assert.deepEqual(rows.map((r) => r.output_tokens), [30], "counted once, for the call that ran");
});

test("a hold whose reply was lost and whose retry found it is the call's own: the call goes through, counted once", async () => {
  const { openai } = await port("lost-reserve-reply");
  const sent = g.upstream.requests.length;
  const res = await openai.chat.completions.create(
    { model: "gpt-test?in=7&out=3", max_tokens: 10, messages: [{ role: "user", content: "x" }] },
    { headers: { "x-fault": "d1.reserve:after-once", "Idempotency-Key": "lost-reply-1" } },
  );
  assert.deepEqual(res.usage, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  assert.equal(g.upstream.requests.length, sent + 1, "forwarded once");
  const { holds, rows } = await outcome("lost-reserve-reply");
  assert.deepEqual(holds.map((h) => [h.request_id, h.state]), [["lost-reply-1", "committed"]]);
  assert.deepEqual(rows.map((r) => [r.request_id, r.input_tokens, r.output_tokens]), [["lost-reply-1", 7, 3]]);
});

test("a commit whose reply was lost is retried and counted once", async () => {
  const { anthropic } = await port("lost-commit-reply");
  await anthropic.messages.create(
    { model: "claude-test?in=9&out=4", max_tokens: 10, messages: [{ role: "user", content: "x" }] },
    { headers: { "x-fault": "d1.commit:after-once" } },
  );
  const { holds, rows } = await outcome("lost-commit-reply");
  assert.deepEqual(holds.map((h) => h.state), ["committed"]);
  assert.deepEqual(rows.map((r) => [r.input_tokens, r.output_tokens]), [[9, 4]]);
});

test("an upstream's redirect is not followed: the prompt goes nowhere else, the client gets a 502 and nothing is charged", async () => {
  const { openai, anthropic } = await port("redirected");
  for (const status of [301, 302, 307, 308]) {
    const err = await openai.chat.completions.create({ model: `gpt-test?redirect=${status}`, messages: [{ role: "user", content: "secret prompt" }] }).catch((e) => e);
    assert.equal(err.status, 502, `${status}: ${err}`);
    assert.equal(err.code, "upstream_redirect");
  }
  const err = await anthropic.messages.create({ model: "claude?redirect=307", max_tokens: 9, messages: [{ role: "user", content: "secret prompt" }] }).catch((e) => e);
  assert.equal(err.status, 502);
  assert.deepEqual(g.upstream.elsewhere.requests, [], "nothing reached the other origin");
  const { holds, rows } = await outcome("redirected");
  assert.deepEqual(holds.map((h) => h.state), ["released", "released", "released", "released", "released"]);
  assert.deepEqual(rows, []);
});

test("an upstream that does not answer in time gets a 504, and its hold is released", async () => {
  const { openai } = await port("slow");
  const err = await openai.chat.completions.create({ model: "gpt-test?delay=3000", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(err instanceof OpenAI.APIError, `got ${err}`);
  assert.equal(err.status, 504);
  assert.equal(err.code, "upstream_timeout");
  assert.match(err.message, /did not answer within 700 ms/);
  const { holds, rows } = await outcome("slow");
  assert.deepEqual(holds.map((h) => h.state), ["released"]);
  assert.deepEqual(rows, []);
});

test("a malformed upstream answer gets a clear 502 and is charged its estimate", async () => {
  const { openai, anthropic } = await port("malformed");
  const e1 = await openai.chat.completions.create({ model: "gpt-test?malformed=1", max_tokens: 40, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.equal(e1.status, 502);
  assert.match(e1.message, /charged its estimate/);
  const e2 = await anthropic.messages.create({ model: "claude?nousage=1", max_tokens: 40, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.equal(e2.status, 502);
  assert.match(e2.message, /without readable usage/);
  const { holds, rows } = await outcome("malformed");
  assert.deepEqual(holds.map((h) => h.state), ["committed", "committed"]);
  assert.deepEqual(holds.map((h) => h.actual_tokens), holds.map((h) => h.estimated_tokens));
  assert.equal(rows.length, 2);
});

test("an OpenAI stream that ends without its usage chunk is charged its estimate", async () => {
  const { openai } = await port("truncated-openai");
  const stream = await openai.chat.completions.create({ model: "gpt-test?truncate=3", max_tokens: 30, stream: true, messages: [{ role: "user", content: "x" }] });
  let n = 0;
  for await (const _ of stream) n++;
  assert.equal(n, 3);
  const { holds, rows } = await outcome("truncated-openai");
  assert.equal(holds[0].state, "committed");
  assert.equal(holds[0].actual_tokens, holds[0].estimated_tokens);
  assert.deepEqual(rows.map((r) => r.output_tokens), [30]);
});

test("an Anthropic stream cut after message_start is charged the reported input plus the output bound", async () => {
  const { anthropic } = await port("truncated-anthropic");
  const stream = await anthropic.messages.create({ model: "claude?in=21&truncate=4", max_tokens: 50, stream: true, messages: [{ role: "user", content: "x" }] });
  const types = [];
  for await (const e of stream) types.push(e.type);
  assert.ok(!types.includes("message_stop"), "the client saw the stream end early");
  const { rows } = await outcome("truncated-anthropic");
  assert.deepEqual(rows.map((r) => [r.input_tokens, r.output_tokens]), [[21, 50]]);
});

test("a broken-off stream whose upstream claimed a huge input is charged no more than its hold, and never crosses the hard cap", async () => {
  const name = "lying-upstream";
  const key = await openPort(g.worker, name, { softCapTokens: 5_000, hardCapTokens: 5_000 });
  const anthropic = new Anthropic({ apiKey: key, baseURL: g.anthropicURL(name), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
  const stream = await anthropic.messages.create({ model: "claude?in=1000000000&truncate=2", max_tokens: 20, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of stream);
  const { holds, rows } = await outcome(name);
  assert.equal(holds.length, 1);
  const [row] = rows;
  assert.equal(row.total_tokens, holds[0].estimated_tokens, "charged exactly its hold");
  assert.equal(row.output_tokens, 20, "the output bound that was held");
  assert.ok(row.total_tokens <= 5_000, `${row.total_tokens} crosses the hard cap`);
});

test("a client that goes away mid-stream is charged by the rule, and the upstream call is cancelled", async () => {
  const { openai, anthropic } = await port("abandoned");
  const before = g.upstream.streams.length;
  const s1 = await openai.chat.completions.create({ model: "gpt-test?out=50&chunkDelay=20", max_tokens: 60, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of s1) {
    s1.controller.abort();
    break;
  }
  const s2 = await anthropic.messages.create({ model: "claude?in=17&out=50&chunkDelay=20", max_tokens: 60, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const e of s2) {
    if (e.type === "content_block_start") {
      s2.controller.abort();
      break;
    }
  }
  const { holds, rows } = await outcome("abandoned");
  assert.deepEqual(holds.map((h) => h.state), ["committed", "committed"]);
  assert.equal(holds[0].actual_tokens, holds[0].estimated_tokens, "OpenAI: no usage seen, the estimate");
  assert.deepEqual([rows[1].input_tokens, rows[1].output_tokens], [17, 60], "Anthropic: reported input plus the bound");
  const streams = g.upstream.streams.slice(before);
  for (let i = 0; i < 50 && !streams.every((s) => s.clientGone); i++) await sleep(20);
  assert.deepEqual(streams, [{ finished: false, clientGone: true }, { finished: false, clientGone: true }], "the upstream calls were cut off");
});

test("an upstream stream that goes silent is cut at the timeout and charged by the rule", async () => {
  const { openai } = await port("silent");
  const stream = await openai.chat.completions.create({ model: "gpt-test?hang=2", max_tokens: 25, stream: true, messages: [{ role: "user", content: "x" }] });
  let n = 0;
  try {
    for await (const _ of stream) n++;
  } catch {
    // The runtime may end the cut stream cleanly or as a network error.
  }
  assert.equal(n, 2, "the chunks before the silence arrived");
  const { holds, rows } = await outcome("silent");
  assert.deepEqual(holds.map((h) => h.state), ["committed"]);
  assert.equal(holds[0].actual_tokens, holds[0].estimated_tokens);
  assert.deepEqual(rows.map((r) => r.output_tokens), [25], "charged the output bound it held");
  assert.ok(await logged(g.logs, /stream of \S+ on port silent cut after going silent without usage/), "the gateway logged the cut");
});

test("the provider keys appear in no log line", async () => {
  if (process.env.GATEWAY_TEST_LOGS) console.log(g.logs.filter((l) => l.includes("gateway")).join("\n"));
  // Positive control: the capture holds the gateway's own warning about the
  // truncated stream earlier in this run, so a capture that broke fails here.
  assert.ok(await logged(g.logs, /gateway: stream of \S+ on port truncated-openai finished without usage/), "the gateway's log lines were captured");
  const text = g.logs.join("\n");
  assert.ok(!leaks(text));
});

test("with D1 down, gated calls still hold, answer and count (no D1 on a call's path); D1 catches up once back", async () => {
  const name = "d1-down";
  const { openai } = await port(name);
  // The port's gate is told D1 is down: every D1 call it makes fails.
  await g.worker.post(`/v1/ports/${name}/check`, { estimatedTokens: 1 }, { headers: { "x-fault": "d1:down" } });
  for (let i = 0; i < 5; i++) {
    const res = await openai.chat.completions.create({ model: `gpt-test?in=${10 + i}&out=2`, messages: [{ role: "user", content: "x" }] });
    assert.equal(res.usage.prompt_tokens, 10 + i);
  }
  const stream = await openai.chat.completions.create({ model: "gpt-test?in=7&out=3", stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of stream);
  // Settled in the gate, not yet in D1.
  const deadline = Date.now() + 5000;
  let status;
  do {
    status = await g.worker.synced(name);
  } while (status.pendingLedgerRows < 6 && Date.now() < deadline);
  assert.equal(status.pendingLedgerRows, 6);
  assert.equal(status.usage.usedTokens, 10 + 11 + 12 + 13 + 14 + 5 * 2 + 10);
  assert.equal((await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", name))[0].n, 0);
  await g.worker.post(`/v1/ports/${name}/check`, { estimatedTokens: 1 }, { headers: { "x-fault": "d1:up" } });
  const { rows } = await outcome(name);
  assert.equal(rows.length, 6);
  assert.equal(rows.reduce((s, r) => s + r.total_tokens, 0), status.usage.usedTokens);
});
