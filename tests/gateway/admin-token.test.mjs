// The admin token is read once for both doors of the Worker: an ADMIN_TOKEN
// secret saved with a trailing newline (as `echo $TOKEN | wrangler secret
// put ADMIN_TOKEN` saves it) is the same token at the HTTP API and at the
// gateway.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, settled, ADMIN_TOKEN } from "./harness.mjs";

let g;
before(async () => {
  g = await startGateway({ vars: { ADMIN_TOKEN: `${ADMIN_TOKEN}\n` } });
});
after(async () => {
  await g?.stop();
});

test("an ADMIN_TOKEN saved with a trailing newline works at the API and at the gateway alike", async () => {
  const saved = await g.worker.put("/v1/ports/newline/budget", {
    enabled: true,
    softCapTokens: 800_000,
    hardCapTokens: 1_000_000,
    period: "month",
  });
  assert.equal(saved.status, 200, "the API takes the token");
  const res = await g.fetch(`${g.openaiURL("newline")}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-test", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
  });
  assert.equal(res.status, 200, "the gateway takes the token");
  await res.text();
  await settled(g.worker, "newline");
  const ports = await g.worker.get("/v1/ports");
  assert.equal(ports.status, 200);
  assert.ok(ports.json.ports.some((p) => p.port === "newline" && p.usedTokens > 0));
});

test("a wrong token is refused at both doors alike", async () => {
  const api = await g.worker.get("/v1/ports", { token: `${ADMIN_TOKEN}x` });
  assert.equal(api.status, 401);
  const res = await g.fetch(`${g.openaiURL("newline")}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}x`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-test", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
  });
  assert.equal(res.status, 401);
  await res.text();
});
