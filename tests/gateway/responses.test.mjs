// The OpenAI Responses API through the gateway (plain, streamed, and the
// SDK's stream helper), cached and reasoning tokens kept in the ledger for
// every provider, and token counting passed through uncounted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, ledger, reservations, OPENAI_KEY, ANTHROPIC_KEY, CLOCK_HEADERS } from "./harness.mjs";

let g;
let key;
const PORT = "resp";
before(async () => {
  g = await startGateway({ vars: { GATEWAY_DEFAULT_MAX_TOKENS: "300" } });
  key = await openPort(g.worker, PORT);
});
after(async () => {
  await g?.stop();
});

const openai = (port = PORT, k = key) => new OpenAI({ apiKey: k, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const anthropic = (port = PORT, k = key) => new Anthropic({ apiKey: k, baseURL: g.anthropicURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const lastUpstream = () => g.upstream.requests.at(-1);
const lastRow = async (port = PORT) => {
  await settled(g.worker, port);
  return (await ledger(g.worker, port)).at(-1);
};
const tokens = (row) => [row.input_tokens, row.cached_input_tokens, row.cache_write_tokens, row.output_tokens, row.reasoning_tokens];

test("a Responses call is answered as the upstream answered and counted with its usage, cached and reasoning tokens included", async () => {
  const { data, response } = await openai()
    .responses.create(
      { model: "gpt-resp?in=120&out=30&cached=100&reasoning=12", input: "Hello", max_output_tokens: 64 },
      { headers: { "x-budget-feature": "answer", "x-budget-user": "u-1", "Idempotency-Key": "resp-plain-1" } },
    )
    .withResponse();
  assert.equal(data.object, "response");
  assert.equal(data.output_text.split(" ").length - 1, 30, "the SDK reads the output text");
  assert.deepEqual(data.usage.input_tokens_details, { cached_tokens: 100 });
  assert.equal(response.headers.get("x-budget-request-id"), "resp-plain-1");
  assert.equal(lastUpstream().path, "/openai/v1/responses");
  assert.equal(lastUpstream().headers.authorization, `Bearer ${OPENAI_KEY}`);
  const row = await lastRow();
  assert.deepEqual(
    [row.feature, row.user_id, row.provider, row.model, row.request_id],
    ["answer", "u-1", "openai", "gpt-resp-snapshot", "resp-plain-1"],
  );
  assert.deepEqual(tokens(row), [120, 100, 0, 30, 12], "totals as reported; cached and reasoning are parts of them");
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.estimated_tokens, lastUpstream().bytes + 64, "strict hold: body bytes plus max_output_tokens");
});

test("a Responses call without max_output_tokens gets the default bound upstream, and the hold counts it", async () => {
  await openai().responses.create({ model: "gpt-resp?in=5&out=2", input: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().body.max_output_tokens, 300);
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.estimated_tokens, lastUpstream().bytes + 300);
});

test("a streamed Responses call is relayed event by event and counted from response.completed", async () => {
  const stream = await openai().responses.create({ model: "gpt-resp?in=40&out=6&cached=32&reasoning=2", input: "Hi", stream: true, max_output_tokens: 20 });
  const types = [];
  for await (const event of stream) types.push(event.type);
  assert.equal(types[0], "response.created");
  assert.equal(types.filter((t) => t === "response.output_text.delta").length, 6);
  assert.equal(types.at(-1), "response.completed");
  assert.equal(lastUpstream().body.stream_options, undefined, "nothing chat-specific is added");
  const row = await lastRow();
  assert.deepEqual(tokens(row), [40, 32, 0, 6, 2]);
  assert.equal(row.model, "gpt-resp-snapshot");
});

test("the SDK's responses.stream() helper gets its final response, and an incomplete answer is counted at its usage", async () => {
  const stream = openai().responses.stream({ model: "gpt-resp?in=9&out=4&terminal=incomplete", input: "Hi", max_output_tokens: 4 });
  let text = "";
  stream.on("response.output_text.delta", (e) => (text += e.delta));
  const final = await stream.finalResponse();
  assert.equal(final.status, "incomplete");
  assert.equal(final.usage.output_tokens, 4);
  assert.equal(text, "w0 w1 w2 w3 ");
  const row = await lastRow();
  assert.deepEqual(tokens(row), [9, 0, 0, 4, 0]);
  const failed = await openai().responses.stream({ model: "gpt-resp?in=7&out=1&terminal=failed", input: "Hi", max_output_tokens: 4 }).finalResponse();
  assert.equal(failed.status, "failed");
  assert.deepEqual(tokens(await lastRow()), [7, 0, 0, 1, 0], "a failed response is counted at the usage it reports");
});

test("a Responses stream cut before its terminal event is charged by the rule: its hold, never zero", async () => {
  const stream = await openai().responses.create({ model: "gpt-resp?out=20&truncate=6", input: "Hi", stream: true, max_output_tokens: 50 });
  const types = [];
  for await (const event of stream) types.push(event.type);
  assert.ok(!types.includes("response.completed"));
  const row = await lastRow();
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.state, "committed");
  assert.deepEqual([row.input_tokens + row.output_tokens, row.output_tokens], [hold.estimated_tokens, 50]);
  assert.deepEqual([row.cached_input_tokens, row.reasoning_tokens], [0, 0]);
});

test("strict mode refuses Responses inputs and tools no byte count bounds, and lets function and custom tools through", async () => {
  const sent = g.upstream.requests.length;
  const refused = [
    [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "https://example.com/a.png", detail: "auto" }] }] }, "input"],
    [{ input: [{ role: "user", content: [{ type: "input_file", file_id: "file-1" }] }] }, "input"],
    [{ input: "x", tools: [{ type: "web_search" }] }, "tools"],
    [{ input: "x", tools: [{ type: "file_search", vector_store_ids: ["vs_1"] }] }, "tools"],
    [{ input: "x", tools: [{ type: "code_interpreter", container: { type: "auto" } }] }, "tools"],
    [{ input: "x", tools: [{ type: "mcp", server_label: "s", server_url: "https://example.com" }] }, "tools"],
    [{ input: "x", tools: [{ type: "image_generation" }] }, "tools"],
    [{ input: "x", previous_response_id: "resp_earlier" }, "previous_response_id"],
    [{ input: "x", conversation: "conv_1" }, "conversation"],
    [{ input: [{ type: "item_reference", id: "msg_earlier" }, { role: "user", content: "and?" }] }, "input"],
  ];
  for (const [body, param] of refused) {
    const err = await openai()
      .responses.create({ model: "gpt-resp", max_output_tokens: 5, ...body })
      .catch((e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: got ${err}`);
    assert.equal(err.code, "unbounded_input");
    assert.equal(err.param, param);
  }
  const background = await openai().responses.create({ model: "gpt-resp", input: "x", background: true }).catch((e) => e);
  assert.ok(background instanceof OpenAI.BadRequestError);
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  await openai().responses.create({
    model: "gpt-resp?in=3&out=1",
    input: "x",
    max_output_tokens: 5,
    tools: [
      { type: "function", name: "lookup", parameters: { type: "object", properties: {} }, strict: true },
      { type: "custom", name: "raw" },
    ],
  });
  const hold = (await reservations(g.worker, PORT)).at(-1);
  assert.equal(hold.estimated_tokens, lastUpstream().bytes + 1_024 + 5);
});

test("cached and reasoning tokens of chat completions (plain and streamed) land in the ledger", async () => {
  await openai().chat.completions.create({ model: "gpt-test?in=50&out=10&cached=40&reasoning=6", max_tokens: 20, messages: [{ role: "user", content: "x" }] });
  assert.deepEqual(tokens(await lastRow()), [50, 40, 0, 10, 6]);
  const stream = await openai().chat.completions.create({ model: "gpt-test?in=30&out=5&cached=16&reasoning=3", max_tokens: 20, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of stream);
  assert.deepEqual(tokens(await lastRow()), [30, 16, 0, 5, 3]);
});

test("Anthropic cache reads and writes are kept as parts of the input, plain and streamed, and thinking tokens as reasoning", async () => {
  await anthropic().messages.create({ model: "claude-test?in=40&out=12&cacheWrite=100&cacheRead=1000&reasoning=7", max_tokens: 64, messages: [{ role: "user", content: "x" }] });
  assert.deepEqual(tokens(await lastRow()), [1140, 1000, 100, 12, 7]);
  const stream = await anthropic().messages.create({ model: "claude-test?in=5&out=3&cacheWrite=20&cacheRead=200", max_tokens: 64, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of stream);
  assert.deepEqual(tokens(await lastRow()), [225, 200, 20, 3, 0]);
});

test("token counting passes through with the provider key and is never held or counted", async () => {
  const port = "counting";
  const portKey = await openPort(g.worker, port);
  const count = await openai(port, portKey).responses.inputTokens.count({ model: "gpt-resp?in=321", input: "How many tokens?" });
  assert.deepEqual(count, { object: "response.input_tokens", input_tokens: 321 });
  assert.equal(lastUpstream().path, "/openai/v1/responses/input_tokens");
  assert.equal(lastUpstream().headers.authorization, `Bearer ${OPENAI_KEY}`);
  assert.deepEqual(lastUpstream().body.input, "How many tokens?");
  const tokensCount = await anthropic(port, portKey).messages.countTokens({ model: "claude-test?in=77", messages: [{ role: "user", content: "Hi" }] });
  assert.deepEqual(tokensCount, { input_tokens: 77 });
  assert.equal(lastUpstream().path, "/anthropic/v1/messages/count_tokens");
  assert.equal(lastUpstream().headers["x-api-key"], ANTHROPIC_KEY);
  assert.ok(!JSON.stringify(g.upstream.requests.map((r) => r.headers)).includes(portKey), "the port key never goes upstream");
  // An upstream error passes through, the key it echoes redacted.
  const err = await anthropic(port, portKey)
    .messages.countTokens({ model: "m?status=400", messages: [{ role: "user", content: "Hi" }] })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
  assert.match(err.message, /for key \[redacted\]/);
  assert.ok(!err.message.includes(ANTHROPIC_KEY));
  await settled(g.worker, port);
  assert.deepEqual(await ledger(g.worker, port), [], "no ledger row");
  assert.deepEqual(await reservations(g.worker, port), [], "no hold");
});

test("token counting needs the port's key like any call", async () => {
  await openPort(g.worker, "count-other");
  const sent = g.upstream.requests.length;
  const other = await openai("count-other", key).responses.inputTokens.count({ model: "m", input: "x" }).catch((e) => e);
  assert.ok(other instanceof OpenAI.PermissionDeniedError, `got ${other}`);
  const none = await anthropic("count-other", "not-a-key").messages.countTokens({ model: "m", messages: [] }).catch((e) => e);
  assert.ok(none instanceof Anthropic.AuthenticationError, `got ${none}`);
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
});

test("the provider key echoed in a Responses stream and a plain response is scrubbed, even split across chunks", async () => {
  const stream = await openai().responses.create({ model: "gpt-resp?out=3&echoKey=1", input: "x", stream: true, max_output_tokens: 5 });
  let text = "";
  for await (const event of stream) text += JSON.stringify(event);
  const plain = await openai().responses.create({ model: "gpt-resp?out=3&echoKey=escaped", input: "x", max_output_tokens: 5 });
  assert.ok(plain.output_text.startsWith("key=[redacted] "), plain.output_text);
  text += JSON.stringify(plain);
  assert.ok(text.includes("key=[redacted]"));
  assert.ok(!text.includes(OPENAI_KEY) && !/u002d/i.test(text), "no key reached the client, in any spelling");
});
