// The same computations in every environment (Node, a browser page, a Vite
// bundle), so their answers can be compared as JSON.
export function scenario(api) {
  const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'week' };
  const now = '2024-03-10T23:59:59.999Z';
  const rows = [
    { feature: 'ocr', inputTokens: 70, outputTokens: 30, createdAt: '2024-03-04T00:00:00Z' },
    { feature: 'chat', inputTokens: 5, outputTokens: 5, createdAt: '2024-03-09T09:00:00Z' },
    { feature: 'ocr', inputTokens: 1000, outputTokens: 0, createdAt: '2024-03-03T23:59:59.999Z' },
  ];
  let error;
  try {
    api.evaluateBudget(budget, 0, 0.5, now);
  } catch (err) {
    error = { isError: err instanceof Error, name: err.name, code: err.code, field: err.field, message: err.message };
  }
  const out = new Uint8Array(3);
  api.decideMany(
    new Uint8Array([1, 1, 1]), new Float64Array([800, 800, 800]), new Float64Array([1000, 1000, 1000]),
    new Float64Array([900, 1000, 0]), new Float64Array([100, 0, -1]), out,
  );
  return JSON.parse(JSON.stringify({
    weekStart: api.periodStart('week', now),
    monthEnd: api.periodEnd('month', '2024-02-29T12:00:00Z'),
    allowed: api.evaluateBudget(budget, 999, 1, now),
    refused: api.evaluateBudget(budget, 999, 2, now),
    disabledRemaining: api.evaluateBudget({ ...budget, enabled: false }, 5, 5, now).remaining === Infinity,
    status: api.capStatus(budget, 900, now),
    summary: api.summarizeUsage(budget, rows, now),
    merged: api.mergeBudget(budget, { hardCapTokens: 2000 }),
    normalized: api.normalizeBudget({ enabled: 'yes', period: 'day' }),
    fast: [api.decide(true, 800, 1000, 900, 100), ...out],
    error,
  }));
}
