/** `node check` and `node status` rendering for a node judged from its heartbeat (pure). */
import type { CheckDefinition, CheckOutcome, CheckStatus } from '../../core/node-checks.js';
import { formatAge, prettyBytes, type ClusterShowRow, type NodeObservation } from '../../core/node-status.js';
import type { NodeRecord } from '../../core/model.js';

export interface CheckResult {
  def: CheckDefinition;
  outcome: CheckOutcome;
}

const q = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** A single check: `OK (0 seconds)`, `REPMGR_REPLICATION_LAG OK: 0 seconds | lag=0;300;600`, or CSV. */
export function renderSingleCheck(r: CheckResult, format: 'text' | 'nagios' | 'csv'): string {
  if (format === 'nagios') return `${r.def.nagios} ${r.outcome.status}: ${r.outcome.detail}${r.outcome.perfdata ? ` | ${r.outcome.perfdata}` : ''}`;
  if (format === 'csv') return `${q(r.def.label)},${q(r.outcome.status)},${q(r.outcome.detail)}`;
  return `${r.outcome.status} (${r.outcome.detail})`;
}

/** Every check, as repmgr prints them (`Node "node1":` and one tab-indented line each). */
export function renderAllChecks(node: Pick<NodeRecord, 'node_name' | 'node_id'>, results: readonly CheckResult[], format: 'text' | 'nagios' | 'csv', worst: CheckStatus): string[] {
  if (format === 'nagios') return [`REPMGR_NODE ${worst}: ${results.map((r) => `${r.def.nagios}=${r.outcome.status}`).join(', ')}`];
  if (format === 'csv') {
    return [`"Node name",${q(node.node_name)}`, `"Node ID","${node.node_id}"`, ...results.map((r) => renderSingleCheck(r, 'csv'))];
  }
  return [`Node "${node.node_name}":`, ...results.map((r) => `\t${r.def.label}: ${r.outcome.status} (${r.outcome.detail})`)];
}

/** `node status` facts of a node from its latest heartbeat, in order. */
export function nodeStatusFacts(obs: NodeObservation, row: ClusterShowRow, nodes: readonly NodeRecord[]): Array<[string, string]> {
  const server = obs.heartbeat?.server ?? null;
  const name = (id: number | null): string => {
    const n = nodes.find((x) => x.node_id === id);
    return id === null ? '(none)' : n ? `${n.node_name} (ID: ${n.node_id})` : `(ID: ${id})`;
  };
  const facts: Array<[string, string]> = [
    ['Role', obs.node.type],
    ['Status', row.status.trim()],
    ['Active', obs.node.active ? 'yes' : 'no'],
    ['Fenced', obs.fenced ? 'yes' : 'no'],
    ['Conninfo', row.conninfo],
    ['Location', obs.node.location],
    ['Priority', String(obs.node.priority)],
    ['Instance', obs.node.instance_id ?? '(none)'],
  ];
  if (obs.node.type !== 'primary') facts.push(['Upstream node', name(obs.node.upstream_node_id)]);
  facts.push([
    'Agent',
    obs.heartbeat === null
      ? 'never reported'
      : `${obs.heartbeat.agent_version}, last heartbeat ${obs.age_ms !== null && obs.age_ms < 0 ? `${formatAge(-obs.age_ms)} in the future` : `${formatAge(obs.age_ms ?? 0)} ago`}${obs.fresh ? '' : ' (not fresh)'}`,
  ]);
  if (server) {
    facts.push(['PostgreSQL', server.postmaster_running ? (server.accepting_connections ? 'running' : 'running, not accepting connections') : 'not running']);
    facts.push(['Recovery', server.in_recovery === null ? 'unknown' : server.in_recovery ? 'in recovery (standby)' : 'not in recovery (primary)']);
    facts.push(['Timeline', server.timeline === null ? '?' : String(server.timeline)]);
    facts.push(['System identifier', server.system_identifier ?? '?']);
    if (server.in_recovery) {
      facts.push(['WAL receiver', server.wal_receiver_status ?? 'not running']);
      if (server.wal_receiver_upstream_node_id !== null) facts.push(['Streaming from', name(server.wal_receiver_upstream_node_id)]);
      facts.push(['Last received LSN', server.receive_lsn ?? '(none)']);
      facts.push(['Last replayed LSN', server.replay_lsn ?? '(none)']);
      const secs = server.replication_lag_secs;
      const lag = [secs === null || secs === undefined ? null : `${Math.round(secs)} seconds`, row.lag_bytes === null ? null : prettyBytes(row.lag_bytes)].filter((x) => x !== null);
      facts.push(['Replication lag', lag.length > 0 ? lag.join(', ') : 'n/a']);
    } else if (server.in_recovery === false) {
      facts.push(['Current LSN', server.current_lsn ?? '?']);
      facts.push(['Replication connections', `${server.replication.length}${server.replication.length > 0 ? ` (${server.replication.map((r) => `${r.application_name}: ${r.state}, ${r.sync_state}`).join('; ')})` : ''}`]);
      facts.push(['Synchronous standby names', server.synchronous_standby_names || '(none)']);
      facts.push(['Replication lag', 'n/a']);
    }
    facts.push(['Data directory writable', server.data_directory_writable === null ? 'unknown' : server.data_directory_writable ? 'yes' : 'no']);
  } else if (obs.heartbeat) {
    facts.push(['PostgreSQL', obs.node.type === 'witness' ? 'none (witness)' : 'not reported']);
  }
  const checks = obs.heartbeat?.reachability ?? [];
  for (const r of checks) {
    facts.push([`Reaches ${name(r.node_id)}`, r.ok ? 'yes' : `no (${r.failures} failed checks${r.last_ok_at === null ? '' : `, last success ${formatAge(Math.max(0, (obs.heartbeat?.sent_at ?? r.checked_at) - r.last_ok_at))} before the heartbeat`})`]);
  }
  return facts;
}

export function renderNodeStatus(node: NodeRecord, facts: Array<[string, string]>, format: 'text' | 'csv'): string[] {
  if (format === 'csv') return [`"Node name",${q(node.node_name)}`, `"Node ID","${node.node_id}"`, ...facts.map(([k, v]) => `${q(k)},${q(v)}`)];
  return [`Node "${node.node_name}":`, ...facts.map(([k, v]) => `\t${k}: ${v}`)];
}
