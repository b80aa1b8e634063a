// The SDKs' own result types are accepted by withBudget and come back as they
// are (checked by tsc --strict against the openai and @anthropic-ai/sdk
// packages of the repository's tooling; never run).
import type OpenAI from 'openai';
import type Anthropic from '@anthropic-ai/sdk';
import { createClient, withBudget } from 'ai-budget/client';

declare const openai: OpenAI;
declare const anthropic: Anthropic;
const client = createClient({ baseUrl: 'https://budget.example.com', key: 'abk_x', port: 'acme' });

export async function sdks(): Promise<void> {
  const completion: OpenAI.Chat.Completions.ChatCompletion = await withBudget(client, { estimate: 1000, feature: 'chat' }, () =>
    openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] }),
  );
  void completion.choices;
  const response: OpenAI.Responses.Response = await withBudget(client, { estimate: 1000 }, () =>
    openai.responses.create({ model: 'gpt-5', input: 'hi' }),
  );
  void response.output_text;
  const message: Anthropic.Message = await withBudget(client, { estimate: 1000, user: 'u' }, () =>
    anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
  );
  void message.content;
}
