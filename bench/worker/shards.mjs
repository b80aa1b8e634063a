// One hot port in workerd (Miniflare), with 1 shard and with 8: reserve +
// commit pairs per second from closed-loop clients, and how the pairs
// spread over the objects (what each object would carry in production,
// where each shard object runs on its own thread and the port's own
// object only lends).
//
// Rounds alternate 1 and 8 shards on fresh ports. Every pair is checked
// against D1's ledger at the end (one row per commit, numbered apart).
//
//   WORKER_PROFILE=worker-test scripts/build-worker.sh && node bench/worker/shards.mjs
//   CLIENTS=64 DURATION=6 ROUNDS=3 node bench/worker/shards.mjs
import { performance } from "node:perf_hooks";
import { startWorker } from "../../tests/worker/harness.mjs";

const CLIENTS = Number(process.env.CLIENTS ?? 32);
const SECONDS = Number(process.env.DURATION ?? 6);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const COUNTS = (process.env.SHARDS ?? "1,8").split(",").map(Number);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The object a reservation id was held in: its shard, or the port's own. */
const objectOf = (id) => /^rsv_s(\d+)_/.exec(id)?.[1] ?? "port";

const w = await startWorker();
try {
  const results = new Map(COUNTS.map((count) => [count, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const shards of COUNTS) {
      const port = `hot-${shards}-${round}`;
      await w.setBudget(port, { enabled: true, softCapTokens: 1e14, hardCapTokens: 1e15, period: "month", shards });
      let pairs = 0;
      let failures = 0;
      let n = 0;
      const perObject = new Map();
      const deadline = performance.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (performance.now() < deadline) {
            const requestId = `${port}-${n++}`;
            const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 500, requestId });
            const commit = await w.post(`/v1/ports/${port}/reservations/${hold.json?.id}/commit`, { provider: "openai", model: "gpt", inputTokens: 300, outputTokens: 100 });
            if (hold.status === 201 && commit.status === 200) {
              pairs++;
              const object = objectOf(hold.json.id);
              perObject.set(object, (perObject.get(object) ?? 0) + 1);
            } else failures++;
          }
        }),
      );
      // Every pair is one row of the port's ledger (the shards deliver on
      // their own; wait for the last of them).
      let rows = 0;
      for (let i = 0; i < 200 && rows !== pairs; i++) {
        await w.synced(port);
        [{ n: rows }] = await w.sql("SELECT COUNT(*) AS n FROM usage_ledger WHERE port_id = ?", port);
        if (rows !== pairs) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (rows !== pairs) throw new Error(`${port}: ${pairs} pairs but ${rows} ledger rows`);
      const busiest = Math.max(...perObject.values());
      const rate = pairs / SECONDS;
      results.get(shards).push({ rate, busiest: (2 * busiest) / SECONDS, objects: perObject.size, failures });
      console.error(`round ${round}, ${shards} shard(s): ${rate.toFixed(0)} pairs/s, ${perObject.size} objects, busiest ${((2 * busiest) / SECONDS).toFixed(0)} operations/s, ${failures} failures`);
    }
  }
  const lines = [
    `| one hot port, ${CLIENTS} clients, ${SECONDS} s x ${ROUNDS} rounds | reserve + commit pairs/s (median) | range | objects deciding | operations/s on the busiest deciding object (median) |`,
    "|---|---:|---|---:|---:|",
  ];
  for (const [shards, runs] of results) {
    const rates = runs.map((r) => r.rate);
    lines.push(
      `| ${shards} shard${shards === 1 ? "" : "s"} | ${median(rates).toFixed(0)} | ${Math.min(...rates).toFixed(0)}-${Math.max(...rates).toFixed(0)} | ${median(runs.map((r) => r.objects))} | ${median(runs.map((r) => r.busiest)).toFixed(0)} |`,
    );
  }
  console.log(lines.join("\n"));
} finally {
  await w.dispose();
}
