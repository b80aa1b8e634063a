// Reference Workers for the gateway's benchmarks: what the same call costs
// workerd when a few lines of JS do the least a gateway can do, each in its
// own workerd (Miniflare), against the same fake upstream. They are the
// floors the gated call's figures are read against, not products:
//
// - "proxy": forwards the call to the upstream and answers with its answer
//   (no budget state at all);
// - "held (fetch)": the least a durable budget gate does around that call:
//   a hold written in a SQLite Durable Object (one INSERT in a transaction)
//   before the upstream call, and the call's usage written there (one
//   UPDATE) after the answer, each a request to the object;
// - "held (RPC)": the same two writes through JavaScript RPC to the object
//   (a method call instead of an HTTP request; the Rust bindings this
//   project builds on do not offer it).
import { Miniflare } from "miniflare";

const PROXY = `
export default {
  async fetch(request, env) {
    const answer = await fetch(env.UPSTREAM, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + env.KEY },
      body: await request.arrayBuffer(),
    });
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  },
};`;

const HELD = `
import { DurableObject } from "cloudflare:workers";

export class Gate extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS holds (id INTEGER PRIMARY KEY, held INTEGER NOT NULL, used INTEGER)");
  }
  hold(tokens) {
    return this.ctx.storage.transactionSync(
      () => this.ctx.storage.sql.exec("INSERT INTO holds (held) VALUES (?) RETURNING id", tokens).one().id,
    );
  }
  commit(id, used) {
    this.ctx.storage.transactionSync(() => this.ctx.storage.sql.exec("UPDATE holds SET used = ? WHERE id = ?", used, id));
    return true;
  }
  async fetch(request) {
    const op = await request.json();
    const answer = op.id === undefined ? { id: this.hold(op.tokens) } : { ok: this.commit(op.id, op.used) };
    return Response.json(answer);
  }
}

export default {
  async fetch(request, env, ctx) {
    const gate = env.GATE.get(env.GATE.idFromName("bench"));
    const viaRpc = env.RPC === "on";
    const send = async (op) => (await gate.fetch("http://gate/", { method: "POST", body: JSON.stringify(op) })).json();
    const id = viaRpc ? await gate.hold(200) : (await send({ tokens: 200 })).id;
    const answer = await fetch(env.UPSTREAM, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + env.KEY },
      body: await request.arrayBuffer(),
    });
    const bytes = await answer.arrayBuffer();
    const used = JSON.parse(new TextDecoder().decode(bytes)).usage?.total_tokens ?? 0;
    ctx.waitUntil(viaRpc ? gate.commit(id, used) : send({ id, used }));
    return new Response(bytes, { status: answer.status, headers: answer.headers });
  },
};`;

/** The reference Workers by name, each a Miniflare option set. */
const REFERENCES = {
  proxy: { script: PROXY },
  "held (fetch)": {
    script: HELD,
    durableObjects: { GATE: { className: "Gate", useSQLite: true } },
    bindings: { RPC: "off" },
  },
  "held (RPC)": {
    script: HELD,
    durableObjects: { GATE: { className: "Gate", useSQLite: true } },
    bindings: { RPC: "on" },
  },
};

/** The names of the reference Workers, in the order they are measured. */
export const FLOOR_NAMES = Object.keys(REFERENCES);

/**
 * Starts the reference Worker `name` pointed at `upstreamUrl` (the fake
 * upstream's chat completions URL); `{ url, stop }`.
 */
export async function startFloor(name, upstreamUrl) {
  const reference = REFERENCES[name];
  const mf = new Miniflare({
    modules: true,
    compatibilityDate: "2026-04-01",
    host: "127.0.0.1",
    port: 0,
    ...reference,
    bindings: { UPSTREAM: upstreamUrl, KEY: "sk-floor", ...(reference.bindings ?? {}) },
  });
  const url = (await mf.ready).href;
  return { url, stop: () => mf.dispose() };
}
