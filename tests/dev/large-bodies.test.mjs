// Large request bodies against the main command (`scripts/dev.sh`, so
// `wrangler dev`): each gets its answer (413, or the route's early
// refusal), and the calls after it, on the same kept-alive connection and
// on new ones, get theirs (tests/large-bodies.mjs). A body only partly read
// before the answer made workerd close wrangler's proxy connection to the
// Worker, and the proxy answered the NEXT call, from any client, with 503
// "Your worker restarted mid-request".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { SIZES, largeBodyRun } from "../large-bodies.mjs";

const root = new URL("../../", import.meta.url).pathname;
// A port of its own (the local D1 and KV persist between runs).
const port = `big-${randomBytes(4).toString("hex")}`;

let child;
let output = "";
let base;

function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port: free } = server.address();
      server.close(() => resolve(free));
    });
  });
}

before(async () => {
  const tcpPort = await freeTcpPort();
  base = `http://127.0.0.1:${tcpPort}`;
  // A provider key, so the gateway reads the body (it never goes upstream:
  // none of these bodies is a call).
  const args = ["--var", "OPENAI_API_KEY:sk-test-large-bodies", "--var", "OPENAI_BASE_URL:http://127.0.0.1:9/v1"];
  child = spawn("bash", ["scripts/dev.sh", ...args], {
    cwd: root,
    env: { ...process.env, PORT: String(tcpPort) },
    detached: true, // its own process group: wrangler and workerd end with it
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  // Setup and builds come first; the limit only bounds a hung start.
  const deadline = Date.now() + 8 * 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`scripts/dev.sh exited early:\n${output.slice(-4000)}`);
    const answer = await fetch(`${base}/v1/ports`).catch(() => null);
    if (answer?.status === 401) break;
    if (Date.now() > deadline) throw new Error(`scripts/dev.sh did not serve:\n${output.slice(-4000)}`);
    await sleep(500);
  }
});

after(() => {
  if (child?.exitCode === null) process.kill(-child.pid, "SIGTERM");
});

const token = () => readFileSync(`${root}.dev.vars`, "utf8").match(/^ADMIN_TOKEN="(.*)"$/m)[1];

for (const size of SIZES) {
  for (const chunked of [false, true]) {
    for (const keepAlive of [true, false]) {
      const label = `${size / 1024 / 1024} MiB ${chunked ? "chunked" : "with Content-Length"}, ${keepAlive ? "kept-alive connection" : "new connections"}`;
      test(`a ${label}: answered, and the calls after it get their answers`, async () => {
        const { got, want } = await largeBodyRun(base, { port, token: token(), size, chunked, keepAlive });
        assert.deepEqual(got, want);
      });
    }
  }
}
