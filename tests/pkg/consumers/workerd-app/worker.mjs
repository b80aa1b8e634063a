// A JS Worker using the package: wrangler resolves 'ai-budget' through the
// `workerd` export, which instantiates the module at load (no init).
import { evaluateBudget, periodEnd } from 'ai-budget';

export default {
  async fetch() {
    const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'month' };
    let error;
    try {
      evaluateBudget(budget, 0, -1);
    } catch (err) {
      error = { isError: err instanceof Error, code: err.code };
    }
    return Response.json({
      check: evaluateBudget(budget, 999, 1, '2026-11-28T12:00:00Z'),
      end: periodEnd('day', 0),
      error,
    });
  },
};
