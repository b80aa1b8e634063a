// Each gated call's one structured log line, in OpenTelemetry's GenAI names
// (gen_ai.provider.name, gen_ai.request.model, gen_ai.usage.input_tokens,
// ...) with the port, how its hold was settled and its cost: written once,
// after the hold is settled, for plain and streamed calls and for a call
// the upstream refused (its hold released).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, openPort, settled, ledger, CLOCK_HEADERS } from "./harness.mjs";
import { eventually } from "../alerts/receiver.mjs";

let g;
let key;
const PORT = "otel";
before(async () => {
  g = await startGateway({ vars: { GATEWAY_DEFAULT_MAX_TOKENS: "300" } });
  key = await openPort(g.worker, PORT, { softCapTokens: 100_000, hardCapTokens: 1_000_000 });
});
after(async () => {
  await g?.stop();
});

const openai = () => new OpenAI({ apiKey: key, baseURL: g.openaiURL(PORT), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });
const anthropic = () => new Anthropic({ apiKey: key, baseURL: g.anthropicURL(PORT), maxRetries: 0, defaultHeaders: CLOCK_HEADERS });

/** The call lines logged for a reservation, parsed. */
const linesOf = (reservation) =>
  g.logs
    .filter((l) => l.includes('"gen_ai.call"'))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))))
    .filter((l) => l["ai_budget.reservation_id"] === reservation);

/** Waits for the reservation's line; asserts there is exactly one. */
async function lineOf(reservation) {
  await eventually(() => linesOf(reservation).length > 0, { what: `the line of ${reservation}` });
  await settled(g.worker, PORT);
  const lines = linesOf(reservation);
  assert.equal(lines.length, 1, "one line per call");
  return lines[0];
}

test("a plain call's line carries the GenAI names, its usage as committed and its cost", async () => {
  // The fake upstream answers with the `-snapshot` model: priced at $2 and
  // $8 a million, 1,000 input and 200 output tokens cost $0.0036.
  for (const model of ["otel-model?in=1000&out=200", "otel-model-snapshot"]) {
    const res = await g.worker.put(`/v1/prices/${encodeURIComponent(model)}`, { inputPerMTok: 2, outputPerMTok: 8 });
    assert.equal(res.status, 200, res.text);
  }
  const { data, response } = await openai()
    .chat.completions.create({ model: "otel-model?in=1000&out=200", messages: [{ role: "user", content: "Hello" }] })
    .withResponse();
  assert.ok(data.choices.length > 0);
  const reservation = response.headers.get("x-budget-reservation");
  const line = await lineOf(reservation);
  const row = (await ledger(g.worker, PORT)).find((r) => r.reservation_id === reservation);
  assert.equal(line["gen_ai.operation.name"], "chat");
  assert.equal(line["gen_ai.provider.name"], "openai");
  assert.equal(line["gen_ai.request.model"], "otel-model?in=1000&out=200");
  assert.equal(line["gen_ai.response.model"], "otel-model-snapshot");
  assert.equal(line["gen_ai.response.model"], row.model);
  assert.equal(line["gen_ai.usage.input_tokens"], 1000);
  assert.equal(line["gen_ai.usage.output_tokens"], 200);
  assert.equal(line["ai_budget.port"], PORT);
  assert.equal(line["ai_budget.settlement"], "committed");
  assert.equal(line["ai_budget.streamed"], false);
  assert.equal(line["ai_budget.cost_usd"], 0.0036);
  assert.equal(row.cost_usd_micros, 3600, "the cost the ledger row carries");
});

test("a streamed Anthropic call logs once, with its provider's name and the stream's usage", async () => {
  const stream = anthropic().messages.stream({
    model: "claude-test?in=40&out=7", max_tokens: 50, messages: [{ role: "user", content: "Hi" }],
  });
  const message = await stream.finalMessage();
  assert.equal(message.usage.output_tokens, 7);
  const reservation = (await stream.withResponse()).response.headers.get("x-budget-reservation");
  const line = await lineOf(reservation);
  assert.equal(line["gen_ai.provider.name"], "anthropic");
  assert.equal(line["gen_ai.usage.input_tokens"], 40);
  assert.equal(line["gen_ai.usage.output_tokens"], 7);
  assert.equal(line["ai_budget.streamed"], true);
  assert.equal(line["ai_budget.settlement"], "committed");
});

test("a call the upstream refused logs its release, with no usage", async () => {
  const err = await openai()
    .chat.completions.create({ model: "gpt-test?status=500", messages: [{ role: "user", content: "x" }] })
    .catch((e) => e);
  assert.equal(err.status, 500);
  const reservation = err.headers?.get?.("x-budget-reservation") ?? err.headers?.["x-budget-reservation"];
  assert.ok(reservation, "the refusal names its reservation");
  const line = await lineOf(reservation);
  assert.equal(line["ai_budget.settlement"], "released");
  assert.equal("gen_ai.usage.input_tokens" in line, false);
  assert.equal(line["ai_budget.cost_usd"], null);
});
