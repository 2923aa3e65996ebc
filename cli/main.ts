/** The `pgvigil` operator command. */
import { runProgram, type Program } from '../shell/framework.js';
import { commands } from './commands/index.js';
import { PGVIGIL_VERSION } from '../core/version.js';
import { setStoreFactory } from '../agent/commands.js';

// The host actions under `pgvigil` (`pgvigil node check` on a node) reach DynamoDB through the
// agent's store, loaded when one runs.
setStoreFactory(async (config, env) => (await import('../agent/store.js')).createStore(config, env));

export const program: Program = {
  name: 'pgvigil',
  description: "PostgreSQL high availability for EC2 with repmgr's commands, run by a serverless control plane",
  version: PGVIGIL_VERSION,
  commands,
  globalOptions: {
    'config-file': { type: 'string', short: 'f', description: 'repmgr.conf-format configuration file' },
    'log-level': { type: 'string', short: 'L', description: 'DEBUG, INFO, NOTICE, WARNING or ERROR (default INFO)' },
  },
};

export async function main(argv: string[]): Promise<number> {
  return runProgram(program, argv);
}
