// The HTTP client of the ai-budget Worker (`ai-budget/client`): plain JS
// over `fetch`, for Node 20+, browsers and workerd. It loads no wasm.
// See the package README ("The client") and docs/api.md of the repository.

/** Answers retried: the Worker did nothing, or it is safe to retry (docs/api.md). */
const RETRIED_STATUSES = new Set([503]);

/** Any failure of a call to the Worker: the API's stable `code`, `status`, `field`. */
export class BudgetApiError extends Error {
  constructor(message, { code, status, field, body, retryAfter, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'BudgetApiError';
    this.code = code;
    this.status = status;
    this.field = field;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/** A 429: the port's budget refuses the call until `resetsAt`. */
export class BudgetRefused extends BudgetApiError {
  constructor(message, init) {
    super(message, init);
    this.name = 'BudgetRefused';
    const b = init.body ?? {};
    this.reason = b.reason;
    this.scope = typeof b.scope === 'string' ? b.scope : 'port';
    this.scopeId = typeof b.scopeId === 'string' ? b.scopeId : init.port;
    this.used = b.usedTokens;
    this.cap = b.capTokens;
    this.resetsAt = new Date(b.resetsAt);
  }
}

/** True for errors this client throws (either class). */
export function isBudgetApiError(value) {
  return value instanceof BudgetApiError;
}

function randomId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return `cli_${c.randomUUID()}`;
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return `cli_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function retryAfterSeconds(headers, body) {
  const header = headers.get('retry-after');
  if (header !== null && /^\d+$/.test(header.trim())) return Number(header.trim());
  if (body && Number.isFinite(body.retryAfterSeconds)) return body.retryAfterSeconds;
  return undefined;
}

/** The statuses `fetch` would follow (the Fetch standard's redirect statuses). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The error for a redirect answer, or undefined: the Worker never redirects
 * and the client follows none (`redirect: 'manual'`). Node and workerd give
 * the 3xx and its Location; a browser, an opaque answer of status 0. An
 * answer reached through a redirect anyway (a `fetch` option) is refused too.
 */
function redirectError(method, path, url, res) {
  let where;
  if (res.type === 'opaqueredirect') where = 'a redirect (its Location is hidden from the page)';
  else if (REDIRECT_STATUSES.has(res.status)) {
    const location = res.headers.get('location');
    let target = location;
    try {
      if (location !== null) target = new URL(location, url).href;
    } catch {
      // Not a URL: named as received.
    }
    where = `a redirect (HTTP ${res.status}) to ${location === null ? 'no Location' : target}`;
  } else if (res.redirected === true) where = `an answer reached through a redirect, from ${res.url || 'an unknown URL'}`;
  else return undefined;
  return new BudgetApiError(`${method} ${path}: the client follows no redirect and got ${where}; set baseUrl to the Worker's own origin`, {
    code: 'redirect-refused',
    status: res.status,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * A client of one port's API. `baseUrl`: the Worker's origin (a path
 * prefix is kept); `key`: a port key or the admin token; `port`: the port id.
 */
export function createClient(options) {
  const { baseUrl, key, port } = options ?? {};
  if (typeof baseUrl !== 'string' || !baseUrl) throw new TypeError('createClient: baseUrl is required');
  if (typeof key !== 'string' || !key) throw new TypeError('createClient: key is required');
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const extraHeaders = options.headers ?? {};
  const retry = options.retry ?? {};
  const attempts = Math.max(1, retry.attempts ?? 3);
  const baseDelay = retry.baseDelayMs ?? 200;
  const maxDelay = retry.maxDelayMs ?? 5000;
  const root = baseUrl.replace(/\/+$/, '');

  const portPath = (rest) => {
    if (typeof port !== 'string' || !port) throw new TypeError('createClient: this method needs a port');
    return `/v1/ports/${encodeURIComponent(port)}${rest}`;
  };

  async function call(method, path, { body, headers, idempotent = true, accept = 'json' } = {}) {
    const h = { authorization: `Bearer ${key}`, accept: accept === 'csv' ? 'text/csv' : 'application/json', ...extraHeaders, ...headers };
    const init = { method, headers: h, redirect: 'manual' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    for (let attempt = 1; ; attempt++) {
      let res;
      try {
        res = await doFetch(`${root}${path}`, init);
      } catch (cause) {
        const aborted = cause && (cause.name === 'AbortError' || cause.name === 'TimeoutError');
        if (idempotent && !aborted && attempt < attempts) {
          await sleep(Math.min(maxDelay, baseDelay * 2 ** (attempt - 1)));
          continue;
        }
        throw new BudgetApiError(`${method} ${path}: the Worker could not be reached (${cause && cause.message})`, { code: 'network-error', status: 0, cause });
      }
      const refused = redirectError(method, path, `${root}${path}`, res);
      if (refused) {
        await res.body?.cancel?.().catch(() => {});
        throw refused;
      }
      if (RETRIED_STATUSES.has(res.status) && attempt < attempts) {
        const after = retryAfterSeconds(res.headers);
        await res.body?.cancel?.().catch(() => {});
        await sleep(Math.min(maxDelay, Math.max(baseDelay * 2 ** (attempt - 1), (after ?? 0) * 1000)));
        continue;
      }
      const text = await res.text();
      if (res.ok && accept === 'csv') return { csv: text, nextCursor: res.headers.get('x-next-cursor') };
      let json;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      if (res.ok) {
        if (json === undefined) throw new BudgetApiError(`${method} ${path}: the answer is not JSON`, { code: 'invalid-response', status: res.status });
        return json;
      }
      const e = json && typeof json.error === 'object' && json.error ? json.error : {};
      const init2 = {
        code: typeof e.code === 'string' ? e.code : 'invalid-response',
        status: res.status,
        field: typeof e.field === 'string' ? e.field : undefined,
        body: json,
        retryAfter: retryAfterSeconds(res.headers, json),
        port,
      };
      const message = typeof e.message === 'string' ? e.message : `${method} ${path}: HTTP ${res.status}`;
      if (res.status === 429 && init2.code === 'budget-exceeded') throw new BudgetRefused(message, init2);
      throw new BudgetApiError(message, init2);
    }
  }

  const withRequestId = (input) => (input && input.requestId != null ? input : { ...input, requestId: randomId() });

  return {
    port,
    check: (input) => call('POST', portPath('/check'), { body: input }),
    reserve: (input) => call('POST', portPath('/reservations'), { body: withRequestId(input) }),
    commit: (id, usage) => call('POST', portPath(`/reservations/${encodeURIComponent(id)}/commit`), { body: usage }),
    release: (id) => call('POST', portPath(`/reservations/${encodeURIComponent(id)}/release`)),
    recordUsage: (row) => call('POST', portPath('/usage'), { body: withRequestId(row) }),
    status: () => call('GET', portPath('/status')),
    usage: (opts) => call('GET', portPath(`/usage${query({ feature: opts?.feature })}`)),
    breakdown: () => call('GET', portPath('/breakdown')),
    ledger: (opts) => call('GET', portPath(`/ledger${query({ limit: opts?.limit, cursor: opts?.cursor })}`)),
    ledgerCsv: (opts) => call('GET', portPath(`/ledger${query({ limit: opts?.limit, cursor: opts?.cursor, format: 'csv' })}`), { accept: 'csv' }),
    reservations: (opts) => call('GET', portPath(`/reservations${query({ state: opts?.state, limit: opts?.limit })}`)),
    reservation: (id) => call('GET', portPath(`/reservations/${encodeURIComponent(id)}`)),
    budget: () => call('GET', portPath('/budget')),
    setBudget: (update, opts) =>
      call('PUT', portPath('/budget'), {
        body: update,
        headers: opts?.ifMatch != null ? { 'if-match': opts.ifMatch } : undefined,
        // A retry after a lost answer would not match its own save.
        idempotent: opts?.ifMatch == null,
      }),
    gatewaySettings: () => call('GET', portPath('/gateway')),
    saveGatewaySettings: (settings, opts) =>
      call('PUT', portPath('/gateway'), {
        body: settings,
        headers: opts?.ifMatch != null ? { 'if-match': opts.ifMatch } : undefined,
        // A retry after a lost answer would not match its own save.
        idempotent: opts?.ifMatch == null,
      }),
    // Each call issues a new key: never repeated after a lost answer.
    issueKey: () => call('POST', portPath('/keys'), { idempotent: false }),
    keys: () => call('GET', portPath('/keys')),
    // Repeating it is harmless: rows already back on their way are not set aside.
    retrySetAside: () => call('POST', portPath('/ledger/retry')),
    credits: () => call('GET', portPath('/credits')),
    // Idempotent by its requestId: a retry after a lost answer grants once.
    grantCredits: (input) => call('POST', portPath('/credits'), { body: withRequestId(input) }),
    voidCredits: (id) => call('DELETE', portPath(`/credits/${encodeURIComponent(id)}`)),
    raises: () => call('GET', portPath('/raises')),
    addRaise: (input) => call('POST', portPath('/raises'), { body: withRequestId(input) }),
    endRaise: (id) => call('DELETE', portPath(`/raises/${encodeURIComponent(id)}`)),
    revokeKey: (keyId) => call('DELETE', portPath(`/keys/${encodeURIComponent(keyId)}`)),
    ports: () => call('GET', '/v1/ports'),
    groups: () => call('GET', '/v1/groups'),
    groupBudget: (group) => call('GET', `/v1/groups/${encodeURIComponent(group)}/budget`),
    setGroupBudget: (group, update) => call('PUT', `/v1/groups/${encodeURIComponent(group)}/budget`, { body: update }),
    groupStatus: (group) => call('GET', `/v1/groups/${encodeURIComponent(group)}/status`),
    groupAlerts: (group) => call('GET', `/v1/groups/${encodeURIComponent(group)}/alerts`),
    setGroupAlerts: (group, update) => call('PUT', `/v1/groups/${encodeURIComponent(group)}/alerts`, { body: update, idempotent: false }),
    prices: () => call('GET', '/v1/prices'),
    price: (model) => call('GET', `/v1/prices/${encodeURIComponent(model)}`),
    setPrice: (model, price) => call('PUT', `/v1/prices/${encodeURIComponent(model)}`, { body: price }),
    deletePrice: (model) => call('DELETE', `/v1/prices/${encodeURIComponent(model)}`),
    alerts: () => call('GET', portPath('/alerts')),
    // Not repeated after a lost answer: a new endpoint's secret is shown once.
    setAlerts: (update) => call('PUT', portPath('/alerts'), { body: update, idempotent: false }),
    testAlerts: () => call('POST', portPath('/alerts/test'), { idempotent: false }),
    alertDeliveries: (opts) => call('GET', portPath(`/alerts/deliveries${query({ limit: opts?.limit })}`)),
    resendAlert: (eventId) => call('POST', portPath(`/alerts/deliveries/${encodeURIComponent(eventId)}/resend`), { idempotent: false }),
    // Not repeated after a lost answer: each call makes another secret, shown once.
    rotateAlertSecret: (rotation) => call('POST', portPath('/alerts/rotate'), { body: rotation, idempotent: false }),
    rotateDefaultAlertSecret: (rotation) => call('POST', '/v1/alerts/rotate', { body: rotation, idempotent: false }),
    defaultAlerts: () => call('GET', '/v1/alerts'),
    setDefaultAlerts: (update) => call('PUT', '/v1/alerts', { body: update, idempotent: false }),
    adminKeys: () => call('GET', '/v1/admin-keys'),
    issueAdminKey: (input) => call('POST', '/v1/admin-keys', { body: input, idempotent: false }),
    revokeAdminKey: (id) => call('DELETE', `/v1/admin-keys/${encodeURIComponent(id)}`),
    rotateAdminKey: (id, rotation) => call('POST', `/v1/admin-keys/${encodeURIComponent(id)}/rotate`, { body: rotation ?? {}, idempotent: false }),
    audit: (o) => call('GET', `/v1/audit${query({ port: o?.port, actor: o?.actor, since: o?.since, until: o?.until, limit: o?.limit, cursor: o?.cursor })}`),
    auditCsv: (o) => call('GET', `/v1/audit${query({ port: o?.port, actor: o?.actor, since: o?.since, until: o?.until, limit: o?.limit, cursor: o?.cursor, format: 'csv' })}`, { accept: 'csv' }),
  };
}

/**
 * The whole `X-Budget-Signature` value (docs/api.md, "Alerts"): `t=` and
 * the unix seconds in decimal (digits only, no sign, no leading zero), then
 * one or more `,v1=` each with 64 lowercase hex digits (one per secret
 * while a secret is being rotated). No spaces, no other parts.
 */
const SIGNATURE_HEADER = /^t=(0|[1-9][0-9]*)((?:,v1=[0-9a-f]{64})+)$/;

/**
 * Verifies an alert webhook's `X-Budget-Signature` over the raw body with
 * Web Crypto (the contract: index.d.mts). The time check is never skipped.
 */
export async function verifyAlertSignature(header, body, secret, { now = Date.now(), toleranceSeconds = 300 } = {}) {
  if (typeof now !== 'number') throw new TypeError(`verifyAlertSignature: options.now must be a number of milliseconds, not ${typeof now}`);
  if (!Number.isFinite(now)) throw new RangeError(`verifyAlertSignature: options.now must be finite, not ${now}`);
  if (typeof toleranceSeconds !== 'number') throw new TypeError(`verifyAlertSignature: options.toleranceSeconds must be a number of seconds, not ${typeof toleranceSeconds}`);
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new RangeError(`verifyAlertSignature: options.toleranceSeconds must be a finite number >= 0, not ${toleranceSeconds}`);
  }
  if (typeof header !== 'string' || typeof body !== 'string' || typeof secret !== 'string' || !secret) return false;
  const parsed = SIGNATURE_HEADER.exec(header);
  if (!parsed) return false;
  const [, tText, v1s] = parsed;
  const t = Number(tText);
  if (!Number.isSafeInteger(t) || Math.abs(now / 1000 - t) > toleranceSeconds) return false;
  const tags = v1s.slice(1).split(',').map((part) => part.slice('v1='.length));
  const enc = new TextEncoder();
  const subtle = globalThis.crypto.subtle;
  const hmacKey = await subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const signed = enc.encode(`${tText}.${body}`);
  for (const tag of tags) {
    const bytes = new Uint8Array(tag.match(/../g).map((h) => parseInt(h, 16)));
    // subtle.verify compares in constant time.
    if (await subtle.verify('HMAC', hmacKey, bytes, signed)) return true;
  }
  return false;
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v) => (typeof v === 'string' && v ? v : undefined);

/**
 * The usage of an LLM call from what it returned: `{ inputTokens,
 * outputTokens, ... }` as the API takes it, an OpenAI SDK result (chat
 * completion or Responses), an Anthropic SDK message, or a Vercel AI SDK
 * result (`generateText`, `generateObject`...: its `totalUsage`, every
 * step of a multi-step call, else its `usage`). `undefined` when none of
 * these.
 */
export function usageOf(result) {
  if (!result || typeof result !== 'object') return undefined;
  if (num(result.inputTokens) !== undefined && num(result.outputTokens) !== undefined) {
    const out = {};
    for (const k of ['inputTokens', 'outputTokens', 'cachedInputTokens', 'cacheWriteTokens', 'reasoningTokens', 'provider', 'model', 'feature', 'userId']) {
      if (result[k] !== undefined) out[k] = result[k];
    }
    return out;
  }
  const ai = aiSdkUsage(result);
  if (ai) return ai;
  const u = result.usage;
  if (!u || typeof u !== 'object') return undefined;
  const model = str(result.model);
  if (num(u.prompt_tokens) !== undefined) {
    // OpenAI chat completion.
    return compact({
      provider: 'openai', model,
      inputTokens: u.prompt_tokens, outputTokens: num(u.completion_tokens) ?? 0,
      cachedInputTokens: num(u.prompt_tokens_details?.cached_tokens),
      reasoningTokens: num(u.completion_tokens_details?.reasoning_tokens),
    });
  }
  if (num(u.input_tokens) !== undefined) {
    const anthropic = result.type === 'message' || 'cache_read_input_tokens' in u || 'cache_creation_input_tokens' in u;
    if (anthropic) {
      const read = num(u.cache_read_input_tokens) ?? 0;
      const write = num(u.cache_creation_input_tokens) ?? 0;
      return compact({
        provider: 'anthropic', model,
        inputTokens: u.input_tokens + read + write, outputTokens: num(u.output_tokens) ?? 0,
        cachedInputTokens: read || undefined, cacheWriteTokens: write || undefined,
      });
    }
    // OpenAI Responses.
    return compact({
      provider: 'openai', model,
      inputTokens: u.input_tokens, outputTokens: num(u.output_tokens) ?? 0,
      cachedInputTokens: num(u.input_tokens_details?.cached_tokens),
      reasoningTokens: num(u.output_tokens_details?.reasoning_tokens),
    });
  }
  return undefined;
}

/** A Vercel AI SDK result's usage: camelCase counts under `totalUsage` or
 * `usage` (cache and reasoning details in `inputTokenDetails` and
 * `outputTokenDetails`, or the older flat `cachedInputTokens` and
 * `reasoningTokens`; reasoning is inside `outputTokens`), the model from
 * `response.modelId`. */
function aiSdkUsage(result) {
  const u = [result.totalUsage, result.usage].find((x) => x && typeof x === 'object' && num(x.inputTokens) !== undefined);
  if (!u) return undefined;
  return compact({
    model: str(result.response?.modelId),
    inputTokens: u.inputTokens,
    outputTokens: num(u.outputTokens) ?? 0,
    cachedInputTokens: num(u.inputTokenDetails?.cacheReadTokens) ?? num(u.cachedInputTokens),
    cacheWriteTokens: num(u.inputTokenDetails?.cacheWriteTokens),
    reasoningTokens: num(u.outputTokenDetails?.reasoningTokens) ?? num(u.reasoningTokens),
  });
}

function compact(o) {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * Reserves `estimate` tokens, runs `fn(reservation)`, commits the usage of
 * what it returns and returns it; releases the hold when `fn` throws (and
 * rethrows). A refusal throws `BudgetRefused` before `fn` runs.
 */
export async function withBudget(client, options, fn) {
  const { estimate, feature, user, requestId, ttlSeconds, provider, model } = options ?? {};
  const reservation = await client.reserve(compact({ estimatedTokens: estimate, feature, userId: user, requestId, ttlSeconds }));
  let result;
  try {
    result = await fn(reservation);
  } catch (error) {
    await client.release(reservation.id).catch(() => {});
    throw error;
  }
  const found = (options.usage ?? usageOf)(result);
  if (!found || num(found.inputTokens) === undefined || num(found.outputTokens) === undefined) {
    await client.release(reservation.id).catch(() => {});
    throw new BudgetApiError('withBudget: the result carries no token usage (pass options.usage to read it)', { code: 'invalid-usage', status: 0 });
  }
  const usage = { ...found, provider: str(found.provider) ?? provider ?? 'unknown', model: str(found.model) ?? model ?? 'unknown' };
  if (user !== undefined && usage.userId === undefined) usage.userId = user;
  await client.commit(reservation.id, usage);
  return result;
}
