// The installed client inside workerd: a JS Worker that imports
// ai-budget/client's module as it ships and calls the ai-budget Worker
// through a service binding (the client's `fetch` option).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = process.env.AI_BUDGET_ROOT;
const app = process.env.AI_BUDGET_APP;
const { startWorker, ADMIN_TOKEN, CLOCK } = await import(pathToFileURL(join(root, 'tests/worker/harness.mjs')).href);

const main = `
import { createClient, withBudget, BudgetRefused } from './client.mjs';
export default {
  async fetch(request, env) {
    const client = createClient({
      baseUrl: 'http://ai-budget.internal', key: env.TOKEN, port: 'edge',
      fetch: (url, init) => env.API.fetch(url, init), headers: { 'x-now': env.NOW },
    });
    await client.setBudget({ enabled: true, softCapTokens: 900, hardCapTokens: 1000, period: 'day' });
    const message = await withBudget(client, { estimate: 300, feature: 'edge' }, async () => ({
      type: 'message', model: 'claude-haiku', usage: { input_tokens: 100, cache_read_input_tokens: 20, output_tokens: 30 },
    }));
    let refused = null;
    try {
      await client.reserve({ estimatedTokens: 5000 });
    } catch (e) {
      refused = { isRefused: e instanceof BudgetRefused, reason: e.reason, resetsAt: e.resetsAt.toISOString() };
    }
    const row = (await client.ledger()).rows[0];
    return Response.json({ model: message.model, row: [row.provider, row.model, row.inputTokens, row.outputTokens], refused });
  },
};`;

let worker;
after(() => worker?.mf.dispose());

test('the client runs in workerd and calls the Worker through a service binding', async () => {
  worker = await startWorker({
    extraWorkers: [
      {
        name: 'client-app',
        modules: [
          { type: 'ESModule', path: 'main.mjs', contents: main },
          { type: 'ESModule', path: 'client.mjs', contents: readFileSync(join(app, 'node_modules/ai-budget/client/index.mjs'), 'utf8') },
        ],
        serviceBindings: { API: 'ai-budget' },
        bindings: { TOKEN: ADMIN_TOKEN, NOW: CLOCK.iso },
      },
    ],
  });
  const app2 = await worker.mf.getWorker('client-app');
  const res = await app2.fetch('http://localhost/');
  const body = await res.json();
  const dayEnd = new Date(Date.UTC(CLOCK.date.getUTCFullYear(), CLOCK.date.getUTCMonth(), CLOCK.date.getUTCDate() + 1)).toISOString();
  assert.deepEqual(body, {
    model: 'claude-haiku',
    row: ['anthropic', 'claude-haiku', 120, 30],
    refused: { isRefused: true, reason: 'estimated-exceeds-cap', resetsAt: dayEnd },
  });
});
