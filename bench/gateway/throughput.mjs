// Gateway throughput: plain OpenAI chat completions through the Worker
// (workerd via Miniflare, local D1/KV and Durable Objects, production
// settings) in a closed loop with 16 and then 64 calls in flight, against
// the harness's fake upstream. Reports calls per second, workerd's CPU per
// call (utime + stime of the workerd processes this Node process started,
// from /proc/<pid>/stat, the work each call leaves for after its answer
// included), latency quantiles, and this Node process's own CPU per call
// (the load generator and the fake upstream share the machine).
//
//   node bench/gateway/throughput.mjs [calls] [rounds] [levels]   (Worker already built)
//   e.g. node bench/gateway/throughput.mjs 3000 3 16,64
//
// BENCH_SCRIPT=<another build's index.js> measures that build (it must sit
// inside the tree, e.g. under target/). A peer gateway is not needed;
// PEER=<name> also measures one, when installed, the same way in the same
// run (bench/gateway/peers.mjs), its CPU read from its own process.
// FLOOR=1 first measures the Worker's floor the same way: the same request
// without a key, answered 401 with no I/O. PROXY=1 first measures the reference
// Workers of floors.mjs the same way (a few lines of JS each, in their own
// workerd: a bare proxy, and a proxy with a durable hold and commit in a
// Durable Object, by fetch and by RPC).
import { loadavg } from "node:os";
import { FLOOR_NAMES, startFloor } from "./floors.mjs";
import { startGateway, openPort, settled, OPENAI_KEY } from "../../tests/gateway/harness.mjs";
import { port, body, script } from "./call.mjs";
import { TICK_MS, ticksOf, workerdTicks } from "../workerd-cpu.mjs";
import { chosenPeer, startPeer } from "./peers.mjs";

const CALLS = Number(process.argv[2] ?? 3000);
const ROUNDS = Number(process.argv[3] ?? 3);
const LEVELS = (process.argv[4] ?? "16,64").split(",").map(Number);
const WARMUP = 300;

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

const g = await startGateway({ vars: { FAULT_INJECTION: "off" }, ...script });
g.worker.now = null;
const key = await openPort(g.worker, port, { softCapTokens: 1e15, hardCapTokens: 1e15 });
const url = `${g.openaiURL(port)}/chat/completions`;
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };

/** One call (a gated one, or with `floor` one the Worker refuses at once); its latency (ms). */
async function call(floor = false) {
  const started = performance.now();
  const res = await fetch(url, { method: "POST", headers: floor ? floorHeaders : headers, body });
  await res.arrayBuffer();
  if (res.status !== (floor ? 401 : 200)) throw new Error(`gateway answered ${res.status}`);
  return performance.now() - started;
}
const floorHeaders = { "content-type": "application/json" };

/** `calls` calls with `inflight` in flight at every moment (each worker
 * sends its next call when its last one is answered). */
async function closedLoop(calls, inflight, floor = false) {
  let issued = 0;
  const latencies = [];
  const worker = async () => {
    while (issued < calls) {
      issued++;
      latencies.push(await call(floor));
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return latencies.sort((a, b) => a - b);
}

console.log(
  `gateway throughput: ${CALLS} calls per level, ${ROUNDS} round(s), ${process.env.BENCH_SCRIPT ?? "build/index.js"}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
await closedLoop(WARMUP, 16);
await settled(g.worker, port, { timeoutMs: 60_000 });
if (process.env.FLOOR === "1") {
  await closedLoop(WARMUP, 16, true);
  await pause(300);
  const ticks = workerdTicks();
  const started = performance.now();
  await closedLoop(CALLS, 16, true);
  const wall = performance.now() - started;
  await pause(500);
  const cpu = ((workerdTicks() - ticks) * TICK_MS) / CALLS;
  console.log(
    `floor (401, no I/O), 16 in flight: ${(CALLS / (wall / 1000)).toFixed(0)} requests/s, workerd CPU ${cpu.toFixed(2)} ms/request`,
  );
}
if (process.env.PROXY === "1") await referenceFloors();
const results = Object.fromEntries(LEVELS.map((l) => [l, []]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const inflight of LEVELS) {
    await pause(300);
    const ticks = workerdTicks();
    const own = process.cpuUsage();
    const started = performance.now();
    const latencies = await closedLoop(CALLS, inflight);
    const wall = performance.now() - started;
    const ownMs = (() => {
      const used = process.cpuUsage(own);
      return (used.user + used.system) / 1000;
    })();
    // The last calls' after-answer work (commits, deliveries) counts too.
    await pause(500);
    const cpu = ((workerdTicks() - ticks) * TICK_MS) / CALLS;
    const perSecond = CALLS / (wall / 1000);
    results[inflight].push({ perSecond, cpu });
    console.log(
      `round ${round}, ${String(inflight).padStart(2)} in flight: ${perSecond.toFixed(0).padStart(5)} calls/s, ` +
        `workerd CPU ${cpu.toFixed(2)} ms/call, latency p50 ${quantile(latencies, 0.5).toFixed(1)} ms ` +
        `p99 ${quantile(latencies, 0.99).toFixed(1)} ms, this process (client and upstream) ${(ownMs / CALLS).toFixed(2)} ms/call, ` +
        `load ${loadavg()[0].toFixed(2)}`,
    );
    await settled(g.worker, port, { timeoutMs: 60_000 });
  }
}
const range = (xs, digits) => {
  const lo = Math.min(...xs).toFixed(digits);
  const hi = Math.max(...xs).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
};
for (const inflight of LEVELS) {
  const rs = results[inflight];
  console.log(
    `${String(inflight).padStart(2)} in flight: ${range(
      rs.map((r) => r.perSecond),
      0,
    )} calls/s, workerd CPU ${range(
      rs.map((r) => r.cpu),
      2,
    )} ms/call (over ${rs.length} round(s))`,
  );
}
const peerChosen = chosenPeer();
if (peerChosen) await measurePeer(peerChosen);
await g.stop();

/** The same closed loop at each level through a peer gateway in front of
 * the same upstream: calls per second and the peer process's CPU per call. */
async function measurePeer(chosen) {
  const peer = await startPeer(chosen, g.upstream.openaiBase);
  const peerHeaders = { authorization: `Bearer ${OPENAI_KEY}`, "content-type": "application/json", ...peer.headers };
  const loop = async (calls, inflight) => {
    let issued = 0;
    const worker = async () => {
      while (issued < calls) {
        issued++;
        const res = await fetch(peer.url, { method: "POST", headers: peerHeaders, body });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${peer.name} answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  };
  await loop(WARMUP, 16);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const inflight of LEVELS) {
      await pause(300);
      const ticks = ticksOf([peer.pid]);
      const started = performance.now();
      await loop(CALLS, inflight);
      const wall = performance.now() - started;
      await pause(300);
      const cpu = ((ticksOf([peer.pid]) - ticks) * TICK_MS) / CALLS;
      console.log(
        `peer ${peer.name}, round ${round}, ${String(inflight).padStart(2)} in flight: ${(CALLS / (wall / 1000)).toFixed(0).padStart(5)} calls/s, ` +
          `its CPU ${cpu.toFixed(2)} ms/call`,
      );
    }
  }
  await peer.stop();
}

/** The same closed loop at 16 in flight through each reference Worker
 * (`floors.mjs`), each in its own workerd, stopped before the next. */
async function referenceFloors() {
  for (const name of FLOOR_NAMES) {
    const floor = await startFloor(name, `${g.upstream.openaiBase}/chat/completions`);
    const send = async () => {
      const res = await fetch(floor.url, { method: "POST", headers: floorHeaders, body });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${name} answered ${res.status}`);
    };
    const loop = async (calls) => {
      let issued = 0;
      const worker = async () => {
        while (issued < calls) {
          issued++;
          await send();
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    };
    await loop(WARMUP);
    await pause(300);
    const ticks = workerdTicks();
    const started = performance.now();
    await loop(CALLS);
    const wall = performance.now() - started;
    await pause(500);
    const cpu = ((workerdTicks() - ticks) * TICK_MS) / CALLS;
    console.log(
      `reference floor "${name}", 16 in flight: ${(CALLS / (wall / 1000)).toFixed(0)} calls/s, workerd CPU ${cpu.toFixed(2)} ms/call`,
    );
    await floor.stop();
  }
}
