// The HTTP API's own cost per request: check, reserve and commit through
// the Worker (workerd via Miniflare, local D1, KV and Durable Objects,
// faults off), sent in a closed loop with 8 requests in flight, as a port
// key (what an app sends) and as the admin token. Reports, per operation
// and credential: requests per second, workerd's CPU per request
// (utime + stime of the workerd processes this Node process started, from
// /proc/<pid>/stat, the work a request leaves for after its answer
// included) and sequential latency (median, p99).
//
//   node bench/worker/api-cpu.mjs [requests] [rounds]      (Worker already built)
//   e.g. node bench/worker/api-cpu.mjs 1500 3
//
// BENCH_SCRIPT=<another build's index.js> measures that build (it must sit
// inside the tree, e.g. under target/).
import { loadavg } from "node:os";
import { join } from "node:path";
import { startWorker, ROOT } from "../../tests/worker/harness.mjs";
import { TICK_MS, workerdTicks } from "../workerd-cpu.mjs";

const REQUESTS = Number(process.argv[2] ?? 1500);
const ROUNDS = Number(process.argv[3] ?? 3);
const INFLIGHT = 8;
const SEQUENTIAL = 200;

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

const scriptPath = process.env.BENCH_SCRIPT ? join(ROOT, process.env.BENCH_SCRIPT) : undefined;
const w = await startWorker({ now: null, bindings: { FAULT_INJECTION: "off" }, ...(scriptPath ? { scriptPath } : {}) });
const port = "bench-api";
await w.setBudget(port, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month" });
const portKey = await w.issueKey(port);
const credentials = { "port key": portKey, "admin token": undefined };

function must(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${res.text}`);
  return res;
}

/** One operation's request, as `token` (undefined: the admin token). Holds
 * for commits are taken beforehand, so each timed request is one operation. */
const operations = {
  check: (token) => w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 }, { token }).then((r) => must(r, 200, "check")),
  reserve: (token) =>
    w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 }, { token }).then((r) => {
      must(r, 201, "reserve");
      holds.push(r.json.id);
    }),
  commit: (token) =>
    w
      .post(`/v1/ports/${port}/reservations/${holds.shift()}/commit`, { provider: "p", model: "m", inputTokens: 60, outputTokens: 20 }, { token })
      .then((r) => must(r, 200, "commit")),
};
const holds = [];

async function closedLoop(count, inflight, fn) {
  let issued = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (issued < count) {
        issued++;
        await fn();
      }
    }),
  );
}

console.log(
  `API cost: ${REQUESTS} requests per cell, ${ROUNDS} round(s), ${process.env.BENCH_SCRIPT ?? "build/index.js"}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
for (const token of Object.values(credentials)) for (const op of ["check", "reserve", "commit"]) await closedLoop(100, INFLIGHT, () => operations[op](token));
const results = {};
for (let round = 1; round <= ROUNDS; round++) {
  for (const [who, token] of Object.entries(credentials)) {
    for (const op of ["check", "reserve", "commit"]) {
      await pause(300);
      const ticks = workerdTicks();
      const started = performance.now();
      await closedLoop(REQUESTS, INFLIGHT, () => operations[op](token));
      const wall = performance.now() - started;
      await pause(500);
      const cpu = ((workerdTicks() - ticks) * TICK_MS) / REQUESTS;
      const latencies = [];
      for (let i = 0; i < SEQUENTIAL; i++) {
        const t0 = performance.now();
        await operations[op](token);
        latencies.push(performance.now() - t0);
      }
      latencies.sort((a, b) => a - b);
      const cell = { perSecond: REQUESTS / (wall / 1000), cpu, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
      (results[`${op}, ${who}`] ??= []).push(cell);
      console.log(
        `round ${round}, ${op.padEnd(7)} ${who.padEnd(11)}: ${cell.perSecond.toFixed(0).padStart(4)}/s, workerd CPU ${cell.cpu.toFixed(2)} ms/request, ` +
          `sequential p50 ${cell.p50.toFixed(2)} ms p99 ${cell.p99.toFixed(2)} ms, load ${loadavg()[0].toFixed(2)}`,
      );
    }
  }
}
await w.dispose();
const range = (cells, k, digits = 2) => {
  const v = cells.map((c) => c[k]);
  return `${Math.min(...v).toFixed(digits)}-${Math.max(...v).toFixed(digits)}`;
};
console.log(`\n| ${INFLIGHT} in flight | requests/s | workerd CPU per request (ms) | sequential p50 (ms) |`);
console.log("|---|---:|---:|---:|");
for (const [name, cells] of Object.entries(results)) {
  console.log(`| ${name} | ${range(cells, "perSecond", 0)} | ${range(cells, "cpu")} | ${range(cells, "p50")} |`);
}
