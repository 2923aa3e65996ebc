/**
 * repmgr's `node check` computed from what an agent reports (docs/cli.md): the same checks, labels,
 * Nagios names and statuses as the agent's local `node check`, as pure functions of a node record
 * and a {@link ServerState}, so the operator CLI can check ANY node from its latest heartbeat and
 * the agent can judge its own live probe with the same rules.
 *
 * Checks that need the node's files or SQL (archive-ready, slots, missing-slots,
 * data-directory-config, replication-config-owner) are not in a heartbeat; asked for remotely they
 * are UNKNOWN with a hint to run the agent's local check.
 */
import { ExitCode } from './exit-codes.js';
import type { ClusterSettings, NodeRecord, ServerState } from './model.js';
import { formatAge, type NodeObservation } from './node-status.js';

export type CheckStatus = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
  /** Nagios performance data (`lag=3;300;600`), when the check measures something. */
  perfdata?: string;
}

export interface CheckDefinition {
  /** The command-line option of the single check (`--replication-lag`). */
  option: string;
  label: string;
  nagios: string;
  /** Whether a heartbeat carries what the check needs. */
  remote: boolean;
}

/** repmgr's checks in repmgr's order, then pgvigil's own. */
export const CHECKS: readonly CheckDefinition[] = [
  { option: 'role', label: 'Server role', nagios: 'REPMGR_SERVER_ROLE', remote: true },
  { option: 'replication-lag', label: 'Replication lag', nagios: 'REPMGR_REPLICATION_LAG', remote: true },
  { option: 'archive-ready', label: 'WAL archiving', nagios: 'REPMGR_ARCHIVE_READY', remote: false },
  { option: 'upstream', label: 'Upstream connection', nagios: 'REPMGR_UPSTREAM_SERVER', remote: true },
  { option: 'downstream', label: 'Downstream servers', nagios: 'REPMGR_DOWNSTREAM_SERVERS', remote: true },
  { option: 'slots', label: 'Replication slots', nagios: 'REPMGR_INACTIVE_SLOTS', remote: false },
  { option: 'missing-slots', label: 'Missing physical replication slots', nagios: 'REPMGR_MISSING_SLOTS', remote: false },
  { option: 'data-directory-config', label: 'Configured data directory', nagios: 'REPMGR_DATA_DIRECTORY', remote: false },
  { option: 'replication-config-owner', label: 'Replication configuration file owner', nagios: 'REPMGR_REPLICATION_CONFIG_OWNER', remote: false },
  { option: 'db-connection', label: 'Database connection', nagios: 'REPMGR_DB_CONNECTION', remote: true },
  { option: 'data-directory-writable', label: 'Data directory writable', nagios: 'PGVIGIL_DATA_DIRECTORY_WRITABLE', remote: true },
  { option: 'agent', label: 'Agent heartbeat', nagios: 'PGVIGIL_AGENT', remote: true },
];

/** The checks a node runs on itself (`pgvigil-agent node check`): all but the agent's heartbeat, which others judge. */
export const LOCAL_CHECKS: readonly CheckDefinition[] = CHECKS.filter((d) => d.option !== 'agent');

export const NAGIOS_EXIT: Record<CheckStatus, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export function worstStatus(statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((w, s) => (NAGIOS_EXIT[s] > NAGIOS_EXIT[w] ? s : w), 'OK');
}

/**
 * How `node check` exits (docs/cli.md): a single check, and any `--nagios` output, with the Nagios code
 * of the worst status (0-3); the full check 0 when every check is OK, else ERR_NODE_STATUS (25).
 */
export function nodeCheckExitCode(worst: CheckStatus, nagiosCodes: boolean): number {
  if (nagiosCodes) return NAGIOS_EXIT[worst];
  return worst === 'OK' ? ExitCode.SUCCESS : ExitCode.ERR_NODE_STATUS;
}

/** What the checks need of a node record (the agent's local check may run on an unregistered node). */
export type CheckedNode = Pick<NodeRecord, 'node_id' | 'node_name' | 'type' | 'upstream_node_id'>;

const unknownNoServer: CheckOutcome = { status: 'UNKNOWN', detail: 'no report of the local server' };

/** `node` is null when the node is not registered (or the cluster state could not be read). */
export function roleCheck(node: CheckedNode | null, server: ServerState | null): CheckOutcome {
  if (node?.type === 'witness') return { status: 'OK', detail: 'node is witness' };
  if (!server?.accepting_connections || server.in_recovery === null) return { status: 'UNKNOWN', detail: 'the server is not accepting connections' };
  const actual = server.in_recovery ? 'standby' : 'primary';
  if (node === null) return { status: 'UNKNOWN', detail: `node is ${actual} but not registered (or the cluster state is unreachable)` };
  return node.type === actual
    ? { status: 'OK', detail: `node is ${actual}` }
    : { status: 'CRITICAL', detail: `node is registered as ${node.type} but running as ${actual}` };
}

export function replicationLagCheck(
  node: CheckedNode,
  server: ServerState | null,
  thresholds: Pick<ClusterSettings, 'replication_lag_warning' | 'replication_lag_critical'>,
): CheckOutcome {
  if (node.type === 'witness') return { status: 'OK', detail: 'N/A - node is witness' };
  if (!server?.accepting_connections || server.in_recovery === null) return { status: 'UNKNOWN', detail: 'the server is not accepting connections' };
  if (!server.in_recovery) return { status: 'OK', detail: 'N/A - node is primary' };
  const lag = server.replication_lag_secs;
  if (lag === null || lag === undefined) return { status: 'UNKNOWN', detail: 'replication lag not known (no transaction replayed yet, or an agent that does not measure it)' };
  const secs = Math.round(lag);
  const status: CheckStatus = secs >= thresholds.replication_lag_critical ? 'CRITICAL' : secs >= thresholds.replication_lag_warning ? 'WARNING' : 'OK';
  return {
    status,
    detail: `${secs} seconds`,
    perfdata: `lag=${secs};${thresholds.replication_lag_warning};${thresholds.replication_lag_critical}`,
  };
}

export function upstreamCheck(node: CheckedNode, server: ServerState | null, nodes: readonly NodeRecord[]): CheckOutcome {
  if (node.type === 'witness') return { status: 'OK', detail: 'N/A - node is witness' };
  if (!server?.accepting_connections || server.in_recovery === null) return { status: 'UNKNOWN', detail: 'the server is not accepting connections' };
  if (!server.in_recovery) return { status: 'OK', detail: 'N/A - node is primary' };
  const name = (id: number | null): string => {
    const n = nodes.find((x) => x.node_id === id);
    return n ? `"${n.node_name}" (ID: ${n.node_id})` : `(ID: ${id ?? 'unknown'})`;
  };
  const expected = node.upstream_node_id;
  if (server.wal_receiver_status !== 'streaming') {
    return { status: 'CRITICAL', detail: `node "${node.node_name}" (ID: ${node.node_id}) is not attached to its upstream node${expected === null ? '' : ` ${name(expected)}`}` };
  }
  const actual = server.wal_receiver_upstream_node_id;
  if (expected !== null && actual !== null && actual !== expected) {
    return { status: 'CRITICAL', detail: `node "${node.node_name}" (ID: ${node.node_id}) streams from node ${name(actual)}, its registered upstream is node ${name(expected)}` };
  }
  return { status: 'OK', detail: `node "${node.node_name}" (ID: ${node.node_id}) is attached to expected upstream node${expected === null ? '' : ` ${name(expected)}`}` };
}

export function downstreamCheck(node: CheckedNode, server: ServerState | null, nodes: readonly NodeRecord[]): CheckOutcome {
  const expected = nodes.filter((n) => n.active && n.type === 'standby' && n.upstream_node_id === node.node_id);
  if (expected.length === 0) return { status: 'OK', detail: 'this node has no downstream nodes' };
  if (!server?.accepting_connections) return { status: 'UNKNOWN', detail: 'the server is not accepting connections' };
  const attached = new Set(server.replication.filter((r) => r.state === 'streaming').map((r) => r.application_name));
  const missing = expected.filter((n) => !attached.has(n.node_name));
  if (missing.length > 0) {
    return {
      status: 'CRITICAL',
      detail: `${missing.length} of ${expected.length} downstream nodes not attached; missing: ${missing.map((n) => `${n.node_name} (ID: ${n.node_id})`).join(', ')}`,
    };
  }
  return { status: 'OK', detail: `${expected.length} of ${expected.length} downstream nodes attached` };
}

export function dbConnectionCheck(node: CheckedNode, server: ServerState | null): CheckOutcome {
  if (server === null) return node.type === 'witness' ? { status: 'OK', detail: 'N/A - witness without PostgreSQL' } : unknownNoServer;
  if (server.accepting_connections) return { status: 'OK', detail: 'the agent connected to the local server' };
  return { status: 'CRITICAL', detail: server.postmaster_running ? 'the server is running but not accepting connections' : 'the server is not running' };
}

export function dataDirectoryWritableCheck(node: CheckedNode, server: ServerState | null): CheckOutcome {
  if (server === null) return node.type === 'witness' ? { status: 'OK', detail: 'N/A - witness without PostgreSQL' } : unknownNoServer;
  if (server.data_directory_writable === null) return { status: 'UNKNOWN', detail: 'the agent does not report it' };
  return server.data_directory_writable
    ? { status: 'OK', detail: 'the data directory is writable' }
    : { status: 'CRITICAL', detail: 'the data directory is not writable' };
}

export function agentCheck(obs: NodeObservation): CheckOutcome {
  if (obs.heartbeat === null || obs.age_ms === null) return { status: 'CRITICAL', detail: 'the agent has never sent a heartbeat' };
  if (obs.skewed) return { status: 'CRITICAL', detail: obs.reason ?? 'the heartbeat comes from the future' };
  const age = Math.max(0, Math.floor(obs.age_ms / 1000));
  return obs.fresh
    ? { status: 'OK', detail: `last heartbeat ${formatAge(obs.age_ms)} ago`, perfdata: `age=${age}s` }
    : { status: 'CRITICAL', detail: `last heartbeat ${formatAge(obs.age_ms)} ago (agent not running?)`, perfdata: `age=${age}s` };
}

/** One check of a node, judged from its latest heartbeat. */
export function heartbeatCheck(option: string, obs: NodeObservation, nodes: readonly NodeRecord[], settings: ClusterSettings): CheckOutcome {
  const def = CHECKS.find((d) => d.option === option);
  if (!def) return { status: 'UNKNOWN', detail: `unknown check "${option}"` };
  if (!def.remote) {
    return { status: 'UNKNOWN', detail: `not reported in heartbeats; run "pgvigil node check --${option}" on the node itself` };
  }
  if (option === 'agent') return agentCheck(obs);
  if (!obs.fresh) return { status: 'UNKNOWN', detail: `no fresh heartbeat: ${obs.reason ?? 'stale'}` };
  const server = obs.heartbeat?.server ?? null;
  switch (option) {
    case 'role':
      return roleCheck(obs.node, server);
    case 'replication-lag':
      return replicationLagCheck(obs.node, server, settings);
    case 'upstream':
      return upstreamCheck(obs.node, server, nodes);
    case 'downstream':
      return downstreamCheck(obs.node, server, nodes);
    case 'db-connection':
      return dbConnectionCheck(obs.node, server);
    case 'data-directory-writable':
      return dataDirectoryWritableCheck(obs.node, server);
    default:
      return { status: 'UNKNOWN', detail: `unknown check "${option}"` };
  }
}
