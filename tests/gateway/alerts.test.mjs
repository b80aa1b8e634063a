// Alerts from gated calls, with the official SDK as the client: a call that
// crosses the soft cap raises one event, written to the Worker's log as one
// structured line and delivered to the port's webhook; a dead webhook fails
// no call.
//
// Every request runs at the suite's instant moved clear of its day's end
// (CLOCK.clear): the tests count the events a crossing raises, and a port's
// gate resolves a raised crossing by itself when its period ends, on a clock
// that keeps moving from the last request's instant.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startGateway, openPort, settled, CLOCK } from "./harness.mjs";
import { Receiver, eventually } from "../alerts/receiver.mjs";

let g;
let rx;
/** The Worker's API at CLOCK.clear. */
let api;
before(async () => {
  rx = await new Receiver().start();
  g = await startGateway();
  api = g.worker.at(CLOCK.clear.iso);
});
after(async () => {
  await g?.stop();
  await rx?.stop();
});

const chat = (key, port) =>
  new OpenAI({ apiKey: key, baseURL: g.openaiURL(port), maxRetries: 0, defaultHeaders: { "x-now": CLOCK.clear.iso } }).chat.completions.create({
    model: "gpt-test",
    max_tokens: 50,
    messages: [{ role: "user", content: "hi" }],
  });

const alertLines = (port) =>
  g.logs
    .filter((l) => l.includes('"alert-event"'))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))))
    .filter((l) => l.event.port === port);

test("a gated call crossing the soft cap raises one event: one structured log line, one delivery", async () => {
  const port = "gw-alerts";
  const key = await openPort(api, port, { softCapTokens: 1, hardCapTokens: 1_000_000 });
  await api.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/ok/gw` });
  for (let i = 0; i < 3; i++) assert.ok((await chat(key, port)).choices.length > 0);
  await settled(api, port);
  await eventually(() => rx.at("/ok/gw").length === 1, { what: "the delivery" });
  const [delivered] = rx.at("/ok/gw");
  assert.equal(delivered.event.threshold, "soft");
  await eventually(() => alertLines(port).length === 1, { what: "the log line" });
  const [line] = alertLines(port);
  assert.equal(line.log, "alert-event");
  assert.deepEqual(line.event, delivered.event, "the log line is the event as delivered");
  assert.equal(alertLines(port).length, 1);
  assert.equal(rx.at("/ok/gw").length, 1);
});

test("a dead webhook fails no gated call", async () => {
  const port = "gw-alerts-dead";
  const key = await openPort(api, port, { softCapTokens: 1, hardCapTokens: 1_000_000 });
  await api.put(`/v1/ports/${port}/alerts`, { webhookUrl: `${rx.origin}/dead/gw` });
  for (let i = 0; i < 5; i++) assert.ok((await chat(key, port)).choices.length > 0, "answered");
  await eventually(async () => {
    const { deliveries } = (await api.get(`/v1/ports/${port}/alerts/deliveries`)).json;
    return deliveries.length === 1 && deliveries[0].status === "dead" && deliveries;
  }, { what: "the delivery dead" });
});
