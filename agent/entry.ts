/**
 * Process entry of the bundled agent (`npm run build:agent` → dist/pgvigil-agent.mjs), which is
 * what the systemd unit runs: one file, no TypeScript compiler at run time, less memory.
 */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
