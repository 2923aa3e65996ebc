#!/usr/bin/env node
/**
 * Process entry of the `pgvigil` command (`npm run build` → dist/pgvigil.mjs). Every command's
 * heavy modules are loaded by that command (build/index.ts keeps them out of the start-up chunks).
 */
import { main } from './main.js';
import { runAsProcess } from '../shell/process.js';

await runAsProcess(main);
