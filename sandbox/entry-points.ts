/**
 * How the sandbox starts its own Node processes (the AWS proxy, the controller): their bundles
 * from `npm run build` (dist/sandbox/<entry>.mjs, entry points of the CLI's build), so the
 * sandbox runs built code whether it runs from `pgvigil sandbox up` or from the tests.
 */
import { ARTIFACTS, builtArtifact, type SandboxProcess } from '../build/artifacts.js';

/** The command line that runs the bundle of `sandbox/<entry>.ts` with `args`. */
export function sandboxEntry(entry: SandboxProcess, args: string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [builtArtifact(`${ARTIFACTS.sandboxProcesses}/${entry}.mjs`), ...args] };
}
