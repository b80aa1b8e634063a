// Two builds of the Worker side by side, each in its own workerd (with its
// own fake upstream, D1 and KV), driven in turn: short closed-loop rounds of
// plain chat completions, 16 in flight, alternating between the builds, with
// each build's workerd CPU per call read from /proc by its own PIDs. On a
// machine whose speed moves by a quarter within minutes, rounds a few
// seconds apart see the same machine: the difference between the builds
// shows where one long run per build cannot.
//
//   BENCH_BASELINE=<the other build's index.js> node bench/gateway/cpu-ab.mjs [calls per round] [rounds]
//   e.g. BENCH_BASELINE=target/bench/before/index.js node bench/gateway/cpu-ab.mjs 1000 10
//
// BENCH_SCRIPT=<index.js> picks the build measured against the baseline
// (default: build/index.js). Both must sit inside the tree (e.g. under
// target/). Prints each round, then each build's median and range of CPU
// per call and of calls per second, and the median of the paired
// differences (this build minus the baseline, round by round).
import { loadavg } from "node:os";
import { startGateway, openPort, settled } from "../../tests/gateway/harness.mjs";
import { port, body } from "./call.mjs";
import { TICK_MS, workerdPids, ticksOf } from "../workerd-cpu.mjs";

const CALLS = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 10);
const IN_FLIGHT = 16;
const WARMUP = 300;
const BASELINE = process.env.BENCH_BASELINE;
if (!BASELINE) {
  console.error("BENCH_BASELINE=<the other build's index.js> is needed");
  process.exit(2);
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs, digits) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;

/** A build's gateway, its port's key and the PIDs of its workerd. */
async function gateway(scriptPath) {
  const before = new Set(workerdPids());
  const g = await startGateway({ vars: { FAULT_INJECTION: "off" }, ...(scriptPath ? { scriptPath } : {}) });
  g.worker.now = null;
  const key = await openPort(g.worker, port, { softCapTokens: 1e15, hardCapTokens: 1e15 });
  const pids = workerdPids().filter((pid) => !before.has(pid));
  return { g, key, pids, url: `${g.openaiURL(port)}/chat/completions` };
}

/** `calls` calls through `build` with IN_FLIGHT in flight; wall time (ms). */
async function loop(build, calls) {
  const headers = { authorization: `Bearer ${build.key}`, "content-type": "application/json" };
  let issued = 0;
  const worker = async () => {
    while (issued < calls) {
      issued++;
      const res = await fetch(build.url, { method: "POST", headers, body });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`gateway answered ${res.status}`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return performance.now() - started;
}

const builds = {
  baseline: await gateway(BASELINE),
  this: await gateway(process.env.BENCH_SCRIPT),
};
console.log(
  `cpu-ab: ${CALLS} calls per round, ${ROUNDS} rounds per build, ${IN_FLIGHT} in flight; ` +
    `baseline ${BASELINE}, this ${process.env.BENCH_SCRIPT ?? "build/index.js"}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
);
for (const build of Object.values(builds)) {
  await loop(build, WARMUP);
  await settled(build.g.worker, port, { timeoutMs: 60_000 });
}
const results = { baseline: [], this: [] };
for (let round = 1; round <= ROUNDS; round++) {
  // Each round starts with the other build, so neither always goes first.
  const order = round % 2 ? ["baseline", "this"] : ["this", "baseline"];
  for (const name of order) {
    const build = builds[name];
    await pause(200);
    const ticks = ticksOf(build.pids);
    const wall = await loop(build, CALLS);
    // The last calls' after-answer work (commits, deliveries) counts too.
    await pause(400);
    const cpu = ((ticksOf(build.pids) - ticks) * TICK_MS) / CALLS;
    const perSecond = CALLS / (wall / 1000);
    results[name].push({ cpu, perSecond });
    console.log(
      `round ${String(round).padStart(2)} ${name.padEnd(8)}: ${cpu.toFixed(2)} ms of workerd CPU per call, ` +
        `${perSecond.toFixed(0)} calls/s, load ${loadavg()[0].toFixed(2)}`,
    );
  }
}
for (const [name, rs] of Object.entries(results)) {
  const cpu = rs.map((r) => r.cpu);
  const rate = rs.map((r) => r.perSecond);
  console.log(
    `${name.padEnd(8)}: CPU per call median ${median(cpu).toFixed(2)} ms (${range(cpu, 2)}), ` +
      `calls/s median ${median(rate).toFixed(0)} (${range(rate, 0)})`,
  );
}
const paired = results.this.map((r, i) => r.cpu - results.baseline[i].cpu);
console.log(
  `this minus baseline, round by round: median ${median(paired).toFixed(2)} ms of CPU per call ` +
    `(${range(paired, 2)}; ${paired.filter((d) => d < 0).length} of ${paired.length} rounds lower)`,
);
for (const build of Object.values(builds)) await build.g.stop();
