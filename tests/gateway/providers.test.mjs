// Several providers per Worker: a table (GATEWAY_PROVIDERS) names more
// OpenAI-, Anthropic- or Gemini-style providers, reached under
// /v1/ports/{port}/providers/{name}/..., each with its own base URL and key;
// the ledger names the provider a call went to.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { startGateway, openPort, settled, ledger, reservations, OPENAI_KEY, CLOCK_HEADERS } from "./harness.mjs";

const GROQ_KEY = "gsk-provider-groq-SECRET-90be41";
const EU_KEY = "sk-ant-provider-eu-SECRET-c07d55";
const VERTEX_KEY = "AIza-provider-other-SECRET-3f1e0a";
let g;
let key;
const PORT = "multi";
before(async () => {
  g = await startGateway({
    vars: (upstream) => ({
      GATEWAY_PROVIDERS: JSON.stringify([
        { name: "groq", baseUrl: upstream.compatBase, keySecret: "GROQ_API_KEY", dialect: "openai" },
        { name: "claude-eu", baseUrl: upstream.anthropicBase, keySecret: "EU_ANTHROPIC_KEY", dialect: "anthropic" },
        { name: "unkeyed", baseUrl: upstream.compatBase, keySecret: "NOT_SET_KEY", dialect: "openai" },
        { name: "gemini-other", baseUrl: upstream.geminiBase, keySecret: "OTHER_GEMINI_KEY", dialect: "gemini" },
      ]),
      GROQ_API_KEY: GROQ_KEY,
      EU_ANTHROPIC_KEY: EU_KEY,
      OTHER_GEMINI_KEY: VERTEX_KEY,
    }),
  });
  key = await openPort(g.worker, PORT);
});
after(async () => {
  await g?.stop();
});

const providerURL = (name, port = PORT) => `${g.base}/v1/ports/${port}/providers/${name}`;
const openai = (name) => new OpenAI({ apiKey: key, baseURL: providerURL(name), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const lastUpstream = () => g.upstream.requests.at(-1);
const rows = async () => {
  await settled(g.worker, PORT);
  return ledger(g.worker, PORT);
};

test("an OpenAI-compatible provider of the table is called at its base URL with its own key, and the ledger names it", async () => {
  const groq = openai("groq");
  const done = await groq.chat.completions.create({ model: "llama-test?in=21&out=4&cached=8", messages: [{ role: "user", content: "Hi" }] });
  assert.equal(done.usage.prompt_tokens, 21);
  assert.equal(lastUpstream().path, "/compat/v1/chat/completions");
  assert.equal(lastUpstream().headers.authorization, `Bearer ${GROQ_KEY}`);
  const stream = await groq.chat.completions.create({ model: "llama-test?in=9&out=3", stream: true, messages: [{ role: "user", content: "Hi" }] });
  for await (const _ of stream);
  await groq.responses.create({ model: "llama-test?in=6&out=2", input: "Hi", max_output_tokens: 8 });
  assert.equal(lastUpstream().path, "/compat/v1/responses");
  await groq.embeddings.create({ model: "embed-test?in=5", input: "a" });
  const last = (await rows()).slice(-4);
  assert.deepEqual(
    last.map((r) => [r.provider, r.model, r.input_tokens, r.cached_input_tokens, r.output_tokens]),
    [
      ["groq", "llama-test-snapshot", 21, 8, 4],
      ["groq", "llama-test-snapshot", 9, 0, 3],
      ["groq", "llama-test-snapshot", 6, 0, 2],
      ["groq", "embed-test-snapshot", 5, 0, 0],
    ],
  );
  assert.ok(!JSON.stringify(g.upstream.requests.map((r) => r.headers)).includes(key), "the port key never goes upstream");
});

test("the client's query goes upstream as it was sent (an api-version, an encoded value)", async () => {
  const azure = new OpenAI({
    apiKey: key,
    baseURL: providerURL("groq"),
    maxRetries: 0,
    defaultHeaders: CLOCK_HEADERS,
    defaultQuery: { "api-version": "2024-10-21", note: "a b&c" },
  });
  await azure.chat.completions.create({ model: "llama-test?in=2&out=1", messages: [{ role: "user", content: "Hi" }] });
  assert.equal(lastUpstream().path, "/compat/v1/chat/completions?api-version=2024-10-21&note=a%20b%26c");
  await openai("groq").chat.completions.create({ model: "llama-test?in=2&out=1", messages: [{ role: "user", content: "Hi" }] });
  assert.equal(lastUpstream().path, "/compat/v1/chat/completions", "no query, none added");
});

test("an Anthropic-style provider of the table speaks Anthropic's dialect with its own key", async () => {
  const eu = new Anthropic({ apiKey: key, baseURL: providerURL("claude-eu"), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
  const msg = await eu.messages.create({ model: "claude-test?in=12&out=3&cacheRead=30", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] });
  assert.equal(msg.usage.output_tokens, 3);
  assert.equal(lastUpstream().path, "/anthropic/v1/messages");
  assert.equal(lastUpstream().headers["x-api-key"], EU_KEY);
  const count = await eu.messages.countTokens({ model: "claude-test?in=44", messages: [{ role: "user", content: "Hi" }] });
  assert.equal(count.input_tokens, 44);
  const row = (await rows()).at(-1);
  assert.deepEqual([row.provider, row.input_tokens, row.cached_input_tokens, row.output_tokens], ["claude-eu", 42, 30, 3]);
  // An error of the dialect's shape, on a path of the other dialect.
  const wrong = await g.fetch(`${providerURL("claude-eu")}/chat/completions`, { method: "POST", headers: { "x-api-key": key }, body: "{}" });
  assert.equal(wrong.status, 404);
  assert.equal((await wrong.json()).type, "error");
});

test("the built-in providers answer under /providers/ too, and their own routes keep working", async () => {
  await openai("openai").chat.completions.create({ model: "gpt-test?in=3&out=1", messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().path, "/openai/v1/chat/completions");
  assert.equal(lastUpstream().headers.authorization, `Bearer ${OPENAI_KEY}`);
  const builtin = new OpenAI({ apiKey: key, baseURL: g.openaiURL(PORT), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
  await builtin.chat.completions.create({ model: "gpt-test?in=4&out=1", messages: [{ role: "user", content: "x" }] });
  assert.deepEqual((await rows()).slice(-2).map((r) => [r.provider, r.input_tokens]), [["openai", 3], ["openai", 4]]);
});

test("a provider the table does not name is a 404, one without its key a 500, and nothing is held", async () => {
  const sent = g.upstream.requests.length;
  const unknown = await openai("mistral").chat.completions.create({ model: "m", messages: [] }).catch((e) => e);
  assert.ok(unknown instanceof OpenAI.NotFoundError, `got ${unknown}`);
  assert.match(unknown.message, /no provider named "mistral"/);
  const unkeyed = await openai("unkeyed").chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(unkeyed instanceof OpenAI.InternalServerError, `got ${unkeyed}`);
  assert.match(unkeyed.message, /no unkeyed key configured/);
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  assert.ok((await reservations(g.worker, PORT)).every((r) => r.state !== "held"));
});

test("a provider's key echoed by its upstream is redacted", async () => {
  const err = await openai("groq").chat.completions.create({ model: "m?status=400", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.match(err.message, /for key \[redacted\]/);
  const { data } = await openai("groq").chat.completions.create({ model: "m?out=2&echoKey=1", messages: [{ role: "user", content: "x" }] }).withResponse();
  assert.ok(data.choices[0].message.content.startsWith("key=[redacted] "));
  assert.ok(!JSON.stringify(data).includes(GROQ_KEY) && !err.message.includes(GROQ_KEY));
});

test("a malformed provider table makes its routes answer 500 and leaves the built-in providers working", async () => {
  const bad = await startGateway({ vars: { GATEWAY_PROVIDERS: '[{"name":"Groq!"}]' } });
  try {
    const portKey = await openPort(bad.worker, "bad-table");
    const named = new OpenAI({ apiKey: portKey, baseURL: `${bad.base}/v1/ports/bad-table/providers/groq`, maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
    const err = await named.chat.completions.create({ model: "m", messages: [] }).catch((e) => e);
    assert.ok(err instanceof OpenAI.InternalServerError, `got ${err}`);
    assert.match(err.message, /GATEWAY_PROVIDERS/);
    const builtin = new OpenAI({ apiKey: portKey, baseURL: bad.openaiURL("bad-table"), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
    const ok = await builtin.chat.completions.create({ model: "gpt-test?in=2&out=1", messages: [{ role: "user", content: "x" }] });
    assert.equal(ok.usage.prompt_tokens, 2);
  } finally {
    await bad.stop();
  }
});

test("a Gemini-style provider of the table is called with its own key in x-goog-api-key, and the ledger names it", async () => {
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: providerURL("gemini-other"), headers: CLOCK_HEADERS } });
  const answer = await ai.models.generateContent({ model: "gem;in=17;out=3", contents: "Hi" });
  assert.equal(answer.usageMetadata.promptTokenCount, 17);
  assert.equal(lastUpstream().headers["x-goog-api-key"], VERTEX_KEY);
  const row = (await rows()).at(-1);
  assert.deepEqual([row.provider, row.model, row.input_tokens, row.output_tokens], ["gemini-other", "gem-snapshot", 17, 3]);
});
