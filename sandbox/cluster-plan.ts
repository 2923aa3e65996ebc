/**
 * The sandbox's topology (docs/sandbox.md) and the repmgr.conf each host's agent reads.
 *
 * Three PostgreSQL nodes in az-a / az-b / az-c (node1 starts as primary) and a witness (az-c by
 * default — a region with three AZs — or any other location), synchronous replication
 * `ANY 1 (<the other nodes>)` on every node so it holds after any failover, and defaults that
 * favour fast failover (monitor_interval_secs=1, reconnect_attempts=2, reconnect_interval=1,
 * heartbeat_interval_secs=1, a short lease). A `--config` file (repmgr.conf syntax) overrides any
 * cluster-wide key; the keys that identify a node cannot be overridden there.
 *
 * Every generated file is checked with the real parser (core/config) before anything is written,
 * so a bad override is reported with its file and line and nothing starts.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, type ConfigProblem } from '../core/errors.js';
import { parseConfig, isConfigKey } from '../core/config/index.js';
import { REPMGR_UNUSED_KEYS } from '../core/config/keys.js';
import { lexConfig } from '../core/config/lexer.js';

export type PlanRole = 'primary' | 'standby' | 'witness';

export interface PlanNode {
  node_id: number;
  /** Also the network host name and the PostgreSQL cluster_name (= application_name of its WAL receiver). */
  node_name: string;
  role: PlanRole;
  location: string;
  priority: number;
  /** Whether the host runs PostgreSQL (the witness does not, unless asked). */
  postgres: boolean;
  address: string;
  port: number;
  /** Directory of the host's files: data/, run/ (Unix socket), state/, repmgr.conf. */
  home: string;
  dataDirectory: string;
  socketDirectory: string;
  configFile: string;
  instanceId: string | null;
}

export interface ClusterPlanOptions {
  /** The sandbox directory; host directories are `<dir>/hosts/<node_name>`. */
  dir: string;
  /** @default 'sandbox' */
  clusterId?: string;
  /** Host addresses by node name (from the sandbox network). @default 127.0.0.1 */
  addresses?: Record<string, string>;
  /** PostgreSQL ports by node name (distinct ones on loopback). @default 5432 */
  ports?: Record<string, number>;
  /** EC2 instance ids by node name (once the instances exist in the emulator). */
  instanceIds?: Record<string, string>;
  /** @default 'us-east-1' */
  region?: string;
  /** @default 'pgvigil-state' */
  stateTable?: string;
  vipAllocationId?: string;
  /** @default '/usr/lib/postgresql/15/bin' */
  pgBindir?: string;
  /** @default 'az-c' */
  witnessLocation?: string;
  /** Run PostgreSQL on the witness too. @default false */
  witnessPostgres?: boolean;
  /** `ANY 1` quorum commit (default) or asynchronous replication. */
  synchronous?: 'any1' | 'off';
  /** Networks pg_hba.conf admits (the sandbox subnet). @default ['127.0.0.1/32'] */
  hbaNetworks?: string[];
  /** Contents and file name of a repmgr.conf fragment whose keys override every node's. */
  overrides?: { text: string; file: string };
}

/** Sandbox defaults that differ from pgvigil's (fast failover on one machine). */
export const SANDBOX_DEFAULTS: Readonly<Record<string, string>> = {
  failover: 'automatic',
  monitor_interval_secs: '1',
  reconnect_attempts: '2',
  reconnect_interval: '1',
  connection_check_type: 'ping',
  heartbeat_interval_secs: '1',
  // Holds through a 2.5 s stall of the emulator on a loaded 2-core machine, which 4 does not
  // (docs/sandbox.md, "The lease"); a dead primary is replaced about a second later than at 4.
  lease_secs: '5',
  clock_skew_margin_ms: '500',
  node_timeout_secs: '3',
  use_replication_slots: 'true',
  // Longer than the lease: an isolated primary fences itself before it could switch to
  // asynchronous replication; a just-promoted primary switches at once until a standby follows.
  sync_downgrade_after_secs: '10',
  // A fenced former primary is rewound and rejoins as a standby by itself: redundancy comes back
  // without a person (docs/controller.md, "Follow-ups and rejoins").
  auto_rejoin: 'true',
  log_level: 'INFO',
};

/** Keys that identify one node: set by the plan, refused in an override file. */
export const PER_NODE_KEYS = ['node_id', 'node_name', 'conninfo', 'data_directory', 'location', 'priority', 'instance_id', 'agent_state_dir'] as const;

export interface ClusterPlan {
  clusterId: string;
  nodes: PlanNode[];
  /** The node that starts as primary. */
  primary: PlanNode;
  /** Applied override keys (for `sandbox status`). */
  overrides: Record<string, string>;
  /** repmgr.conf text by node name. */
  configs: Record<string, string>;
  /** postgresql.conf settings by node name (for sandbox/postgres.ts `settings`). */
  postgresSettings: Record<string, Record<string, string | number | boolean>>;
  hbaNetworks: string[];
}

const NODES: { name: string; role: PlanRole; location: string; priority: number }[] = [
  { name: 'node1', role: 'primary', location: 'az-a', priority: 100 },
  { name: 'node2', role: 'standby', location: 'az-b', priority: 100 },
  { name: 'node3', role: 'standby', location: 'az-c', priority: 100 },
];

/** A value in repmgr.conf syntax: single-quoted, with `'` doubled and backslashes escaped. */
export function quoteConfValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Reads and checks an override fragment; throws ConfigError naming the file and line of every problem. */
export function parseOverrides(text: string, file: string): Record<string, string> {
  const lexed = lexConfig(text);
  const problems: ConfigProblem[] = lexed.problems.map((p) => ({ file, line: p.line, key: p.key, message: p.message }));
  const values: Record<string, string> = {};
  for (const a of lexed.assignments) {
    if ((PER_NODE_KEYS as readonly string[]).includes(a.key)) {
      problems.push({ file, line: a.line, key: a.key, message: `${a.key} is set per node by the sandbox and cannot be overridden` });
    } else if (!isConfigKey(a.key) && !Object.hasOwn(REPMGR_UNUSED_KEYS, a.key)) {
      problems.push({ file, line: a.line, key: a.key, message: `unknown key ${a.key}` });
    } else {
      values[a.key] = a.value;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Check the values with the real parser: the override lines first, so its line numbers stay
  // true, then stand-ins for the per-node keys and the sandbox defaults it does not set (cross-key
  // rules such as lease_secs ≥ 2 × heartbeat_interval_secs apply to the combination).
  const rest = Object.entries(SANDBOX_DEFAULTS).filter(([k]) => !(k in values));
  const stub = ['node_id=1', "node_name='check'", "conninfo='host=127.0.0.1'", "data_directory='/nonexistent'", ...rest.map(([k, v]) => `${k}=${v}`)];
  parseConfig(`${text}\n${stub.join('\n')}\n`, file);
  return values;
}

/** Builds the plan and every node's repmgr.conf (validated), without touching the disk. */
export function planCluster(options: ClusterPlanOptions): ClusterPlan {
  const clusterId = options.clusterId ?? 'sandbox';
  const overrides = options.overrides ? parseOverrides(options.overrides.text, options.overrides.file) : {};
  const specs = [
    ...NODES,
    { name: 'witness', role: 'witness' as const, location: options.witnessLocation ?? 'az-c', priority: 0 },
  ];
  const nodes: PlanNode[] = specs.map((spec, i) => {
    const home = `${options.dir}/hosts/${spec.name}`;
    return {
      node_id: i + 1,
      node_name: spec.name,
      role: spec.role,
      location: spec.location,
      priority: spec.priority,
      postgres: spec.role !== 'witness' || options.witnessPostgres === true,
      address: options.addresses?.[spec.name] ?? '127.0.0.1',
      port: options.ports?.[spec.name] ?? 5432,
      home,
      dataDirectory: `${home}/data`,
      socketDirectory: `${home}/run`,
      configFile: `${home}/repmgr.conf`,
      instanceId: options.instanceIds?.[spec.name] ?? null,
    };
  });
  const loopbackPorts = new Map<string, string>();
  for (const n of nodes) {
    const where = `${n.address}:${n.port}`;
    const other = loopbackPorts.get(where);
    if (other && n.postgres) {
      throw new ConfigError([{ file: 'sandbox plan', line: undefined, key: 'port', message: `${n.node_name} and ${other} would both listen on ${where}` }]);
    }
    if (n.postgres) loopbackPorts.set(where, n.node_name);
  }
  const pgNodes = nodes.filter((n) => n.role !== 'witness');
  // The agent API needs an address of its own per host (each host's network namespace has one);
  // on a shared loopback address the agents would collide on its port, so it stays off there.
  const ownAddress = (n: PlanNode): boolean => nodes.filter((o) => o.address === n.address).length === 1;
  const hbaNetworks = options.hbaNetworks ?? ['127.0.0.1/32'];
  const configs: Record<string, string> = {};
  const postgresSettings: Record<string, Record<string, string | number | boolean>> = {};
  for (const node of nodes) {
    const keys: Record<string, string> = {
      node_id: String(node.node_id),
      node_name: node.node_name,
      conninfo: `host=${node.address} port=${node.port} user=postgres dbname=postgres connect_timeout=2`,
      data_directory: node.dataDirectory,
      location: node.location,
      priority: String(node.priority),
      replication_user: 'postgres',
      pg_bindir: options.pgBindir ?? '/usr/lib/postgresql/15/bin',
      cluster_id: clusterId,
      aws_region: options.region ?? 'us-east-1',
      state_table: options.stateTable ?? 'pgvigil-state',
      agent_state_dir: `${node.home}/state`,
      ...(node.instanceId ? { instance_id: node.instanceId } : {}),
      ...(options.vipAllocationId ? { vip_allocation_id: options.vipAllocationId } : {}),
      ...(ownAddress(node) ? { rest_api_listen: `${node.address}:${AGENT_API_PORT}`, rest_api_secret_file: apiSecretFile(options.dir) } : {}),
      ...SANDBOX_DEFAULTS,
      ...overrides,
    };
    const text = [
      `# ${node.node_name} (${node.role} at start, ${node.location}) — written by the pgvigil sandbox`,
      ...Object.entries(keys).map(([k, v]) => `${k}=${/^[0-9.]+$|^(true|false)$/.test(v) ? v : quoteConfValue(v)}`),
      '',
    ].join('\n');
    // The same parser the agent uses: a plan that would not load never starts.
    parseConfig(text, node.configFile);
    configs[node.node_name] = text;
    if (node.postgres) {
      const others = pgNodes.filter((n) => n !== node).map((n) => n.node_name);
      postgresSettings[node.node_name] = {
        listen_addresses: node.address,
        unix_socket_directories: node.socketDirectory,
        cluster_name: node.node_name,
        synchronous_standby_names: options.synchronous === 'off' || node.role === 'witness' ? '' : `ANY 1 (${others.join(', ')})`,
      };
    }
  }
  return { clusterId, nodes, primary: nodes[0] as PlanNode, overrides, configs, postgresSettings, hbaNetworks };
}

/** Port of every sandbox agent's HTTP API (Patroni's default), on its host's own address. */
export const AGENT_API_PORT = 8008;

/** The cluster's shared secret for the agent API, generated by writePlanFiles. */
export function apiSecretFile(dir: string): string {
  return `${dir}/api-secret`;
}

/** The directories and repmgr.conf files of a plan, owned by the user the agents run as. */
export interface PlanFileWriter {
  mkdir(path: string, mode: number): void;
  writeFile(path: string, text: string, mode: number): void;
}

/** Creates every host's directory (home, run/, state/) and writes its repmgr.conf. */
export function writePlanFiles(plan: ClusterPlan, fs: PlanFileWriter, secret: () => string = () => randomBytes(32).toString('hex')): void {
  const secretFile = plan.nodes.map((n) => /rest_api_secret_file='([^']*)'/.exec(plan.configs[n.node_name] ?? '')?.[1]).find((f) => f !== undefined);
  if (secretFile) fs.writeFile(secretFile, `${secret()}\n`, 0o600);
  for (const node of plan.nodes) {
    fs.mkdir(node.home, 0o755);
    fs.mkdir(node.socketDirectory, 0o755);
    fs.mkdir(`${node.home}/state`, 0o700);
    fs.writeFile(node.configFile, plan.configs[node.node_name] as string, 0o644);
  }
}
