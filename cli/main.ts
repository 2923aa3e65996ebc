/**
 * The `pgvigil` operator command. Its composition root: {@link cliDeps} builds what the commands
 * use, {@link cliProgram} hands it to them.
 */
import { runProgram, type Program } from '../shell/framework.js';
import { commands } from './commands/index.js';
import { PGVIGIL_VERSION } from '../core/version.js';
import type { CliDeps } from './deps.js';

/**
 * The CLI's dependencies, each loaded by the command that uses it (a start loads no package,
 * build/index.ts): the host actions under `pgvigil` (`pgvigil node check` on a node) reach DynamoDB
 * through the agent's store; `standby switchover` and `standby promote` reach the switchover
 * function, or run its entry point in this process. Tests replace what they need.
 */
export function cliDeps(overrides: Partial<CliDeps> = {}): CliDeps {
  return {
    store: async (config, env) => (await import('../agent/store.js')).createStore(config, env),
    switchover: async (target, env) => (await import('./switchover.js')).defaultInvokerFactory(target, env),
    hostCommands: async (target, env) => (await import('./host-commands.js')).ssmHostCommands(target, env),
    ...overrides,
  };
}

/** The program on `deps` (the default: the CLI's own). */
export function cliProgram(deps: CliDeps = cliDeps()): Program<CliDeps> {
  return {
    name: 'pgvigil',
    description: "PostgreSQL high availability for EC2 with repmgr's commands, run by a serverless control plane",
    version: PGVIGIL_VERSION,
    commands,
    globalOptions: {
      'config-file': { type: 'string', short: 'f', description: 'repmgr.conf-format configuration file' },
      'log-level': { type: 'string', short: 'L', description: 'DEBUG, INFO, NOTICE, WARNING or ERROR (default INFO)' },
    },
    deps,
  };
}

export async function main(argv: string[]): Promise<number> {
  return runProgram(cliProgram(), argv);
}
