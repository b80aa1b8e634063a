// Runs the built Worker (build/index.js) in workerd through Miniflare, with
// real local D1 and KV, and the migrations applied through the D1 binding.
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { testClock, periodStarts } from "../clock.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const BASE = "http://localhost";
/** The Durable Object namespace of the ports' gates, as wrangler.toml binds it. */
export const GATE_OBJECTS = Object.freeze({
  GATE: { className: "PortGate", useSQLite: true },
  GROUP: { className: "GroupGate", useSQLite: true },
});
/** The alert queue and its dead-letter queue, as wrangler.toml binds them
 * (local queues in Miniflare): retries at once (the Worker's backoff base is
 * 0 in the tests), 5 retries, then the dead-letter queue. */
export const ALERT_QUEUES = Object.freeze({
  queueProducers: { ALERTS: "ai-budget-alerts" },
  queueConsumers: {
    "ai-budget-alerts": { maxBatchTimeout: 0.05, maxRetries: 5, retryDelay: 0, deadLetterQueue: "ai-budget-alerts-dead" },
    "ai-budget-alerts-dead": { maxBatchTimeout: 0.05 },
  },
});
/** The Worker vars of alerts in the tests: development (http:// webhooks to
 * localhost), retries without waiting, a short receiver timeout. */
export const ALERT_VARS = Object.freeze({ ENVIRONMENT: "development", ALERT_RETRY_BASE_SECONDS: "0", ALERT_TIMEOUT_MS: "1000" });
/** The instant the Worker suites run at: TEST_NOW, else a Wednesday in mid-June. */
export const CLOCK = testClock("2026-06-17T12:00:00.000Z");
export { periodStarts };

/** The statements of every migration, in order. */
export function migrationStatements() {
  const dir = join(ROOT, "migrations");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, f), "utf8")
        .split("\n")
        .filter((line) => !line.trim().startsWith("--"))
        .join("\n")
        .split(/;\s*(?:\n|$)/)
        .map((s) => s.trim())
        .filter(Boolean),
    );
}

/** Starts the Worker with fresh local storage; `bindings` override vars;
 * `extraWorkers` run beside it on the same D1 database and KV namespace.
 * Every request is sent at `now` (ISO; the suite's clock unless given; null:
 * the runtime's clock) through the `x-now` test seam, unless it names its
 * own `x-now`. `scriptPath` picks another build (`gate: false` for one from
 * before the ports' Durable Objects). */
export async function startWorker(options = {}) {
  return startingTwice(() => startWorkerOnce(options));
}

/**
 * Runs `start` (a start of Miniflare that cleans up after itself when it
 * fails) again once when it fails: Miniflare's synchronous proxy to the
 * bindings can lose a reply on a loaded machine (an assertion in its
 * `SynchronousFetcher`), which no test causes and a fresh start does not
 * meet.
 */
export async function startingTwice(start) {
  try {
    return await start();
  } catch (e) {
    console.error(`# starting Miniflare failed (${e?.message ?? e}); starting afresh`);
    return await start();
  }
}

async function startWorkerOnce({
  bindings = {},
  extraWorkers = [],
  now = CLOCK.iso,
  http = false,
  scriptPath = join(ROOT, "build", "index.js"),
  gate = true,
} = {}) {
  const storage = { d1Databases: { DB: "ai-budget-test" }, kvNamespaces: ["BUDGETS"] };
  const mf = new Miniflare({
    // With `http`, also on a real 127.0.0.1 port (for tests of connections).
    ...(http ? { host: "127.0.0.1", port: 0 } : {}),
    workers: [
      {
        name: "ai-budget",
        scriptPath,
        modules: true,
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2026-04-01",
        ...storage,
        // `gate: false` for a build from before the ports' gates (a benchmark's baseline).
        ...(gate ? { durableObjects: GATE_OBJECTS, ...ALERT_QUEUES } : {}),
        bindings: { ADMIN_TOKEN, FAULT_INJECTION: "on", ...(gate ? ALERT_VARS : {}), ...bindings },
      },
      ...extraWorkers.map((worker) => ({ compatibilityDate: "2026-04-01", modules: true, ...storage, ...worker })),
    ],
  });
  try {
    const url = await mf.ready;
    const db = await mf.getD1Database("DB");
    await db.batch(migrationStatements().map((s) => db.prepare(s)));
    const client = new WorkerClient(mf, db, now);
    if (http) client.origin = url.origin;
    return client;
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
}

/**
 * Sends `requests` ({method, path, headers, body}) one after another over
 * ONE keep-alive connection to `origin`, as a client that pipelines its
 * calls does; returns each answer's status, or the error that ended it
 * (a connection the server closed under it), and how many sockets were used.
 */
export async function overOneConnection(origin, requests) {
  const { Agent, request } = await import("node:http");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  const answers = await Promise.all(
    requests.map(
      ({ method, path, headers = {}, body }) =>
        new Promise((resolve) => {
          const req = request(`${origin}${path}`, { method, headers, agent }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode));
          });
          req.on("socket", (s) => sockets.add(s));
          req.on("error", (e) => resolve(e.message));
          req.end(body);
        }),
    ),
  );
  agent.destroy();
  return { answers, sockets: sockets.size };
}

/** A thin client over dispatchFetch. */
export class WorkerClient {
  constructor(mf, db, now = CLOCK.iso) {
    this.mf = mf;
    this.db = db;
    /** The instant every request is sent at (the `x-now` test seam). */
    this.now = now;
  }

  /** The same Worker, its requests sent at `now` (ISO) instead. */
  at(now) {
    return Object.assign(Object.create(Object.getPrototypeOf(this)), this, { now });
  }

  /** Sends a request; `token` defaults to the admin token (null: none). */
  async request(method, path, { body, token = ADMIN_TOKEN, headers = {}, raw } = {}) {
    const h = { ...headers };
    if (this.now && !Object.keys(h).some((k) => k.toLowerCase() === "x-now")) h["x-now"] = this.now;
    if (token) h.authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      h["content-type"] = "application/json";
    }
    const res = await this.mf.dispatchFetch(`${BASE}${path}`, { method, headers: h, body: payload });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  }

  get(path, opts) {
    return this.request("GET", path, opts);
  }
  post(path, body, opts = {}) {
    return this.request("POST", path, { ...opts, body });
  }
  put(path, body, opts = {}) {
    return this.request("PUT", path, { ...opts, body });
  }
  delete(path, opts) {
    return this.request("DELETE", path, opts);
  }

  /** Sets a port's budget (admin). */
  async setBudget(port, budget) {
    const res = await this.put(`/v1/ports/${port}/budget`, budget);
    if (res.status !== 200) throw new Error(`setBudget: ${res.status} ${res.text}`);
    return res.json;
  }

  /** Issues a port key (admin); returns the secret. */
  async issueKey(port) {
    const res = await this.post(`/v1/ports/${port}/keys`);
    if (res.status !== 201) throw new Error(`issueKey: ${res.status} ${res.text}`);
    return res.json.key;
  }

  /** The port's reservations (holds) as its gate keeps them, newest first:
   * `all` states, or open and unsettled expired ones. */
  async holds(port, { all = true } = {}) {
    const res = await this.get(`/v1/ports/${port}/reservations?state=${all ? "all" : "open"}&limit=500`);
    if (res.status !== 200) throw new Error(`holds: ${res.status} ${res.text}`);
    return res.json.reservations;
  }

  /** Asks the port's gate to deliver its ledger to D1 now; returns its status
   * (`pendingLedgerRows` is 0 once D1 has every row). */
  async synced(port) {
    const res = await this.get(`/v1/ports/${port}/status`);
    if (res.status !== 200) throw new Error(`status: ${res.status} ${res.text}`);
    return res.json;
  }

  /** SQL straight against the local D1 (for assertions). */
  async sql(query, ...params) {
    return (await this.db.prepare(query).bind(...params).all()).results;
  }

  /** The ledger's sum and the rollup's sum for a port, per period kind
   * (after the port's gate delivered its ledger). */
  async consistency(port) {
    await this.synced(port);
    const [ledger] = await this.sql(
      "SELECT COALESCE(SUM(total_tokens), 0) AS tokens, COUNT(*) AS calls FROM usage_ledger WHERE port_id = ?",
      port,
    );
    const rollup = await this.sql(
      "SELECT period, COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(calls), 0) AS calls FROM usage_rollup WHERE port_id = ? GROUP BY period",
      port,
    );
    return { ledger, rollup };
  }

  /** The rollup as it is and as the ledger says it should be: tokens and
   * calls per period kind, period start and feature, the starts computed
   * here from each row's instant (so a run that crosses a UTC midnight, a
   * Monday or the 1st compares like with like). */
  async rollupAgainstLedger(port) {
    const status = await this.synced(port);
    if (status.pendingLedgerRows !== 0) throw new Error(`port ${port} still has ${status.pendingLedgerRows} rows on their way to D1`);
    const rows = await this.sql("SELECT feature, total_tokens AS t, created_at AS c FROM usage_ledger WHERE port_id = ?", port);
    const expected = new Map();
    for (const row of rows) {
      for (const [period, start] of Object.entries(periodStarts(row.c))) {
        const key = `${period} ${start} ${row.feature}`;
        const sum = expected.get(key) ?? { tokens: 0, calls: 0 };
        expected.set(key, { tokens: sum.tokens + row.t, calls: sum.calls + 1 });
      }
    }
    const rollup = await this.sql("SELECT period, period_start, feature, tokens, calls FROM usage_rollup WHERE port_id = ?", port);
    const sorted = (entries) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      expected: sorted([...expected]),
      actual: sorted(rollup.map((r) => [`${r.period} ${r.period_start} ${r.feature}`, { tokens: r.tokens, calls: r.calls }])),
      ledger: { tokens: rows.reduce((sum, r) => sum + r.t, 0), calls: rows.length },
    };
  }

  async dispose() {
    await this.mf.dispose();
  }
}
