// Entry point for Cloudflare Workers (workerd): a `.wasm` import there is a
// compiled WebAssembly.Module, so the web build is instantiated right away
// and callers need no init step (calling `init()` anyway is harmless).
import wasmModule from '../dist/web/ai_budget_bg.wasm';
import { initSync } from '../dist/web/ai_budget.js';

initSync({ module: wasmModule });

export * from '../dist/web/ai_budget.js';
export { default } from '../dist/web/ai_budget.js';
