// The call the gateway's benchmarks send: one plain chat completion for the
// port `bench`, against the harness's fake upstream (the model's name asks
// it for 120 input and 16 output tokens), and the build to measure
// (`BENCH_SCRIPT=<a build's index.js>`, else build/index.js).
export const port = "bench";

export const body = JSON.stringify({
  model: "gpt-bench?in=120&out=16",
  max_tokens: 64,
  messages: [
    { role: "system", content: "You are a concise assistant." },
    { role: "user", content: "Summarize the plot of a short story about a lighthouse keeper in two sentences." },
  ],
});

export const script = process.env.BENCH_SCRIPT ? { scriptPath: process.env.BENCH_SCRIPT } : {};
