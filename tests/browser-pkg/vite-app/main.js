// A bundled app: the bundler resolves 'ai-budget' through the package's
// `browser` export and ships the .wasm as an asset.
import init, * as api from 'ai-budget';
import { scenario } from '../scenario.mjs';

await init();
window.aiBudgetResult = scenario(api);
