/** The `pgvigil-agent` command: the daemon (`run`) and the host actions. */
import { runProgram, type Program } from '../shell/framework.js';
import { PGVIGIL_VERSION } from '../core/version.js';
import { streamOutput } from '../shell/output.js';
import { hostActionCommands, setStoreFactory } from './commands.js';
import { runCommand } from './daemon/run-command.js';
import { createStore } from './store.js';

setStoreFactory(createStore);

export const agentProgram: Program = {
  name: 'pgvigil-agent',
  description: 'the pgvigil agent: monitors the local PostgreSQL server, reports heartbeats, holds the lease, and carries out host actions',
  version: PGVIGIL_VERSION,
  commands: [runCommand, ...hostActionCommands],
  globalOptions: {
    'config-file': { type: 'string', short: 'f', description: 'repmgr.conf-format configuration file (default /etc/pgvigil/repmgr.conf)' },
    'log-level': { type: 'string', short: 'L', description: 'DEBUG, INFO, NOTICE, WARNING or ERROR (default INFO)' },
  },
};

export async function main(argv: string[]): Promise<number> {
  const i = argv.findIndex((a) => a === '-L' || a === '--log-level');
  const level = (i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--log-level='))?.split('=')[1])?.toUpperCase();
  const out = streamOutput(process.stdout, process.stderr, level === 'DEBUG' || level === 'NOTICE' || level === 'WARNING' || level === 'ERROR' ? level : 'INFO');
  return runProgram(agentProgram, argv, out);
}
