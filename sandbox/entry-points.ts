/**
 * How the sandbox starts its own Node processes (the AWS proxy, the controller): the TypeScript
 * entry file run by Node with tsx's loader, as `pgvigil` itself runs from a clone with no build
 * step. One place, so a build that bundles these entry points changes only this file.
 */
import { fileURLToPath } from 'node:url';

/** The command line that runs `sandbox/<entry>.ts` with `args`. */
export function sandboxEntry(entry: 'aws-proxy-main' | 'controller-main', args: string[]): { command: string; args: string[] } {
  const file = fileURLToPath(new URL(`./${entry}.ts`, import.meta.url));
  return { command: process.execPath, args: ['--import', import.meta.resolve('tsx/esm'), file, ...args] };
}
