#!/usr/bin/env node
/**
 * Process entry of the `pgvigil` command (`npm run build` → dist/pgvigil.mjs). It answers
 * `--help`, `--version` and a command's `--help` from the program's spec alone (cli/program-spec.ts)
 * and loads the commands' code (cli/main.ts) only to run one: a start that prints help loads no
 * command (docs/cli.md, "Start-up"). Each command's heavy modules are loaded by that command
 * (build/index.ts keeps them out of the start-up chunks).
 */
import { runProgram } from '../shell/framework.js';
import { runAsProcess } from '../shell/process.js';
import { CLI_SPEC } from './cli-spec.js';
import { specProgram } from './program-spec.js';

const program = specProgram(CLI_SPEC, async () => (await import('./main.js')).cliProgram());

await runAsProcess((argv) => runProgram(program, argv));
