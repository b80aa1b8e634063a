// The built Worker (build/index.js) in workerd through Miniflare, on a real
// HTTP port of 127.0.0.1, with local D1 and KV and the admin page (www/) as
// its static assets, routed the way wrangler.toml's [assets] routes them.
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { ROOT, migrationStatements, GATE_OBJECTS, ALERT_QUEUES, ALERT_VARS } from "../worker/harness.mjs";
import { testClock } from "../clock.mjs";

export { ROOT };

/** The instant the admin page's suite runs at: TEST_NOW, else a Wednesday afternoon in November. */
export const CLOCK = testClock("2026-11-18T15:00:00.000Z");

/** The admin token the test Worker accepts. */
export const ADMIN_TOKEN = "admin-page-test-token-5f1c2a";

/**
 * Starts the Worker with fresh storage and its assets; returns its origin,
 * an API client with the admin token sending its requests at `now` (ISO;
 * the suite's instant unless given), and `stop()`.
 */
export async function startSite({ now = CLOCK.iso } = {}) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    scriptPath: join(ROOT, "build", "index.js"),
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    d1Databases: { DB: "ai-budget-admin-test" },
    kvNamespaces: ["BUDGETS"],
    durableObjects: GATE_OBJECTS,
    ...ALERT_QUEUES,
    // The test seams, for the `x-now` header that runs the Worker at CLOCK.
    bindings: { ADMIN_TOKEN, FAULT_INJECTION: "on", ...ALERT_VARS },
    assets: {
      directory: join(ROOT, "www"),
      // wrangler.toml: run_worker_first = ["/v1/*"]
      routerConfig: { has_user_worker: true, static_routing: { user_worker: ["/v1/*"] } },
    },
  });
  const url = await mf.ready;
  const db = await mf.getD1Database("DB");
  await db.batch(migrationStatements().map((s) => db.prepare(s)));
  const origin = url.origin;
  return { origin, api: new Api(origin, ADMIN_TOKEN, now), stop: () => mf.dispose() };
}

/** A small client of the Worker's HTTP API, over real HTTP, at `now` (the `x-now` test seam). */
export class Api {
  constructor(origin, token = ADMIN_TOKEN, now = CLOCK.iso) {
    this.origin = origin;
    this.token = token;
    this.now = now;
  }

  /** Sends a request and returns `{status, json}`; throws on a non-2xx unless `allow` lists it. */
  async call(method, path, body, { allow = [] } = {}) {
    const headers = { authorization: `Bearer ${this.token}`, "x-now": this.now };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.origin}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok && !allow.includes(res.status)) {
      throw new Error(`${method} ${path}: ${res.status} ${text}`);
    }
    return { status: res.status, json };
  }

  setBudget(port, budget) {
    return this.call("PUT", `/v1/ports/${port}/budget`, budget).then((r) => r.json);
  }
  recordUsage(port, usage) {
    return this.call("POST", `/v1/ports/${port}/usage`, usage).then((r) => r.json);
  }
  reserve(port, body) {
    return this.call("POST", `/v1/ports/${port}/reservations`, body).then((r) => r.json);
  }
  status(port) {
    return this.call("GET", `/v1/ports/${port}/status`).then((r) => r.json);
  }
  ports() {
    return this.call("GET", "/v1/ports").then((r) => r.json);
  }
}
