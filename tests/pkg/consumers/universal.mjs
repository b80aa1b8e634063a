// Code shared with browsers: calling init first is harmless in Node.
import init, { periodEnd } from 'ai-budget';

await init();
await init();
console.log(JSON.stringify({ end: periodEnd('month', '2024-02-29T12:00:00Z') }));
