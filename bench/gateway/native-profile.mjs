// Where workerd's CPU goes during gated calls, native frames included:
// Linux `perf` samples the workerd process (cpu-clock, with call stacks)
// while plain chat completions run through the gateway, 16 in flight, and
// the samples are summed by what the innermost frame is (the module's
// compiled code, V8, the event loop, SQLite, the kernel...) and by the
// runtime API the time was spent under (the innermost `workerd::api::`
// frame: `Headers`, `fetch`, a SQL cursor, `transactionSync`...). The
// inspector's profile (profile.mjs) only sees JavaScript and wasm frames and
// charges native work to whichever is on top; this one sees the rest.
//
//   node bench/gateway/native-profile.mjs [calls] [top]      (Worker already built; needs perf)
//   FLOOR="held (fetch)" node bench/gateway/native-profile.mjs 3000
//   SYSCALLS=1 node bench/gateway/native-profile.mjs 1000     (system calls per call, by strace)
//
// BENCH_SCRIPT=<index.js> profiles another build; FLOOR=<name> one of the
// JavaScript reference Workers of floors.mjs instead. Figures are ms of
// workerd CPU per call (the cpu-clock event's count, in ns, over the calls);
// perf's sampling adds its own interruptions, so totals run above
// cpu-ab's, and shares are what to compare.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGateway, openPort, settled } from "../../tests/gateway/harness.mjs";
import { port, body, script } from "./call.mjs";
import { startFloor } from "./floors.mjs";
import { workerdPids } from "../workerd-cpu.mjs";

const CALLS = Number(process.argv[2] ?? 3000);
const TOP = Number(process.argv[3] ?? 25);
const IN_FLIGHT = 16;
const FLOOR = process.env.FLOOR;

// SYSCALLS=1: count the system calls per call with strace instead.
const TOOL = process.env.SYSCALLS === "1" ? "strace" : "perf";
if (spawnSync(TOOL, ["--version"]).status !== 0) {
  console.error(`native-profile: ${TOOL} is not installed (Debian: ${TOOL === "perf" ? "linux-perf" : "strace"})`);
  process.exit(2);
}

/** A gateway (or a reference Worker), the URL of its call and its workerd's PIDs. */
async function target() {
  let before = new Set(workerdPids());
  const g = await startGateway({ vars: { FAULT_INJECTION: "off" }, ...(FLOOR ? {} : script) });
  g.worker.now = null;
  const key = await openPort(g.worker, port, { softCapTokens: 1e15, hardCapTokens: 1e15 });
  const gateway = { g, pids: workerdPids().filter((p) => !before.has(p)), url: `${g.openaiURL(port)}/chat/completions`, key };
  if (!FLOOR) return gateway;
  before = new Set(workerdPids());
  const floor = await startFloor(FLOOR, `${g.upstream.openaiBase}/chat/completions`);
  return { ...gateway, pids: workerdPids().filter((p) => !before.has(p)), url: floor.url, stop: floor.stop };
}

async function loop(t, calls) {
  const headers = { authorization: `Bearer ${t.key}`, "content-type": "application/json" };
  let issued = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (issued++ < calls) {
        const res = await fetch(t.url, { method: "POST", headers, body });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`answered ${res.status}`);
      }
    }),
  );
}

const t = await target();
await loop(t, 500);
if (!FLOOR) await settled(t.g.worker, port, { timeoutMs: 60_000 });
const dir = mkdtempSync(join(tmpdir(), "native-profile-"));
const data = join(dir, "perf.data");

/** Runs the calls under `command` (started `startMs` before them, stopped by
 * SIGINT after them), then stops the Worker. */
async function traced(command, args, startMs) {
  const tracer = spawn(command, args, { stdio: "ignore" });
  const exited = new Promise((resolve) => tracer.on("exit", resolve));
  await new Promise((r) => setTimeout(r, startMs));
  await loop(t, CALLS);
  process.kill(tracer.pid, "SIGINT");
  await exited;
  await t.stop?.();
}

if (TOOL === "strace") {
  const out = join(dir, "strace.txt");
  await traced("strace", ["-c", "-f", "-o", out, ...t.pids.flatMap((p) => ["-p", String(p)])], 1000);
  const rows = readFileSync(out, "utf8")
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && /^\d/.test(f[0]) && f.at(-1) !== "total");
  rmSync(dir, { recursive: true, force: true });
  console.log(`native-profile: ${FLOOR ?? process.env.BENCH_SCRIPT ?? "build/index.js"}, ${CALLS} calls: system calls per call\n\n| system call | per call |\n|---|---:|`);
  for (const f of rows.slice(0, TOP)) console.log(`| ${f.at(-1)} | ${(Number(f[3]) / CALLS).toFixed(2)} |`);
  process.exit(0);
}
await traced("perf", ["record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-p", t.pids.join(","), "-o", data], 500);
const samples = spawnSync("perf", ["script", "-i", data, "-F", "period,ip,sym,dso"], { encoding: "utf8", maxBuffer: 1 << 30 }).stdout;
rmSync(dir, { recursive: true, force: true });

/** What the innermost frame of a sample is. */
function kind(sym, dso) {
  // V8's compiled code: perf finds no symbols for it (no perf map is written).
  if (/perf-\d+\.map|^\[JIT\]/.test(dso)) return "compiled JS and wasm (JIT)";
  if (sym === "[unknown]") return "unresolved";
  if (dso.includes("kernel")) return "kernel (system calls, I/O)";
  if (/^sqlite3|^pcache|^btree|Vdbe/i.test(sym)) return "SQLite";
  if (/tcmalloc|TCMalloc/.test(sym)) return "allocator (tcmalloc)";
  if (dso.includes("libc")) return "libc (copies, locks)";
  if (/^Builtins_Wasm|wasm::/.test(sym)) return "V8: wasm runtime";
  if (/Scaveng|MarkCompact|Sweeper|GCTracer|ConcurrentMarking|Heap::/.test(sym)) return "V8: garbage collection";
  if (/^Builtins_/.test(sym)) return "V8: builtins";
  if (/GlobalHandles|Traced|HeapTracer|Wrappable|CppHeap|ExternalEntityTable/.test(sym)) return "V8/jsg: handles and wrappers";
  if (/^v8::/.test(sym)) return "V8: runtime";
  if (/workerd::jsg/.test(sym)) return "jsg (bindings)";
  if (/capnp/.test(sym)) return "Cap'n Proto";
  if (/kj::/.test(sym)) return "kj (event loop, promises, HTTP)";
  if (/workerd::/.test(sym)) return "workerd";
  return "other";
}

/** A symbol without its arguments and template parameters. */
const bare = (sym) => {
  let s = sym.replaceAll("(anonymous namespace)", "{anonymous}").replace(/\(.*$/, "");
  for (let i = 0; i < 4; i++) s = s.replace(/<[^<>]*>/g, "");
  return s;
};

const byKind = new Map();
const byApi = new Map();
let period = 0;
for (const sample of samples.split("\n\n")) {
  const lines = sample.trim().split("\n").map((l) => l.trim()).filter(Boolean);
  if (!lines.length) continue;
  const weight = Number(lines[0].split(/\s+/)[0]);
  if (!Number.isFinite(weight)) continue;
  period += weight;
  const first = lines[0].replace(/^\d+\s*/, "");
  const frames = [...(first ? [first] : []), ...lines.slice(1)].map((l) => {
    const m = l.match(/^[0-9a-f]+ (.*) \((.*)\)$/);
    return m ? { sym: m[1], dso: m[2] } : { sym: "[unknown]", dso: "[unknown]" };
  });
  if (!frames.length) continue;
  const leaf = kind(frames[0].sym, frames[0].dso);
  byKind.set(leaf, (byKind.get(leaf) ?? 0) + weight);
  const api = frames.find((f) => /^workerd::api::/.test(f.sym) && !/Wrappable/.test(f.sym));
  const commit = frames.find((f) => /ActorSqlite::(startImplicitTxn|commitImpl)/.test(f.sym));
  const under = commit ? "a Durable Object's implicit transaction commit" : api ? bare(api.sym) : `(no runtime API) ${leaf}`;
  byApi.set(under, (byApi.get(under) ?? 0) + weight);
}

const perCall = (ns) => ns / 1e6 / CALLS;
// Each sample's period is the CPU time (ns) it stands for.
console.log(`native-profile: ${FLOOR ?? process.env.BENCH_SCRIPT ?? "build/index.js"}, ${CALLS} calls, ${IN_FLIGHT} in flight: ${perCall(period).toFixed(2)} ms of workerd CPU per call under perf`);
const table = (title, map, n) => {
  console.log(`\n| ${title} | ms per call | share |\n|---|---:|---:|`);
  for (const [name, ns] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`| ${name.slice(0, 90)} | ${perCall(ns).toFixed(3)} | ${((100 * ns) / period).toFixed(1)}% |`);
  }
};
table("innermost frame", byKind, 20);
table("under the runtime API", byApi, TOP);
process.exit(0);
