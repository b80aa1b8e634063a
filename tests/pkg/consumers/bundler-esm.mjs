// The `ai-budget/bundler` build imports its .wasm as an ES module (the
// WebAssembly ESM integration bundlers implement); Node runs it the same
// way behind --experimental-wasm-modules.
import { evaluateBudget } from 'ai-budget/bundler';

const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'month' };
const check = evaluateBudget(budget, 999, 1, '2026-11-28T12:00:00Z');
console.log(JSON.stringify({ check }));
