// Decisions per second through the npm package in Node: the object API, the
// fast path (one call per decision, and one call for many ports), and, in
// the same run on the same inputs, the same rules written in plain JS.
//
//   node bench/pkg/decisions.mjs [ports=4096] [rounds=7]
//
// Each figure is the median of `rounds` timed passes of ~50 ms after a warm-up.
import { evaluateBudget, decide, decideMany, DecisionCode } from 'ai-budget';

const ports = Number(process.argv[2] ?? 4096);
const rounds = Number(process.argv[3] ?? 15);

// --- the same rules in plain JS, with the same validation as the fast path ---
const MAX_TOKENS = Number.MAX_SAFE_INTEGER;
const INVALID = 255;
function isTokens(n) {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_TOKENS;
}
function plainDecide(enabled, softCap, hardCap, used, estimated) {
  if (!isTokens(softCap) || !isTokens(hardCap) || !isTokens(used) || !isTokens(estimated) || softCap > hardCap) {
    return INVALID;
  }
  if (!enabled) return 0;
  if (used >= hardCap) return 2;
  if (estimated > hardCap - used) return 3;
  return used > softCap ? 1 : 0;
}

// --- inputs: a seeded mix of ports around and past their caps ---
let seed = 0x2545f491;
function random() {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}
const enabled = new Uint8Array(ports);
const softCaps = new Float64Array(ports);
const hardCaps = new Float64Array(ports);
const used = new Float64Array(ports);
const estimated = new Float64Array(ports);
const budgets = [];
for (let i = 0; i < ports; i++) {
  enabled[i] = random() < 0.9 ? 1 : 0;
  hardCaps[i] = 100_000 + Math.floor(random() * 900_000);
  softCaps[i] = Math.floor(hardCaps[i] * 0.8);
  used[i] = Math.floor(random() * hardCaps[i] * 1.1);
  estimated[i] = Math.floor(random() * 20_000);
  budgets.push({ enabled: enabled[i] === 1, softCapTokens: softCaps[i], hardCapTokens: hardCaps[i], period: 'month' });
}
const now = Date.parse('2026-11-28T12:00:00Z');

// --- the same answers first: a benchmark of wrong code measures nothing ---
const fastOut = new Uint8Array(ports);
const plainOut = new Uint8Array(ports);
decideMany(enabled, softCaps, hardCaps, used, estimated, fastOut);
const codes = { true: { true: DecisionCode.AllowedOverSoftCap, false: DecisionCode.Allowed } };
for (let i = 0; i < ports; i++) {
  plainOut[i] = plainDecide(enabled[i] === 1, softCaps[i], hardCaps[i], used[i], estimated[i]);
  const single = decide(enabled[i] === 1, softCaps[i], hardCaps[i], used[i], estimated[i]);
  const result = evaluateBudget(budgets[i], used[i], estimated[i], now);
  const viaObject = result.ok ? codes.true[result.softCap] : result.reason === 'hard-cap-exceeded' ? 2 : 3;
  if (single !== plainOut[i] || fastOut[i] !== plainOut[i] || viaObject !== plainOut[i]) {
    throw new Error(`port ${i}: wasm ${single}/${fastOut[i]}/${viaObject}, plain JS ${plainOut[i]}`);
  }
}

// --- timing ---
let sink = 0;
const cases = {
  'object API (evaluateBudget)': () => {
    for (let i = 0; i < ports; i++) sink += evaluateBudget(budgets[i], used[i], estimated[i], now).usedTokens;
  },
  'fast path, one call per decision (decide)': () => {
    for (let i = 0; i < ports; i++) sink += decide(enabled[i] === 1, softCaps[i], hardCaps[i], used[i], estimated[i]);
  },
  'plain JS, one call per decision': () => {
    for (let i = 0; i < ports; i++) sink += plainDecide(enabled[i] === 1, softCaps[i], hardCaps[i], used[i], estimated[i]);
  },
  'fast path, one call for all ports (decideMany)': () => {
    decideMany(enabled, softCaps, hardCaps, used, estimated, fastOut);
    sink += fastOut[ports >> 1];
  },
  'plain JS, loop over the same arrays': () => {
    for (let i = 0; i < ports; i++) {
      plainOut[i] = plainDecide(enabled[i] !== 0, softCaps[i], hardCaps[i], used[i], estimated[i]);
    }
    sink += plainOut[ports >> 1];
  },
};

/** How many passes of `run` take about 50 ms (after warming it up). */
function calibrate(run) {
  let passes = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) run();
    if (Number(process.hrtime.bigint() - start) > 50e6) return passes;
    passes *= 2;
  }
}

// Rounds go round-robin over the cases, so a slow moment of a shared
// machine hits every case alike rather than one of them.
const passes = Object.fromEntries(Object.entries(cases).map(([name, run]) => [name, calibrate(run)]));
const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(cases)) {
    const start = process.hrtime.bigint();
    for (let p = 0; p < passes[name]; p++) run();
    samples[name].push(Number(process.hrtime.bigint() - start) / (passes[name] * ports));
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const results = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));

console.log(`ai-budget decisions in Node ${process.version}, ${ports} ports, median of ${rounds} rounds`);
for (const [name, ns] of Object.entries(results)) {
  console.log(`  ${name.padEnd(48)} ${ns.toFixed(2).padStart(8)} ns/decision  ${(1e9 / ns / 1e6).toFixed(1).padStart(7)} M decisions/s`);
}
const single = results['fast path, one call per decision (decide)'] / results['plain JS, one call per decision'];
const many = results['fast path, one call for all ports (decideMany)'] / results['plain JS, loop over the same arrays'];
console.log(`  time ratio fast path / plain JS: one call per decision ${single.toFixed(2)}x, many ports per call ${many.toFixed(2)}x (goal: <= 1.5x)`);
if (sink === 0.5) console.log(sink); // keeps the work observable
