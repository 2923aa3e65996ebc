#!/usr/bin/env node
// The `pgvigil` command npm installs: runs dist/pgvigil.cjs (`npm run build`), which answers help
// and version with no ES module loaded and imports dist/pgvigil.mjs for anything else; CommonJS,
// as that entry is, so a start that prints help never meets Node's ES module loader (docs/cli.md,
// "Start-up"). When dist/ is missing it says how to build it, as bin/run.js does.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const entry = join(__dirname, '..', 'dist', 'pgvigil.cjs');
if (existsSync(entry)) {
  require(entry);
} else {
  process.stderr.write(`ERROR: pgvigil is not built: ${entry} is missing\nHINT: run "npm run build" in ${join(__dirname, '..')}/\n`);
  process.exitCode = 1;
}
