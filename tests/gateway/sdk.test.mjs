// The official SDKs pointed at the gateway: plain and streaming calls go
// through unchanged, and the ledger holds exactly the usage the upstream
// reported, attributed to the right port, feature, user, provider and model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, logged, ledger, reservations, OPENAI_KEY, ANTHROPIC_KEY, CLOCK_HEADERS, CLOCK } from "./harness.mjs";

let g;
let key;
const PORT = "acme";
before(async () => {
  g = await startGateway({ vars: { GATEWAY_DEFAULT_MAX_TOKENS: "300" } });
  key = await openPort(g.worker, PORT, { softCapTokens: 100_000, hardCapTokens: 1_000_000 });
});
after(async () => {
  await g?.stop();
});

const openai = (extra = {}) => new OpenAI({ apiKey: key, baseURL: g.openaiURL(PORT), maxRetries: 0, defaultHeaders: CLOCK_HEADERS, ...extra });
const anthropic = (extra = {}) => new Anthropic({ apiKey: key, baseURL: g.anthropicURL(PORT), maxRetries: 0, defaultHeaders: CLOCK_HEADERS, ...extra });
const attribution = (feature, user, requestId) => ({
  headers: { "x-budget-feature": feature, "x-budget-user": user, ...(requestId ? { "Idempotency-Key": requestId } : {}) },
});
/** The newest ledger row, once every call has settled (the gateway commits after answering). */
const lastRow = async () => {
  await settled(g.worker, PORT);
  return (await ledger(g.worker, PORT)).at(-1);
};
const lastUpstream = () => g.upstream.requests.at(-1);

test("an OpenAI chat completion is answered as the upstream answered and counted with its reported usage", async () => {
  const { data, response } = await openai()
    .chat.completions.create({ model: "gpt-test?in=123&out=45", messages: [{ role: "user", content: "Hello" }] }, attribution("summarize", "user-1", "req-plain-1"))
    .withResponse();
  assert.equal(data.choices[0].message.content.split(" ").length - 1, 45);
  assert.deepEqual(data.usage, { prompt_tokens: 123, completion_tokens: 45, total_tokens: 168 });
  assert.equal(response.headers.get("x-budget-request-id"), "req-plain-1");
  const row = await lastRow();
  assert.deepEqual(
    [row.port_id, row.feature, row.user_id, row.provider, row.model, row.input_tokens, row.output_tokens, row.request_id],
    [PORT, "summarize", "user-1", "openai", "gpt-test-snapshot", 123, 45, "req-plain-1"],
  );
});

test("an OpenAI streamed completion passes through chunk by chunk and counts the usage chunk the gateway asked for", async () => {
  const stream = await openai().chat.completions.create(
    { model: "gpt-test?in=77&out=9", stream: true, messages: [{ role: "user", content: "Hi" }] },
    attribution("chat", "user-2"),
  );
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.filter((c) => c.choices[0]?.delta?.content).length, 9);
  assert.equal(lastUpstream().body.stream_options.include_usage, true, "the gateway asks upstream for usage");
  assert.ok(chunks.every((c) => c.choices.length > 0), "the usage-only chunk the client did not ask for is stripped");
  await settled(g.worker, PORT);
  const row = await lastRow();
  assert.deepEqual(
    [row.feature, row.user_id, row.provider, row.model, row.input_tokens, row.output_tokens],
    ["chat", "user-2", "openai", "gpt-test-snapshot", 77, 9],
  );
});

test("events split across upstream chunks are relayed whole and their usage still counted", async () => {
  const stream = await openai().chat.completions.create({ model: "gpt-test?in=31&out=4&split=1", stream: true, messages: [{ role: "user", content: "Hi" }] });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.filter((c) => c.choices[0]?.delta?.content).length, 4);
  assert.ok(chunks.every((c) => c.choices.length > 0), "the split usage chunk is still stripped");
  const messages = await anthropic().messages.create({ model: "claude-test?in=8&out=3&split=1", max_tokens: 9, stream: true, messages: [{ role: "user", content: "Hi" }] });
  const types = [];
  for await (const event of messages) types.push(event.type);
  assert.equal(types.at(-1), "message_stop");
  await settled(g.worker, PORT);
  const rows = (await ledger(g.worker, PORT)).slice(-2);
  assert.deepEqual(rows.map((r) => [r.input_tokens, r.output_tokens]), [[31, 4], [8, 3]]);
});

test("an OpenAI stream whose client asked for usage keeps the usage chunk", async () => {
  const stream = await openai().chat.completions.create({
    model: "gpt-test?in=10&out=3",
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "Hi" }],
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 });
  await settled(g.worker, PORT);
  const row = await lastRow();
  assert.deepEqual([row.input_tokens, row.output_tokens], [10, 3]);
});

test("a call without an output bound gets the default bound upstream, and the hold counts it", async () => {
  await openai().chat.completions.create({ model: "gpt-test?in=5&out=1", messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().body.max_completion_tokens, 300);
  const hold = (await reservations(g.worker, PORT)).at(-1);
  const bytes = lastUpstream().bytes;
  assert.equal(hold.estimated_tokens, bytes + 300, "strict estimate: body bytes plus the output bound");
});

test("a body that needs no change goes upstream byte for byte, and the strict hold counts those bytes", async () => {
  // Spacing and key order no serializer would reproduce.
  const sent = '{ "messages": [ {"content": "Hi", "role": "user"} ],\n  "max_tokens": 7, "model": "gpt-test?in=4&out=2" }';
  const res = await g.fetch(`${g.openaiURL(PORT)}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: sent,
  });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal(lastUpstream().text, sent);
  await settled(g.worker, PORT);
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.estimated_tokens, Buffer.byteLength(sent) + 7);
});

test("n completions hold n times the output bound", async () => {
  await openai().chat.completions.create({ model: "gpt-test?in=5&out=1", n: 3, max_tokens: 50, messages: [{ role: "user", content: "x" }] });
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.estimated_tokens, lastUpstream().bytes + 150);
});

test("strict estimate adds room for the hidden tool prompt of function tools", async () => {
  await openai().chat.completions.create({
    model: "gpt-test?in=5&out=1",
    max_tokens: 10,
    tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }],
    messages: [{ role: "user", content: "Look it up." }],
  });
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.estimated_tokens, lastUpstream().bytes + 1_024 + 10);
});

test("the provider key echoed mid-stream is scrubbed, even when it arrives split across chunks", async () => {
  const stream = await openai().chat.completions.create({ model: "gpt-test?out=3&echoKey=1", stream: true, messages: [{ role: "user", content: "x" }] });
  let text = "";
  for await (const chunk of stream) text += JSON.stringify(chunk);
  const messages = await anthropic().messages.create({ model: "claude-test?out=3&echoKey=1", max_tokens: 9, stream: true, messages: [{ role: "user", content: "x" }] });
  let content = "";
  for await (const event of messages) {
    text += JSON.stringify(event);
    if (event.type === "content_block_delta") content += event.delta.text;
  }
  assert.ok(content.startsWith("key=[redacted] "), `the key's place is marked (${content})`);
  assert.ok(text.includes("key=[redacted]"));
  assert.ok(!text.includes(OPENAI_KEY) && !text.includes(ANTHROPIC_KEY), "no key reached the client");
});

test("the provider key echoed JSON-escaped (which a JSON reader decodes back into the key) is scrubbed in streams, plain answers and error bodies of both providers", async () => {
  let seen = "";
  const stream = await openai().chat.completions.create({ model: "gpt-test?out=3&echoKey=escaped", stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const chunk of stream) seen += JSON.stringify(chunk);
  const messages = await anthropic().messages.create({ model: "claude-test?out=3&echoKey=escaped", max_tokens: 9, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const event of messages) seen += JSON.stringify(event);
  const { data: plain, response } = await openai()
    .chat.completions.create({ model: "gpt-test?out=3&echoKey=escaped", messages: [{ role: "user", content: "x" }] })
    .withResponse();
  assert.ok(plain.choices[0].message.content.startsWith("key=[redacted] "), plain.choices[0].message.content);
  assert.equal(response.headers.get("x-request-id"), "req-[redacted]", "a header echo is redacted too");
  seen += JSON.stringify(plain);
  const claude = await anthropic().messages.create({ model: "claude-test?out=3&echoKey=escaped", max_tokens: 9, messages: [{ role: "user", content: "x" }] });
  seen += JSON.stringify(claude);
  const failing = { model: "m?status=400&echoKey=escaped", messages: [{ role: "user", content: "x" }] };
  for (const call of [() => openai().chat.completions.create(failing), () => anthropic().messages.create({ max_tokens: 9, ...failing })]) {
    const err = await call().catch((e) => e);
    assert.match(err.message, /for key \[redacted\]/, err.message);
    seen += err.message + JSON.stringify(err.error);
  }
  // What the SDKs decoded: the key's places are marked, the key is nowhere.
  assert.equal(seen.split("key=[redacted]").length - 1, 4, "two streams and two plain answers");
  assert.ok(!seen.includes(OPENAI_KEY) && !seen.includes(ANTHROPIC_KEY), "no key reached the client, in any spelling");
  assert.ok(!/u002d/i.test(seen), "no escaped remnant either");
});

test("OpenAI embeddings are counted as input tokens only", async () => {
  const res = await openai().embeddings.create({ model: "embed-test?in=64", input: ["alpha", "beta"] }, attribution("search", "user-3"));
  assert.equal(res.data.length, 2);
  const row = await lastRow();
  assert.deepEqual(
    [row.feature, row.user_id, row.provider, row.model, row.input_tokens, row.output_tokens],
    ["search", "user-3", "openai", "embed-test-snapshot", 64, 0],
  );
});

test("an Anthropic message is answered as the upstream answered and counted with cache tokens as input", async () => {
  const msg = await anthropic().messages.create(
    { model: "claude-test?in=40&out=12&cacheWrite=100&cacheRead=1000", max_tokens: 64, messages: [{ role: "user", content: "Hello" }] },
    attribution("draft", "user-4", "req-anthropic-1"),
  );
  assert.equal(msg.usage.output_tokens, 12);
  const row = await lastRow();
  assert.deepEqual(
    [row.feature, row.user_id, row.provider, row.model, row.input_tokens, row.output_tokens, row.request_id],
    ["draft", "user-4", "anthropic", "claude-test-snapshot", 1140, 12, "req-anthropic-1"],
  );
});

test("an Anthropic stream passes through every event and counts message_start and message_delta usage", async () => {
  const stream = await anthropic().messages.create(
    { model: "claude-test?in=33&out=7", max_tokens: 64, stream: true, messages: [{ role: "user", content: "Hi" }] },
    attribution("draft", "user-5"),
  );
  const types = [];
  for await (const event of stream) types.push(event.type);
  assert.equal(types.filter((t) => t === "content_block_delta").length, 7);
  assert.deepEqual(types.slice(-2), ["message_delta", "message_stop"]);
  await settled(g.worker, PORT);
  const row = await lastRow();
  assert.deepEqual(
    [row.user_id, row.provider, row.model, row.input_tokens, row.output_tokens],
    ["user-5", "anthropic", "claude-test-snapshot", 33, 7],
  );
});

test("the upstream gets the provider key, never the port key", async () => {
  await openai().chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().headers.authorization, `Bearer ${OPENAI_KEY}`);
  await anthropic().messages.create({ model: "claude-test", max_tokens: 8, messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().headers["x-api-key"], ANTHROPIC_KEY);
  assert.equal(lastUpstream().headers.authorization, undefined);
  assert.ok(!JSON.stringify(g.upstream.requests.map((r) => r.headers)).includes(key));
});

test("every answer carries the port's remaining tokens as of the gate, and the reset instant", async () => {
  await settled(g.worker, PORT);
  const before = Number((await g.worker.get(`/v1/ports/${PORT}/usage`)).json.gateTokens);
  const { response } = await openai()
    .chat.completions.create({ model: "gpt-test?in=100&out=20", max_tokens: 20, messages: [{ role: "user", content: "x" }] })
    .withResponse();
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(Number(response.headers.get("x-budget-remaining")), 1_000_000 - before - hold.estimated_tokens);
  assert.ok(Date.parse(response.headers.get("x-budget-reset")) > CLOCK.ms);
  assert.equal(response.headers.get("x-budget-soft-cap"), null);
});

test("a port past its soft cap gets the warning header, and the call still goes through", async () => {
  const port = "acme-soft";
  const portKey = await openPort(g.worker, port, { softCapTokens: 200, hardCapTokens: 100_000 });
  const client = new OpenAI({ apiKey: portKey, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
  const below = await client.chat.completions.create({ model: "gpt-test?in=150&out=1", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).withResponse();
  assert.equal(below.response.headers.get("x-budget-soft-cap"), null, "below the soft cap at the gate");
  await settled(g.worker, port);
  const plain = await client.chat.completions.create({ model: "gpt-test", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).withResponse();
  assert.equal(plain.response.headers.get("x-budget-soft-cap"), "exceeded");
  const stream = await client.chat.completions.create({ model: "gpt-test", max_tokens: 5, stream: true, messages: [{ role: "user", content: "x" }] }).withResponse();
  assert.equal(stream.response.headers.get("x-budget-soft-cap"), "exceeded");
  for await (const _ of stream.data);
});

test("the provider keys appear in no log line", async () => {
  // A stream the upstream breaks off makes the gateway log a warning: proof
  // that this run's log lines are captured at all.
  const stream = await openai().chat.completions.create({ model: "gpt-test?truncate=1", max_tokens: 5, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of stream);
  await settled(g.worker, PORT);
  assert.ok(await logged(g.logs, /gateway: stream of \S+ on port acme finished without usage/), "the gateway's log lines were captured");
  const text = g.logs.join("\n");
  assert.ok(!text.includes(OPENAI_KEY) && !text.includes(ANTHROPIC_KEY));
});

test("a call is counted at the instant it ran, its settlement after the answer included (plain, streamed, and a stream cut off)", async () => {
  const port = "clocked";
  const portKey = await openPort(g.worker, port);
  // An instant of its own, years away from the suite's: every row must carry it.
  const at = "2029-06-30T23:59:59.000Z";
  const client = new OpenAI({ apiKey: portKey, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: { "x-now": at } });
  await client.chat.completions.create({ model: "gpt-test?in=5&out=2", messages: [{ role: "user", content: "a" }] });
  for await (const _ of await client.chat.completions.create({ model: "gpt-test?in=6&out=3", stream: true, messages: [{ role: "user", content: "b" }] }));
  await client.chat.completions
    .create({ model: "gpt-test?out=20&truncate=3", max_tokens: 40, stream: true, messages: [{ role: "user", content: "c" }] })
    .then(async (s) => {
      for await (const _ of s);
    })
    .catch(() => {});
  await settled(g.worker, port);
  const rows = await ledger(g.worker, port);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((r) => new Date(r.created_at).toISOString()), [at, at, at]);
  const holds = await reservations(g.worker, port);
  assert.deepEqual(holds.map((h) => [new Date(h.created_at).toISOString(), new Date(h.settled_at).toISOString()]), [[at, at], [at, at], [at, at]]);
});
