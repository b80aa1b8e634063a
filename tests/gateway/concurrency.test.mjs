// 50 concurrent streaming calls against a cap that fits only some of them,
// in strict mode, with the upstream billing the most a byte-level tokenizer
// could (input = the request's bytes, output = its bound): the committed
// usage never crosses the hard cap, and every call is settled exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, ledger, reservations, CLOCK_HEADERS } from "./harness.mjs";

let g;
before(async () => {
  g = await startGateway({ vars: { GATEWAY_STRICT: "on" } });
});
after(async () => {
  await g?.stop();
});

test("strict mode: 50 concurrent worst-case streams: exactly floor(cap / estimate) fit, and the committed usage never crosses the hard cap", async () => {
  const cap = 4_000;
  const port = "crowded";
  const key = await openPort(g.worker, port, { softCapTokens: cap, hardCapTokens: cap, period: "day" });
  const calibrationKey = await openPort(g.worker, "calibration");
  const clients = (p, k) => ({
    openai: new OpenAI({ apiKey: k, baseURL: g.openaiURL(p), maxRetries: 0, defaultHeaders: CLOCK_HEADERS }),
    anthropic: new Anthropic({ apiKey: k, baseURL: g.anthropicURL(p), maxRetries: 0, defaultHeaders: CLOCK_HEADERS }),
  });
  const model = "worst?in=max&out=max&chunkDelay=5";
  // Every call has the same shape; `pad` evens out the two providers' body
  // sizes, so every call's strict estimate is the same number.
  const send = async ({ openai, anthropic }, i, pad) => {
    const content = `question ${String(i).padStart(2, "0")}`;
    if (i % 2 === 0) {
      const stream = await openai.chat.completions.create({ model: `gpt-${model}`, max_tokens: 100, stream: true, messages: [{ role: "user", content: content + " ".repeat(pad.openai) }] });
      for await (const _ of stream);
    } else {
      const stream = await anthropic.messages.create({ model: `claude-${model}`, max_tokens: 100, stream: true, messages: [{ role: "user", content: content + " ".repeat(pad.anthropic) }] });
      for await (const _ of stream);
    }
  };
  const calibration = clients("calibration", calibrationKey);
  const upstreamBytes = async (i, pad) => {
    await send(calibration, i, pad);
    return g.upstream.requests.at(-1).bytes;
  };
  const [openaiBytes, anthropicBytes] = [await upstreamBytes(0, { openai: 0 }), await upstreamBytes(1, { anthropic: 0 })];
  const pad = { openai: Math.max(0, anthropicBytes - openaiBytes), anthropic: Math.max(0, openaiBytes - anthropicBytes) };
  const bytes = Math.max(openaiBytes, anthropicBytes);
  assert.deepEqual([await upstreamBytes(2, pad), await upstreamBytes(3, pad)], [bytes, bytes], "both providers' bodies are the same size");
  // The strict estimate: every byte sent upstream, plus the output bound.
  const estimate = bytes + 100;
  const fit = Math.floor(cap / estimate);
  assert.ok(fit > 0 && fit < 50, `the cap fits some calls but not all (${fit})`);

  const crowded = clients(port, key);
  const call = async (i) => {
    try {
      await send(crowded, i, pad);
      return "done";
    } catch (e) {
      if (e instanceof OpenAI.RateLimitError || e instanceof Anthropic.RateLimitError) return "refused";
      throw e;
    }
  };
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => call(i)));
  const done = results.filter((r) => r === "done").length;
  assert.equal(done, fit, `exactly floor(${cap} / ${estimate}) calls fit`);

  await settled(g.worker, port, { timeoutMs: 15_000 });
  const rows = await ledger(g.worker, port);
  const holds = await reservations(g.worker, port);
  const committed = rows.reduce((sum, r) => sum + r.total_tokens, 0);
  assert.equal(committed, fit * estimate, "each call committed exactly its worst case");
  assert.ok(committed <= cap, `committed ${committed} tokens against a cap of ${cap}`);
  assert.equal(rows.length, done, "one ledger row per call that went through");
  assert.equal(holds.length, done, "refused calls took no hold");
  assert.ok(holds.every((h) => h.state === "committed" && h.estimated_tokens === estimate && h.actual_tokens === estimate), "the worst case is exactly the strict estimate");
  const { ledger: sum, rollup } = await g.worker.consistency(port);
  assert.ok(rollup.every((r) => r.tokens === sum.tokens && r.calls === sum.calls), "the rollup equals the ledger");
  const usage = (await g.worker.get(`/v1/ports/${port}/usage`)).json;
  assert.equal(usage.heldTokens, 0);
  assert.equal(usage.usedTokens, committed);
});
