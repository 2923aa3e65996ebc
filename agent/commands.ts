/**
 * The host actions as command-line commands: `pgvigil-agent <action> -f CONFIG [--term T] …`
 * (what SSM Run Command invokes) and the same words under `pgvigil`.
 */
import { PgvigilError } from '../core/errors.js';
import { LOCAL_CHECKS } from '../core/node-checks.js';
import type { ClusterStateStore } from '../core/ports.js';
import { defineCommand, opt, type Command, type CommandContext, type OptionSpec } from '../shell/framework.js';
import type { AgentConfig } from './config.js';
import type { ActionContext } from './actions/context.js';

export const DEFAULT_CONFIG_FILE = '/etc/pgvigil/repmgr.conf';

type Actions = typeof import('./actions/clone.js') &
  typeof import('./actions/node.js') &
  typeof import('./actions/register.js') &
  typeof import('./actions/roles.js') &
  typeof import('./actions/startup.js');

/**
 * The host actions' code (pg, the configuration parser), loaded by the command that runs one:
 * `pgvigil --help` and the commands that do not act on a host never load it (build/index.ts).
 */
async function actions(): Promise<Actions> {
  const modules = await Promise.all([import('./actions/clone.js'), import('./actions/node.js'), import('./actions/register.js'), import('./actions/roles.js'), import('./actions/startup.js')]);
  return Object.assign({}, ...modules) as Actions;
}

/**
 * Where a command's store comes from. The program sets it (agent/main.ts: DynamoDB; cli/main.ts:
 * the same, loaded when a host action runs); tests may replace it. The store is not imported here:
 * a lazily loaded store would keep the whole DynamoDB client in the agent's bundle (esbuild cannot
 * tree-shake what is loaded lazily), and a static one would load it at every `pgvigil` start.
 */
export type StoreFactory = (config: AgentConfig, env: NodeJS.ProcessEnv) => ClusterStateStore | Promise<ClusterStateStore>;
let storeFactory: StoreFactory | undefined;

/** Replaces how commands build their ClusterStateStore. Returns the previous one. */
export function setStoreFactory(factory: StoreFactory | undefined): StoreFactory | undefined {
  const previous = storeFactory;
  storeFactory = factory;
  return previous;
}

export function configFileOf(ctx: CommandContext): string {
  return opt.string(ctx, 'config-file') ?? ctx.env.PGVIGIL_CONFIG ?? DEFAULT_CONFIG_FILE;
}

export async function actionContext(ctx: CommandContext): Promise<ActionContext> {
  const file = configFileOf(ctx);
  const { loadAgentConfig } = await import('./config.js');
  const { config, notices } = loadAgentConfig(file, ctx.env);
  const cluster = opt.string(ctx, 'cluster');
  if (cluster !== undefined && cluster !== config.cluster_id) {
    throw new PgvigilError('BAD_ARGUMENT', `--cluster "${cluster}" contradicts cluster_id "${config.cluster_id}" of ${file}`, {
      detail: "a host action acts on this node, in the cluster its configuration file names (cluster_id, or PGVIGIL_CLUSTER_ID)",
      hint: 'drop --cluster, or run the command with the configuration file of a node of that cluster',
    });
  }
  for (const n of notices) ctx.out.notice(n);
  const term = opt.integer(ctx, 'term');
  if (term !== undefined && term < 0) throw new PgvigilError('BAD_ARGUMENT', `option --term expects a non-negative integer, got ${term}`);
  if (!storeFactory) throw new PgvigilError('INTERNAL', 'no state store: the program did not set one (setStoreFactory)');
  return { config, store: await storeFactory(config, ctx.env), out: ctx.out, now: () => Date.now(), term, configFile: file };
}

/**
 * Every host action accepts `--cluster` so that scripts passing it to every pgvigil command keep
 * working, but the cluster is the node's own: the option only confirms it, and a different one is
 * refused (see {@link actionContext}).
 */
export const hostClusterOption: Record<string, OptionSpec> = {
  cluster: { type: 'string', description: "must equal cluster_id of the configuration file: a host action acts on this node's own cluster" },
};
const termOption: Record<string, OptionSpec> = {
  term: { type: 'integer', description: 'the cluster term the controller sent this action in (refused when older than the current term)' },
};
const forceOption: Record<string, OptionSpec> = { force: { type: 'boolean', short: 'F', description: 'override safety checks' } };
const upstreamOption: Record<string, OptionSpec> = { 'upstream-node-id': { type: 'integer', description: 'node to stream from (default: the primary)' } };

function positiveId(ctx: CommandContext, name: string): number | undefined {
  const v = opt.integer(ctx, name);
  if (v !== undefined && v <= 0) throw new PgvigilError('BAD_ARGUMENT', `option --${name} expects a node id > 0, got ${v}`);
  return v;
}

const A = 'pgvigil-agent';

export const primaryRegisterCommand = defineCommand({
  words: ['primary', 'register'],
  summary: 'register this node as the primary (creates the cluster record on first use)',
  usage: 'primary register -f CONFIG [-F]',
  examples: [`${A} primary register -f /etc/pgvigil/repmgr.conf`],
  options: { ...hostClusterOption, ...termOption, ...forceOption },
  async run(ctx) {
    await (await actions()).primaryRegister(await actionContext(ctx), { force: opt.flag(ctx, 'force') });
    return 0;
  },
});

function unregisterCommand(type: 'primary' | 'standby' | 'witness'): Command {
  return defineCommand({
    words: [type, 'unregister'],
    summary: `remove a ${type} node record`,
    usage: `${type} unregister -f CONFIG [--node-id N] [-F]`,
    examples: [`${A} ${type} unregister -f /etc/pgvigil/repmgr.conf`],
    options: { ...hostClusterOption, ...termOption, ...forceOption, 'node-id': { type: 'integer', description: 'node to unregister (default: this node)' } },
    async run(ctx) {
      await (await actions()).unregister(await actionContext(ctx), type, { nodeId: positiveId(ctx, 'node-id'), force: opt.flag(ctx, 'force') });
      return 0;
    },
  });
}

export const standbyRegisterCommand = defineCommand({
  words: ['standby', 'register'],
  summary: 'register this node as a standby',
  usage: 'standby register -f CONFIG [--upstream-node-id N] [-F]',
  examples: [`${A} standby register -f /etc/pgvigil/repmgr.conf --upstream-node-id 1`],
  options: { ...hostClusterOption, ...termOption, ...forceOption, ...upstreamOption },
  async run(ctx) {
    await (await actions()).standbyRegister(await actionContext(ctx), { upstreamNodeId: positiveId(ctx, 'upstream-node-id'), force: opt.flag(ctx, 'force') });
    return 0;
  },
});

export const witnessRegisterCommand = defineCommand({
  words: ['witness', 'register'],
  summary: 'register this host as a witness',
  usage: 'witness register -f CONFIG',
  examples: [`${A} witness register -f /etc/pgvigil/repmgr.conf`],
  options: { ...hostClusterOption, ...termOption },
  async run(ctx) {
    await (await actions()).witnessRegister(await actionContext(ctx));
    return 0;
  },
});

export const standbyCloneCommand = defineCommand({
  words: ['standby', 'clone'],
  summary: 'clone this standby from its upstream with pg_basebackup',
  usage: 'standby clone -f CONFIG [--dry-run] [-c] [--upstream-conninfo CONNINFO] [--upstream-node-id N] [-F]',
  examples: [`${A} standby clone -f /etc/pgvigil/repmgr.conf --dry-run`, `${A} standby clone -f /etc/pgvigil/repmgr.conf -c`],
  options: {
    ...hostClusterOption,
    ...termOption,
    ...forceOption,
    ...upstreamOption,
    'dry-run': { type: 'boolean', description: 'check the prerequisites only' },
    'fast-checkpoint': { type: 'boolean', short: 'c', description: 'ask the source for an immediate checkpoint' },
    'upstream-conninfo': { type: 'string', description: 'conninfo of the node to clone from (default: the registered upstream)' },
  },
  async run(ctx) {
    await (await actions()).standbyClone(await actionContext(ctx), {
      dryRun: opt.flag(ctx, 'dry-run'),
      fastCheckpoint: opt.flag(ctx, 'fast-checkpoint'),
      upstreamConninfo: opt.string(ctx, 'upstream-conninfo'),
      upstreamNodeId: positiveId(ctx, 'upstream-node-id'),
      force: opt.flag(ctx, 'force'),
    });
    return 0;
  },
});

function promoteCommand(words: string[]): Command {
  return defineCommand({
    words,
    summary: 'promote this standby to primary (idempotent)',
    usage: `${words.join(' ')} -f CONFIG [--term T]`,
    examples: [`${A} ${words.join(' ')} -f /etc/pgvigil/repmgr.conf --term 4`],
    options: { ...hostClusterOption, ...termOption },
    async run(ctx) {
      await (await actions()).promote(await actionContext(ctx));
      return 0;
    },
  });
}

function followCommand(words: string[]): Command {
  return defineCommand({
    words,
    summary: 'make this standby stream from another node',
    usage: `${words.join(' ')} -f CONFIG --upstream-node-id N [--term T]`,
    examples: [`${A} ${words.join(' ')} -f /etc/pgvigil/repmgr.conf --upstream-node-id 2 --term 4`],
    options: { ...hostClusterOption, ...termOption, ...upstreamOption },
    async run(ctx) {
      await (await actions()).follow(await actionContext(ctx), { upstreamNodeId: positiveId(ctx, 'upstream-node-id') });
      return 0;
    },
  });
}

function rejoinCommand(words: string[]): Command {
  return defineCommand({
    words,
    summary: 'bring a stopped former primary back as a standby (pg_rewind with --force-rewind)',
    usage: `${words.join(' ')} -f CONFIG [--force-rewind] [--upstream-node-id N] [--term T]`,
    examples: [`${A} ${words.join(' ')} -f /etc/pgvigil/repmgr.conf --force-rewind`],
    options: { ...hostClusterOption, ...termOption, ...upstreamOption, 'force-rewind': { type: 'boolean', description: 'run pg_rewind when this node has diverged' } },
    async run(ctx) {
      await (await actions()).rejoin(await actionContext(ctx), { upstreamNodeId: positiveId(ctx, 'upstream-node-id'), forceRewind: opt.flag(ctx, 'force-rewind') });
      return 0;
    },
  });
}

function simple(words: string[], summary: string, action: 'fence' | 'unfence' | 'demote' | 'disconnectWalReceiver' | 'reconnectWalReceiver'): Command {
  return defineCommand({
    words,
    summary,
    usage: `${words.join(' ')} -f CONFIG [--term T]`,
    examples: [`${A} ${words.join(' ')} -f /etc/pgvigil/repmgr.conf --term 4`],
    options: { ...hostClusterOption, ...termOption },
    async run(ctx) {
      await (await actions())[action](await actionContext(ctx));
      return 0;
    },
  });
}

const checkOptions: Record<string, OptionSpec> = Object.fromEntries(LOCAL_CHECKS.map((d) => [d.option, { type: 'boolean', description: `only the "${d.label}" check` } satisfies OptionSpec]));

export const nodeCheckCommand = defineCommand({
  words: ['node', 'check'],
  summary: "repmgr's node health checks (single checks, --nagios, --csv)",
  usage: 'node check -f CONFIG [--role|--replication-lag|…] [--nagios] [--csv]',
  examples: [`${A} node check -f /etc/pgvigil/repmgr.conf`, `${A} node check -f /etc/pgvigil/repmgr.conf --replication-lag --nagios`],
  options: { ...hostClusterOption, ...termOption, ...checkOptions, nagios: { type: 'boolean', description: 'Nagios plugin output' }, csv: { type: 'boolean', description: 'CSV output' } },
  async run(ctx) {
    const checks = LOCAL_CHECKS.map((d) => d.option).filter((o) => opt.flag(ctx, o));
    if (checks.length > 1) throw new PgvigilError('BAD_ARGUMENT', 'only one single check may be given at a time');
    return (await actions()).nodeCheck(await actionContext(ctx), { checks, nagios: opt.flag(ctx, 'nagios'), csv: opt.flag(ctx, 'csv') });
  },
});

export const nodeStatusCommand = defineCommand({
  words: ['node', 'status'],
  summary: 'show the local server as this node sees it',
  usage: 'node status -f CONFIG [--csv]',
  examples: [`${A} node status -f /etc/pgvigil/repmgr.conf`],
  options: { ...hostClusterOption, csv: { type: 'boolean', description: 'CSV output' } },
  async run(ctx) {
    return (await actions()).nodeStatus(await actionContext(ctx), { csv: opt.flag(ctx, 'csv') });
  },
});

export const nodeStartupCommand = defineCommand({
  words: ['node', 'startup'],
  summary: 'before PostgreSQL starts at boot: hold a fenced or replaced former primary read-only',
  usage: 'node startup -f CONFIG',
  examples: [`${A} node startup -f /etc/pgvigil/repmgr.conf`],
  options: {},
  async run(ctx) {
    await (await actions()).nodeStartup(await actionContext(ctx));
    return 0;
  },
});

/** Every host action; `pgvigil` lists the same objects. */
export const hostActionCommands: Command[] = [
  primaryRegisterCommand,
  unregisterCommand('primary'),
  standbyRegisterCommand,
  unregisterCommand('standby'),
  witnessRegisterCommand,
  unregisterCommand('witness'),
  standbyCloneCommand,
  promoteCommand(['promote']),
  promoteCommand(['standby', 'promote']),
  followCommand(['follow']),
  followCommand(['standby', 'follow']),
  rejoinCommand(['rejoin']),
  rejoinCommand(['node', 'rejoin']),
  simple(['fence'], 'stop the local server and keep it from starting as a primary', 'fence'),
  simple(['unfence'], 'lift a fence and start as primary (only when the cluster record names this node primary)', 'unfence'),
  simple(['demote'], 'clean checkpoint and fast stop; prints the final LSN', 'demote'),
  simple(['disconnect-wal-receiver'], 'stop streaming from the upstream', 'disconnectWalReceiver'),
  simple(['reconnect-wal-receiver'], 'resume streaming from the upstream', 'reconnectWalReceiver'),
  nodeStatusCommand,
  nodeCheckCommand,
  nodeStartupCommand,
];
