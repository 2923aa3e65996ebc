/**
 * The spec of `pgvigil` (cli/program-spec.ts), computed from the program. Run from source this
 * loads every command; the build (build/index.ts) replaces this module in dist/pgvigil.mjs with
 * the value it computes here, so a start that only prints help loads none of them.
 */
import { cliProgram } from './main.js';
import { programSpec, type ProgramSpec } from './program-spec.js';

export const CLI_SPEC: ProgramSpec = programSpec(cliProgram());
