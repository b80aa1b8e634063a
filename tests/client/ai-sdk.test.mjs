// withBudget around the Vercel AI SDK: the real `ai` package's generateText
// over an OpenAI-compatible provider pointed at a local fake upstream, its
// usage read from the result and committed to the Worker (workerd).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient, withBudget, usageOf } from 'ai-budget/client';

const root = process.env.AI_BUDGET_ROOT;
// The AI SDK is a development dependency of the repository, not of the
// scratch project the client is installed in.
const rootRequire = createRequire(join(root, 'package.json'));
const load = (name) => import(pathToFileURL(rootRequire.resolve(name)).href);
const { generateText } = await load('ai');
const { createOpenAICompatible } = await load('@ai-sdk/openai-compatible');
const { startWorker, ADMIN_TOKEN, CLOCK } = await import(pathToFileURL(join(root, 'tests/worker/harness.mjs')).href);
const { FakeUpstream } = await import(pathToFileURL(join(root, 'tests/gateway/fake-upstream.mjs')).href);

let worker;
let upstream;
before(async () => {
  worker = await startWorker({ http: true });
  upstream = await new FakeUpstream().start();
});
after(async () => {
  await worker?.mf.dispose();
  await upstream?.stop();
});

const clientOf = (port) => createClient({ baseUrl: worker.origin, key: ADMIN_TOKEN, port, headers: { 'x-now': CLOCK.iso } });

test('withBudget commits the usage of an AI SDK generateText result, cache and reasoning details included', async () => {
  const c = clientOf('ai-sdk');
  const fake = createOpenAICompatible({ name: 'fake', baseURL: upstream.openaiBase, apiKey: 'sk-fake', includeUsage: true });
  const result = await withBudget(c, { estimate: 4000, feature: 'chat', user: 'u-ai', provider: 'openai' }, () =>
    generateText({ model: fake('gpt-test?in=1200&out=30&cached=1000&reasoning=12'), prompt: 'Hello', maxOutputTokens: 100, maxRetries: 0 }),
  );
  assert.equal(result.text.split(' ').length - 1, 30);
  assert.equal(result.usage.inputTokens, 1200, 'the SDK reports the fake upstream\'s usage');
  const [row] = (await c.ledger()).rows;
  assert.deepEqual(
    [row.provider, row.model, row.feature, row.userId, row.inputTokens, row.cachedInputTokens, row.outputTokens, row.reasoningTokens],
    ['openai', 'gpt-test-snapshot', 'chat', 'u-ai', 1200, 1000, 30, 12],
  );
  assert.equal((await c.reservations()).reservations.length, 0, 'no hold left');
});

test('a multi-step result is counted by its totalUsage, not its last step', () => {
  const step = { inputTokens: 50, outputTokens: 5, inputTokenDetails: {}, outputTokenDetails: {} };
  const total = { inputTokens: 150, outputTokens: 20, inputTokenDetails: { cacheReadTokens: 40, cacheWriteTokens: 10 }, outputTokenDetails: { reasoningTokens: 6 } };
  assert.deepEqual(usageOf({ text: 'done', usage: step, totalUsage: total, response: { modelId: 'm-1' } }), {
    model: 'm-1', inputTokens: 150, outputTokens: 20, cachedInputTokens: 40, cacheWriteTokens: 10, reasoningTokens: 6,
  });
  assert.deepEqual(usageOf({ usage: { inputTokens: 9, outputTokens: 2, cachedInputTokens: 4, reasoningTokens: 1 } }), {
    inputTokens: 9, outputTokens: 2, cachedInputTokens: 4, reasoningTokens: 1,
  }, 'the older flat detail fields');
  assert.equal(usageOf({ usage: { inputTokens: undefined, outputTokens: 3 } }), undefined, 'no input count: no usage');
});
