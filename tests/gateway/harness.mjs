// The Worker in workerd (Miniflare) on a real 127.0.0.1 port, so the official
// SDKs can reach it, with local D1/KV and a fake upstream on 127.0.0.1.
// Every line workerd logs is captured, to show the provider keys never leak.
import { join } from "node:path";
import { Miniflare, Log, LogLevel } from "miniflare";
import { ROOT, ADMIN_TOKEN, WorkerClient, migrationStatements, GATE_OBJECTS, ALERT_QUEUES, ALERT_VARS, startingTwice } from "../worker/harness.mjs";
import { testClock } from "../clock.mjs";
import { FakeUpstream } from "./fake-upstream.mjs";

export { ADMIN_TOKEN };
/** The instant the gateway suites run at: TEST_NOW, else a Wednesday morning in March. */
export const CLOCK = testClock("2027-03-10T09:30:00.000Z");
/** The header that runs a request at the suite's instant (the Worker's `x-now` test seam). */
export const CLOCK_HEADERS = Object.freeze({ "x-now": CLOCK.iso });
export const OPENAI_KEY = "sk-provider-openai-SECRET-7f3a9c";
export const ANTHROPIC_KEY = "sk-ant-provider-SECRET-51d2e8";
export const GEMINI_KEY = "AIza-provider-SECRET-c94e17";

/** Collects everything Miniflare and workerd print. */
class CaptureLog extends Log {
  constructor(lines) {
    super(LogLevel.DEBUG);
    this.lines = lines;
  }
  log(message) {
    this.lines.push(String(message));
  }
}

/**
 * Starts a fake upstream and the Worker pointed at it. `vars` override the
 * gateway's Worker vars (strict mode, timeouts, default max tokens);
 * `vars` may also be a function of the fake upstream (for URLs in a var);
 * `scriptPath` picks another build of the Worker (the benchmark's baseline;
 * `gate: false` for one from before the ports' Durable Objects);
 * `options` are further Miniflare options (the benchmark's `inspectorPort`).
 */
export async function startGateway(settings = {}) {
  return startingTwice(() => startGatewayOnce(settings));
}

async function startGatewayOnce({ vars = {}, scriptPath = join(ROOT, "build", "index.js"), gate = true, options = {} } = {}) {
  const upstream = await new FakeUpstream().start();
  try {
    return await startOver(upstream, { vars, scriptPath, gate, options });
  } catch (e) {
    // Nothing left running: a start that failed would keep the test's process alive.
    await upstream.stop();
    throw e;
  }
}

/** The Worker pointed at `upstream`. */
async function startOver(upstream, { vars, scriptPath, gate, options }) {
  // Vars may depend on the fake upstream's address (a provider table).
  if (typeof vars === "function") vars = vars(upstream);
  const logs = [];
  const collect = (stream) => stream.on("data", (d) => logs.push(d.toString()));
  const mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    d1Databases: { DB: "ai-budget-gateway-test" },
    kvNamespaces: ["BUDGETS"],
    ...(gate ? { durableObjects: GATE_OBJECTS, ...ALERT_QUEUES } : {}),
    cf: false,
    host: "127.0.0.1",
    port: 0,
    log: new CaptureLog(logs),
    handleRuntimeStdio: (stdout, stderr) => {
      collect(stdout);
      collect(stderr);
    },
    handleStructuredLogs: (entry) => {
      logs.push(`${entry.level}: ${entry.message}`);
    },
    bindings: {
      ADMIN_TOKEN,
      FAULT_INJECTION: "on",
      OPENAI_BASE_URL: upstream.openaiBase,
      ANTHROPIC_BASE_URL: upstream.anthropicBase,
      GEMINI_BASE_URL: upstream.geminiBase,
      OPENAI_API_KEY: OPENAI_KEY,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      GEMINI_API_KEY: GEMINI_KEY,
      GATEWAY_UPSTREAM_TIMEOUT_MS: "2000",
      ...(gate ? ALERT_VARS : {}),
      ...vars,
    },
    ...options,
  });
  let url, db;
  try {
    url = await mf.ready;
    db = await mf.getD1Database("DB");
    await db.batch(migrationStatements().map((s) => db.prepare(s)));
  } catch (e) {
    await mf.dispose().catch(() => {});
    throw e;
  }
  const worker = new WorkerClient(mf, db, CLOCK.iso);
  const base = url.href.replace(/\/$/, "");
  return {
    mf,
    worker,
    upstream,
    logs,
    base,
    /** The SDK base URLs of a port. */
    openaiURL: (port) => `${base}/v1/ports/${port}/openai`,
    anthropicURL: (port) => `${base}/v1/ports/${port}/anthropic`,
    geminiURL: (port) => `${base}/v1/ports/${port}/gemini`,
    /** `fetch` at the suite's instant. */
    fetch: (url, init = {}) => fetch(url, { ...init, headers: { ...CLOCK_HEADERS, ...(init.headers ?? {}) } }),
    async stop() {
      await mf.dispose();
      await upstream.stop();
    },
  };
}

/** Waits until `port` has no open holds (streamed calls settle after their
 * answer) and its gate has delivered its ledger to D1. */
export async function settled(worker, port, { timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await worker.holds(port, { all: false });
    const held = open.filter((h) => h.state === "held").length;
    if (held === 0) {
      const status = await worker.synced(port);
      if (status.pendingLedgerRows === 0) return;
    }
    if (Date.now() > deadline) throw new Error(`port ${port} still has ${held} open holds`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A port with a budget and a key. */
export async function openPort(worker, port, budget = {}) {
  await worker.setBudget(port, { enabled: true, softCapTokens: 800_000, hardCapTokens: 1_000_000, period: "month", ...budget });
  return worker.issueKey(port);
}

/** The port's ledger rows in D1 (the ledger of record), oldest first, once
 * its gate has delivered them. */
export async function ledger(worker, port) {
  await worker.synced(port);
  return worker.sql("SELECT * FROM usage_ledger WHERE port_id = ? ORDER BY seq", port);
}
/** The port's reservations as its gate keeps them, oldest first, with the
 * column names of a ledger row (`estimated_tokens`, `created_at` in ms...). */
export async function reservations(worker, port) {
  const holds = await worker.holds(port);
  return holds
    .map((h) => ({
      id: h.id,
      request_id: h.requestId,
      feature: h.feature,
      user_id: h.userId,
      estimated_tokens: h.estimatedTokens,
      state: h.state,
      actual_tokens: h.actualTokens,
      created_at: Date.parse(h.createdAt),
      expires_at: Date.parse(h.expiresAt),
      settled_at: h.settledAt === null ? null : Date.parse(h.settledAt),
    }))
    .reverse();
}

/** Waits until a captured log line matches `pattern` (workerd's output arrives asynchronously). */
export async function logged(logs, pattern, { timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!logs.some((l) => pattern.test(l))) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
