// Where a gated call's CPU goes: plain OpenAI chat completions through the
// gateway (workerd via Miniflare, local D1/KV, production settings), with
// workerd's CPU per call read from /proc and a CPU profile of the Worker and
// its objects taken over workerd's inspector (the DevTools protocol).
//
//   node bench/gateway/profile.mjs [calls] [out.cpuprofile]   (Worker already built)
//
// Prints the work one call causes (counted under the test seams: the
// gateway's x-test-operations header), workerd's CPU per call (utime +
// stime over sequential calls, including the work each call leaves for
// after its answer) and, when a file is named, the functions with the most
// self time in a profile. BENCH_SCRIPT=<index.js> measures another build.
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import WebSocket from "ws";
import { startGateway, openPort, settled } from "../../tests/gateway/harness.mjs";
import { port, body, script } from "./call.mjs";
import { TICK_MS, workerdTicks } from "../workerd-cpu.mjs";

const CALLS = Number(process.argv[2] ?? 500);
const OUT = process.argv[3];
const WARMUP = 300;

/** A free TCP port for the inspector. */
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** A gateway with a port and its key, and one call through it. */
async function gateway(vars, options = {}) {
  const g = await startGateway({ vars, options, ...script });
  g.worker.now = null;
  const key = await openPort(g.worker, port, { softCapTokens: 1e12, hardCapTokens: 1e12 });
  const url = `${g.openaiURL(port)}/chat/completions`;
  const call = async () => {
    const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return res.headers;
  };
  return { g, call, url };
}

/** A header's tally (`kv=1 d1=0 ...`) as numbers. */
const tally = (text) => Object.fromEntries(text.trim().split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
const show = (t, n = 1) => Object.entries(t).map(([k, v]) => `${k}=${+(v / n).toFixed(2)}`).join(" ");

// 1. The work per call, counted under the test seams (no clock or faults
// set): the path (from the request to its answer) of one call, and the
// whole (path and after the answer) over many.
await (async () => {
  const { g, call, url } = await gateway({ FAULT_INJECTION: "on" });
  for (let i = 0; i < 50; i++) await call();
  await settled(g.worker, port, { timeoutMs: 30_000 });
  await pause(300);
  // A request refused before any I/O, asking for an earlier call's tally.
  const probe = async (of) => {
    const res = await fetch(url, { method: "POST", body: "{}", headers: of ? { "x-test-operations-of": of } : {} });
    await res.arrayBuffer();
    return res.headers;
  };
  if (!(await probe()).get("x-test-isolate")) {
    console.log("no tally: a build from before the test seams' tally");
    await g.stop();
    return;
  }
  const before = tally((await probe()).get("x-test-isolate"));
  const first = await call();
  await pause(300);
  const whole = (await probe(first.get("x-budget-request-id"))).get("x-test-operations-of");
  for (let i = 1; i < CALLS; i++) await call();
  await pause(500);
  const after = tally((await probe()).get("x-test-isolate"));
  const all = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
  console.log(`one warm call, its own work to its answer:  ${first.get("x-test-operations")}`);
  console.log(`one warm call, its own work with what followed its answer: ${whole}`);
  console.log(`the isolate's work per call over ${CALLS} calls (objects' own included): ${show(all, CALLS)}`);
  // The same at 16 in flight: a busy port shares its D1 batches and
  // alarms among more calls.
  await settled(g.worker, port, { timeoutMs: 30_000 });
  const loaded = tally((await probe()).get("x-test-isolate"));
  let issued = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (issued < CALLS) {
        issued++;
        await call();
      }
    }),
  );
  await pause(500);
  const end = tally((await probe()).get("x-test-isolate"));
  const busy = Object.fromEntries(Object.keys(end).map((k) => [k, end[k] - loaded[k]]));
  console.log(`the isolate's work per call over ${CALLS} calls, 16 in flight: ${show(busy, CALLS)}`);
  await settled(g.worker, port, { timeoutMs: 30_000 });
  await g.stop();
})();

// 2. workerd's CPU per call, with production settings (no inspector:
// an attached one slows workerd down). The pause after the calls lets the
// last call's after-answer work finish inside the measurement.
{
  const { g, call } = await gateway({ FAULT_INJECTION: "off" });
  for (let i = 0; i < WARMUP; i++) await call();
  await settled(g.worker, port, { timeoutMs: 30_000 });
  await pause(300);
  const before = workerdTicks();
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await call();
  const wall = performance.now() - started;
  await pause(500);
  const cpuMs = ((workerdTicks() - before) * TICK_MS) / CALLS;
  console.log(`workerd CPU per gated call: ${cpuMs.toFixed(2)} ms over ${CALLS} sequential calls (${(wall / CALLS).toFixed(2)} ms each, wall)`);
  await settled(g.worker, port, { timeoutMs: 30_000 });
  await g.stop();
}
if (!OUT) process.exit(0);

// 3. The profile (only when a file is named), with production settings.
const inspectorPort = await freePort();
const { g, call } = await gateway({ FAULT_INJECTION: "off" }, { inspectorPort });
for (let i = 0; i < WARMUP; i++) await call();
await settled(g.worker, port, { timeoutMs: 30_000 });
await pause(300);

// The profile.
const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
const ws = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${inspectorPort}/${target.id}`);
await new Promise((r, e) => (ws.once("open", r), ws.once("error", e)));
let next = 1;
const pending = new Map();
ws.on("message", (m) => {
  const msg = JSON.parse(m);
  if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg);
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
for (let i = 0; i < CALLS; i++) await call();
await pause(500);
const { result } = await send("Profiler.stop");
ws.close();
const profile = result.profile;
if (OUT) writeFileSync(OUT, JSON.stringify(profile));

// Self time per function (by name and script), and the share of the
// samples that were not idle.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const n = byId.get(profile.samples[i]);
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const name = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").pop()}`;
  self.set(name, (self.get(name) ?? 0) + dt);
}
const total = [...self.entries()].filter(([n]) => !/^\((idle|program|garbage collector)\)/.test(n)).reduce((a, [, v]) => a + v, 0);
console.log(`profiled ${CALLS} calls: ${(total / 1000 / CALLS).toFixed(2)} ms of JS/wasm samples per call (not idle, not (program), not GC)`);
for (const special of ["(program) ", "(garbage collector) ", "(idle) "]) {
  console.log(`  ${special.padEnd(40)} ${((self.get(special) ?? 0) / 1000 / CALLS).toFixed(3)} ms/call`);
}
const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40));
for (const [name, us] of top) console.log(`  ${name.slice(0, 80).padEnd(80)} ${(us / 1000 / CALLS).toFixed(3)} ms/call`);
await settled(g.worker, port, { timeoutMs: 30_000 });
await g.stop();
