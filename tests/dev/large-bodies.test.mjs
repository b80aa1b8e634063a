// Large request bodies against the main command (`scripts/dev.sh`, so
// `wrangler dev`): each gets its answer (413, or the route's early
// refusal), and the calls after it, on the same kept-alive connection and
// on new ones, get theirs (tests/large-bodies.mjs). A body only partly read
// before the answer made workerd close wrangler's proxy connection to the
// Worker, and the proxy answered the NEXT call, from any client, with 503
// "Your worker restarted mid-request".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startDev, devToken } from "./server.mjs";
import { SIZES, largeBodyRun } from "../large-bodies.mjs";

// A port of its own (the local D1 and KV persist between runs).
const port = `big-${randomBytes(4).toString("hex")}`;

let dev;
let base;

before(async () => {
  // A provider key, so the gateway reads the body (it never goes upstream:
  // none of these bodies is a call).
  const args = ["--var", "OPENAI_API_KEY:sk-test-large-bodies", "--var", "OPENAI_BASE_URL:http://127.0.0.1:9/v1"];
  dev = await startDev(args);
  base = dev.base;
});

after(() => dev?.stop());

const token = devToken;

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
