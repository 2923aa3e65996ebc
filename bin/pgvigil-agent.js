#!/usr/bin/env node
import { run } from './run.js';

await run(new URL('../agent/main.ts', import.meta.url).href);
