/**
 * The `pgvigil-agent` command: the daemon (`run`) and the host actions. Its composition root:
 * {@link agentDeps} builds what the commands use, {@link agentProgram} hands it to them.
 */
import { runProgram, type Program } from '../shell/framework.js';
import { PGVIGIL_VERSION } from '../core/version.js';
import { streamOutput } from '../shell/output.js';
import { hostActionCommands, type HostActionDeps } from './commands.js';
import { runCommand } from './daemon/run-command.js';
import { createStore } from './store.js';

export type AgentDeps = HostActionDeps;

/** The agent's dependencies: the DynamoDB store; tests replace what they need. */
export function agentDeps(overrides: Partial<AgentDeps> = {}): AgentDeps {
  return { store: createStore, ...overrides };
}

/** The program on `deps` (the default: the agent's own). */
export function agentProgram(deps: AgentDeps = agentDeps()): Program<AgentDeps> {
  return {
    name: 'pgvigil-agent',
    description: 'the pgvigil agent: monitors the local PostgreSQL server, reports heartbeats, holds the lease, and carries out host actions',
    version: PGVIGIL_VERSION,
    commands: [runCommand, ...hostActionCommands],
    globalOptions: {
      'config-file': { type: 'string', short: 'f', description: 'repmgr.conf-format configuration file (default /etc/pgvigil/repmgr.conf)' },
      'log-level': { type: 'string', short: 'L', description: 'DEBUG, INFO, NOTICE, WARNING or ERROR (default INFO)' },
    },
    deps,
  };
}

export async function main(argv: string[]): Promise<number> {
  const i = argv.findIndex((a) => a === '-L' || a === '--log-level');
  const level = (i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--log-level='))?.split('=')[1])?.toUpperCase();
  const out = streamOutput(process.stdout, process.stderr, level === 'DEBUG' || level === 'NOTICE' || level === 'WARNING' || level === 'ERROR' ? level : 'INFO');
  return runProgram(agentProgram(), argv, out);
}
