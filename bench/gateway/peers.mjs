// A peer gateway run beside this Worker in the same benchmark, against the
// same fake upstream, when one is installed: peers are not dependencies of
// the project, and no benchmark needs one.
//
//   PEER=portkey node bench/gateway/overhead.mjs 300
//   PEER=portkey node bench/gateway/throughput.mjs 3000 1 16,64
//
// `portkey` is Portkey's open-source gateway (the npm package
// `@portkey-ai/gateway`, run on Node as its own `start-server.js`), told
// where the upstream is by its `x-portkey-provider` and
// `x-portkey-custom-host` headers. It is looked for under PEER_DIR (a
// folder whose node_modules holds it; by default this checkout), e.g.
//
//   npm install --prefix /tmp/peer @portkey-ai/gateway@1.15.2
//   PEER=portkey PEER_DIR=/tmp/peer node bench/gateway/overhead.mjs 300
//
// The peer's CPU per call is its Node process's (utime + stime from /proc).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT } from "../../tests/worker/harness.mjs";

const PEERS = {
  portkey: {
    script: "node_modules/@portkey-ai/gateway/build/start-server.js",
    install: "npm install --prefix <dir> @portkey-ai/gateway@1.15.2",
    args: (port) => [`--port=${port}`],
    chatURL: (port) => `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: (openaiBase) => ({ "x-portkey-provider": "openai", "x-portkey-custom-host": openaiBase }),
  },
};

/** The peer PEER names, if any (exits with how to install it when it is missing). */
export function chosenPeer() {
  const name = process.env.PEER;
  if (!name) return undefined;
  const peer = PEERS[name];
  if (!peer) {
    console.error(`PEER=${name}: unknown peer (known: ${Object.keys(PEERS).join(", ")})`);
    process.exit(2);
  }
  const script = join(process.env.PEER_DIR ?? ROOT, peer.script);
  if (!existsSync(script)) {
    console.error(`PEER=${name}: ${script} is missing; install it with \`${peer.install}\` and set PEER_DIR=<dir>`);
    process.exit(2);
  }
  return { name, ...peer, script };
}

/** A free TCP port on the loopback interface. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `peer` (from `chosenPeer`) in front of the upstream at `openaiBase`
 * (`http://host:port/v1`): its chat completions URL, the headers each call
 * adds, its process id (for its CPU) and how to stop it.
 */
export async function startPeer(peer, openaiBase) {
  const port = await freePort();
  const child = spawn(process.execPath, [peer.script, ...peer.args(port)], { stdio: ["ignore", "ignore", "pipe"] });
  // Stopped with this process however it ends (a failed call throws).
  const orphaned = () => child.kill("SIGTERM");
  process.once("exit", orphaned);
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const url = peer.chatURL(port);
  for (const deadline = Date.now() + 30_000; ; ) {
    if (child.exitCode !== null) throw new Error(`${peer.name} exited (${child.exitCode}): ${stderr}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${peer.name} did not start within 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    name: peer.name,
    url,
    headers: peer.headers(openaiBase),
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        process.off("exit", orphaned);
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
