// Benchmarks of the Worker in workerd (Miniflare) with each port's gate in a
// SQLite-backed Durable Object, local D1 and KV:
// - check, reserve and commit latency (median, p99) through the HTTP API for
//   ports with 1 000, 100 000 and 1 000 000 ledger rows (in D1, the ledger
//   of record, and as the gate's own recent history);
// - side by side, the seed's way: a small JS Worker running the seed's
//   checkBudget (read the budget from KV, SUM the period's ledger rows) in
//   the same workerd on the same D1 and KV;
// - with BENCH_BASELINE=<another build's index.js>, that build too (its own
//   workerd, D1 and KV, seeded the same), interleaved with this one
//   (BENCH_BASELINE_GATE=on when that build has the ports' Durable Objects);
// - reserve + commit pairs per second with 8 and 32 clients, spread over 64
//   ports and all on one hot port.
//
//   bash bench/worker/run.sh
//   SIZES=1000,100000 node bench/worker/latency.mjs        (Worker already built)
import { performance } from "node:perf_hooks";
import { startWorker } from "../../tests/worker/harness.mjs";

const SIZES = (process.env.SIZES ?? "1000,100000,1000000").split(",").map(Number);
const SAMPLES = Number(process.env.SAMPLES ?? 400);
const SEED_SAMPLES = Number(process.env.SEED_SAMPLES ?? 40);
const THROUGHPUT_SECONDS = Number(process.env.THROUGHPUT_SECONDS ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const BASELINE = process.env.BENCH_BASELINE;
const CHUNK = 100_000;

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99), n: sorted.length };
}
const ms = (v) => (v === undefined ? "" : v.toFixed(v < 10 ? 2 : 1));

// The seed's way, in the same workerd on the same D1 database and KV namespace.
const SEED_WORKER = `
const DEFAULTS = { enabled: false, softCapTokens: 100000, hardCapTokens: 500000, period: "month" };
function periodStart(period, now = new Date()) {
  const start = new Date(now);
  start.setUTCHours(0, 0, 0, 0);
  if (period === "day") return start;
  if (period === "week") { start.setUTCDate(start.getUTCDate() - ((start.getUTCDay() + 6) % 7)); return start; }
  start.setUTCDate(1);
  return start;
}
const SUM = "SELECT COALESCE(SUM(total_tokens), 0) AS total FROM usage_ledger WHERE port_id = ?1 AND created_at >= ?2";
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const port = url.searchParams.get("port");
    const v = JSON.parse((await env.BUDGETS.get("budget:v1:" + port)) ?? "{}");
    const budget = {
      enabled: v.enabled === true,
      hardCapTokens: typeof v.hardCapTokens === "number" ? v.hardCapTokens : DEFAULTS.hardCapTokens,
      softCapTokens: typeof v.softCapTokens === "number" ? v.softCapTokens : DEFAULTS.softCapTokens,
      period: ["day", "week", "month"].includes(v.period) ? v.period : "month",
    };
    const estimatedTokens = Number(url.searchParams.get("estimate"));
    if (!budget.enabled) return Response.json({ ok: true, remaining: null, usedTokens: 0 });
    const { total: used } = await env.DB.prepare(SUM).bind(port, periodStart(budget.period).getTime()).first();
    const remaining = budget.hardCapTokens - used;
    if (remaining <= 0 || estimatedTokens > remaining) return Response.json({ ok: false, usedTokens: used });
    return Response.json({ ok: true, remaining, usedTokens: used, softCap: used > budget.softCapTokens });
  },
};`;

// Real time: no x-now header. The test seams are on for seeding only.
const w = await startWorker({ now: null, extraWorkers: [{ name: "seed-way", script: SEED_WORKER }] });
const base = BASELINE
  ? await startWorker({ now: null, scriptPath: BASELINE, gate: process.env.BENCH_BASELINE_GATE === "on" })
  : undefined;
const seedWorker = await w.mf.getWorker("seed-way");
const seedCheck = async (port) => {
  const res = await seedWorker.fetch(`http://seed.local/?port=${port}&estimate=100`);
  if (res.status !== 200) throw new Error(`seed's way: ${res.status} ${await res.text()}`);
  return res.json();
};

const now = new Date();
const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
const weekStart = dayStart - ((now.getUTCDay() + 6) % 7) * 86_400_000;
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const spread = Math.max(1, now.getTime() - dayStart);

/** Seeds `rows` ledger rows for `port` in D1, today, with a consistent rollup. */
async function seedD1(client, port, rows) {
  for (let from = 1; from <= rows; from += CHUNK) {
    const to = Math.min(rows, from + CHUNK - 1);
    await client.db
      .prepare(
        `INSERT INTO usage_ledger (port_id, seq, user_id, feature, provider, model, input_tokens, output_tokens,
           total_tokens, request_id, reservation_id, body_hash, write_id, created_at)
         WITH RECURSIVE n(i) AS (SELECT ?2 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
         SELECT ?1, i, NULL, 'feature-' || ((i - 1) % 5), 'openai', 'gpt', 7, 3, 10, 'seed-' || i, NULL,
           'seed', 'seed', ?4 + ((i - 1) * 7919) % ?5 FROM n`,
      )
      .bind(port, from, to, dayStart, spread)
      .run();
  }
  for (const [period, start] of [["day", dayStart], ["week", weekStart], ["month", monthStart]]) {
    await client.db
      .prepare(
        `INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls)
         SELECT port_id, ?2, ?3, feature, SUM(total_tokens), COUNT(*) FROM usage_ledger WHERE port_id = ?1 GROUP BY feature`,
      )
      .bind(port, period, start)
      .run();
  }
}

/** Gives the port's gate the same history (its own recent ledger). */
async function seedGate(port, rows) {
  const ns = await w.mf.getDurableObjectNamespace("GATE");
  const stub = ns.get(ns.idFromName(port));
  const res = await stub.fetch("https://gate/", {
    method: "POST",
    headers: { "content-type": "application/json", "x-port": port },
    body: JSON.stringify({ op: "seedHistory", rows }),
  });
  if (res.status !== 200) throw new Error(`seeding the gate: ${res.status} ${await res.text()}`);
}

const sides = [{ name: "this build", client: w }, ...(base ? [{ name: "baseline", client: base }] : [])];
const ports = [];
for (const rows of SIZES) {
  const port = `bench-${rows}`;
  const t0 = performance.now();
  // The gate first (its first start finds nothing in D1 to import), then D1.
  await w.setBudget(port, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month" });
  await seedGate(port, rows);
  await seedD1(w, port, rows);
  if (base) {
    await seedD1(base, port, rows);
    await base.setBudget(port, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month" });
  }
  for (const { name, client } of sides) {
    const check = (await client.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 })).json;
    if (check.usedTokens !== rows * 10) throw new Error(`${name}: seeded ${rows} rows but the Worker sees ${check.usedTokens} tokens`);
  }
  if ((await seedCheck(port)).usedTokens !== rows * 10) throw new Error("the seed's way disagrees");
  ports.push({ rows, port });
  console.error(`${rows} rows seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const samples = new Map();
const series = (key) => samples.get(key) ?? samples.set(key, []).get(key);
const time = async (list, fn) => {
  const t0 = performance.now();
  await fn();
  list.push(performance.now() - t0);
};
for (const { port } of ports) for (const { client } of sides) for (let i = 0; i < 30; i++) await client.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 });
for (let round = 0; round < ROUNDS; round++) {
  for (const { rows, port } of ports) {
    const per = Math.ceil(SAMPLES / ROUNDS);
    for (const { name, client } of sides) {
      for (let i = 0; i < per; i++) {
        await time(series(`${name} check ${rows}`), () => client.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 }));
        let hold;
        await time(series(`${name} reserve ${rows}`), async () => {
          hold = await client.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
          if (hold.status !== 201) throw new Error(`reserve: ${hold.status} ${hold.text}`);
        });
        await time(series(`${name} commit ${rows}`), async () => {
          const res = await client.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { provider: "p", model: "m", inputTokens: 60, outputTokens: 20 });
          if (res.status !== 200) throw new Error(`commit: ${res.status} ${res.text}`);
        });
      }
    }
    for (let i = 0; i < Math.ceil(SEED_SAMPLES / ROUNDS); i++) await time(series(`seed ${rows}`), () => seedCheck(port));
  }
  console.error(`round ${round + 1} of ${ROUNDS} done`);
}

/** Reserve + commit pairs per second: `clients` concurrent clients over `portCount` ports. */
async function throughput(client, clients, portCount, label) {
  const names = Array.from({ length: portCount }, (_, i) => `${label}-${portCount}-${clients}-${i}`);
  for (const p of names) await client.setBudget(p, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month" });
  let pairs = 0;
  let failures = 0;
  const deadline = performance.now() + THROUGHPUT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let k = c;
      while (performance.now() < deadline) {
        const p = names[k++ % names.length];
        const hold = await client.post(`/v1/ports/${p}/reservations`, { estimatedTokens: 500 });
        const commit = await client.post(`/v1/ports/${p}/reservations/${hold.json?.id}/commit`, { provider: "openai", model: "gpt", inputTokens: 300, outputTokens: 100 });
        if (hold.status === 201 && commit.status === 200) pairs++;
        else failures++;
      }
    }),
  );
  let counted = 0;
  for (const p of names) counted += (await client.consistency(p)).ledger.calls;
  if (counted !== pairs) throw new Error(`${label}: ${pairs} pairs but ${counted} ledger rows`);
  return { rate: pairs / THROUGHPUT_SECONDS, failures };
}
const rates = [];
for (const clients of [8, 32]) {
  for (const portCount of [64, 1]) {
    for (const { name, client } of sides) {
      const r = await throughput(client, clients, portCount, name.replace(/\W/g, ""));
      rates.push({ name, clients, portCount, ...r });
      console.error(`${name}: ${clients} clients over ${portCount} ports: ${r.rate.toFixed(0)} pairs/s`);
    }
  }
}
await w.dispose();
await base?.dispose();

const lines = [];
lines.push(`Through workerd (Miniflare) with local D1, KV and Durable Objects; sequential requests, ${SAMPLES} samples per cell, the seed's way ${SEED_SAMPLES}; ms.`);
lines.push("");
lines.push(`| ledger rows | ${sides.map((s) => `${s.name}: check median / p99 | reserve | commit`).join(" | ")} | seed's way check median |`);
lines.push(`|---:|${sides.map(() => "---:|---:|---:|").join("")}---:|`);
for (const { rows } of ports) {
  const cells = sides.flatMap(({ name }) =>
    ["check", "reserve", "commit"].map((op) => {
      const s = stats(samples.get(`${name} ${op} ${rows}`));
      return `${ms(s.median)} / ${ms(s.p99)}`;
    }),
  );
  lines.push(`| ${rows.toLocaleString("en")} | ${cells.join(" | ")} | ${ms(stats(samples.get(`seed ${rows}`)).median)} |`);
}
lines.push("");
for (const { name } of sides) {
  const [lo, hi] = [SIZES[0], SIZES[SIZES.length - 1]];
  const ratio = (op) => (stats(samples.get(`${name} ${op} ${hi}`)).median / stats(samples.get(`${name} ${op} ${lo}`)).median).toFixed(2);
  lines.push(`Flatness, ${name} (${hi.toLocaleString("en")} rows / ${lo.toLocaleString("en")} rows, medians): check ${ratio("check")}x, reserve ${ratio("reserve")}x, commit ${ratio("commit")}x (goal <= 1.5x).`);
}
lines.push("");
lines.push("| reserve + commit pairs/s | " + sides.map((s) => s.name).join(" | ") + " |");
lines.push("|---|" + sides.map(() => "---:|").join(""));
for (const clients of [8, 32]) {
  for (const portCount of [64, 1]) {
    const cells = sides.map(({ name }) => {
      const r = rates.find((x) => x.name === name && x.clients === clients && x.portCount === portCount);
      return `${r.rate.toFixed(0)}${r.failures ? ` (${r.failures} failed)` : ""}`;
    });
    lines.push(`| ${clients} clients, ${portCount === 1 ? "one hot port" : `${portCount} ports`} | ${cells.join(" | ")} |`);
  }
}
console.log(lines.join("\n"));
