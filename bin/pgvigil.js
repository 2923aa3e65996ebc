#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so a clone works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

// `pgvigil cluster show | head` closes stdout early: that is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
