#!/usr/bin/env node
import { run } from './run.js';

await run(new URL('../cli/main.ts', import.meta.url).href);
