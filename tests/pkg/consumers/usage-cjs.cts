// The CommonJS face of the declarations.

/** Marks values as used (no DOM or Node types are loaded here). */
function use(..._values: unknown[]): void {}
import budgetPkg = require('ai-budget');

const result = budgetPkg.evaluateBudget(
  { enabled: false, softCapTokens: 1, hardCapTokens: 2, period: 'day' }, 0, 0);
const ok: boolean = result.ok;
const init: () => Promise<unknown> = budgetPkg.default;
use(ok, init);
// @ts-expect-error `now` is an instant, not a boolean
budgetPkg.periodEnd('day', true);
