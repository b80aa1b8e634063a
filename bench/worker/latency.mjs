// Benchmarks of the Worker in workerd (Miniflare) with local D1 and KV:
// - check and reserve latency (median, p99) through the Worker with 1 000,
//   100 000 and 1 000 000 ledger rows for the port;
// - side by side, the seed's way: a small JS Worker running the seed's
//   checkBudget (read the budget from KV, SUM the period's ledger rows, compare)
//   in the same workerd, on the same local D1 and KV; and the two reads alone
//   (our rollup read vs the seed's SUM), timed inside workerd;
// - reservations + commits per second the local Worker sustains.
//
//   node bench/worker/latency.mjs            (after scripts/build-worker.sh)
//   SIZES=1000,100000 node bench/worker/latency.mjs
import { performance } from "node:perf_hooks";
import { startWorker } from "../../tests/worker/harness.mjs";

const SIZES = (process.env.SIZES ?? "1000,100000,1000000").split(",").map(Number);
const SAMPLES = Number(process.env.SAMPLES ?? 500);
const SEED_SAMPLES = Number(process.env.SEED_SAMPLES ?? 40);
const THROUGHPUT_SECONDS = Number(process.env.THROUGHPUT_SECONDS ?? 10);
const CLIENTS = Number(process.env.CLIENTS ?? 8);
const CHUNK = 100_000;

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99), n: sorted.length };
}
const ms = (v) => v.toFixed(v < 10 ? 3 : 1);


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
const ROLLUP = "SELECT (SELECT COALESCE(SUM(tokens), 0) FROM usage_rollup WHERE port_id = ?1 AND period = 'month' AND period_start = ?2) AS used, (SELECT COALESCE(SUM(estimated_tokens), 0) FROM reservations WHERE port_id = ?1 AND state IN ('held', 'expired') AND created_at >= ?2) AS held";
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const port = url.searchParams.get("port");
    if (url.pathname === "/seed-check") {
      const v = JSON.parse((await env.BUDGETS.get("budget:v1:" + port)) ?? "{}");
      const budget = {
        enabled: v.enabled === true,
        softCapTokens: typeof v.softCapTokens === "number" ? v.softCapTokens : DEFAULTS.softCapTokens,
        hardCapTokens: typeof v.hardCapTokens === "number" ? v.hardCapTokens : DEFAULTS.hardCapTokens,
        period: ["day", "week", "month"].includes(v.period) ? v.period : "month",
      };
      const estimatedTokens = Number(url.searchParams.get("estimate"));
      if (!budget.enabled) return Response.json({ ok: true, remaining: null, usedTokens: 0, softCap: false });
      const { total: used } = await env.DB.prepare(SUM).bind(port, periodStart(budget.period).getTime()).first();
      const remaining = budget.hardCapTokens - used;
      if (remaining <= 0) return Response.json({ ok: false, reason: "hard-cap-exceeded", usedTokens: used, capTokens: budget.hardCapTokens });
      if (estimatedTokens > remaining) return Response.json({ ok: false, reason: "estimated-exceeds-cap", usedTokens: used, capTokens: budget.hardCapTokens });
      return Response.json({ ok: true, remaining, usedTokens: used, softCap: used > budget.softCapTokens });
    }
    const since = Number(url.searchParams.get("since"));
    const started = performance.now();
    const row = await env.DB.prepare(url.pathname === "/seed-read" ? SUM : ROLLUP).bind(port, since).first();
    return Response.json({ row, ms: performance.now() - started });
  },
};`;

const w = await startWorker({
  bindings: { FAULT_INJECTION: "off" },
  extraWorkers: [{ name: "seed-way", script: SEED_WORKER }],
});
const seedWorker = await w.mf.getWorker("seed-way");
const seedCall = async (path) => {
  const res = await seedWorker.fetch(`http://seed.local${path}`);
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};
const now = new Date();
const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
const weekStart = dayStart - ((now.getUTCDay() + 6) % 7) * 86_400_000;
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const spread = Math.max(1, now.getTime() - dayStart);

/** Seeds `rows` ledger rows for `port` in today's window, and a consistent rollup. */
async function seed(port, rows) {
  for (let from = 1; from <= rows; from += CHUNK) {
    const to = Math.min(rows, from + CHUNK - 1);
    await w.db
      .prepare(
        `INSERT INTO usage_ledger (port_id, user_id, feature, provider, model, input_tokens, output_tokens,
           total_tokens, request_id, reservation_id, body_hash, write_id, created_at)
         WITH RECURSIVE seq(n) AS (SELECT ?2 UNION ALL SELECT n + 1 FROM seq WHERE n < ?3)
         SELECT ?1, NULL, 'feature-' || (n % 5), 'openai', 'gpt-4.1-mini', 7, 3, 10, 'seed-' || n, NULL,
           'seed', 'seed', ?4 + (n * 7919) % ?5 FROM seq`,
      )
      .bind(port, from, to, dayStart, spread)
      .run();
  }
  for (const [period, start] of [["day", dayStart], ["week", weekStart], ["month", monthStart]]) {
    await w.db
      .prepare(
        `INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls)
         SELECT port_id, ?2, ?3, feature, SUM(total_tokens), COUNT(*) FROM usage_ledger
         WHERE port_id = ?1 GROUP BY feature`,
      )
      .bind(port, period, start)
      .run();
  }
}


// Seed every size first, then measure the sizes in interleaved rounds, so
// that load from elsewhere on the machine falls on all of them alike.
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ports = [];
for (const rows of SIZES) {
  const port = `bench-${rows}`;
  const t0 = performance.now();
  await seed(port, rows);
  const seedSeconds = (performance.now() - t0) / 1000;
  await w.setBudget(port, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month" });
  const check = (await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 })).json;
  if (check.usedTokens !== rows * 10) throw new Error(`seeded ${rows} rows but the Worker sees ${check.usedTokens} tokens`);
  const seedAnswer = await seedCall(`/seed-check?port=${port}&estimate=100`);
  if (seedAnswer.usedTokens !== rows * 10) throw new Error(`the seed's way disagrees: ${JSON.stringify(seedAnswer)}`);
  ports.push({ rows, port, seedSeconds });
  console.error(`${rows} rows seeded in ${seedSeconds.toFixed(1)} s`);
}
const samples = new Map(ports.map((p) => [p.rows, { checkHttp: [], reserveHttp: [], seedHttp: [], oursQuery: [], seedQuery: [] }]));
const collect = async (list, n, fn) => {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    list.push(performance.now() - t0);
  }
};
for (const { port } of ports) await collect([], 30, () => w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 }));
for (let round = 0; round < ROUNDS; round++) {
  for (const { rows, port } of ports) {
    const s = samples.get(rows);
    const per = Math.ceil(SAMPLES / ROUNDS);
    const perSeed = Math.ceil(SEED_SAMPLES / ROUNDS);
    await collect(s.checkHttp, per, () => w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100 }));
    await collect(s.reserveHttp, per, async () => {
      const res = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100 });
      if (res.status !== 201) throw new Error(`reserve: ${res.status}`);
    });
    // The seed's whole check, end to end, the same way.
    await collect(s.seedHttp, perSeed, () => seedCall(`/seed-check?port=${port}&estimate=100`));
    // The two reads alone, timed inside workerd (whose clock moves in whole ms).
    for (let i = 0; i < per; i++) s.oursQuery.push((await seedCall(`/rollup-read?port=${port}&since=${monthStart}`)).ms);
    for (let i = 0; i < perSeed; i++) s.seedQuery.push((await seedCall(`/seed-read?port=${port}&since=${monthStart}`)).ms);
  }
  console.error(`round ${round + 1} of ${ROUNDS} done`);
}
const results = ports.map(({ rows, seedSeconds }) => {
  const s = samples.get(rows);
  return Object.fromEntries([["rows", rows], ["seedSeconds", seedSeconds], ...Object.entries(s).map(([k, v]) => [k, stats(v)])]);
});

// Sustained reservations + commits: CLIENTS concurrent clients, each reserve then commit.
const tport = "bench-throughput";
await w.setBudget(tport, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month" });
let pairs = 0;
let failures = 0;
const deadline = performance.now() + THROUGHPUT_SECONDS * 1000;
await Promise.all(
  Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < deadline) {
      const hold = await w.post(`/v1/ports/${tport}/reservations`, { estimatedTokens: 500 });
      const commit = await w.post(`/v1/ports/${tport}/reservations/${hold.json?.id}/commit`, {
        provider: "openai", model: "gpt-4.1-mini", inputTokens: 300, outputTokens: 100,
      });
      if (hold.status === 201 && commit.status === 200) pairs++;
      else failures++;
    }
  }),
);
const pairsPerSecond = pairs / THROUGHPUT_SECONDS;
const { ledger, rollup } = await w.consistency(tport);
if (ledger.calls !== pairs || rollup.some((r) => r.calls !== pairs)) throw new Error("throughput run lost or doubled a count");
await w.dispose();

const lines = [];
lines.push(`Through workerd + local D1 and KV (Miniflare), sequential requests: ${SAMPLES} samples of ours, ${SEED_SAMPLES} of the seed's way. Times in ms.`);
lines.push("");
lines.push("| ledger rows | check median | check p99 | reserve median | reserve p99 | seed's check median | seed's check p99 | seed's check / our check | rollup read | seed's SUM read |");
lines.push("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
  lines.push(
    `| ${r.rows.toLocaleString("en")} | ${ms(r.checkHttp.median)} | ${ms(r.checkHttp.p99)} | ${ms(r.reserveHttp.median)} | ${ms(r.reserveHttp.p99)} | ${ms(r.seedHttp.median)} | ${ms(r.seedHttp.p99)} | ${(r.seedHttp.median / r.checkHttp.median).toFixed(1)}x | ${ms(r.oursQuery.median)} | ${ms(r.seedQuery.median)} |`,
  );
}
const first = results[0];
const last = results[results.length - 1];
lines.push("");
lines.push(`Flatness (largest / smallest ledger, medians): check ${(last.checkHttp.median / first.checkHttp.median).toFixed(2)}x, reserve ${(last.reserveHttp.median / first.reserveHttp.median).toFixed(2)}x (goal <= 1.5x).`);
lines.push(`Reservations + commits sustained: ${pairsPerSecond.toFixed(0)} pairs/s (${(2 * pairsPerSecond).toFixed(0)} requests/s) with ${CLIENTS} concurrent clients over ${THROUGHPUT_SECONDS} s, ${failures} failures; ledger and rollup agree (${pairs} calls).`);
console.log(lines.join("\n"));
