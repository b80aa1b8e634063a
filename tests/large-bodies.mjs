// Bodies far larger than the Worker accepts (1, 3 and 20 MiB, sent with a
// Content-Length and chunked), each followed by ordinary calls on the same
// kept-alive connection and on new connections. The Worker must answer the
// large body itself (413, or the early refusal its route gives) and leave
// every connection able to carry the next call: no reset, no 503 from
// `wrangler dev`'s proxy. Shared by tests/worker/ (Miniflare) and
// tests/dev/ (`scripts/dev.sh`).
import http from "node:http";

const MiB = 1024 * 1024;
/** The sizes sent, in bytes. */
export const SIZES = [1 * MiB, 3 * MiB, 20 * MiB];
/** The gateway's body limit (src/worker/gateway/mod.rs, MAX_REQUEST_BYTES). */
export const GATEWAY_LIMIT = 16 * MiB;

/** The routes a large body goes to, with the answer each must give:
 * `[status, error code]`. `auth` is the bearer token or null. */
export function routes(port, token) {
  return [
    { name: "usage", method: "POST", path: `/v1/ports/${port}/usage`, auth: token, expect: () => [413, "body-too-large"] },
    { name: "budget", method: "PUT", path: `/v1/ports/${port}/budget`, auth: token, expect: () => [413, "body-too-large"] },
    { name: "unauthenticated", method: "POST", path: `/v1/ports/${port}/usage`, auth: null, expect: () => [401, "unauthorized"] },
    { name: "no such route", method: "POST", path: "/v1/no-such-route", auth: token, expect: () => [404, "not-found"] },
    {
      // Read whole when within the gateway's limit (and not JSON: 400).
      name: "gateway",
      method: "POST",
      path: `/v1/ports/${port}/openai/chat/completions`,
      auth: token,
      expect: (size) => (size > GATEWAY_LIMIT ? [413, "body_too_large"] : [400, "invalid_json"]),
    },
    { name: "gateway unauthenticated", method: "POST", path: `/v1/ports/${port}/openai/chat/completions`, auth: null, expect: () => [401, "unauthorized"] },
  ];
}

/** How long one call may take before it counts as unanswered. */
const CALL_MS = 30_000;

/** Sends one request through `agent`; `body` (a Buffer) goes with a
 * Content-Length, or chunked in 64 KiB writes. Resolves to
 * `{status, code, socket}`, or `{error}` when the connection failed or no
 * answer came within CALL_MS. */
export function send(origin, agent, { method, path, auth, body, chunked = false, headers = {} }) {
  return new Promise((done) => {
    const timer = setTimeout(() => {
      resolve({ error: "no answer" });
      req.destroy();
    }, CALL_MS);
    const resolve = (answer) => {
      clearTimeout(timer);
      done(answer);
    };
    const h = { "content-type": "application/json", ...headers };
    if (auth) h.authorization = `Bearer ${auth}`;
    if (body && !chunked) h["content-length"] = String(body.length);
    let socket;
    const req = http.request(`${origin}${path}`, { method, headers: h, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        let code = null;
        try {
          code = JSON.parse(text)?.error?.code ?? null;
        } catch {
          code = text.slice(0, 80);
        }
        resolve({ status: res.statusCode, code, socket });
      });
    });
    req.on("socket", (s) => {
      socket = s;
      // A reset while still sending is reported through `req`'s error.
      s.on("error", () => {});
    });
    req.on("error", (e) => resolve({ error: e.code ?? e.message }));
    if (!body) return req.end();
    if (!chunked) return req.end(body);
    let offset = 0;
    const write = () => {
      while (offset < body.length) {
        const more = req.write(body.subarray(offset, offset + 64 * 1024));
        offset += 64 * 1024;
        if (!more) return req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

const show = (answer) => (answer.error ? `error ${answer.error}` : `${answer.status} ${answer.code}`);

/**
 * Sends a body of `size` bytes (chunked or not) to every route, each on a
 * connection of its own: with `keepAlive`, that connection (one socket) then
 * carries two ordinary calls, and one more goes on a new connection;
 * without, every call is on a new connection. Returns, per route, what each
 * call got and what it should have got (`{got, want}`, as lines), and for
 * kept-alive runs whether one socket carried the big body and its calls.
 */
export async function largeBodyRun(origin, { port, token, size, chunked, keepAlive }) {
  const body = Buffer.alloc(size, 0x20);
  const budget = Buffer.from(JSON.stringify({ enabled: true, softCapTokens: 80_000, hardCapTokens: 100_000, period: "day" }));
  const check = Buffer.from(JSON.stringify({ estimatedTokens: 1 }));
  const got = [];
  const want = [];
  for (const route of routes(port, token)) {
    const agent = new http.Agent({ keepAlive, maxSockets: 1 });
    try {
      const first = await send(origin, agent, { ...route, body, chunked });
      const again = await send(origin, agent, { method: "PUT", path: `/v1/ports/${port}/budget`, auth: token, body: budget });
      const checked = await send(origin, agent, { method: "POST", path: `/v1/ports/${port}/check`, auth: token, body: check });
      const fresh = await send(origin, false, { method: "GET", path: `/v1/ports/${port}/budget`, auth: token });
      const [status, code] = route.expect(size);
      const sockets = new Set([first.socket, again.socket, checked.socket].filter(Boolean)).size;
      got.push(`${route.name}: ${[first, again, checked, fresh].map(show).join(" | ")}${keepAlive ? ` | sockets ${sockets}` : ""}`);
      want.push(`${route.name}: ${status} ${code} | 200 null | 200 null | 200 null${keepAlive ? " | sockets 1" : ""}`);
    } finally {
      agent.destroy();
    }
  }
  return { got, want };
}
