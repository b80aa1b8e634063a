// A fake LLM provider on 127.0.0.1: OpenAI chat completions (plain and SSE
// with the usage chunk), the Responses API (plain and SSE with `event:`
// lines, SDK-valid: response.created first, output_item.added and
// content_part.added before the deltas, a terminal event with usage),
// embeddings, token counting (OpenAI responses/input_tokens, Anthropic
// count_tokens), Anthropic messages (plain and SSE), and Gemini's native API
// (generateContent, streamGenerateContent as SSE with `alt=sse` or as one JSON
// array without, countTokens).
//
// Each call picks its behaviour through its model name, `name?knob=value&...`,
// so concurrent calls never share state:
//   in=N, out=N      usage to report (output is capped by the request's bound);
//                    in=max reports the request's byte count and out=max its
//                    output bound: the most a byte-level tokenizer could bill
//   status=N         answer with this error status (in the provider's format,
//                    echoing the key it was sent, as a careless upstream might)
//   redirect=N       answer N (301, 302, 307, 308) with a Location on another
//                    origin (`elsewhere`, which records what reaches it)
//   delay=MS         wait before the response headers
//   chunkDelay=MS    wait between streamed events
//   malformed=1      200 with a body that is not the provider's JSON
//   nousage=1        a well-formed answer without usage
//   cached=N         cached input tokens to report (OpenAI chat and Responses
//                    details; part of the input)
//   reasoning=N      reasoning tokens to report (part of the output)
//   cacheRead=N, cacheWrite=N   Anthropic cache reads and writes (added to input)
//   cacheWrite1h=N   the part of the Anthropic cache writes kept for an hour
//                    (usage.cache_creation.ephemeral_1h_input_tokens)
//   tier=T           the service tier the answer says served the call (OpenAI
//                    chat's service_tier, Anthropic's usage.service_tier)
//   dated=1          answer with the model `<name>-2025-04-14` (a dated id of a
//                    model the shipped price table knows) instead of -snapshot
//   terminal=K       a Responses stream ends with `response.K` (completed,
//                    incomplete or failed; default completed)
//   truncate=N       stream N events, then end without usage
//   hang=N           stream N content events, then stall until the client goes
//   split=1          write every streamed event in two pieces, cut mid-line
//   echoKey=1        stream the key it was sent inside the first content
//                    event, written in two pieces cut in the middle of the key
//   echoKey=escaped  the same, with the key JSON-escaped (`\u0073k\u002D...`,
//                    which a JSON reader decodes back into the key), in
//                    streams, plain answers and error bodies alike
// The response names the model `<name>-snapshot`, as providers name a dated
// version of the alias asked for.
//
// Gemini names its model in the path, where `?` cannot go: its knobs follow
// the name after semicolons, `models/gem;in=10;out=3:generateContent`. Besides
// in, out, status, nousage, truncate, hang, split and chunkDelay it reads
//   thoughts=N       thinking tokens (thoughtsTokenCount, beside the candidates)
//   cached=N         cachedContentTokenCount (inside the prompt count)
//   toolUse=N        toolUsePromptTokenCount
//   usageOnly=1      content chunks carry the prompt count alone; the usage comes
//                    in a last chunk without candidates
// Every streamed chunk repeats the cumulative usage so far, as Gemini does.
import http from "node:http";

export class FakeUpstream {
  constructor() {
    /** Every request received: { path, headers, body, text, bytes }. */
    this.requests = [];
    /** Every stream: whether it finished, and whether its client left first. */
    this.streams = [];
    this.server = http.createServer((req, res) => this.#handle(req, res));
    /** Another origin an upstream redirects to; what reaches it is recorded. */
    this.elsewhere = { requests: [] };
    this.elsewhereServer = http.createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      this.elsewhere.requests.push({ path: req.url, headers: req.headers, text: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    this.sockets = new Set();
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    await new Promise((resolve) => this.elsewhereServer.listen(0, "127.0.0.1", resolve));
    this.elsewhere.url = `http://127.0.0.1:${this.elsewhereServer.address().port}`;
    return this;
  }

  /** Base URLs as the gateway's OPENAI_BASE_URL / ANTHROPIC_BASE_URL (and
   * `compatBase`, the same OpenAI API under another path, for a provider of
   * the gateway's table). */
  get compatBase() {
    return `${this.url}/compat/v1`;
  }
  get openaiBase() {
    return `${this.url}/openai/v1`;
  }
  get anthropicBase() {
    return `${this.url}/anthropic`;
  }
  get geminiBase() {
    return `${this.url}/gemini`;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
    this.elsewhereServer.closeAllConnections();
    await new Promise((resolve) => this.elsewhereServer.close(resolve));
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    this.requests.push({ path: req.url, headers: req.headers, body, text, bytes: Buffer.byteLength(text) });
    if (req.url.startsWith("/gemini/")) return this.#gemini(req, res, body, text);
    const [name, query = ""] = String(body?.model ?? "").split("?");
    const knobs = Object.fromEntries(new URLSearchParams(query));
    const num = (k, d) => (knobs[k] !== undefined ? Number(knobs[k]) : d);
    const model = knobs.dated ? `${name}-2025-04-14` : `${name}-snapshot`;
    // `/compat/v1/...` is an OpenAI-compatible provider of another name.
    const path = req.url.split("?")[0].replace(/^\/compat\//, "/openai/");
    const anthropic = path.startsWith("/anthropic/");
    const key = anthropic ? req.headers["x-api-key"] : (req.headers.authorization ?? "").replace(/^Bearer /, "");

    if (knobs.redirect) {
      res.writeHead(Number(knobs.redirect), { location: `${this.elsewhere.url}/v1/chat/completions` });
      return res.end();
    }
    if (num("delay", 0) > 0) await sleep(num("delay", 0));
    if (res.destroyed) return;
    // The key as this call echoes it in serialized JSON.
    const escaped = knobs.echoKey === "escaped";
    const spelled = escaped ? jsonEscaped(key) : key;
    // An echoing upstream also puts the key in its request id header.
    const idHeader = knobs.echoKey ? { "x-request-id": `req-${key}` } : {};
    const send = (status, value) => json(res, status, value, escaped ? [key, spelled] : null, idHeader);
    if (knobs.status) {
      const status = Number(knobs.status);
      const message = `fake upstream error ${status} for key ${key}`;
      const err = anthropic
        ? { type: "error", error: { type: "api_error", message } }
        : { error: { message, type: "server_error", param: null, code: null } };
      return send(status, err);
    }
    if (knobs.malformed) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end("{\"id\": \"cmpl-broken\", \"choices\": [");
    }
    if (path === "/openai/v1/responses/input_tokens") {
      return send(200, { object: "response.input_tokens", input_tokens: num("in", 11) });
    }
    if (path === "/anthropic/v1/messages/count_tokens") {
      return send(200, { input_tokens: num("in", 11) });
    }
    const responses = path === "/openai/v1/responses";
    const bound = anthropic ? body.max_tokens : responses ? body.max_output_tokens : (body.max_completion_tokens ?? body.max_tokens ?? 16);
    const input = knobs.in === "max" ? Buffer.byteLength(text) : num("in", 11);
    const output = knobs.out === "max" ? bound : Math.min(num("out", 5), bound ?? Infinity);

    if (path === "/openai/v1/embeddings") {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return json(res, 200, {
        object: "list",
        data: inputs.map((_, index) => ({ object: "embedding", index, embedding: vector(body.encoding_format) })),
        model,
        ...(knobs.nousage ? {} : { usage: { prompt_tokens: input, total_tokens: input } }),
      });
    }
    const words = Array.from({ length: Math.max(output, 1) }, (_, i) => `w${i} `);
    if (knobs.echoKey) {
      words[0] = `key=${key} `;
      knobs.secret = spelled;
      knobs.spell = escaped ? [key, spelled] : null;
    }
    const cached = Math.min(num("cached", 0), input);
    const reasoning = Math.min(num("reasoning", 0), output);
    if (responses) return this.#responses(req, res, { body, knobs, model, words, input, output, cached, reasoning, send });
    if (path === "/openai/v1/chat/completions") {
      const usage = { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
      if (knobs.cached !== undefined) usage.prompt_tokens_details = { cached_tokens: cached, audio_tokens: 0 };
      if (knobs.reasoning !== undefined) usage.completion_tokens_details = { reasoning_tokens: reasoning, audio_tokens: 0 };
      if (!body.stream) {
        return send(200, {
          id: "chatcmpl-fake",
          object: "chat.completion",
          created: 1764349200,
          model,
          ...(knobs.tier ? { service_tier: knobs.tier } : {}),
          choices: [{ index: 0, message: { role: "assistant", content: words.join("") }, finish_reason: "stop" }],
          ...(knobs.nousage ? {} : { usage }),
        });
      }
      const includeUsage = body.stream_options?.include_usage === true;
      const base = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1764349200, model, ...(knobs.tier ? { service_tier: knobs.tier } : {}) };
      const extra = includeUsage ? { usage: null } : {};
      const events = [
        { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }], ...extra },
        ...words.map((w) => ({ ...base, choices: [{ index: 0, delta: { content: w }, finish_reason: null }], ...extra })),
        { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], ...extra },
      ].map((e) => `data: ${JSON.stringify(e)}\n\n`);
      const tail = [];
      if (includeUsage && !knobs.nousage) tail.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
      tail.push("data: [DONE]\n\n");
      return this.#stream(req, res, events, tail, knobs);
    }
    if (anthropic) {
      const message = {
        id: "msg_fake",
        type: "message",
        role: "assistant",
        model,
        content: [{ type: "text", text: words.join("") }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: {
          input_tokens: input,
          output_tokens: output,
          cache_creation_input_tokens: num("cacheWrite", 0),
          cache_read_input_tokens: num("cacheRead", 0),
          ...(knobs.cacheWrite1h !== undefined
            ? { cache_creation: { ephemeral_5m_input_tokens: num("cacheWrite", 0) - num("cacheWrite1h", 0), ephemeral_1h_input_tokens: num("cacheWrite1h", 0) } }
            : {}),
          ...(knobs.tier ? { service_tier: knobs.tier } : {}),
          ...(knobs.reasoning !== undefined ? { output_tokens_details: { thinking_tokens: reasoning } } : {}),
        },
      };
      if (!body.stream) {
        if (knobs.nousage) delete message.usage;
        return send(200, message);
      }
      const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
      const events = [
        ev("message_start", { message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } } }),
        ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
        ev("ping", {}),
        ...words.map((w) => ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: w } })),
        ev("content_block_stop", { index: 0 }),
      ];
      const tail = [];
      if (!knobs.nousage) tail.push(ev("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: output } }));
      tail.push(ev("message_stop", {}));
      return this.#stream(req, res, events, tail, knobs);
    }
    json(res, 404, { error: { message: `fake upstream has no ${path}`, type: "invalid_request_error" } });
  }

  /** The Responses API: a Response object, or its event stream. */
  async #responses(req, res, { body, knobs, model, words, input, output, cached, reasoning, send }) {
    const text = words.join("");
    const usage = {
      input_tokens: input,
      input_tokens_details: { cached_tokens: cached },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: reasoning },
      total_tokens: input + output,
    };
    const terminal = knobs.terminal ?? "completed";
    const message = (status, content) => ({ id: "msg_fake", type: "message", role: "assistant", status, content });
    const part = (t) => ({ type: "output_text", text: t, annotations: [] });
    const response = (status, output, usage) => ({
      id: "resp_fake",
      object: "response",
      created_at: 1764349200,
      model,
      status,
      output,
      error: status === "failed" ? { code: "server_error", message: "the fake upstream failed" } : null,
      incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
      instructions: body.instructions ?? null,
      metadata: {},
      parallel_tool_calls: true,
      temperature: null,
      tool_choice: "auto",
      tools: [],
      top_p: null,
      max_output_tokens: body.max_output_tokens ?? null,
      usage,
    });
    const done = response(terminal, [message(terminal === "completed" ? "completed" : "incomplete", [part(text)])], knobs.nousage ? null : usage);
    if (!body.stream) {
      if (knobs.nousage) delete done.usage;
      return send(200, done);
    }
    let seq = 0;
    const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
    const ids = { item_id: "msg_fake", output_index: 0, content_index: 0 };
    const events = [
      ev("response.created", { response: response("in_progress", [], null) }),
      ev("response.in_progress", { response: response("in_progress", [], null) }),
      ev("response.output_item.added", { output_index: 0, item: message("in_progress", []) }),
      ev("response.content_part.added", { ...ids, part: part("") }),
      ...words.map((w) => ev("response.output_text.delta", { ...ids, delta: w, logprobs: [] })),
    ];
    const tail = [
      ev("response.output_text.done", { ...ids, text, logprobs: [] }),
      ev("response.content_part.done", { ...ids, part: part(text) }),
      ev("response.output_item.done", { output_index: 0, item: done.output[0] }),
      ev(`response.${terminal}`, { response: done }),
    ];
    return this.#stream(req, res, events, tail, knobs);
  }

  /** Gemini's native API: the model and its knobs from the path. */
  async #gemini(req, res, body, text) {
    const [path, query = ""] = req.url.split("?");
    const match = /^\/gemini\/v1beta\/models\/([^/:]+):(\w+)$/.exec(path);
    if (!match) return json(res, 404, { error: { code: 404, message: `fake upstream has no ${path}`, status: "NOT_FOUND" } });
    const [name, ...pairs] = match[1].split(";");
    const method = match[2];
    const knobs = Object.fromEntries(pairs.map((p) => p.split("=")));
    const num = (k, d) => (knobs[k] !== undefined ? Number(knobs[k]) : d);
    const key = req.headers["x-goog-api-key"];
    if (knobs.status) {
      const status = Number(knobs.status);
      return json(res, status, { error: { code: status, message: `fake upstream error ${status} for key ${key}`, status: "INTERNAL" } });
    }
    const input = knobs.in === "max" ? Buffer.byteLength(text) : num("in", 11);
    if (method === "countTokens") return json(res, 200, { totalTokens: input });
    const bound = body.generationConfig?.maxOutputTokens ?? Infinity;
    const output = Math.min(num("out", 5), bound);
    const thoughts = Math.min(num("thoughts", 0), bound - output);
    const cached = Math.min(num("cached", 0), input);
    const toolUse = num("toolUse", 0);
    const words = Array.from({ length: Math.max(output, 1) }, (_, i) => `w${i} `);
    const modelVersion = `${name}-snapshot`;
    // Usage as Gemini reports it: zero counts left out.
    const usage = (candidates, withThoughts = true) => ({
      promptTokenCount: input,
      ...(candidates ? { candidatesTokenCount: candidates } : {}),
      ...(withThoughts && thoughts ? { thoughtsTokenCount: thoughts } : {}),
      ...(cached ? { cachedContentTokenCount: cached } : {}),
      ...(toolUse ? { toolUsePromptTokenCount: toolUse } : {}),
      totalTokenCount: input + candidates + (withThoughts ? thoughts : 0) + toolUse,
    });
    const candidate = (t, finish) => ({ content: { parts: [{ text: t }], role: "model" }, index: 0, ...(finish ? { finishReason: "STOP" } : {}) });
    if (method === "generateContent") {
      return json(res, 200, {
        candidates: [candidate(words.join(""), true)],
        ...(knobs.nousage ? {} : { usageMetadata: usage(output) }),
        modelVersion,
        responseId: "gem-fake",
      });
    }
    // streamGenerateContent: one chunk per word, each with the usage so far.
    const chunks = words.map((w, i) => {
      const last = i === words.length - 1;
      const chunk = { candidates: [candidate(w, last)], modelVersion, responseId: "gem-fake" };
      if (knobs.usageOnly) chunk.usageMetadata = { promptTokenCount: input, totalTokenCount: input };
      else if (!knobs.nousage) chunk.usageMetadata = usage(Math.min(i + 1, output), true);
      return chunk;
    });
    const tail = [];
    if (knobs.usageOnly) tail.push({ usageMetadata: usage(output), modelVersion, responseId: "gem-fake" });
    const sse = new URLSearchParams(query).get("alt") === "sse";
    if (!sse) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify([...chunks, ...tail]));
    }
    const ev = (c) => `data: ${JSON.stringify(c)}\r\n\r\n`;
    return this.#stream(req, res, chunks.slice(0, -1).map(ev), [...chunks.slice(-1), ...tail].map(ev), knobs);
  }

  async #stream(req, res, events, tail, knobs) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const record = { finished: false, clientGone: false };
    this.streams.push(record);
    res.on("close", () => (record.clientGone = !record.finished));
    const gap = Number(knobs.chunkDelay ?? 0);
    const limit = knobs.truncate !== undefined ? Number(knobs.truncate) : knobs.hang !== undefined ? Number(knobs.hang) : Infinity;
    let sent = 0;
    const write = async (e) => {
      if (knobs.spell) e = e.split(knobs.spell[0]).join(knobs.spell[1]);
      const at = knobs.secret ? e.indexOf(knobs.secret) : -1;
      if (!knobs.split && at < 0) return res.write(e);
      const cut = at >= 0 ? at + Math.floor(knobs.secret.length / 2) : Math.floor(e.length / 2);
      res.write(e.slice(0, cut));
      await sleep(2);
      res.write(e.slice(cut));
    };
    for (const e of events) {
      if (sent >= limit) break;
      if (res.destroyed) return;
      await write(e);
      sent++;
      if (gap) await sleep(gap);
    }
    // `hang` never ends: the client (or the gateway's idle timeout) must go.
    if (knobs.hang !== undefined) return;
    if (knobs.truncate === undefined) {
      for (const e of tail) {
        if (res.destroyed) return;
        await write(e);
        if (gap) await sleep(gap);
      }
    }
    record.finished = true;
    res.end();
  }
}

/** Answers JSON; `spell` = [text, replacement] rewrites the serialized text (an escaped echo). */
function json(res, status, body, spell = null, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", "x-request-id": "req_fake_upstream", ...headers });
  const text = JSON.stringify(body);
  res.end(spell ? text.split(spell[0]).join(spell[1]) : text);
}

/** A key as JSON can spell it: its first character and every '-' as \u escapes (mixed case). */
function jsonEscaped(key) {
  const first = `\\u${key.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return first + key.slice(1).replace(/-/g, "\\u002D");
}

/** A small embedding, as floats or (as the SDK asks by default) base64 float32. */
function vector(format) {
  const floats = [0.25, -0.5, 0.75];
  return format === "base64" ? Buffer.from(new Float32Array(floats).buffer).toString("base64") : floats;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
