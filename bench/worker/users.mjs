// Caps inside a port at scale: check, reserve and status latency of a port
// whose period has 0, 1 000 and 100 000 distinct end users, each call for a
// random one of them under a default user cap and a feature cap. Through
// workerd (Miniflare) with local D1, KV and Durable Objects; sequential
// requests; writes bench/worker/USERS.md.
//
//   node bench/worker/users.mjs   (after scripts/build-worker.sh)
import { writeFileSync } from "node:fs";
import { startWorker } from "../../tests/worker/harness.mjs";

const SAMPLES = Number(process.env.SAMPLES ?? 300);
const USERS = [0, 1_000, 100_000];
const ROWS_PER_USER = 2;

const w = await startWorker({ now: null });
const quantile = (samples, q) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor(q * samples.length))];
const timed = async (list, fn) => {
  const t0 = performance.now();
  await fn();
  list.push(performance.now() - t0);
};

const ns = await w.mf.getDurableObjectNamespace("GATE");
const results = [];
for (const users of USERS) {
  const port = `users-${users}`;
  await w.setBudget(port, {
    enabled: true, period: "month", softCapTokens: 1e12, hardCapTokens: 1e12,
    featureCaps: { chat: { hardCap: 1e11 } }, userCap: { hardCap: 1e9 },
  });
  const t0 = performance.now();
  const rows = Math.max(1, users) * ROWS_PER_USER;
  const res = await ns.get(ns.idFromName(port)).fetch("https://gate/", {
    method: "POST",
    headers: { "content-type": "application/json", "x-port": port },
    body: JSON.stringify({ op: "seedHistory", rows, users }),
  });
  if (res.status !== 200) throw new Error(`seeding: ${res.status} ${await res.text()}`);
  console.error(`${users} users (${rows} rows) seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const user = () => (users ? `user-${Math.floor(Math.random() * users)}` : `user-${Math.floor(Math.random() * 1e6)}`);
  const check = [], reserve = [], status = [];
  for (let i = 0; i < 30; i++) await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100, feature: "chat", userId: user() });
  for (let i = 0; i < SAMPLES; i++) {
    await timed(check, async () => {
      const r = await w.post(`/v1/ports/${port}/check`, { estimatedTokens: 100, feature: "chat", userId: user() });
      if (r.status !== 200 || !r.json.ok) throw new Error(`check: ${r.status} ${r.text}`);
    });
    let hold;
    await timed(reserve, async () => {
      hold = await w.post(`/v1/ports/${port}/reservations`, { estimatedTokens: 100, feature: "chat", userId: user() });
      if (hold.status !== 201) throw new Error(`reserve: ${hold.status} ${hold.text}`);
    });
    await w.post(`/v1/ports/${port}/reservations/${hold.json.id}/release`);
  }
  for (let i = 0; i < Math.ceil(SAMPLES / 10); i++) {
    await timed(status, async () => {
      const r = await w.get(`/v1/ports/${port}/status`);
      if (r.status !== 200 || r.json.topUsers.length !== Math.min(10, users)) throw new Error(`status: ${r.status} ${r.json?.topUsers?.length}`);
    });
  }
  results.push({ users, check, reserve, status });
}
await w.dispose();

const ms = (v) => v.toFixed(2);
const lines = [
  "# Caps inside a port at scale",
  "",
  `Through workerd (Miniflare) with local D1, KV and Durable Objects; sequential requests; ${SAMPLES} check and reserve samples per row (a random user each), ${Math.ceil(SAMPLES / 10)} status samples; ms. Every call meets a feature cap and a user cap.`,
  "",
  "| end users in the period | check median / p99 | reserve median / p99 | status (top 10 users) median / p99 |",
  "|---:|---:|---:|---:|",
  ...results.map(({ users, check, reserve, status }) =>
    `| ${users.toLocaleString("en-US")} | ${ms(quantile(check, 0.5))} / ${ms(quantile(check, 0.99))} | ${ms(quantile(reserve, 0.5))} / ${ms(quantile(reserve, 0.99))} | ${ms(quantile(status, 0.5))} / ${ms(quantile(status, 0.99))} |`),
  "",
  "Rerun: `scripts/build-worker.sh && node bench/worker/users.mjs`.",
];
writeFileSync(new URL("./USERS.md", import.meta.url), `${lines.join("\n")}\n`);
console.log(lines.join("\n"));
