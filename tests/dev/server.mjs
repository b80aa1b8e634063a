// The README's main command started as a user starts it, for the tests of
// tests/dev: `scripts/dev.sh` on a free local port, in its own process
// group (wrangler and workerd end with it), waited for until it serves.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export const root = new URL("../../", import.meta.url).pathname;

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

/**
 * Starts `scripts/dev.sh` with `args` (its `--var` settings) and waits until
 * it answers. Returns `{ base, output(), stop() }`: the origin, what the
 * command printed so far, and a stop that ends its process group.
 */
export async function startDev(args = []) {
  const tcpPort = await freeTcpPort();
  const base = `http://127.0.0.1:${tcpPort}`;
  let output = "";
  const child = spawn("bash", ["scripts/dev.sh", ...args], {
    cwd: root,
    env: { ...process.env, PORT: String(tcpPort) },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const dev = {
    base,
    output: () => output,
    stop() {
      if (child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    },
  };
  // Setup and builds come first; on a machine with the tools installed this
  // takes a minute or two. The limit only bounds a hung start.
  const deadline = Date.now() + 8 * 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`scripts/dev.sh exited early:\n${output.slice(-4000)}`);
    const answer = await fetch(`${base}/v1/ports`).catch(() => null);
    if (answer?.status === 401) return dev;
    if (Date.now() > deadline) {
      dev.stop();
      throw new Error(`scripts/dev.sh did not serve:\n${output.slice(-4000)}`);
    }
    await sleep(500);
  }
}

/** The admin token the dev command keeps in .dev.vars. */
export const devToken = () => readFileSync(`${root}.dev.vars`, "utf8").match(/^ADMIN_TOKEN="(.*)"$/m)[1];
