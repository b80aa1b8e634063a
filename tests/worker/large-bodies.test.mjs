// Large request bodies against the Worker served by Miniflare on a real
// 127.0.0.1 port: each gets its answer (413, or the route's early refusal),
// and the connection it came on, kept alive, carries the next calls
// (tests/large-bodies.mjs). A body only partly read before the answer made
// workerd close the connection: a reset under the client's next call, or,
// for 20 MiB, under the large body itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startWorker, ADMIN_TOKEN } from "./harness.mjs";
import { SIZES, largeBodyRun } from "../large-bodies.mjs";

// Nothing here depends on the instant: the boundary instants do not run it
// again (it is on scripts/test-boundaries.sh's run-once list).

let worker;
const port = `big-${randomBytes(4).toString("hex")}`;

before(async () => {
  // A provider key, so the gateway reads the body (it never goes upstream:
  // none of these bodies is a call).
  worker = await startWorker({ http: true, bindings: { OPENAI_API_KEY: "sk-test-large-bodies", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } });
});

after(async () => {
  await worker?.dispose();
});

for (const size of SIZES) {
  for (const chunked of [false, true]) {
    for (const keepAlive of [true, false]) {
      const label = `${size / 1024 / 1024} MiB ${chunked ? "chunked" : "with Content-Length"}, ${keepAlive ? "kept-alive connection" : "new connections"}`;
      test(`a ${label}: answered, and the calls after it get their answers`, async () => {
        const { got, want } = await largeBodyRun(worker.origin, { port, token: ADMIN_TOKEN, size, chunked, keepAlive });
        assert.deepEqual(got, want);
      });
    }
  }
}
