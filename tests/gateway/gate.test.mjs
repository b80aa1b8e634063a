// The gate in front of the upstream: over the cap the SDKs raise their own
// rate-limit errors with our message; a port key works for its own port only;
// bad input is refused before anything is held or forwarded.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, logged, ledger, reservations, OPENAI_KEY, ANTHROPIC_KEY, CLOCK_HEADERS } from "./harness.mjs";
import { overOneConnection } from "../worker/harness.mjs";

let g;
before(async () => {
  g = await startGateway();
});
after(async () => {
  await g?.stop();
});

const clients = (port, key) => ({
  openai: new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS }),
  anthropic: new Anthropic({ apiKey: key, baseURL: g.anthropicURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS }),
});

/** Asserts nothing was forwarded, held or counted since `upstreamCount`. */
async function assertUntouched(port, upstreamCount) {
  assert.equal(g.upstream.requests.length, upstreamCount, "nothing was forwarded");
  assert.deepEqual(await ledger(g.worker, port), []);
  assert.ok((await reservations(g.worker, port)).every((r) => r.state !== "held"), "nothing is held");
}

test("over the hard cap the OpenAI SDK raises RateLimitError with the budget's message, and nothing is forwarded", async () => {
  const key = await openPort(g.worker, "tight-openai", { softCapTokens: 50, hardCapTokens: 100 });
  const { openai } = clients("tight-openai", key);
  const sent = g.upstream.requests.length;
  const err = await openai.chat.completions
    .create({ model: "gpt-test", max_tokens: 500, messages: [{ role: "user", content: "hi" }] })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
  assert.match(err.message, /token budget refuses this call \(estimated-exceeds-cap\)/);
  assert.equal(err.type, "rate_limit_error");
  assert.equal(err.code, "budget_exceeded");
  assert.ok(Number(err.headers.get("retry-after")) > 0);
  assert.equal(err.headers.get("x-should-retry"), "false");
  assert.equal(err.headers.get("x-budget-remaining"), "100");
  await assertUntouched("tight-openai", sent);
});

test("over the hard cap the Anthropic SDK raises RateLimitError with the budget's message", async () => {
  const key = await openPort(g.worker, "tight-anthropic", { softCapTokens: 50, hardCapTokens: 100 });
  const { anthropic } = clients("tight-anthropic", key);
  const sent = g.upstream.requests.length;
  const err = await anthropic.messages
    .create({ model: "claude-test", max_tokens: 500, stream: true, messages: [{ role: "user", content: "hi" }] })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
  assert.match(err.message, /token budget refuses this call/);
  assert.equal(err.error.error.type, "rate_limit_error");
  assert.ok(Number(err.headers.get("retry-after")) > 0);
  await assertUntouched("tight-anthropic", sent);
});

test("a port whose cap is used up refuses even a tiny call (hard-cap-exceeded)", async () => {
  const key = await openPort(g.worker, "spent", { softCapTokens: 10, hardCapTokens: 10 });
  await g.worker.post("/v1/ports/spent/usage", { feature: "x", provider: "p", model: "m", inputTokens: 10, outputTokens: 0 });
  const err = await clients("spent", key)
    .openai.embeddings.create({ model: "embed-test", input: "a" })
    .catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError);
  assert.match(err.message, /hard-cap-exceeded/);
});

test("a port key cannot call another port's gateway, in either style", async () => {
  const mine = await openPort(g.worker, "mine");
  await openPort(g.worker, "theirs");
  const sent = g.upstream.requests.length;
  const { openai, anthropic } = clients("theirs", mine);
  const e1 = await openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(e1 instanceof OpenAI.PermissionDeniedError, `got ${e1}`);
  assert.match(e1.message, /another port/);
  assert.equal(e1.headers.get("x-budget-remaining"), null, "the other port's budget is not disclosed");
  const e2 = await anthropic.messages.create({ model: "claude-test", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(e2 instanceof Anthropic.PermissionDeniedError, `got ${e2}`);
  assert.equal(e2.error.error.type, "permission_error");
  await assertUntouched("theirs", sent);
});

test("a revoked port key is refused at once, even right after a call this isolate remembers it from", async () => {
  const key = await openPort(g.worker, "revoked");
  const { openai } = clients("revoked", key);
  await openai.chat.completions.create({ model: "gpt-test?in=3&out=2", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
  const sent = g.upstream.requests.length;
  const [{ keyId }] = (await g.worker.get("/v1/ports/revoked/keys")).json.keys;
  assert.equal((await g.worker.delete(`/v1/ports/revoked/keys/${keyId}`)).status, 200);
  const err = await openai.chat.completions.create({ model: "gpt-test?in=3&out=2", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err}`);
  assert.equal(err.headers.get("x-budget-remaining"), null, "the port's budget is not disclosed");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  await settled(g.worker, "revoked");
  assert.deepEqual((await ledger(g.worker, "revoked")).length, 1, "only the call made before the revocation is counted");
  assert.ok((await reservations(g.worker, "revoked")).every((r) => r.state !== "held"), "nothing stays held");
});

test("a budget lowered through the API binds the very next gateway call, though this isolate remembered the old one", async () => {
  const key = await openPort(g.worker, "lowered");
  const { openai } = clients("lowered", key);
  const call = () => openai.chat.completions.create({ model: "gpt-test?in=3&out=2", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
  await call(); // the gateway now remembers the generous budget
  await settled(g.worker, "lowered");
  const sent = g.upstream.requests.length;
  await g.worker.setBudget("lowered", { softCapTokens: 1, hardCapTokens: 2 });
  const err = await call().catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
  assert.match(err.message, /hard-cap-exceeded/);
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
});

test("an unknown key or no key is refused with the SDK's AuthenticationError", async () => {
  await openPort(g.worker, "locked");
  const { openai, anthropic } = clients("locked", "not-a-key");
  assert.ok((await openai.embeddings.create({ model: "e", input: "a" }).catch((e) => e)) instanceof OpenAI.AuthenticationError);
  assert.ok((await anthropic.messages.create({ model: "c", max_tokens: 5, messages: [] }).catch((e) => e)) instanceof Anthropic.AuthenticationError);
  const res = await g.fetch(`${g.openaiURL("locked")}/chat/completions`, { method: "POST", body: "{}" });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.type, "invalid_request_error");
});

test("bad input gets a clear 400 in the provider's format and holds nothing", async () => {
  const key = await openPort(g.worker, "strict-input");
  const sent = g.upstream.requests.length;
  const post = (path, body, headers = {}) =>
    g.fetch(`${g.base}/v1/ports/strict-input/${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body,
    });
  const cases = [
    ["openai/chat/completions", "{not json", {}, /not valid JSON/],
    ["openai/chat/completions", JSON.stringify({ messages: [] }), {}, /model is required/],
    ["openai/chat/completions", JSON.stringify({ model: "m", max_tokens: -1 }), {}, /max_tokens must be non-negative/],
    ["openai/chat/completions", JSON.stringify({ model: "m", max_tokens: 1.5 }), {}, /whole number/],
    ["openai/chat/completions", JSON.stringify({ model: "m", n: 0 }), {}, /n must be/],
    ["openai/chat/completions", JSON.stringify({ model: "m", stream: "yes" }), {}, /stream must be/],
    ["openai/embeddings", JSON.stringify({ model: "m", input: "a", stream: true }), {}, /not streamed/],
    ["openai/chat/completions", JSON.stringify({ model: "m" }), { "x-budget-feature": "" }, /x-budget-feature must be/],
    ["openai/chat/completions", JSON.stringify({ model: "m" }), { "Idempotency-Key": "has space" }, /Idempotency-Key must be/],
  ];
  for (const [path, body, headers, message] of cases) {
    const res = await post(path, body, headers);
    assert.equal(res.status, 400, `${path} ${body}`);
    const json = await res.json();
    assert.equal(json.error.type, "invalid_request_error");
    assert.match(json.error.message, message);
    assert.ok(res.headers.get("x-budget-remaining"), "the port's state rides along");
  }
  const anthropicBad = await post("anthropic/v1/messages", JSON.stringify([1]), { "x-api-key": key, authorization: "" });
  assert.equal(anthropicBad.status, 400);
  const anthropicError = await anthropicBad.json();
  assert.equal(anthropicError.type, "error");
  assert.equal(anthropicError.error.type, "invalid_request_error");
  const unknown = await post("openai/completions", "{}");
  assert.equal(unknown.status, 404);
  await assertUntouched("strict-input", sent);
});

test("strict mode refuses images, documents and provider-side tools with a 400 in the provider's format, and holds nothing", async () => {
  const key = await openPort(g.worker, "unbounded");
  const { openai, anthropic } = clients("unbounded", key);
  const sent = g.upstream.requests.length;
  const openaiCases = [
    [{ messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "https://example.com/a.png" } }] }] }, "messages", /image, document and file parts/],
    [{ messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-abc" } }] }] }, "messages", /image, document and file parts/],
    [{ web_search_options: {}, messages: [{ role: "user", content: "news?" }] }, "web_search_options", /web search/],
  ];
  for (const [body, param, message] of openaiCases) {
    const err = await openai.chat.completions.create({ model: "gpt-test", max_tokens: 10, ...body }).catch((e) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
    assert.equal(err.code, "unbounded_input");
    assert.equal(err.param, param);
    assert.match(err.message, message);
    assert.match(err.message, /GATEWAY_STRICT=off/);
  }
  const image = { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } };
  const anthropicCases = [
    [{ messages: [{ role: "user", content: [image, { type: "text", text: "What is this?" }] }] }, /image, document and file parts/],
    [{ messages: [{ role: "user", content: [{ type: "document", source: { type: "url", url: "https://example.com/a.pdf" } }] }] }, /image, document and file parts/],
    [{ tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 3 }], messages: [{ role: "user", content: "news?" }] }, /web_search or web_fetch/],
    [{ tools: [{ type: "web_fetch_20250910", name: "web_fetch" }], messages: [{ role: "user", content: "read it" }] }, /web_search or web_fetch/],
  ];
  for (const [body, message] of anthropicCases) {
    const err = await anthropic.messages.create({ model: "claude-test", max_tokens: 10, ...body }).catch((e) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
    assert.equal(err.error.error.type, "invalid_request_error");
    assert.match(err.message, message);
  }
  await assertUntouched("unbounded", sent);
  assert.deepEqual(await reservations(g.worker, "unbounded"), [], "no hold was taken");
});

test("a token count of the wrong type is refused by the Worker's token rule, in the provider's format", async () => {
  const key = await openPort(g.worker, "token-rule");
  const sent = g.upstream.requests.length;
  const res = await g.fetch(`${g.anthropicURL("token-rule")}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-test", max_tokens: "ten", messages: [] }),
  });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.type, "invalid_request_error");
  assert.equal(body.error.message, "max_tokens must be a number");
  await assertUntouched("token-rule", sent);
});

test("attribution headers are read as UTF-8, and text that would mislead a reader is refused", async () => {
  const key = await openPort(g.worker, "utf8");
  const sent = g.upstream.requests.length;
  // What a client writes as UTF-8 reaches fetch as one character per byte.
  const bytes = (text) => Buffer.from(text, "utf8").toString("latin1");
  const call = (headers) =>
    g.fetch(`${g.openaiURL("utf8")}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify({ model: "gpt-test?in=2&out=1", messages: [{ role: "user", content: "x" }] }),
    });
  const ok = await call({ "x-budget-feature": bytes("été"), "x-budget-user": bytes("Zoë") });
  assert.equal(ok.status, 200, await ok.text());
  await settled(g.worker, "utf8");
  const [row] = await ledger(g.worker, "utf8");
  assert.deepEqual([row.feature, row.user_id], ["été", "Zoë"]);
  for (const [header, value] of [
    ["x-budget-feature", bytes("\u202Etxt.exe")],
    ["x-budget-user", bytes("ad\u200Bmin")],
    // Bytes that are not UTF-8 (Latin-1 é): refused, not stored as U+FFFD.
    ["x-budget-feature", "\xe9t\xe9"],
  ]) {
    const res = await call({ [header]: value });
    assert.equal(res.status, 400, `${header}: ${JSON.stringify(value)}`);
    const body = await res.json();
    assert.equal(body.error.code, "invalid_value");
    assert.match(body.error.message, new RegExp(header));
  }
  assert.equal(g.upstream.requests.length, sent + 1, "only the good call went upstream");
  assert.equal((await ledger(g.worker, "utf8")).length, 1);
});

test("the gateway answers only POST: another method is 405 with Allow, and early refusals keep the client's connection", async () => {
  const key = await openPort(g.worker, "methods");
  for (const method of ["GET", "HEAD", "PUT", "PROPFIND"]) {
    const res = await g.fetch(`${g.openaiURL("methods")}/chat/completions`, { method, headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "POST, OPTIONS", method);
  }
  const json = { "content-type": "application/json", ...CLOCK_HEADERS };
  const body = JSON.stringify({ model: "gpt-test?in=1&out=1", messages: [{ role: "user", content: "x".repeat(3000) }] });
  const kinds = [
    [{ method: "POST", path: "/v1/ports/methods/openai/chat/completions", headers: json, body }, 401],
    [{ method: "POST", path: "/v1/ports/methods/openai/completions", headers: { ...json, authorization: `Bearer ${key}` }, body }, 404],
    [{ method: "PUT", path: "/v1/ports/methods/openai/chat/completions", headers: { ...json, authorization: `Bearer ${key}` }, body }, 405],
    [{ method: "POST", path: "/v1/ports/methods/openai/chat/completions", headers: { ...json, authorization: `Bearer ${key}` }, body }, 200],
  ];
  const requests = Array.from({ length: 200 }, (_, i) => kinds[i % kinds.length]);
  const { answers, sockets } = await overOneConnection(g.base, requests.map(([r]) => r));
  assert.deepEqual(answers, requests.map(([, status]) => status), "every call got its own answer");
  assert.equal(sockets, 1, "one connection carried them all");
});

test("the provider keys appear in no log line", async () => {
  // A call the upstream breaks off makes the gateway log a warning: proof
  // that this run's log lines are captured at all.
  const key = await openPort(g.worker, "log-control");
  const stream = await clients("log-control", key).openai.chat.completions.create({ model: "gpt-test?truncate=1", max_tokens: 5, stream: true, messages: [{ role: "user", content: "x" }] });
  for await (const _ of stream);
  await settled(g.worker, "log-control");
  assert.ok(await logged(g.logs, /gateway: stream of \S+ on port log-control finished without usage/), "the gateway's log lines were captured");
  const text = g.logs.join("\n");
  assert.ok(!text.includes(OPENAI_KEY) && !text.includes(ANTHROPIC_KEY));
});
