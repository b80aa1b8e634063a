// A typed use of ai-budget/client, checked by tsc --strict (never run).
import {
  createClient, withBudget, usageOf, BudgetRefused, BudgetApiError, isBudgetApiError,
  type BudgetClient, type CheckResult, type Reserved, type BudgetApiErrorCode, type PlainUsage,
  type CheckResultUsd, type PriceList, type ModelPrice, type CapStatus,
  verifyAlertSignature, type AlertEvent, type AlertDeliveryStatus,
  type BudgetUpdate, type Price, type Status, type Wire, type CapAction,
} from 'ai-budget/client';
import type { BudgetUpdate as CoreBudgetUpdate, Price as CorePrice } from 'ai-budget';

export async function alerting(): Promise<void> {
  const saved = await client.setAlerts({ thresholds: [50, 80], webhookUrl: 'https://hooks.example.com/a' });
  const secret: string | undefined = saved.secret;
  const event: AlertEvent | null = (await client.alertDeliveries({ limit: 5 })).deliveries[0]?.event ?? null;
  const threshold: 'soft' | 'hard' | 'projected' | number | undefined = event?.threshold;
  const status: AlertDeliveryStatus | undefined = (await client.alertDeliveries()).deliveries[0]?.status;
  const ok: boolean = await verifyAlertSignature('t=1,v1=00', '{}', secret ?? 'x');
  await client.setDefaultAlerts({ webhookUrl: null });
  const rotated = await client.rotateAlertSecret({ webhookUrl: 'https://hooks.example.com/a', overlapHours: 24 });
  const fresh: string = rotated.secret;
  const ends: string | null = rotated.previousSecretExpiresAt;
  await client.rotateDefaultAlertSecret({ webhookUrl: 'https://hooks.example.com/d' });
  // @ts-expect-error a rotation names one endpoint's URL
  await client.rotateAlertSecret({ webhookUrl: ['https://hooks.example.com/a'] });
  void fresh; void ends;
  // @ts-expect-error thresholds are numbers, or 'projected'
  await client.setAlerts({ thresholds: ['50'] });
  await client.setAlerts({ thresholds: [50, 'projected'] });
  void threshold; void status; void ok;
}

const client: BudgetClient = createClient({ baseUrl: 'https://budget.example.com', key: 'abk_x', port: 'acme', headers: { 'x-now': '2026-01-01T00:00:00Z' } });

export async function typed(): Promise<void> {
  const check: CheckResult = await client.check({ estimatedTokens: 10 });
  if (check.ok) {
    const remaining: number | null = check.remaining;
    void remaining;
  } else {
    const reason: 'hard-cap-exceeded' | 'estimated-exceeds-cap' = check.reason;
    void reason;
  }
  const held: Reserved = await client.reserve({ estimatedTokens: 100, feature: 'chat', userId: 'u' });
  const done = await client.commit(held.id, { inputTokens: 1, outputTokens: 2, provider: 'openai', model: 'gpt' });
  const total: number = done.entry.totalTokens;
  void total;
  await client.release(held.id);
  await client.recordUsage({ feature: 'f', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, occurredAt: 0 });
  const page = await client.ledger({ limit: 10, cursor: 'x' });
  const cursor: string | null = page.nextCursor;
  void cursor;
  const csv: string = (await client.ledgerCsv()).csv;
  void csv;
  const states: string[] = (await client.reservations({ state: 'all', limit: 5 })).reservations.map((r) => r.state);
  void states;
  await client.setBudget({ hardCapTokens: 10, period: 'week' }, { ifMatch: (await client.budget()).updatedAt ?? '*' });
  const gateway = await client.gatewaySettings();
  const action: CapAction | undefined = gateway.onSoftCap;
  void action;
  await client.saveGatewaySettings({ models: ['gpt-4.1*'], onSoftCap: { action: 'throttle', callsPerMinute: 30 }, onHardCap: { action: 'refuse' } }, { ifMatch: gateway.updatedAt ?? '*' });
  const key: string = (await client.issueKey()).key;
  void key;
  const revoked: true = (await client.revokeKey('key_1')).revoked;
  void revoked;
  const ports: string[] = (await client.ports()).ports.map((p) => p.port);
  void ports;
  const status = await client.status();
  const day: number = status.usageByPeriod.day.gateTokens;
  void day;
  const used: number = (await client.usage({ feature: 'f' })).usedTokens;
  void used;
  void (await client.breakdown()).breakdown[0]?.tokens;
  void (await client.reservation('rsv_1')).expiresAt;
  void (await client.keys()).keys;

  try {
    await client.reserve({ estimatedTokens: 1 });
  } catch (error) {
    if (error instanceof BudgetRefused) {
      const at: Date = error.resetsAt;
      const numbers: [number, number, number] = [error.used, error.cap, error.retryAfter];
      const scope: string = error.scope;
      void at, numbers, scope;
    } else if (isBudgetApiError(error)) {
      const code: BudgetApiErrorCode = error.code;
      if (code === 'redirect-refused') void error.message;
      const field: string | undefined = error.field;
      const status: number = error.status;
      void code, field, status;
    }
  }

  // OpenAI chat completion, Responses and Anthropic message shapes, returned as they are.
  const completion = await withBudget(client, { estimate: 100, feature: 'chat', user: 'u' }, async () => ({
    id: 'c', model: 'gpt', usage: { prompt_tokens: 1, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 0 } },
  }));
  const id: string = completion.id;
  void id;
  const message = await withBudget(client, { estimate: 100 }, () => ({ type: 'message' as const, model: 'claude', usage: { input_tokens: 1, output_tokens: 2, cache_read_input_tokens: null } }));
  void message.usage.output_tokens;
  await withBudget(client, { estimate: 1 }, () => ({ inputTokens: 1, outputTokens: 2, provider: 'p' }));
  const custom = await withBudget(client, { estimate: 1, usage: (r: { n: number }) => ({ inputTokens: r.n, outputTokens: 0 }) }, () => ({ n: 1 }));
  void custom.n;
  const plain: PlainUsage | undefined = usageOf(completion);
  void plain;
  void new BudgetApiError('m', { code: 'internal', status: 500 });

  // Money: prices, a budget in dollars, holds priced by the Worker.
  const prices: PriceList = await client.prices();
  void prices.prices[0]?.cacheWritePerMTok;
  const gpt: ModelPrice = await client.price('gpt-4.1-2025-04-14');
  void gpt.pricedAs;
  await client.setPrice('my-model', { inputPerMTok: 1, outputPerMTok: 2 });
  await client.deletePrice('my-model');
  await client.setBudget({ unit: 'usd', softCapUsd: 40, hardCapUsd: 50, fallbackPrice: { inputPerMTok: 3, outputPerMTok: 15 } });
  const money = await client.check<CheckResultUsd>({ model: 'gpt-4.1', estimatedInputTokens: 1000, estimatedOutputTokens: 500 });
  if (money.ok) {
    const left: number | null = money.remainingUsd;
    void left;
  }
  const priced: Reserved = await client.reserve({ estimatedTokens: 10, estimatedUsd: 0.25 });
  const moneyHeld: number | null = priced.estimatedUsd;
  void moneyHeld;
  const cap: CapStatus = (await client.status()).capStatus;
  if (cap.unit === 'usd') void cap.usedUsd;
  else void cap.usedTokens;

  // Wrong uses are errors.
  // @ts-expect-error a model's estimate needs estimatedInputTokens and estimatedOutputTokens
  await client.reserve({ model: 'gpt-4.1', estimatedInputTokens: 10 });
  // @ts-expect-error a price needs outputPerMTok
  await client.setPrice('m', { inputPerMTok: 1 });
  // @ts-expect-error estimatedTokens is required
  await client.check({});
  // @ts-expect-error the API's field names: estimatedTokens, not estimate
  await client.reserve({ estimate: 1 });
  // @ts-expect-error provider and model are required by commit
  await client.commit('rsv_1', { inputTokens: 1, outputTokens: 1 });
  // @ts-expect-error state is open or all
  await client.reservations({ state: 'held' });
  // @ts-expect-error a result with no usage needs options.usage
  await withBudget(client, { estimate: 1 }, () => ({ text: 'no usage' }));
  // @ts-expect-error baseUrl is required
  createClient({ key: 'k' });
}

// One BudgetUpdate: the client's is the API's (generated from docs/openapi.json);
// the core's (`mergeBudget` of 'ai-budget', which knows no caps inside the
// port, no parent group: the Worker checks a parent's chain, nor the gate's
// rollover, nor the port's shards) is exactly it without those, so the two
// cannot drift apart.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
type Fields<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };
export const oneBudgetUpdate: Same<Fields<Omit<BudgetUpdate, 'featureCaps' | 'userCap' | 'userCaps' | 'rollover' | 'parent' | 'shards'>>, Fields<CoreBudgetUpdate>> = true;
export const onePrice: Same<Fields<Price>, Fields<CorePrice>> = true;
// The generated types are the client's, and narrow the way the API answers.
export const wireCheck: Same<CheckResult | CheckResultUsd, Wire.Check> = true;
export function narrowing(check: Wire.Check, cap: CapStatus, status: Status): void {
  if (check.ok && check.unit === 'usd') void (check.remainingUsd satisfies number | null);
  if (!check.ok && check.unit === 'tokens') void (check.scope satisfies 'port' | 'feature' | 'user');
  if (!check.ok && check.unit === 'usd') void (check.scopeId satisfies null);
  if (cap.unit === 'tokens') void (cap.remaining satisfies number | null);
  void (status.featureCaps[0]?.feature satisfies string | undefined);
  void (status.topUsers[0]?.capStatus satisfies CapStatus | undefined);
  void (status.daily[0]?.costUsd satisfies number | undefined);
  // @ts-expect-error a tokens cap status has no dollars
  void cap.usedUsd;
}
