// 50 concurrent streaming calls against a cap that fits only some of them,
// in strict mode, with the upstream billing the most a byte-level tokenizer
// could (input = the request's bytes, output = its bound): the committed
// usage never crosses the hard cap, and every call is settled exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, ledger, reservations } from "./harness.mjs";

let g;
before(async () => {
  g = await startGateway({ vars: { GATEWAY_STRICT: "on" } });
});
after(async () => {
  await g?.stop();
});

test("strict mode: 50 concurrent worst-case streams never commit more than the hard cap", async () => {
  const cap = 4_000;
  const port = "crowded";
  const key = await openPort(g.worker, port, { softCapTokens: cap, hardCapTokens: cap, period: "day" });
  const openai = new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: key, baseURL: g.anthropicURL(port), maxRetries: 0 });
  const model = "worst?in=max&out=max&chunkDelay=5";
  const call = async (i) => {
    try {
      if (i % 2 === 0) {
        const stream = await openai.chat.completions.create({ model: `gpt-${model}`, max_tokens: 100, stream: true, messages: [{ role: "user", content: `question ${i}` }] });
        for await (const _ of stream);
      } else {
        const stream = await anthropic.messages.create({ model: `claude-${model}`, max_tokens: 100, stream: true, messages: [{ role: "user", content: `question ${i}` }] });
        for await (const _ of stream);
      }
      return "done";
    } catch (e) {
      if (e instanceof OpenAI.RateLimitError || e instanceof Anthropic.RateLimitError) return "refused";
      throw e;
    }
  };
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => call(i)));
  const done = results.filter((r) => r === "done").length;
  assert.ok(done > 0 && done < 50, `some calls fit and some did not (${done} of 50 fit)`);

  await settled(g.worker, port, { timeoutMs: 15_000 });
  const rows = await ledger(g.worker, port);
  const holds = await reservations(g.worker, port);
  const committed = rows.reduce((sum, r) => sum + r.total_tokens, 0);
  assert.ok(committed <= cap, `committed ${committed} tokens against a cap of ${cap}`);
  assert.equal(rows.length, done, "one ledger row per call that went through");
  assert.equal(holds.length, done, "refused calls took no hold");
  assert.ok(holds.every((h) => h.state === "committed" && h.actual_tokens === h.estimated_tokens), "the worst case is exactly the strict estimate");
  const { ledger: sum, rollup } = await g.worker.consistency(port);
  assert.ok(rollup.every((r) => r.tokens === sum.tokens && r.calls === sum.calls), "the rollup equals the ledger");
  const usage = (await g.worker.get(`/v1/ports/${port}/usage`)).json;
  assert.equal(usage.heldTokens, 0);
  assert.equal(usage.usedTokens, committed);
});
