// Per-port gateway settings (GATEWAY_PORT_SETTINGS): strict mode, the
// default output bound, and the models a port may call, over the gateway's,
// and under the port's own settings saved through the API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, ledger, reservations, CLOCK_HEADERS } from "./harness.mjs";

let g;
const keys = {};
before(async () => {
  g = await startGateway({
    vars: {
      GATEWAY_PORT_SETTINGS: JSON.stringify({
        limited: { models: ["gpt-ok*", "claude-ok"], defaultMaxTokens: 77 },
        loose: { strict: false },
      }),
    },
  });
  for (const port of ["limited", "loose", "plain"]) keys[port] = await openPort(g.worker, port);
});
after(async () => {
  await g?.stop();
});

const openai = (port) => new OpenAI({ apiKey: keys[port], baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const anthropic = (port) => new Anthropic({ apiKey: keys[port], baseURL: g.anthropicURL(port), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const lastUpstream = () => g.upstream.requests.at(-1);
const image = [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png" } }] }];

test("a port's default output bound replaces the gateway's", async () => {
  await openai("limited").chat.completions.create({ model: "gpt-ok?in=3&out=1", messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().body.max_completion_tokens, 77);
  const hold = (await reservations(g.worker, "limited")).at(-1);
  assert.equal(hold.estimated_tokens, lastUpstream().bytes + 77);
  await openai("plain").chat.completions.create({ model: "gpt-any?in=3&out=1", messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().body.max_completion_tokens, 4096, "another port keeps the gateway's default");
});

test("a model outside the port's list is refused with 400 in the provider's format, and nothing is held or forwarded", async () => {
  const sent = g.upstream.requests.length;
  const err = await openai("limited").chat.completions.create({ model: "gpt-other", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
  assert.equal(err.code, "model_not_allowed");
  assert.equal(err.param, "model");
  assert.match(err.message, /port limited may not call model "gpt-other"/);
  const claude = await anthropic("limited").messages.create({ model: "claude-ok-2", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.ok(claude instanceof Anthropic.BadRequestError, `got ${claude}`);
  assert.equal(claude.error.error.type, "invalid_request_error");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  assert.equal((await ledger(g.worker, "limited")).length, 1, "only the allowed call is counted");
  assert.ok((await reservations(g.worker, "limited")).every((r) => r.state !== "held"));
  // Exact names and prefixes both let a call through.
  await anthropic("limited").messages.create({ model: "claude-ok", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
  await openai("limited").responses.create({ model: "gpt-ok-mini", input: "x", max_output_tokens: 5 });
});

test("a port with strict mode off holds the typical estimate and lets images through; the others stay strict", async () => {
  await openai("loose").chat.completions.create({ model: "gpt-any?in=3&out=1", max_tokens: 10, messages: image });
  const hold = (await reservations(g.worker, "loose")).at(-1);
  assert.equal(hold.estimated_tokens, Math.ceil(lastUpstream().bytes / 4) + 10);
  const err = await openai("plain").chat.completions.create({ model: "gpt-any", max_tokens: 10, messages: image }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError);
  assert.equal(err.code, "unbounded_input");
});

test("malformed port settings make every call answer 500 rather than drop a port's limits", async () => {
  const bad = await startGateway({ vars: { GATEWAY_PORT_SETTINGS: '{"limited": {"models": "gpt-ok"}}' } });
  try {
    const portKey = await openPort(bad.worker, "limited");
    const client = new OpenAI({ apiKey: portKey, baseURL: bad.openaiURL("limited"), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
    const err = await client.chat.completions.create({ model: "gpt-ok", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    assert.ok(err instanceof OpenAI.InternalServerError, `got ${err}`);
    assert.match(err.message, /GATEWAY_PORT_SETTINGS/);
    assert.equal(bad.upstream.requests.length, 0);
  } finally {
    await bad.stop();
  }
});

test("a port's settings saved through the API win over GATEWAY_PORT_SETTINGS, setting by setting, from its next call", async () => {
  const client = openai("limited");
  const refused = await client.chat.completions.create({ model: "gpt-other?in=3&out=1", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.equal(refused.code, "model_not_allowed", "the variable's list at first");
  const shown = await g.worker.get("/v1/ports/limited/gateway");
  assert.deepEqual(shown.json.defaults.models, ["gpt-ok*", "claude-ok"]);
  assert.equal(shown.json.defaults.defaultMaxTokens, 77);
  const saved = await g.worker.put("/v1/ports/limited/gateway", { models: ["gpt-other*"] });
  assert.equal(saved.status, 200, saved.text);
  // The saved list replaces the variable's; the variable's output bound stays.
  await client.chat.completions.create({ model: "gpt-other?in=3&out=1", messages: [{ role: "user", content: "x" }] });
  assert.equal(lastUpstream().body.max_completion_tokens, 77);
  const now = await client.chat.completions.create({ model: "gpt-ok?in=3&out=1", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
  assert.equal(now.code, "model_not_allowed");
  // Saved empty: the variable's again.
  assert.equal((await g.worker.put("/v1/ports/limited/gateway", {})).status, 200);
  await client.chat.completions.create({ model: "gpt-ok?in=3&out=1", messages: [{ role: "user", content: "x" }] });
});
