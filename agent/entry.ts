/**
 * Process entry of the bundled agent (`npm run build` → dist/pgvigil-agent.mjs), which is what the
 * systemd unit runs: one file, no TypeScript compiler at run time, less memory.
 */
import { runAsProcess } from '../shell/process.js';
import { main } from './main.js';

await runAsProcess(main);
