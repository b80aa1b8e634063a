// Caps inside a port at the gateway, with the official SDKs as clients: a
// call's feature (x-budget-feature) and end user (x-budget-user) meet their
// caps in the same step as the port's, a group above the port meets its own
// through the port's allowance, and a refusal is the SDK's own
// RateLimitError naming the cap, with X-Budget-Scope headers; nothing is
// forwarded or held.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, reservations, CLOCK_HEADERS } from "./harness.mjs";

let g;
let key;
before(async () => {
  g = await startGateway();
  key = await openPort(g.worker, "caps-gw", { featureCaps: { summaries: { hardCap: 400 } }, userCap: { hardCap: 600 }, userCaps: { vip: { hardCap: 50_000 } } });
});
after(async () => {
  await g?.stop();
});

const openai = (headers = {}) =>
  new OpenAI({ apiKey: key, baseURL: g.openaiURL("caps-gw"), maxRetries: 0, defaultHeaders: { ...CLOCK_HEADERS, ...headers } });
const chat = (client, maxTokens) =>
  client.chat.completions.create({ model: "gpt-test", max_tokens: maxTokens, messages: [{ role: "user", content: "hi" }] });

test("an end user's cap refuses their call with the SDK's RateLimitError naming the user, while others pass", async () => {
  const sent = g.upstream.requests.length;
  const err = await chat(openai({ "x-budget-user": "ann" }), 700).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
  assert.equal(err.code, "budget_exceeded");
  assert.match(err.message, /user "ann"'s token cap refuses this call \(estimated-exceeds-cap\)/);
  assert.equal(err.headers.get("x-budget-scope"), "user");
  assert.equal(err.headers.get("x-budget-scope-id"), "ann");
  assert.equal(err.headers.get("x-should-retry"), "false");
  assert.ok(Number(err.headers.get("retry-after")) > 0);
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  assert.ok((await reservations(g.worker, "caps-gw")).every((r) => r.state !== "held"), "nothing is held");

  const vip = await chat(openai({ "x-budget-user": "vip" }), 700);
  assert.ok(vip.choices.length > 0, "an override lets the call through");
  const anonymous = await chat(openai(), 700);
  assert.ok(anonymous.choices.length > 0, "a call without a user meets no user cap");
});

test("a feature's cap refuses its feature's calls in the Anthropic format", async () => {
  const anthropic = new Anthropic({
    apiKey: key, baseURL: g.anthropicURL("caps-gw"), maxRetries: 0,
    defaultHeaders: { ...CLOCK_HEADERS, "x-budget-feature": "summaries" },
  });
  const err = await anthropic.messages
    .create({ model: "claude-test", max_tokens: 450, messages: [{ role: "user", content: "hi" }] })
    .catch((e) => e);
  assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
  assert.equal(err.error.error.type, "rate_limit_error");
  assert.match(err.error.error.message, /feature "summaries"'s token cap refuses this call/);
  assert.equal(err.headers.get("x-budget-scope"), "feature");
  assert.equal(err.headers.get("x-budget-scope-id"), "summaries");
  const fits = await anthropic.messages.create({ model: "claude-test", max_tokens: 300, messages: [{ role: "user", content: "hi" }] });
  assert.ok(fits.content.length > 0);
});

test("a group's cap above the port refuses its call with the SDK's RateLimitError naming the group; nothing forwarded or held", async () => {
  const org = await g.worker.put("/v1/groups/gw-org/budget", { enabled: true, softCapTokens: 500, hardCapTokens: 500, period: "month" });
  assert.equal(org.status, 200, org.text);
  const member = await openPort(g.worker, "caps-member", { parent: "gw-org" });
  const client = new OpenAI({ apiKey: member, baseURL: g.openaiURL("caps-member"), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
  const sent = g.upstream.requests.length;
  const err = await chat(client, 700).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
  assert.equal(err.code, "budget_exceeded");
  assert.match(err.message, /group "gw-org"'s token cap refuses this call/);
  assert.equal(err.headers.get("x-budget-scope"), "group");
  assert.equal(err.headers.get("x-budget-scope-id"), "gw-org");
  assert.equal(err.headers.get("x-should-retry"), "false");
  assert.equal(g.upstream.requests.length, sent, "nothing was forwarded");
  assert.ok((await reservations(g.worker, "caps-member")).every((r) => r.state !== "held"), "nothing is held");
  // Within the group's cap the same port's call goes through.
  const fits = await chat(client, 300);
  assert.ok(fits.choices.length > 0, "a call within the group's cap passes");
});
