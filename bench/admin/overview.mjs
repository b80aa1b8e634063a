// Figures of the admin page (issue 5), measured in Debian's Chromium against
// the built Worker in workerd with local D1 and KV:
//   - time from navigation to an interactive overview of 1 000 ports
//     (the page's `ai-budget:overview-interactive` mark: rows rendered,
//     sorting and filtering wired), cold cache each run;
//   - the same for a port page (data + wasm rules loaded, preview live);
//   - bytes the page downloads, raw and gzip -9, static files and API data.
//
//   bench/admin/run.sh                  # 1 000 ports, 10 runs
//   PORTS=5000 RUNS=20 bench/admin/run.sh
import { gzipSync } from "node:zlib";
import { startSite, ADMIN_TOKEN } from "../../tests/admin/server.mjs";
import { launch } from "../../tests/admin/browser.mjs";

const PORTS = Number(process.env.PORTS ?? 1000);
const RUNS = Number(process.env.RUNS ?? 10);
const CONCURRENCY = 8;

/** Runs `task(i)` for i in 0..n with a few requests in flight. */
async function pool(n, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** 1 000 ports across every cap state: budgets in KV, one ledger row each in D1. */
async function seed(api) {
  await pool(PORTS, async (i) => {
    const port = `port-${String(i).padStart(5, "0")}`;
    const enabled = i % 10 !== 0;
    await api.setBudget(port, { enabled, softCapTokens: 50_000, hardCapTokens: 100_000, period: ["day", "week", "month"][i % 3] });
    // Used tokens spread from 0 to 120 % of the hard cap: ok, soft and hard ports.
    const used = Math.round(((i * 7919) % PORTS) / PORTS * 120_000);
    await api.recordUsage(port, {
      feature: ["chat", "ocr", "search"][i % 3], provider: "openai", model: "gpt-4.1-mini",
      inputTokens: used, outputTokens: 0, requestId: `seed-${i}`,
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)];
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

/** One cold-cache visit of `hash`; returns the mark's time, the API's share and what was downloaded. */
async function visit(browser, origin, hash, mark) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The test signs in the way a returning tab is signed in: the token is in
  // this tab's sessionStorage before the page runs.
  await context.addInitScript((token) => sessionStorage.setItem("ai-budget.adminToken", token), ADMIN_TOKEN);
  const page = await context.newPage();
  const downloads = [];
  page.on("response", async (res) => {
    downloads.push(
      res.body().then(
        (body) => ({ path: new URL(res.url()).pathname, raw: body.length, gzip: gzipSync(body, { level: 9 }).length }),
        () => null,
      ),
    );
  });
  await page.goto(`${origin}/${hash}`);
  await page.waitForFunction((m) => performance.getEntriesByName(m).length > 0, mark, { timeout: 60_000, polling: 10 });
  const timing = await page.evaluate((m) => {
    const at = performance.getEntriesByName(m)[0].startTime;
    const calls = performance
      .getEntriesByType("resource")
      .filter((e) => new URL(e.name).pathname.startsWith("/v1/"));
    const start = Math.min(...calls.map((e) => e.startTime));
    const end = Math.max(...calls.map((e) => e.responseEnd));
    return { at, apiStart: start, api: end - start, afterApi: at - end };
  }, mark);
  const files = (await Promise.all(downloads)).filter(Boolean);
  await context.close();
  return { ...timing, files };
}

function report(title, runs) {
  const at = runs.map((r) => r.at);
  const api = runs.map((r) => r.api);
  const apiStart = runs.map((r) => r.apiStart);
  const afterApi = runs.map((r) => r.afterApi);
  console.log(`\n${title} (${runs.length} cold-cache runs)`);
  console.log(`  navigation -> interactive: median ${median(at).toFixed(0)} ms, p95 ${p95(at).toFixed(0)} ms`);
  console.log(
    `  of which: until the API request starts ${median(apiStart).toFixed(0)} ms, ` +
      `the API request ${median(api).toFixed(0)} ms, after its answer ${median(afterApi).toFixed(0)} ms (medians)`,
  );
  const files = runs.at(-1).files;
  const isApi = (f) => f.path.startsWith("/v1/");
  const sum = (fs, k) => fs.reduce((n, f) => n + f[k], 0);
  for (const f of files) console.log(`    ${f.path.padEnd(42)} ${String(f.raw).padStart(8)} B raw ${String(f.gzip).padStart(7)} B gzip`);
  const stat = files.filter((f) => !isApi(f));
  const data = files.filter(isApi);
  console.log(`  static files: ${stat.length}, ${kib(sum(stat, "raw"))} raw, ${kib(sum(stat, "gzip"))} gzip`);
  console.log(`  API data:     ${data.length}, ${kib(sum(data, "raw"))} raw, ${kib(sum(data, "gzip"))} gzip`);
  console.log(`  everything:   ${kib(sum(files, "raw"))} raw, ${kib(sum(files, "gzip"))} gzip`);
}

const site = await startSite();
const browser = await launch();
try {
  const t0 = performance.now();
  await seed(site.api);
  const { ports } = await site.api.ports();
  if (ports.length !== PORTS) throw new Error(`expected ${PORTS} ports, the API lists ${ports.length}`);
  const states = Object.entries(
    ports.reduce((n, p) => ((n[p.capStatus.state] = (n[p.capStatus.state] ?? 0) + 1), n), {}),
  ).map(([s, n]) => `${s} ${n}`);
  console.log(`seeded ${PORTS} ports in ${((performance.now() - t0) / 1000).toFixed(1)} s (${states.join(", ")})`);

  // One warm-up visit each (workerd and Chromium's first start), not counted.
  await visit(browser, site.origin, "#/", "ai-budget:overview-interactive");
  const overview = [];
  for (let i = 0; i < RUNS; i++) overview.push(await visit(browser, site.origin, "#/", "ai-budget:overview-interactive"));
  report(`overview of ${PORTS} ports`, overview);

  const portPage = [];
  for (let i = 0; i < RUNS; i++) portPage.push(await visit(browser, site.origin, "#/ports/port-00001", "ai-budget:port-interactive"));
  report("one port's page", portPage);
} finally {
  await browser.close();
  await site.stop();
}
