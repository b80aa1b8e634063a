// Gateway overhead: the same calls straight to the fake upstream and through
// the local Worker (workerd via Miniflare, local D1/KV), interleaved in one
// run. Reports median and p99 of plain calls, full streams and time to the
// first streamed byte, and the gateway's overhead (through minus direct).
//
//   bash bench/gateway/run.sh            (builds the Worker, then runs this)
//   node bench/gateway/overhead.mjs [calls]   (Worker already built)
//
// BENCH_BASELINE=<another build's index.js> also runs that build of the
// Worker side by side (its own workerd, upstream, D1 and KV), interleaved
// with the current one, so a change is measured under the same load.
// PEER=<name> also runs a peer gateway, when installed, interleaved the same
// way against the same upstream (bench/gateway/peers.mjs).
import { readFileSync } from "node:fs";
import { startGateway, openPort, settled, OPENAI_KEY } from "../../tests/gateway/harness.mjs";
import { chosenPeer, startPeer } from "./peers.mjs";

const CALLS = Number(process.argv[2] ?? 300);
const WARMUP = 100;
const BASELINE = process.env.BENCH_BASELINE;

// Production settings: no test seams (requests carry no x-now).
const vars = { FAULT_INJECTION: "off" };
const g = await startGateway({ vars });
g.worker.now = null;
const port = "bench";
const key = await openPort(g.worker, port, { softCapTokens: 1e12, hardCapTokens: 1e12 });
// A baseline from before the ports' gates has no Durable Objects.
const baselineGated = BASELINE && readFileSync(BASELINE, "utf8").includes("PortGate");
const b = BASELINE ? await startGateway({ vars, scriptPath: BASELINE, gate: baselineGated }) : undefined;
if (b) b.worker.now = null;
const baseKey = b ? await openPort(b.worker, port, { softCapTokens: 1e12, hardCapTokens: 1e12 }) : undefined;
const peerChosen = chosenPeer();
const peer = peerChosen ? await startPeer(peerChosen, g.upstream.openaiBase) : undefined;

const body = (stream) =>
  JSON.stringify({
    model: "gpt-bench?in=120&out=16",
    max_tokens: 64,
    stream,
    messages: [
      { role: "system", content: "You are a concise assistant." },
      { role: "user", content: "Summarize the plot of a short story about a lighthouse keeper in two sentences." },
    ],
  });
const targets = {
  direct: { url: `${g.upstream.openaiBase}/chat/completions`, auth: `Bearer ${OPENAI_KEY}` },
  gateway: { url: `${g.openaiURL(port)}/chat/completions`, auth: `Bearer ${key}` },
  ...(b ? { baseline: { url: `${b.openaiURL(port)}/chat/completions`, auth: `Bearer ${baseKey}` } } : {}),
  ...(peer ? { peer: { url: peer.url, auth: `Bearer ${OPENAI_KEY}`, headers: peer.headers } } : {}),
};
const names = Object.keys(targets);

/** One call: total time and, for streams, time to the first body byte (ms). */
async function call(target, stream) {
  const started = performance.now();
  const res = await fetch(target.url, {
    method: "POST",
    headers: { authorization: target.auth, "content-type": "application/json", ...target.headers },
    body: body(stream),
  });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let first;
  for (;;) {
    const { done, value } = await reader.read();
    if (first === undefined && value?.length) first = performance.now() - started;
    if (done) break;
  }
  return { total: performance.now() - started, first };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function measure(stream) {
  const sides = names.filter((n) => !(stream && peerStreamFails && n === "peer"));
  const out = Object.fromEntries(sides.map((n) => [n, { total: [], first: [] }]));
  for (let i = 0; i < WARMUP + CALLS; i++) {
    // Rotate which goes first so no side always runs on a warm path.
    const order = sides.map((_, j) => sides[(i + j) % sides.length]);
    for (const name of order) {
      const r = await call(targets[name], stream);
      if (i >= WARMUP) {
        out[name].total.push(r.total);
        if (stream) out[name].first.push(r.first);
      }
    }
  }
  return out;
}

const fmt = (x) => x.toFixed(2).padStart(8);
function report(label, direct, gateway) {
  const [dm, d99, gm, g99] = [quantile(direct, 0.5), quantile(direct, 0.99), quantile(gateway, 0.5), quantile(gateway, 0.99)];
  console.log(`${label.padEnd(26)}${fmt(dm)}${fmt(d99)}${fmt(gm)}${fmt(g99)}${fmt(gm - dm)}${fmt(g99 - d99)}`);
}

/** The runtime's own floor: a gateway request refused before any storage or upstream call. */
async function floor() {
  const times = [];
  for (let i = 0; i < WARMUP + CALLS; i++) {
    const started = performance.now();
    const res = await fetch(targets.gateway.url, { method: "POST", body: "{}" });
    await res.text();
    if (i >= WARMUP) times.push(performance.now() - started);
  }
  return times;
}

/** The gate alone, through the HTTP API: key, one atomic hold in the port's object. */
async function gateAlone() {
  const times = [];
  for (let i = 0; i < WARMUP + CALLS; i++) {
    const started = performance.now();
    const res = await fetch(`${g.base}/v1/ports/${port}/reservations`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ estimatedTokens: 200, ttlSeconds: 60 }),
    });
    if (res.status !== 201) throw new Error(`${res.status} ${await res.text()}`);
    await res.text();
    if (i >= WARMUP) times.push(performance.now() - started);
  }
  return times;
}

// A peer that cannot relay a stream is measured on plain calls only.
const peerStreamFails = peer ? await call(targets.peer, true).then(() => undefined, (e) => e.message.slice(0, 120)) : undefined;
// Warm every path first (workerd tiers the wasm up as it runs hot).
for (let i = 0; i < WARMUP; i++) {
  for (const stream of [false, true]) {
    for (const [name, t] of Object.entries(targets)) if (!(stream && peerStreamFails && name === "peer")) await call(t, stream);
  }
}

const plain = await measure(false);
const streamed = await measure(true);
await settled(g.worker, port, { timeoutMs: 30_000 });
const bare = await floor();
const gate = await gateAlone();
// A baseline from before the gates keeps its holds in D1.
if (b && baselineGated) await settled(b.worker, port, { timeoutMs: 30_000 });
for (const deadline = Date.now() + 30_000; b && !baselineGated && Date.now() < deadline; ) {
  const [open] = await b.worker.sql("SELECT COUNT(*) AS n FROM reservations WHERE port_id = ? AND state = 'held'", port);
  if (open.n === 0) break;
  await new Promise((r) => setTimeout(r, 50));
}
await g.worker.synced(port);
const [rows] = await g.worker.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);

console.log(`gateway overhead, ${CALLS} calls each (after ${2 * WARMUP} warm-up calls of each kind), ms; Node ${process.version}, ${(await import("node:os")).cpus().length} cores`);
console.log(`${"".padEnd(26)}${"direct".padStart(16)}${"gateway".padStart(16)}${"overhead".padStart(16)}`);
console.log(`${"".padEnd(26)}${["median", "p99", "median", "p99", "median", "p99"].map((s) => s.padStart(8)).join("")}`);
report("plain chat completion", plain.direct.total, plain.gateway.total);
report("streamed, whole stream", streamed.direct.total, streamed.gateway.total);
report("streamed, first byte", streamed.direct.first, streamed.gateway.first);
if (b) {
  report("baseline: plain", plain.direct.total, plain.baseline.total);
  report("baseline: whole stream", streamed.direct.total, streamed.baseline.total);
  report("baseline: first byte", streamed.direct.first, streamed.baseline.first);
}
if (peer) {
  report(`${peer.name}: plain`, plain.direct.total, plain.peer.total);
  if (peerStreamFails) console.log(`${peer.name}: streams not measured, it answered ${peerStreamFails}`);
  else {
    report(`${peer.name}: whole stream`, streamed.direct.total, streamed.peer.total);
    report(`${peer.name}: first byte`, streamed.direct.first, streamed.peer.first);
  }
}
console.log(`${"Worker floor (401, no I/O)".padEnd(26)}${"".padStart(16)}${fmt(quantile(bare, 0.5))}${fmt(quantile(bare, 0.99))}`);
console.log(`${"API reservation (the gate)".padEnd(26)}${"".padStart(16)}${fmt(quantile(gate, 0.5))}${fmt(quantile(gate, 0.99))}`);
console.log(`ledger rows written through the gateway: ${rows.n} (expected ${2 * (CALLS + 2 * WARMUP)})`);
await g.stop();
await b?.stop();
await peer?.stop();
