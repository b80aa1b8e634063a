// Declarations of `ai-budget/client`, the HTTP client of the ai-budget Worker.
// Field names are the HTTP API's (docs/api.md); instants are ISO 8601 strings
// as the API writes them, except BudgetRefused.resetsAt, a Date.

export type Period = 'day' | 'week' | 'month';
export type RefusalReason = 'hard-cap-exceeded' | 'estimated-exceeds-cap';
export type ReservationState = 'held' | 'committed' | 'released' | 'expired';
/** What a budget's caps count. */
export type Unit = 'tokens' | 'usd';
/** A model's price in dollars per million tokens of each kind (cached input and cache writes default to the input price). */
export interface Price { inputPerMTok: number; cachedInputPerMTok?: number; cacheWritePerMTok?: number; outputPerMTok: number }
/** A row of the price table: every kind priced; `source` says whether it is the shipped figure. */
export interface PriceRow { model: string; inputPerMTok: number; cachedInputPerMTok: number; cacheWritePerMTok: number; outputPerMTok: number; source: 'default' | 'custom' }
export interface PriceList { asOf: string; sources: Record<string, string>; prices: PriceRow[] }
/** The price a model is charged: its own, or its base model's (`pricedAs`) for a dated id. */
export interface ModelPrice extends PriceRow { pricedAs: string }
export interface PriceDeleted { model: string; deleted: true }

/** The API's stable error codes, and the client's own (`network-error`, `invalid-response`, `invalid-usage`, `redirect-refused`). */
export type BudgetApiErrorCode =
  | 'invalid-json' | 'invalid-body' | 'invalid-type' | 'unknown-field' | 'missing-field' | 'invalid-number'
  | 'negative-tokens' | 'fractional-tokens' | 'too-many-tokens' | 'soft-cap-above-hard-cap' | 'unknown-period'
  | 'invalid-value' | 'invalid-request-id' | 'invalid-instant' | 'occurred-in-future' | 'invalid-port' | 'invalid-cursor'
  | 'unauthorized' | 'forbidden' | 'not-found' | 'reservation-not-found' | 'key-not-found' | 'method-not-allowed'
  | 'request-id-conflict' | 'reservation-released' | 'reservation-committed' | 'reservation-expired' | 'total-too-large'
  | 'precondition-failed' | 'body-too-large' | 'budget-exceeded' | 'internal' | 'store-unavailable'
  | 'negative-amount' | 'too-many-decimals' | 'amount-too-large' | 'unpriced-model' | 'price-not-found'
  | 'invalid-threshold' | 'too-many-thresholds' | 'invalid-webhook-url' | 'insecure-webhook-url'
  | 'private-webhook-url' | 'too-many-endpoints' | 'no-webhook-endpoint' | 'event-not-found' | 'webhook-endpoint-not-found'
  | 'network-error' | 'invalid-response' | 'invalid-usage' | 'redirect-refused';

/**
 * The `fetch` the client calls (the global one by default). Every request
 * passes `redirect: 'manual'`: the client follows no redirect, to the
 * Worker's origin or another, and a redirect answer (a 301, 302, 303, 307
 * or 308, a browser's opaque redirect of status 0, or an answer reached
 * through a redirect anyway) throws `BudgetApiError` `redirect-refused`.
 */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The Worker's origin, e.g. `https://budget.example.com` (a path prefix is kept). */
  baseUrl: string;
  /** A port key (`abk_...`) or the admin token. */
  key: string;
  /** The port every port method talks about (not needed for `ports()`). */
  port?: string;
  fetch?: FetchLike;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Retries of 503 answers and network errors: attempts in all (default 3), delays doubling from `baseDelayMs` (200) up to `maxDelayMs` (5000). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
}

export interface Budget {
  enabled: boolean;
  softCapTokens: number;
  hardCapTokens: number;
  period: Period;
  unit: Unit;
  /** A `usd` budget's caps, in dollars (`null` when never set). */
  softCapUsd: number | null;
  hardCapUsd: number | null;
  /** The price of models the price table does not know, for this port. */
  fallbackPrice: Required<Price> | null;
  updatedBy: string | null;
  updatedAt: string | null;
  /** Caps per feature, in tokens over the budget's period (absent when none). */
  featureCaps?: Record<string, SubCap>;
  /** Every end user's cap (absent when none). */
  userCap?: SubCap;
  /** Caps of named end users, overriding `userCap` (absent when none). */
  userCaps?: Record<string, SubCap>;
}
/** A cap inside a port. */
export interface SubCap { softCap?: number; hardCap: number }
/** Which cap decided: the port's, a feature's or an end user's. */
export type Scope = 'port' | 'feature' | 'user';
export interface PortBudget extends Budget { port: string }
export interface BudgetUpdate {
  enabled?: boolean | null;
  softCapTokens?: number | null;
  hardCapTokens?: number | null;
  period?: Period | null;
  unit?: Unit | null;
  softCapUsd?: number | null;
  hardCapUsd?: number | null;
  /** `null` removes it. */
  fallbackPrice?: Price | null;
  /** Merged per feature: `null` removes one feature's cap, or all of them. */
  featureCaps?: Record<string, SubCap | null> | null;
  userCap?: SubCap | null;
  /** Merged per user: `null` removes one override, or all of them. */
  userCaps?: Record<string, SubCap | null> | null;
}

export interface Load {
  usedTokens: number;
  calls: number;
  heldTokens: number;
  expiredHoldTokens: number;
  gateTokens: number;
  /** Dollars of the period's priced rows, held, and both. */
  usedUsd: number;
  heldUsd: number;
  gateUsd: number;
}
export interface PeriodLoad extends Load { periodStart: string; resetsAt: string }

/** A call's estimate: `estimatedTokens`, and its money: `estimatedUsd`, or `model` with `estimatedInputTokens` and `estimatedOutputTokens` (priced by the Worker; `estimatedTokens` then defaults to their sum). */
export type Estimate =
  | { estimatedTokens: number; estimatedUsd?: number; model?: undefined }
  | { estimatedTokens?: number; estimatedUsd?: number; model: string; estimatedInputTokens: number; estimatedOutputTokens: number };
export type CheckInput = Estimate & { feature?: string; userId?: string };
/** The answer of a token budget's check. */
export type CheckResult =
  | { ok: true; unit: 'tokens'; remaining: number | null; usedTokens: number; softCap: boolean; heldTokens: number; heldUsd: number; periodStart: string; resetsAt: string; scope: 'port'; scopeId: null }
  | { ok: false; unit: 'tokens'; reason: RefusalReason; usedTokens: number; capTokens: number; heldTokens: number; heldUsd: number; periodStart: string; resetsAt: string; scope: Scope; scopeId: string | null; remaining?: number };
/** The answer of a `usd` budget's check (`client.check<CheckResultUsd>(...)`); a refusal by a cap inside the port is in tokens (`CheckResult`). */
export type CheckResultUsd =
  | { ok: true; unit: 'usd'; remainingUsd: number | null; usedUsd: number; softCap: boolean; heldTokens: number; heldUsd: number; periodStart: string; resetsAt: string; scope: 'port'; scopeId: null }
  | { ok: false; unit: 'usd'; reason: RefusalReason; usedUsd: number; capUsd: number; heldTokens: number; heldUsd: number; periodStart: string; resetsAt: string; scope: 'port'; scopeId: null };

export type ReserveInput = Estimate & {
  feature?: string;
  userId?: string;
  /** Generated by the client when absent, so that its retries are one reservation. */
  requestId?: string;
  ttlSeconds?: number;
};
export interface Reservation {
  id: string;
  port: string;
  requestId: string;
  feature: string;
  userId: string | null;
  estimatedTokens: number;
  /** The money held (an upper bound of the call's cost), `null` when unpriced. */
  estimatedUsd: number | null;
  state: ReservationState;
  actualTokens: number | null;
  createdAt: string;
  expiresAt: string;
  settledAt: string | null;
}
/** `remaining` is in the budget's unit: tokens, or dollars for a `usd` budget. */
export interface Reserved extends Reservation { remaining: number | null; resetsAt: string; usage: Load }

export interface TokenKinds {
  /** Part of inputTokens read from a cache. */
  cachedInputTokens?: number;
  /** Part of inputTokens written to a cache. */
  cacheWriteTokens?: number;
  /** Part of outputTokens spent reasoning. */
  reasoningTokens?: number;
}
export interface CommitUsage extends TokenKinds {
  inputTokens: number;
  outputTokens: number;
  provider: string;
  model: string;
  feature?: string;
  userId?: string;
}
export interface UsageRow extends TokenKinds {
  feature: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  userId?: string;
  /** Generated by the client when absent, so that its retries count once. */
  requestId?: string;
  /** When the call happened (ISO string or epoch ms); not in the future. */
  occurredAt?: string | number;
}
export interface LedgerEntry {
  id: number;
  portId: string;
  userId: string | null;
  feature: string;
  provider: string;
  model: string;
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
  /** What the call cost as priced when it was settled; `null` when its model had no price. */
  costUsd: number | null;
  requestId: string | null;
  reservationId: string | null;
  estimated: boolean;
  createdAt: string;
}
export interface Committed { reservation: Reservation; entry: LedgerEntry; usage: Load; remaining: number | null }
export interface Released { reservation: Reservation; usage: Load; remaining: number | null }
export interface Recorded { entry: LedgerEntry; usage: Load; remaining: number | null }

export interface Usage extends Load {
  port: string;
  feature: string | null;
  period: Period;
  periodStart: string;
  resetsAt: string;
}
export interface BreakdownRow { feature: string; tokens: number; calls: number; costUsd: number }
export interface Breakdown { port: string; period: Period; periodStart: string; resetsAt: string; breakdown: BreakdownRow[] }
export interface LedgerPage { port: string; rows: LedgerEntry[]; nextCursor: string | null }
export interface LedgerCsv { csv: string; nextCursor: string | null }
export interface LedgerOptions { limit?: number; cursor?: string }
export interface ReservationList { port: string; reservations: Reservation[] }

export type CapStatus =
  | {
      state: 'disabled' | 'ok' | 'soft' | 'hard';
      unit: 'tokens';
      usedTokens: number;
      softCapTokens: number;
      hardCapTokens: number;
      softPercent: number;
      hardPercent: number;
      remaining: number | null;
      periodStart: string;
      resetsAt: string;
    }
  | {
      state: 'disabled' | 'ok' | 'soft' | 'hard';
      unit: 'usd';
      usedUsd: number;
      softCapUsd: number;
      hardCapUsd: number;
      softPercent: number;
      hardPercent: number;
      remainingUsd: number | null;
      periodStart: string;
      resetsAt: string;
    };
export interface KeyInfo { keyId: string; createdAt: string }
/** Where a cap inside the port stands in the current period. */
export interface ScopeLoad {
  softCap: number | null;
  hardCap: number;
  usedTokens: number;
  heldTokens: number;
  calls: number;
  /** A user's own override (else every user's default). */
  overridden: boolean;
  capStatus: CapStatus;
}
export interface Status {
  port: string;
  budget: Budget;
  period: Period;
  periodStart: string;
  resetsAt: string;
  usage: Load;
  usageByPeriod: { day: PeriodLoad; week: PeriodLoad; month: PeriodLoad };
  capStatus: CapStatus;
  breakdown: BreakdownRow[];
  daily: { date: string; tokens: number; calls: number; costUsd: number }[];
  recentLedger: LedgerEntry[];
  pendingLedgerRows: number;
  /** Ledger rows the ledger of record refused for good, set aside (the
   * rows behind them are delivered; the gate still counts them). */
  setAsideLedgerRows: number;
  /** The first 20 set-aside rows, oldest first, with D1's reason. */
  setAside: { seq: number; requestId: string; version: number; reason: string; setAsideAt: string }[];
  /** Every feature cap and where its feature stands. */
  featureCaps: (ScopeLoad & { feature: string })[];
  /** The ten end users nearest their caps, nearest first. */
  topUsers: (ScopeLoad & { userId: string })[];
  reservations: Reservation[];
  /** `null` for a port key caller. */
  keys: KeyInfo[] | null;
}
export interface IssuedKey { port: string; keyId: string; key: string; createdAt: string }
export interface KeyList { port: string; keys: KeyInfo[] }
export interface Revoked { port: string; keyId: string; revoked: true }
export interface PortSummary { port: string; budget: Budget; usedTokens: number; heldTokens: number; usedUsd: number; heldUsd: number; capStatus: CapStatus }
export interface PortList { ports: PortSummary[] }

/** A webhook endpoint; `secret` only in the answer that created it. */
export interface AlertEndpoint {
  url: string;
  createdAt: string;
  secret?: string;
  /** When its secret was last rotated. */
  rotatedAt?: string;
  /** While a rotation's overlap lasts: when the previous secret stops signing. */
  previousSecretExpiresAt?: string;
}
export interface AlertSecretRotation {
  /** The URL of one saved endpoint (the port's own, or a default one). */
  webhookUrl: string;
  /** How long the previous secret keeps signing next to the new one (0..168, default 24; 0: it stops at once). */
  overlapHours?: number;
}
export interface AlertSecretRotated {
  /** Absent for a default endpoint. */
  port?: string;
  webhookUrl: string;
  /** The new signing secret, shown only in this answer. */
  secret: string;
  rotatedAt: string;
  overlapHours: number;
  /** Until then deliveries carry a `v1` under each secret; null for an overlap of 0. */
  previousSecretExpiresAt: string | null;
  endpoints: AlertEndpoint[];
}
/** One URL, up to 5, or null (none). */
export type WebhookUrl = string | string[] | null;
export interface AlertSettingsUpdate {
  /** Percents of the hard cap (1..100, at most 10); the soft and hard caps are always watched. */
  thresholds?: number[];
  webhookUrl?: WebhookUrl;
}
export interface AlertSettings {
  port: string;
  thresholds: number[];
  webhookUrl: WebhookUrl;
  /** The new endpoint's signing secret, shown once (a single endpoint). */
  secret?: string;
  endpoints: AlertEndpoint[];
  /** No endpoint of its own: the default one applies. */
  usesDefault: boolean;
}
export interface DefaultAlerts { webhookUrl: WebhookUrl; secret?: string; endpoints: AlertEndpoint[] }
/** The body a webhook receives. */
export interface AlertEvent {
  /** Stable across retries and resends: deduplicate on it. */
  id: string;
  type: 'threshold-crossed' | 'threshold-resolved';
  port: string;
  threshold: 'soft' | 'hard' | number;
  /** Usage in the period: tokens, or decimal dollars when `unit` is `usd`. */
  used: number;
  /** The soft cap for `soft`, else the hard cap, in `unit`. */
  cap: number;
  unit: 'tokens' | 'usd';
  period: Period;
  periodStart: string;
  resetsAt: string;
  /** Only on samples of testAlerts(). */
  test?: true;
}
export interface AlertTestResult {
  eventId: string;
  event: AlertEvent;
  deliveries: { endpoint: string; delivered: boolean; responseCode: number | null; error: string | null }[];
}
export type AlertDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead' | 'no-endpoint' | 'dropped';
export interface AlertDelivery {
  eventId: string;
  type: AlertEvent['type'];
  threshold: 'soft' | 'hard' | number;
  endpoint: string | null;
  status: AlertDeliveryStatus;
  attempts: number;
  responseCode: number | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  event: AlertEvent | null;
}
export interface AlertDeliveries { port: string; deliveries: AlertDelivery[] }
export interface AlertResent { port: string; eventId: string; queued: true }

export interface BudgetClient {
  readonly port: string | undefined;
  /** A token budget's answer; pass `CheckResultUsd` for a budget in dollars. */
  check<R extends CheckResult | CheckResultUsd = CheckResult>(input: CheckInput): Promise<R>;
  /** Throws BudgetRefused on a 429. */
  reserve(input: ReserveInput): Promise<Reserved>;
  commit(id: string, usage: CommitUsage): Promise<Committed>;
  release(id: string): Promise<Released>;
  recordUsage(row: UsageRow): Promise<Recorded>;
  status(): Promise<Status>;
  usage(options?: { feature?: string }): Promise<Usage>;
  breakdown(): Promise<Breakdown>;
  ledger(options?: LedgerOptions): Promise<LedgerPage>;
  ledgerCsv(options?: LedgerOptions): Promise<LedgerCsv>;
  reservations(options?: { state?: 'open' | 'all'; limit?: number }): Promise<ReservationList>;
  reservation(id: string): Promise<Reservation>;
  budget(): Promise<PortBudget>;
  /** Admin. With `ifMatch` (a budget's `updatedAt`), saves only over that version (else 412 `precondition-failed`). */
  setBudget(update: BudgetUpdate, options?: { ifMatch?: string }): Promise<PortBudget>;
  /** Admin. The key is shown only in this answer. */
  issueKey(): Promise<IssuedKey>;
  /** Admin. */
  keys(): Promise<KeyList>;
  /** Admin. */
  revokeKey(keyId: string): Promise<Revoked>;
  /** Admin. */
  ports(): Promise<PortList>;
  /** The price table in force. */
  prices(): Promise<PriceList>;
  /** The price a call for `model` is charged; BudgetApiError `price-not-found` when none. */
  price(model: string): Promise<ModelPrice>;
  /** Admin. */
  setPrice(model: string, price: Price): Promise<PriceRow>;
  /** Admin. */
  deletePrice(model: string): Promise<PriceDeleted>;
  /** Admin. The port's thresholds and endpoints, without secrets. */
  alerts(): Promise<AlertSettings>;
  /** Admin. A new endpoint's secret is only in this answer (never retried). */
  setAlerts(update: AlertSettingsUpdate): Promise<AlertSettings>;
  /** Admin. A signed sample to the port's endpoints, now. */
  testAlerts(): Promise<AlertTestResult>;
  /** Admin. The last deliveries, newest first (limit 1..100, default 20). */
  alertDeliveries(options?: { limit?: number }): Promise<AlertDeliveries>;
  /** Admin. The event again, same id, to the port's current endpoints. */
  resendAlert(eventId: string): Promise<AlertResent>;
  /** Admin. A new secret for one of the port's endpoints, shown once (never retried); the old one keeps signing during the overlap. */
  rotateAlertSecret(rotation: AlertSecretRotation): Promise<AlertSecretRotated>;
  /** Admin. The same for a default endpoint. */
  rotateDefaultAlertSecret(rotation: AlertSecretRotation): Promise<AlertSecretRotated>;
  /** Admin. The default endpoints (ports without their own). */
  defaultAlerts(): Promise<DefaultAlerts>;
  /** Admin. */
  setDefaultAlerts(update: { webhookUrl: WebhookUrl }): Promise<DefaultAlerts>;
}

/**
 * Verifies an alert webhook's `X-Budget-Signature` header against the raw
 * body and the endpoint's secret (HMAC-SHA256 over `"<t>.<body>"`; any of
 * several `v1` values may match, as during a rotation), with `t`
 * within `toleranceSeconds` (default 300) of `now` (ms, default the current time).
 *
 * The header must be exactly `t=<digits>,v1=<64 lowercase hex>`, with one
 * or more `,v1=` parts: `t` in decimal without a sign or leading zero, no
 * spaces, no other parts. Resolves `false` for any other header, and for a
 * body or secret that does not match; it never throws on the header, body
 * or secret. It rejects (`TypeError`, `RangeError`) when `now` is not a
 * finite number, or `toleranceSeconds` not a finite number `>= 0`: there
 * is no way to turn the time check off.
 */
export function verifyAlertSignature(
  header: string,
  body: string,
  secret: string,
  options?: { now?: number; toleranceSeconds?: number },
): Promise<boolean>;

export function createClient(options: ClientOptions): BudgetClient;

export interface BudgetApiErrorInit {
  code: BudgetApiErrorCode;
  status: number;
  field?: string;
  body?: unknown;
  retryAfter?: number;
  cause?: unknown;
}

/** A failed call: the API's `code`, HTTP `status` (0 when no answer came, or for a browser's opaque redirect), `field` at fault. */
export class BudgetApiError extends Error {
  constructor(message: string, init: BudgetApiErrorInit);
  readonly name: 'BudgetApiError' | 'BudgetRefused';
  readonly code: BudgetApiErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  /** The answer's JSON body, when there was one. */
  readonly body: unknown;
  /** Seconds to wait (`Retry-After`), when the answer said. */
  readonly retryAfter: number | undefined;
}

/** A 429: the budget refuses the call until `resetsAt`. */
export class BudgetRefused extends BudgetApiError {
  readonly name: 'BudgetRefused';
  readonly code: 'budget-exceeded';
  readonly reason: RefusalReason;
  /** What refused: `'port'` unless the answer names another scope. */
  readonly scope: Scope;
  readonly scopeId: string | undefined;
  /** Tokens counted (used and held) when refused. */
  readonly used: number;
  readonly cap: number;
  readonly resetsAt: Date;
  readonly retryAfter: number;
}

export function isBudgetApiError(value: unknown): value is BudgetApiError;

/** What withBudget can read usage from. */
export interface OpenAIChatCompletionLike {
  model?: string;
  usage?: {
    prompt_tokens: number;
    completion_tokens: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
    completion_tokens_details?: { reasoning_tokens?: number } | null;
  } | null;
}
export interface OpenAIResponseLike {
  model?: string;
  usage?: {
    input_tokens: number;
    output_tokens: number;
    input_tokens_details?: { cached_tokens?: number } | null;
    output_tokens_details?: { reasoning_tokens?: number } | null;
  } | null;
}
export interface AnthropicMessageLike {
  type?: 'message';
  model?: string;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_read_input_tokens?: number | null;
    cache_creation_input_tokens?: number | null;
  };
}
export interface PlainUsage extends TokenKinds {
  inputTokens: number;
  outputTokens: number;
  provider?: string;
  model?: string;
  feature?: string;
  userId?: string;
}
export type UsageSource = PlainUsage | OpenAIChatCompletionLike | OpenAIResponseLike | AnthropicMessageLike;

/** The usage of a call's result (plain, OpenAI or Anthropic shaped), or undefined. */
export function usageOf(result: unknown): PlainUsage | undefined;

export interface WithBudgetOptions<T> {
  /** Tokens to hold (estimatedTokens). */
  estimate: number;
  feature?: string;
  /** The end user (userId). */
  user?: string;
  /** Generated when absent. */
  requestId?: string;
  ttlSeconds?: number;
  /** Used when the result does not say. Default `'unknown'`. */
  provider?: string;
  model?: string;
  /** Reads the usage from a result of another shape. */
  usage?: (result: T) => PlainUsage | undefined;
}

/**
 * Reserves, runs `fn`, commits the usage of its result and returns it;
 * releases the hold (and rethrows) when `fn` throws.
 */
export function withBudget<T extends UsageSource>(
  client: BudgetClient,
  options: WithBudgetOptions<T> & { usage?: undefined },
  fn: (reservation: Reserved) => Promise<T> | T,
): Promise<T>;
export function withBudget<T>(
  client: BudgetClient,
  options: WithBudgetOptions<T> & { usage: (result: T) => PlainUsage | undefined },
  fn: (reservation: Reserved) => Promise<T> | T,
): Promise<T>;
