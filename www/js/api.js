// The Worker's HTTP API (docs/api.md), called with the admin token. The token
// lives in sessionStorage: it survives a reload of this tab, is gone when the
// tab closes, and never appears in a URL.

const TOKEN_KEY = "ai-budget.adminToken";

/** The admin token of this tab, or null. */
export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps the admin token for this tab. */
export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forgets the admin token. */
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * A failed API call. `kind` is `unreachable` (no answer at all),
 * `unauthorized` (401/403), `invalid` (400: `code`, `field`, `message`
 * come from the Worker) or `failed` (anything else).
 */
export class ApiError extends Error {
  constructor(kind, message, { status = 0, code = null, field = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

/** Sends one request with `token` (default: the stored one) and returns the parsed JSON. */
export async function request(method, path, { body, token = storedToken() } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(
      "unreachable",
      `Cannot reach the ai-budget Worker at ${location.origin}. Is it running (scripts/dev.sh)?`,
    );
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    // Not JSON: a proxy's error page, or the Worker not answering /v1 at all.
  }
  if (res.ok && json !== null) return json;
  const error = json?.error ?? {};
  const detail = error.message ?? `HTTP ${res.status}`;
  if (res.status === 401) {
    throw new ApiError("unauthorized", "The Worker refused this admin token (401 unauthorized).", {
      status: 401,
      code: error.code,
    });
  }
  if (res.status === 403) {
    throw new ApiError("unauthorized", `This token may not do that (403 forbidden): ${detail}`, {
      status: 403,
      code: error.code,
    });
  }
  if (res.status === 400) {
    throw new ApiError("invalid", detail, { status: 400, code: error.code, field: error.field ?? null });
  }
  const retryAfter = res.headers.get("retry-after");
  const message =
    res.status === 503
      ? `The Worker's store is unavailable right now${retryAfter ? `; retry in ${retryAfter} s` : ""}. Nothing was changed.`
      : res.ok
        ? `The Worker answered ${path} with something that is not JSON.`
        : `The Worker answered ${res.status}: ${detail}`;
  throw new ApiError("failed", message, { status: res.status, code: error.code ?? null, retryAfter });
}

/** Path of a port's API resource; the id is user data, so it is encoded. */
export function portPath(port, rest = "") {
  return `/v1/ports/${encodeURIComponent(port)}${rest}`;
}

/** Every port with its status (`GET /v1/ports`). */
export const listPorts = (token) => request("GET", "/v1/ports", { token });
/** All a port page needs (`GET /v1/ports/{port}/status`). */
export const portStatus = (port) => request("GET", portPath(port, "/status"));
/** Partial budget update (`PUT /v1/ports/{port}/budget`). */
export const saveBudget = (port, update) => request("PUT", portPath(port, "/budget"), { body: update });
/** Issues a port key; the answer holds the key, shown this once. */
export const issueKey = (port) => request("POST", portPath(port, "/keys"));
/** Revokes a port key. */
export const revokeKey = (port, keyId) =>
  request("DELETE", portPath(port, `/keys/${encodeURIComponent(keyId)}`));
/** The price table (`GET /v1/prices`). */
export const listPrices = () => request("GET", "/v1/prices");
/** The price a call for `model` is charged (`GET /v1/prices/{model}`). */
export const price = (model) => request("GET", `/v1/prices/${encodeURIComponent(model)}`);
/** Sets one model's price (`PUT /v1/prices/{model}`). */
export const savePrice = (model, price) => request("PUT", `/v1/prices/${encodeURIComponent(model)}`, { body: price });
/** Deletes one model's price (`DELETE /v1/prices/{model}`). */
export const deletePrice = (model) => request("DELETE", `/v1/prices/${encodeURIComponent(model)}`);
/** A port's alert thresholds and webhook endpoints, without secrets (`GET /v1/ports/{port}/alerts`). */
export const portAlerts = (port) => request("GET", portPath(port, "/alerts"));
/** Sets a port's thresholds and/or endpoints; a new endpoint's secret is in this answer only. */
export const saveAlerts = (port, update) => request("PUT", portPath(port, "/alerts"), { body: update });
/** Sends a signed sample event to the port's endpoints now. */
export const testAlerts = (port) => request("POST", portPath(port, "/alerts/test"));
/** A new signing secret for one of the port's endpoints, shown once; the old one keeps signing for 24 h (`POST /v1/ports/{port}/alerts/rotate`). */
export const rotateAlertSecret = (port, webhookUrl) => request("POST", portPath(port, "/alerts/rotate"), { body: { webhookUrl } });
/** The port's last 20 alert deliveries, newest first. */
export const alertDeliveries = (port) => request("GET", portPath(port, "/alerts/deliveries?limit=20"));
/** Queues an event again, with its id, to the port's current endpoints. */
export const resendAlert = (port, eventId) =>
  request("POST", portPath(port, `/alerts/deliveries/${encodeURIComponent(eventId)}/resend`));
