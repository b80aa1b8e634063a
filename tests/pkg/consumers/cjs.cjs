// A Node CommonJS user: require, no init call.
const { evaluateBudget, capStatus, default: init } = require('ai-budget');

const budget = { enabled: true, softCapTokens: 800, hardCapTokens: 1000, period: 'month' };
const check = evaluateBudget(budget, 999, 1, '2026-11-28T12:00:00Z');
console.log(JSON.stringify({ check, state: capStatus(budget, 999, 0).state, init: typeof init }));
