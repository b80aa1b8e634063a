// The Worker's HTTP API through the package's own client (`ai-budget/client`,
// copied to vendor/ by scripts/build-www.sh), called with the admin token.
// The token lives in sessionStorage: it survives a reload of this tab, is
// gone when the tab closes, and never appears in a URL.
import { createClient, isBudgetApiError } from "../vendor/ai-budget/client.js";

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
 * A failed API call as the page tells it. `kind` is `unreachable` (no
 * answer at all), `unauthorized` (401/403), `invalid` (400: `code`,
 * `field`, `message` come from the Worker) or `failed` (anything else).
 */
export class ApiError extends Error {
  constructor(kind, message, { status = 0, code = null, field = null, retryAfter = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

/** The client's error (`BudgetApiError`) in the page's words. */
function explain(err) {
  if (!isBudgetApiError(err)) return err;
  const { status, code } = err;
  const detail = err.body?.error?.message ?? `HTTP ${status}`;
  if (code === "network-error") {
    return new ApiError("unreachable", `Cannot reach the ai-budget Worker at ${location.origin}. Is it running (scripts/dev.sh)?`, { cause: err });
  }
  if (status === 401) {
    return new ApiError("unauthorized", "The Worker refused this admin token (401 unauthorized).", { status, code, cause: err });
  }
  if (status === 403) {
    return new ApiError("unauthorized", `This token may not do that (403 forbidden): ${detail}`, { status, code, cause: err });
  }
  if (status === 400) {
    return new ApiError("invalid", detail, { status, code, field: err.field ?? null, cause: err });
  }
  const retryAfter = err.retryAfter ?? null;
  const message =
    status === 503
      ? `The Worker's store is unavailable right now${retryAfter !== null ? `; retry in ${retryAfter} s` : ""}. Nothing was changed.`
      : code === "invalid-response" && status >= 200 && status < 300
        ? `The Worker answered with something that is not JSON (${err.message}).`
        : code === "redirect-refused"
          ? err.message
          : `The Worker answered ${status}: ${detail}`;
  return new ApiError("failed", message, { status, code, retryAfter, cause: err });
}

/**
 * The package's client for `port` (none for `ports()` and the prices),
 * with `token` (default: this tab's): its methods, failing with `ApiError`.
 * One try per call: the page shows a failure and offers to try again.
 */
export function client(port, token = storedToken()) {
  if (!token) {
    // Signed out meanwhile: as the Worker would answer a call without a token.
    const refused = () => Promise.reject(new ApiError("unauthorized", "This tab has no admin token: sign in again.", { status: 401 }));
    return new Proxy({}, { get: () => refused });
  }
  const api = createClient({ baseUrl: location.origin, key: token, port, retry: { attempts: 1 } });
  const methods = {};
  for (const [name, method] of Object.entries(api)) {
    methods[name] =
      typeof method === "function"
        ? (...args) =>
            method(...args).catch((err) => {
              throw explain(err);
            })
        : method;
  }
  return methods;
}
