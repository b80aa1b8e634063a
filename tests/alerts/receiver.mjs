// A webhook receiver on 127.0.0.1 for the alert tests: records every request
// (path, headers, raw body) and answers by path:
//   /ok/...          200
//   /flaky/<n>/...   500 for the first n requests of that path, then 200
//   /dead/...        503 always
//   /slow/...        never answers (the Worker cuts it at its timeout)
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";

export class Receiver {
  constructor() {
    /** Every request, in arrival order: {path, headers, body, event}. */
    this.requests = [];
    this.counts = new Map();
    this.hanging = new Set();
  }

  async start() {
    this.server = createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        let event;
        try {
          event = JSON.parse(body);
        } catch {
          event = undefined;
        }
        this.requests.push({ path: req.url, headers: req.headers, body, event });
        const n = (this.counts.get(req.url) ?? 0) + 1;
        this.counts.set(req.url, n);
        const [, kind, arg] = req.url.split("/");
        if (kind === "slow") {
          this.hanging.add(res);
          return;
        }
        const failFirst = kind === "flaky" ? Number(arg) : kind === "dead" ? Infinity : 0;
        res.writeHead(n <= failFirst ? (kind === "dead" ? 503 : 500) : 200, { "content-type": "text/plain" });
        res.end("ok");
      });
    });
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  /** The requests that reached `path`. */
  at(path) {
    return this.requests.filter((r) => r.path === path);
  }

  async stop() {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * Verifies `X-Budget-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]` the way the docs
 * tell receivers to: HMAC-SHA256 keyed with the endpoint's secret over
 * `"<t>.<raw body>"`, compared in constant time. Written from the docs, not
 * from the Worker's code.
 */
export function verifySignature(header, body, secret) {
  const parts = String(header).split(",").map((p) => p.split("="));
  const t = parts.find(([k]) => k === "t")?.[1];
  const tags = parts.filter(([k, v]) => k === "v1" && /^[0-9a-f]{64}$/.test(v ?? "")).map(([, v]) => v);
  if (!/^\d+$/.test(t ?? "") || !tags.length) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  // Any v1 may match (several while a secret is being rotated).
  return tags.some((tag) => timingSafeEqual(expected, Buffer.from(tag, "hex")));
}

/** The `v1=` signatures of a header, in order. */
export const signaturesOf = (header) => String(header).split(",").filter((p) => p.startsWith("v1="));

/** Polls `check` until it returns a truthy value (or fails after `ms`). */
export async function eventually(check, { ms = 20_000, what = "the condition" } = {}) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
