// What a request costs workerd before any of the gate's work: a few lines
// of JavaScript answering at once, reaching a SQLite Durable Object by
// fetch and by RPC, and running ten statements there; and this Worker
// answering a path it has no route for (a 404: its entry, the route table,
// the bindings, an error body). Closed loop, 16 in flight, workerd's CPU per
// request read from /proc for the workerd each Worker runs in.
//
//   node bench/worker/request-floor.mjs [requests] [rounds]   (Worker already built)
//
// BENCH_SCRIPT=<index.js> measures another build of this Worker (inside
// the tree, e.g. under target/). The JavaScript Workers are references,
// not products: they keep no budget.
import { Miniflare } from "miniflare";
import { join } from "node:path";
import { startWorker, ROOT } from "../../tests/worker/harness.mjs";
import { TICK_MS, workerdPids, ticksOf } from "../workerd-cpu.mjs";

const REQUESTS = Number(process.argv[2] ?? 3000);
const ROUNDS = Number(process.argv[3] ?? 3);
const IN_FLIGHT = 16;

const REFERENCE = `
import { DurableObject } from "cloudflare:workers";
export class Gate extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
    for (let i = 0; i < 10; i++) ctx.storage.sql.exec("INSERT OR IGNORE INTO t VALUES (?, 0)", "k" + i);
  }
  async fetch(request) {
    return new Response(String((await request.text()).length));
  }
  run(statements, write) {
    return this.ctx.storage.transactionSync(() => {
      let rows = 0;
      for (let i = 0; i < statements; i++) {
        const sql = write ? "UPDATE t SET v = v + 1 WHERE k = ?" : "SELECT v FROM t WHERE k = ?";
        rows += this.ctx.storage.sql.exec(sql, "k" + i).toArray().length;
      }
      return rows;
    });
  }
}
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/answer") return new Response("ok");
    const gate = env.GATE.get(env.GATE.idFromName("port"));
    if (path === "/fetch") {
      const answer = await gate.fetch("https://gate/", { method: "POST", headers: { "x-port": "port" }, body: "{}" });
      return new Response(await answer.text());
    }
    if (path === "/rpc") return new Response(String(await gate.run(0, false)));
    return new Response(String(await gate.run(10, path === "/update")));
  },
};`;

/** Starts a Worker; its base URL and the PIDs of its workerd. */
async function started(start) {
  const before = new Set(workerdPids());
  const base = await start();
  return { base, pids: workerdPids().filter((pid) => !before.has(pid)) };
}

/** workerd CPU (ms) per request of `n` requests to `url`, IN_FLIGHT at a time. */
async function cpuPerRequest(worker, url, n) {
  let sent = 0;
  const loop = async () => {
    while (sent++ < n) await (await fetch(url)).arrayBuffer();
  };
  const ticks = ticksOf(worker.pids);
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  return ((ticksOf(worker.pids) - ticks) * TICK_MS) / n;
}

const mf = new Miniflare({ modules: true, script: REFERENCE, durableObjects: { GATE: "Gate" }, compatibilityDate: "2025-01-01" });
const reference = await started(async () => (await mf.ready).href.replace(/\/$/, ""));
const scriptPath = process.env.BENCH_SCRIPT ? join(ROOT, process.env.BENCH_SCRIPT) : undefined;
let own;
const ours = await started(async () => {
  own = await startWorker({ now: null, http: true, bindings: { FAULT_INJECTION: "off" }, ...(scriptPath ? { scriptPath } : {}) });
  return own.origin;
});

const cases = [
  ["JavaScript: answered at once", reference, "/answer"],
  ["JavaScript: its object reached by fetch", reference, "/fetch"],
  ["JavaScript: its object reached by RPC", reference, "/rpc"],
  ["JavaScript: 10 SELECTs in its object (RPC)", reference, "/select"],
  ["JavaScript: 10 UPDATEs in its object (RPC)", reference, "/update"],
  ["this Worker: a 404", ours, "/no/such/route"],
];
const results = cases.map(() => []);
for (const [, worker, path] of cases) await cpuPerRequest(worker, worker.base + path, 300);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [, worker, path]] of cases.entries()) results[i].push(await cpuPerRequest(worker, worker.base + path, REQUESTS));
}
console.log(`| request (${IN_FLIGHT} in flight, ${REQUESTS} x ${ROUNDS}) | workerd CPU per request (ms) |\n|---|---:|`);
for (const [i, [name]] of cases.entries()) {
  console.log(`| ${name} | ${Math.min(...results[i]).toFixed(2)}-${Math.max(...results[i]).toFixed(2)} |`);
}
await mf.dispose();
await own.dispose();
process.exit(0);
