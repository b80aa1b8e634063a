// Groups in workerd (Miniflare): what a parent costs a reservation, and the
// slack of a burst.
// - reserve + release latency (median, p99), sequential, on a port without
//   a parent and on a port under a group whose allowance covers the call
//   (asked ahead of need), interleaved round by round;
// - the first reservation of an idle port under a group (it asks its group
//   on the call's path);
// - a burst of concurrent reservations over 3 ports of one group: the slack
//   (lent and not held) at its peak right after the burst, and the group's
//   granted total against its cap;
// - how long lent allowance takes to flow back with no request to the
//   ports (their alarms give it back after the idle delay).
//
// - with PARENT_DELAY_MS=50, every hop to a group slowed by 50 ms (the
//   latency seam, FAULT_PARENT_DELAY_MS under the test seams): a
//   reservation within its allowance is not slowed, a first one is.
//
//   WORKER_PROFILE=worker-test scripts/build-worker.sh && node bench/worker/groups.mjs
//   PARENT_DELAY_MS=50 BURST=0 node bench/worker/groups.mjs
import { performance } from "node:perf_hooks";
import { startWorker, CLOCK } from "../../tests/worker/harness.mjs";

const SAMPLES = Number(process.env.SAMPLES ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BURST = Number(process.env.BURST ?? 300);

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99), n: sorted.length };
}
const fmt = (v) => v.toFixed(2);

const DELAY = process.env.PARENT_DELAY_MS;
const w = await startWorker(DELAY ? { bindings: { FAULT_PARENT_DELAY_MS: DELAY } } : {});
try {
  const put = async (path, body) => {
    const res = await w.put(path, body);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
  };
  await put("/v1/groups/bench/budget", { enabled: true, softCapTokens: 1e12, hardCapTokens: 1e12, period: "month" });
  await put("/v1/ports/alone/budget", { enabled: true, softCapTokens: 1e12, hardCapTokens: 1e12, period: "month" });
  await put("/v1/ports/under/budget", { enabled: true, softCapTokens: 1e12, hardCapTokens: 1e12, period: "month", parent: "bench" });
  const pair = async (port) => {
    const t0 = performance.now();
    const res = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
    const t1 = performance.now();
    if (res.status !== 201) throw new Error(`${port}: ${res.status} ${res.text}`);
    await w.post(`/v1/ports/${port}/reservations/${res.json.id}/release`);
    return t1 - t0;
  };
  // Warm both objects (and the group's allowance).
  for (let i = 0; i < 20; i++) await Promise.all([pair("alone"), pair("under")]);
  const samples = { alone: [], under: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const port of round % 2 ? ["under", "alone"] : ["alone", "under"]) {
      for (let i = 0; i < SAMPLES / ROUNDS; i++) samples[port].push(await pair(port));
    }
  }
  console.log("| reserve (ms) | median | p99 | n |");
  console.log("|---|---:|---:|---:|");
  for (const [port, s] of Object.entries(samples)) {
    const { median, p99, n } = stats(s);
    console.log(`| ${port === "alone" ? "port without a parent" : "port under a group, within its allowance"} | ${fmt(median)} | ${fmt(p99)} | ${n} |`);
  }
  // A cold ask: each reservation on a new port under the group.
  const cold = [];
  for (let i = 0; i < 40; i++) {
    const port = `cold-${i}`;
    await put(`/v1/ports/${port}/budget`, { enabled: true, softCapTokens: 1e12, hardCapTokens: 1e12, period: "month", parent: "bench" });
    cold.push(await pair(port));
  }
  const c = stats(cold);
  console.log(`| first reservation of a port under a group (asks its group) | ${fmt(c.median)} | ${fmt(c.p99)} | ${c.n} |`);

  if (BURST === 0) {
    await w.dispose();
    process.exit(0);
  }
  // The burst.
  const cap = 10_000;
  const estimate = 70;
  await put("/v1/groups/burst/budget", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day" });
  const ports = ["burst-a", "burst-b", "burst-c"];
  for (const port of ports) {
    await put(`/v1/ports/${port}/budget`, { enabled: true, softCapTokens: 6_000, hardCapTokens: 6_000, period: "day", parent: "burst" });
  }
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: BURST }, (_, i) => w.post(`/v1/ports/${ports[i % 3]}/reservations`, { estimatedTokens: estimate })),
  );
  const seconds = (performance.now() - t0) / 1000;
  const granted = results.filter((r) => r.status === 201).length;
  const status = (await w.get("/v1/groups/burst/status")).json;
  console.log();
  console.log(`burst: ${BURST} concurrent reservations of ${estimate} over 3 ports, group cap ${cap}: granted ${granted * estimate} (${granted} calls) in ${seconds.toFixed(2)} s; lent ${status.lent}, slack (lent, not held as last reported) ${status.unused}`);
  const idle = w.at(new Date(Date.parse(CLOCK.iso) + 5_001).toISOString());
  for (const port of ports) await idle.get(`/v1/ports/${port}/budget`);
  const back = (await idle.get("/v1/groups/burst/status")).json;
  console.log(`after the return delay (5 s by x-now) and one request per port: lent ${back.lent}, slack ${back.unused}`);

  // Flow back with no request at all: 30 concurrent reservations over 3
  // fresh ports of a fresh group, every one released, then only the
  // group's status is read until the ports' alarms have given it all back.
  await put("/v1/groups/flow/budget", { enabled: true, softCapTokens: cap, hardCapTokens: cap, period: "day" });
  const flowPorts = ["flow-a", "flow-b", "flow-c"];
  for (const port of flowPorts) {
    await put(`/v1/ports/${port}/budget`, { enabled: true, softCapTokens: 6_000, hardCapTokens: 6_000, period: "day", parent: "flow" });
  }
  const held = await Promise.all(
    Array.from({ length: 30 }, (_, i) => w.post(`/v1/ports/${flowPorts[i % 3]}/reservations`, { estimatedTokens: estimate })),
  );
  await Promise.all(held.filter((r) => r.status === 201).map((r) => w.post(`/v1/ports/${r.json.port}/reservations/${r.json.id}/release`)));
  const released = performance.now();
  const peak = (await w.get("/v1/groups/flow/status")).json;
  let now = peak;
  while (now.lent > 0 && performance.now() - released < 30_000) {
    await new Promise((r) => setTimeout(r, 50));
    now = (await w.get("/v1/groups/flow/status")).json;
  }
  const took = (performance.now() - released) / 1000;
  console.log(`flow back by the ports' alarms, no request to them: lent ${peak.lent} (slack ${peak.unused}) after the releases, ${now.lent} ${took.toFixed(2)} s later`);
} finally {
  await w.dispose();
}
