// Gemini's native API through the gateway, with the official `@google/genai`
// SDK as the client: plain, streamed (server-sent events, and one JSON array
// for a client that did not ask for them), thoughts, cached and tool input,
// usage repeated on every chunk or sent alone at the end, a cut stream, token
// counting uncounted, and the gateway's refusal in Gemini's error format.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { GoogleGenAI } from "@google/genai";
import { startGateway, openPort, settled, ledger, reservations, GEMINI_KEY, CLOCK_HEADERS } from "./harness.mjs";

let g;
let key;
const PORT = "gem-port";
before(async () => {
  g = await startGateway({ vars: { GATEWAY_DEFAULT_MAX_TOKENS: "300" } });
  key = await openPort(g.worker, PORT, { softCapTokens: 100_000, hardCapTokens: 1_000_000 });
});
after(async () => {
  await g?.stop();
});

const gemini = (port = PORT, apiKey = key, headers = {}) =>
  new GoogleGenAI({ apiKey, httpOptions: { baseUrl: g.geminiURL(port), headers: { ...CLOCK_HEADERS, ...headers } } });
const lastUpstream = () => g.upstream.requests.at(-1);
/** The port's newest ledger rows, once every call has settled. */
const lastRows = async (n = 1, port = PORT) => {
  await settled(g.worker, port);
  return (await ledger(g.worker, port)).slice(-n);
};
const counts = (row) => [row.input_tokens, row.output_tokens, row.cached_input_tokens, row.reasoning_tokens];

test("a Gemini call is answered as the upstream answered, sent with the provider key, and counted from usageMetadata", async () => {
  const ai = gemini(PORT, key, { "x-budget-feature": "summarize", "x-budget-user": "user-1" });
  const answer = await ai.models.generateContent({ model: "gem;in=123;out=45", contents: "Hello" });
  assert.equal(answer.text.split(" ").length - 1, 45);
  assert.equal(answer.usageMetadata.promptTokenCount, 123);
  const sent = lastUpstream();
  assert.equal(sent.path, "/gemini/v1beta/models/gem;in=123;out=45:generateContent");
  assert.equal(sent.headers["x-goog-api-key"], GEMINI_KEY, "the provider key goes upstream");
  assert.equal(sent.body.generationConfig.maxOutputTokens, 300, "the default output bound is written into the request");
  const [row] = await lastRows();
  assert.deepEqual(
    [row.port_id, row.feature, row.user_id, row.provider, row.model, ...counts(row)],
    [PORT, "summarize", "user-1", "gemini", "gem-snapshot", 123, 45, 0, 0],
  );
});

test("thoughts are billed as output once, cached input stays inside the prompt, and tool use prompt tokens are input", async () => {
  await gemini().models.generateContent({
    model: "gem;in=1000;out=20;thoughts=70;cached=800;toolUse=30",
    contents: "Think",
    config: { maxOutputTokens: 200 },
  });
  const [row] = await lastRows();
  assert.deepEqual(counts(row), [1030, 90, 800, 70]);
});

test("a stream is relayed chunk by chunk and settled once from the last cumulative usage, however often it repeats", async () => {
  const stream = await gemini().models.generateContentStream({ model: "gem;in=77;out=9;thoughts=4", contents: "Hi", config: { maxOutputTokens: 50 } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.length, 9, "one chunk per word, each carrying the usage so far");
  assert.ok(chunks.every((c) => c.usageMetadata.promptTokenCount === 77));
  assert.match(lastUpstream().path, /:streamGenerateContent\?alt=sse$/);
  const [row] = await lastRows();
  assert.deepEqual(counts(row), [77, 13, 0, 4], "counted once: not nine times the prompt");
  const holds = await reservations(g.worker, PORT);
  assert.equal(holds.at(-1).actual_tokens, 90);
});

test("a stream whose usage comes alone in its last chunk is counted from that chunk", async () => {
  const stream = await gemini().models.generateContentStream({ model: "gem;in=40;out=6;usageOnly=1", contents: "Hi" });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks.at(-1).candidates, undefined, "the usage-only chunk reaches the client");
  const [row] = await lastRows();
  assert.deepEqual(counts(row), [40, 6, 0, 0]);
});

test("a stream cut before its finish is charged the reported prompt plus the output bound", async () => {
  const stream = await gemini().models.generateContentStream({ model: "gem;in=21;out=9;truncate=3", contents: "x", config: { maxOutputTokens: 50 } });
  let n = 0;
  for await (const _ of stream) n++;
  assert.equal(n, 3);
  const [row] = await lastRows();
  assert.deepEqual([row.input_tokens, row.output_tokens], [21, 50]);
});

test("a stream asked for without alt=sse reaches the client as one JSON array, read upstream as events", async () => {
  const response = await fetch(`${g.geminiURL(PORT)}/v1beta/models/gem;in=12;out=3:streamGenerateContent`, {
    method: "POST",
    headers: { ...CLOCK_HEADERS, "x-goog-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Hi" }] }] }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^application\/json/);
  const chunks = await response.json();
  assert.equal(chunks.length, 3);
  assert.equal(chunks.at(-1).candidates[0].finishReason, "STOP");
  assert.match(lastUpstream().path, /\?alt=sse$/);
  const [row] = await lastRows();
  assert.deepEqual(counts(row), [12, 3, 0, 0]);
});

test("countTokens is forwarded and answered, never held or counted", async () => {
  const before = (await reservations(g.worker, PORT)).length;
  const counted = await gemini().models.countTokens({ model: "gem;in=64", contents: "How many?" });
  assert.equal(counted.totalTokens, 64);
  assert.equal(lastUpstream().headers["x-goog-api-key"], GEMINI_KEY);
  assert.equal((await reservations(g.worker, PORT)).length, before);
});

test("a call over the hard cap is refused with 429 in Gemini's error format, and nothing goes upstream", async () => {
  const port = "gem-full";
  const full = await openPort(g.worker, port, { softCapTokens: 100, hardCapTokens: 100 });
  const sent = g.upstream.requests.length;
  const error = await gemini(port, full)
    .models.generateContent({ model: "gem", contents: "Hi", config: { maxOutputTokens: 500 } })
    .catch((e) => e);
  assert.equal(error.status, 429);
  assert.equal(g.upstream.requests.length, sent);
  const raw = await fetch(`${g.geminiURL(port)}/v1beta/models/gem:generateContent`, {
    method: "POST",
    headers: { ...CLOCK_HEADERS, "x-goog-api-key": full, "content-type": "application/json" },
    body: JSON.stringify({ contents: [{ parts: [{ text: "Hi" }] }], generationConfig: { maxOutputTokens: 500 } }),
  });
  assert.equal(raw.status, 429);
  const body = await raw.json();
  assert.equal(body.error.code, 429);
  assert.equal(body.error.status, "RESOURCE_EXHAUSTED");
  assert.equal(body.error.details[0].reason, "BUDGET_EXCEEDED");
  assert.ok(raw.headers.get("retry-after"));
});

test("an upstream error is relayed with the provider key taken out, and the hold released", async () => {
  const error = await gemini().models.generateContent({ model: "gem;status=503", contents: "x" }).catch((e) => e);
  assert.equal(error.status, 503);
  assert.ok(!error.message.includes(GEMINI_KEY), "the provider key is redacted");
  await settled(g.worker, PORT);
  const holds = await reservations(g.worker, PORT);
  assert.equal(holds.at(-1).state, "released");
});

test("strict mode refuses inline data with the field in Gemini's format", async () => {
  const error = await gemini()
    .models.generateContent({ model: "gem", contents: [{ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: "AAAA" } }] }] })
    .catch((e) => e);
  assert.equal(error.status, 400);
  assert.match(error.message, /UNBOUNDED_INPUT/);
});
