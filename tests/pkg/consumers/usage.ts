// Compiled with `tsc --strict --noEmit`: the declarations are real types.

/** Marks values as used (no DOM or Node types are loaded here). */
function use(..._values: unknown[]): void {}
import init, {
  evaluateBudget, capStatus, summarizeUsage, mergeBudget, normalizeBudget, periodStart,
  decide, decideMany, DecisionCode, isAiBudgetError, holdUsd, costUsd, evaluateCaps, forecast,
  type Forecast,
  budgetWindow, loadTimeZones, timeZoneDatabase, type TimeZoneData, type BudgetWindow,
  type Budget, type BudgetCheckResult, type CapState, type UsageSummary, type AiBudgetErrorCode,
  type BudgetUsd, type BudgetCheckResultUsd, type CapStatusUsd, type CapsCheckResultUsd,
} from 'ai-budget';

await init();

const budget: Budget = normalizeBudget({ enabled: true });
const updated: Budget = mergeBudget(budget, { hardCapTokens: 2_000_000, period: 'week' });
const result: BudgetCheckResult = evaluateBudget(updated, 10, 20);
if (result.ok) {
  const remaining: number = result.remaining;
  const soft: boolean = result.softCap;
  use(remaining, soft, result.resetsAt.toISOString());
} else {
  const reason: 'hard-cap-exceeded' | 'estimated-exceeds-cap' = result.reason;
  const cap: number = result.capTokens;
  use(reason, cap);
  // @ts-expect-error a refusal has no `remaining`
  use(result.remaining);
}
const state: CapState = capStatus(updated, 5, new Date()).state;
const summary: UsageSummary = summarizeUsage(updated, [
  { feature: 'ocr', inputTokens: 1, outputTokens: 2, createdAt: '2026-11-28T00:00:00Z' },
], Date.now());
const ocr: number | undefined = summary.byFeature['ocr'];
const start: Date = periodStart('month');
const projection: Forecast | null = forecast(updated, 5, Date.now(), 100);
if (projection) {
  const runOut: Date | null = projection.runOutAt;
  const basis: 'period-average' | 'given-rate' | 'too-early' = projection.basis;
  use(runOut, basis, projection.projectedUsedTokens, projection.resetsAt.getTime());
}
const code: DecisionCode = decide(true, 1, 2, 0, 1);
const allowed: boolean = code === DecisionCode.Allowed;
decideMany(new Uint8Array(1), new Float64Array(1), new Float64Array(1), new Float64Array(1), new Float64Array(1), new Uint8Array(1));
try {
  evaluateBudget(updated, 0, -1);
} catch (err) {
  if (isAiBudgetError(err)) {
    const errorCode: AiBudgetErrorCode = err.code;
    const field: string | undefined = err.field;
    use(errorCode, field, err.message);
  }
}
use(state, ocr, start, allowed);

// A budget in dollars is judged on dollars, and typed so.
const dollars: BudgetUsd = { enabled: true, period: 'month', unit: 'usd', hardCapUsd: 50 };
const hold: number = holdUsd(1000, 500, { inputPerMTok: 2, outputPerMTok: 8 }).usd;
const spent: number = costUsd({ inputTokens: 10, cachedInputTokens: 4, outputTokens: 2 }, { inputPerMTok: 2, outputPerMTok: 8 }).usd;
const money: BudgetCheckResultUsd = evaluateBudget(dollars, spent, hold);
if (money.ok) {
  const left: number = money.remainingUsd;
  use(left);
} else {
  const capUsd: number = money.capUsd;
  use(capUsd);
  // @ts-expect-error a refusal in dollars has no token cap
  use(money.capTokens);
}
const moneyStatus: CapStatusUsd = capStatus(dollars, 12.5);
const moneyCaps: CapsCheckResultUsd = evaluateCaps(dollars, {}, { usedTokens: 0, usedUsd: 1 }, { estimatedTokens: 1, estimatedUsd: 0.1 });
use(moneyCaps.scope);
use(moneyStatus.usedUsd, moneyStatus.remainingUsd);
// @ts-expect-error a budget in dollars needs hardCapUsd
evaluateBudget({ enabled: true, period: 'day', unit: 'usd' }, 0, 0);

// @ts-expect-error 'year' is not a Period
periodStart('year');
// @ts-expect-error a budget needs every field
evaluateBudget({ enabled: true }, 0, 0);
// @ts-expect-error token counts are numbers
evaluateBudget(updated, '10', 0);
// @ts-expect-error an update cannot carry unknown fields
mergeBudget(updated, { hardCap: 5 });

// Calendars: the time-zone part is typed, and a window has two Dates.
const zones: TimeZoneData = { version: '2026f', names: 'UTC', ranges: new Uint32Array(2), data: new Uint8Array(0) };
use(zones, loadTimeZones, timeZoneDatabase());
const local: BudgetWindow = budgetWindow({ enabled: true, softCapTokens: 1, hardCapTokens: 2, period: 'week', timeZone: 'Asia/Tokyo', weekStart: 'sunday', monthStartDay: 31 });
use(local.resetsAt.getTime(), local.periodStart.getTime());
// @ts-expect-error weekStart is a lower-case week day
budgetWindow({ enabled: true, softCapTokens: 1, hardCapTokens: 2, period: 'week', weekStart: 'Sunday' });

