// Size of what a browser downloads for the package (the web build): the
// .wasm at each step of the build, and the JS glue, raw and gzip -9.
// Exits non-zero when the shipped .wasm is above the 64 KiB gzip budget.
// Also the HTTP client (`ai-budget/client`, plain JS, no wasm): as shipped
// and minified by esbuild (what a bundler would ship), against its 6 KiB
// gzip budget.
//
//   node bench/pkg/size.mjs      (after scripts/build-pkg.sh)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { createRequire } from 'node:module';

const root = process.env.ROOT ?? new URL('../..', import.meta.url).pathname;
const budget = 64 * 1024;
const clientBudget = 6 * 1024;
const crateWasm = join(root, 'target/pkg/wasm32-unknown-unknown/release/ai_budget.wasm');
const shipped = join(root, 'pkg/dist/web/ai_budget_bg.wasm');
const glue = join(root, 'pkg/dist/web/ai_budget.js');
const features = ['--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext',
  '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue'];

const scratch = mkdtempSync(join(tmpdir(), 'ai-budget-size-'));
try {
  // The same steps as scripts/build-pkg.sh, kept apart to measure each one.
  execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', scratch, '--out-name', 'ai_budget', crateWasm]);
  const bindgen = join(scratch, 'ai_budget_bg.wasm');
  const oz = join(scratch, 'oz.wasm');
  execFileSync(process.env.WASM_OPT_BIN, ['-Oz', '--strip-debug', '--strip-producers', ...features, bindgen, '-o', oz]);

  const rows = [
    ['cargo build (opt-level s, lto)', crateWasm],
    ['after wasm-bindgen', bindgen],
    ['after wasm-opt -O3 (shipped)', shipped],
    ['  for comparison: wasm-opt -Oz', oz],
    ['JS glue (ai_budget.js)', glue],
  ];
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log('ai-budget browser download (web build)');
  console.log(`  ${'step'.padEnd(34)} ${'raw'.padStart(10)} ${'gzip -9'.padStart(10)} ${'brotli'.padStart(10)}`);
  for (const [name, file] of rows) {
    const bytes = readFileSync(file);
    const gz = gzipSync(bytes, { level: 9 }).length;
    const br = brotliCompressSync(bytes).length;
    console.log(`  ${name.padEnd(34)} ${kib(bytes.length).padStart(10)} ${kib(gz).padStart(10)} ${kib(br).padStart(10)}`);
  }
  const shippedGzip = gzipSync(readFileSync(shipped), { level: 9 }).length;
  const total = shippedGzip + gzipSync(readFileSync(glue), { level: 9 }).length;
  console.log(`  .wasm gzip ${kib(shippedGzip)} of the ${kib(budget)} budget; with the JS glue ${kib(total)}`);
  if (shippedGzip > budget) {
    console.error('over the size budget');
    process.exitCode = 1;
  }

  const client = readFileSync(join(root, 'pkg/client/index.mjs'));
  const esbuild = createRequire(join(root, 'package.json'))('esbuild');
  const minified = Buffer.from(esbuild.transformSync(client.toString('utf8'), { minify: true, format: 'esm' }).code);
  console.log('\nai-budget/client (the HTTP client; loads no wasm)');
  for (const [name, bytes] of [['as shipped (client/index.mjs)', client], ['minified (esbuild)', minified]]) {
    const gz = gzipSync(bytes, { level: 9 }).length;
    const br = brotliCompressSync(bytes).length;
    console.log(`  ${name.padEnd(34)} ${kib(bytes.length).padStart(10)} ${kib(gz).padStart(10)} ${kib(br).padStart(10)}`);
  }
  const clientGzip = gzipSync(client, { level: 9 }).length;
  console.log(`  client gzip ${kib(clientGzip)} of the ${kib(clientBudget)} budget`);
  if (clientGzip > clientBudget) {
    console.error('the client is over its size budget');
    process.exitCode = 1;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
