// Check and reserve latency of a port with a calendar in another time zone
// against a UTC port, in workerd (Miniflare), interleaved in rounds so both
// see the same machine: the cost of local periods in the gate.
//
//   node bench/worker/calendars.mjs      (after scripts/build-worker.sh)
import { performance } from "node:perf_hooks";
import { startWorker } from "../../tests/worker/harness.mjs";

const SAMPLES = Number(process.env.SAMPLES ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const NOW = "2027-03-14T20:00:00.000Z";

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const w = await startWorker({ now: NOW });
try {
  const ports = { UTC: "bench-utc", "America/Los_Angeles": "bench-la" };
  for (const [zone, port] of Object.entries(ports)) {
    await w.setBudget(port, { enabled: true, period: "day", softCapTokens: 1e12, hardCapTokens: 1e12, timeZone: zone });
  }
  const samples = Object.fromEntries(Object.keys(ports).map((z) => [z, { check: [], reserve: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [zone, port] of Object.entries(ports)) {
      for (let i = 0; i < SAMPLES; i++) {
        let t = performance.now();
        await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 10 });
        samples[zone].check.push(performance.now() - t);
        t = performance.now();
        const hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 10 });
        samples[zone].reserve.push(performance.now() - t);
        await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/commit`, { inputTokens: 5, outputTokens: 5, provider: "openai", model: "gpt-4.1-mini" });
      }
    }
  }
  console.log(`median ms over ${ROUNDS} x ${SAMPLES} interleaved calls`);
  for (const [zone, s] of Object.entries(samples)) {
    console.log(`${zone.padEnd(22)} check ${median(s.check).toFixed(2)}  reserve ${median(s.reserve).toFixed(2)}`);
  }
} finally {
  await w.dispose();
}
