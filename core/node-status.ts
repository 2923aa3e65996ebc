/**
 * What `cluster show`, `node status`, `node check` and `service status` say about each node, computed
 * from node records, heartbeats and the cluster record instead of repmgr's direct connections
 * (docs/cli.md). Pure: the caller passes its clock.
 *
 * repmgr decides a node's status from one connection attempt made by the host running the command:
 * up (connected; `pg_is_in_recovery()` tells primary from standby), rejected (the server answers but
 * refuses the session) or down. pgvigil decides from the node's own agent's latest heartbeat:
 *
 * | heartbeat                                   | state      | repmgr analogue      |
 * |---------------------------------------------|------------|----------------------|
 * | fresh, server accepting connections         | `up`       | NODE_STATUS_UP       |
 * | fresh, postmaster running, not accepting    | `rejected` | NODE_STATUS_REJECTED |
 * | fresh, postmaster not running               | `down`     | NODE_STATUS_DOWN     |
 * | none, stale, or from the future (bad clock) | `silent`   | NODE_STATUS_DOWN     |
 *
 * A witness without PostgreSQL is `up` while its agent's heartbeat is fresh.
 */
import { parseLsn } from './lsn.js';
import type { ClusterSettings, ClusterSnapshot, Heartbeat, NodeRecord } from './model.js';
import { stripPassword } from './conninfo.js';

export type NodeState = 'up' | 'rejected' | 'down' | 'silent';
export type RecoveryType = 'primary' | 'standby' | 'unknown';

/** One registered node and what its latest heartbeat says, judged at `now`. */
export interface NodeObservation {
  node: NodeRecord;
  /** The latest heartbeat (highest seq), fresh or not; null when the agent never sent one. */
  heartbeat: Heartbeat | null;
  /** Sent within `node_timeout_secs` of `now`, allowing `clock_skew_margin_ms`, and not from the future. */
  fresh: boolean;
  /** Sent further in the future than `clock_skew_margin_ms`: the node's clock is wrong. */
  skewed: boolean;
  /** `now` minus the heartbeat's send time (negative: from the future); null without a heartbeat. */
  age_ms: number | null;
  state: NodeState;
  /** From `pg_is_in_recovery()` as reported; `unknown` unless the state is `up`. */
  recovery: RecoveryType;
  /** The node record or the agent says the node is fenced. */
  fenced: boolean;
  /** Why the node is not `up`, in words (null when it is). */
  reason: string | null;
}

/** The latest heartbeat per node: highest seq, then latest send time. */
export function latestHeartbeats(snapshot: ClusterSnapshot): Map<number, Heartbeat> {
  const latest = new Map<number, Heartbeat>();
  for (const hb of snapshot.heartbeats) {
    if (hb.cluster_id !== snapshot.cluster.cluster_id) continue;
    const seen = latest.get(hb.node_id);
    if (!seen || hb.seq > seen.seq || (hb.seq === seen.seq && hb.sent_at > seen.sent_at)) latest.set(hb.node_id, hb);
  }
  return latest;
}

export function observeNode(node: NodeRecord, heartbeat: Heartbeat | null, settings: ClusterSettings, now: number): NodeObservation {
  const margin = settings.clock_skew_margin_ms;
  const timeoutMs = settings.node_timeout_secs * 1000;
  const age = heartbeat ? now - heartbeat.sent_at : null;
  const skewed = age !== null && age < -margin;
  const fresh = age !== null && !skewed && age <= timeoutMs + margin;
  const server = heartbeat?.server ?? null;
  const fenced = node.fenced || (server?.fenced ?? false);
  const base = { node, heartbeat, fresh, skewed, age_ms: age, fenced };
  if (!heartbeat || age === null) return { ...base, state: 'silent', recovery: 'unknown', reason: 'its agent has never sent a heartbeat' };
  if (skewed) {
    return {
      ...base,
      state: 'silent',
      recovery: 'unknown',
      reason: `its heartbeat was sent ${formatAge(-age)} in the future (clock_skew_margin_ms=${margin}): its clock is wrong`,
    };
  }
  if (!fresh) {
    return {
      ...base,
      state: 'silent',
      recovery: 'unknown',
      reason: `no heartbeat for ${formatAge(age)} (node_timeout_secs=${settings.node_timeout_secs})`,
    };
  }
  if (server === null) {
    if (node.type === 'witness') return { ...base, state: 'up', recovery: 'unknown', reason: null };
    return { ...base, state: 'down', recovery: 'unknown', reason: 'its agent reports no local PostgreSQL server' };
  }
  if (!server.postmaster_running) {
    return { ...base, state: 'down', recovery: 'unknown', reason: 'its agent reports that PostgreSQL is not running' };
  }
  if (!server.accepting_connections) {
    return { ...base, state: 'rejected', recovery: 'unknown', reason: 'PostgreSQL is running but not accepting connections' };
  }
  const recovery: RecoveryType = server.in_recovery === true ? 'standby' : server.in_recovery === false ? 'primary' : 'unknown';
  return { ...base, state: 'up', recovery, reason: null };
}

/** Every registered node of the snapshot, observed at `now`, ordered by node_id. */
export function observeCluster(snapshot: ClusterSnapshot, now: number): NodeObservation[] {
  const latest = latestHeartbeats(snapshot);
  const seen = new Set<number>();
  const out: NodeObservation[] = [];
  for (const node of [...snapshot.nodes].sort((a, b) => a.node_id - b.node_id)) {
    if (node.cluster_id !== snapshot.cluster.cluster_id || seen.has(node.node_id)) continue;
    seen.add(node.node_id);
    out.push(observeNode(node, latest.get(node.node_id) ?? null, snapshot.cluster.settings, now));
  }
  return out;
}

/** `node "node1" (ID: 1)`, as repmgr names nodes in its messages. */
export function nodeLabel(node: Pick<NodeRecord, 'node_name' | 'node_id'>): string {
  return `node "${node.node_name}" (ID: ${node.node_id})`;
}

/**
 * repmgr's status marker for a node (repmgr-action-cluster.c), with pgvigil's `(fenced)` suffix.
 * Returns the marker and the issue it raises, if any.
 */
export function statusMarker(obs: NodeObservation): { status: string; issue: string | null } {
  const { node, state, recovery } = obs;
  const who = nodeLabel(node);
  const active = node.active;
  let status: string;
  let issue: string | null = null;
  if (node.type === 'witness') {
    if (state === 'up') {
      status = active ? '* running' : '! running';
      if (!active) issue = `${who} is running but the node record is inactive`;
    } else if (state === 'rejected') {
      status = active ? '? rejected' : '! failed';
      issue = `${who} is a witness whose server does not accept connections`;
    } else {
      status = active ? '? unreachable' : '- failed';
      if (active) issue = `${who} is registered as an active witness but is unreachable`;
    }
  } else if (state === 'up') {
    const expected: RecoveryType = node.type;
    const other: RecoveryType = node.type === 'primary' ? 'standby' : 'primary';
    if (active) {
      if (recovery === expected) status = node.type === 'primary' ? '* running' : '  running';
      else if (recovery === other) {
        status = `! running as ${other}`;
        issue = `${who} is registered as ${node.type} but running as ${other}`;
      } else {
        status = '! unknown';
        issue = `${who} has unknown replication status`;
      }
    } else if (recovery === expected) {
      status = '! running';
      issue = `${who} is running but the node record is inactive`;
    } else {
      status = `! running as ${other}`;
      issue =
        node.type === 'primary'
          ? `${who} is registered as an inactive primary but running as standby`
          : `${who} is running as primary but the node record is inactive`;
    }
  } else if (state === 'rejected') {
    status = active ? '? running' : '! running';
    issue = `${who} is running but does not accept connections`;
  } else if (active) {
    status = '? unreachable';
    issue = `${who} is registered as an active ${node.type} but is unreachable`;
  } else {
    status = '- failed';
  }
  if (obs.fenced) status += ' (fenced)';
  return { status, issue };
}

/**
 * The Upstream column: the upstream's name with repmgr's `?` (unknown) and `!` (not attached)
 * prefixes. The issue may hold several lines, one issue each (repmgr's wording).
 */
export function upstreamCell(obs: NodeObservation, byId: ReadonlyMap<number, NodeObservation>): { text: string; issue: string | null } {
  const { node } = obs;
  const notUp = obs.state !== 'up';
  if (node.upstream_node_id === null) return { text: notUp && node.active ? '?' : '', issue: null };
  const upstream = byId.get(node.upstream_node_id);
  const name = upstream ? upstream.node.node_name : `(ID: ${node.upstream_node_id})`;
  const upLabel = upstream ? nodeLabel(upstream.node) : `node ID ${node.upstream_node_id}`;
  const who = nodeLabel(node);
  if (!upstream) return { text: `! ${name}`, issue: `the upstream of ${who} (node ID ${node.upstream_node_id}) is not registered` };
  if (notUp) return { text: node.active ? `? ${name}` : name, issue: null };
  if (node.type === 'witness') {
    const check = latestCheck(obs.heartbeat, upstream.node.node_id);
    if (check && !check.ok) return { text: `? ${name}`, issue: `unable to connect to ${who}'s upstream ${upLabel}` };
    return { text: name, issue: null };
  }
  if (obs.recovery !== 'standby') return { text: `! ${name}`, issue: null };
  const server = obs.heartbeat?.server ?? null;
  const streaming = server?.wal_receiver_status === 'streaming';
  const from = server?.wal_receiver_upstream_node_id ?? null;
  if (streaming && from === upstream.node.node_id) return { text: name, issue: null };
  if (streaming && from !== null) {
    const actual = byId.get(from);
    return {
      text: `! ${name}`,
      issue: `${who} is not attached to its upstream ${upLabel}; it streams from ${actual ? nodeLabel(actual.node) : `node ID ${from}`}`,
    };
  }
  if (streaming && attachedPerUpstream(upstream, node)) return { text: name, issue: null };
  if (upstream.state !== 'up') {
    return {
      text: `? ${name}`,
      issue: `unable to connect to ${who}'s upstream ${upLabel}\nunable to determine if ${who} is attached to its upstream ${upLabel}`,
    };
  }
  if (streaming) return { text: `? ${name}`, issue: `unable to determine if ${who} is attached to its upstream ${upLabel}` };
  return { text: `! ${name}`, issue: `${who} is not attached to its upstream ${upLabel}` };
}

/** The upstream's `pg_stat_replication` lists the node (by application_name) as streaming. */
function attachedPerUpstream(upstream: NodeObservation, node: NodeRecord): boolean {
  const rows = upstream.heartbeat?.server?.replication ?? [];
  return rows.some((r) => r.application_name === node.node_name && r.state === 'streaming');
}

/** A heartbeat's latest check of `targetId`, or null. */
export function latestCheck(heartbeat: Heartbeat | null, targetId: number): Heartbeat['reachability'][number] | null {
  let best: Heartbeat['reachability'][number] | null = null;
  for (const r of heartbeat?.reachability ?? []) if (r.node_id === targetId && (!best || r.checked_at > best.checked_at)) best = r;
  return best;
}

/** Bytes a standby's replay (else receive) position is behind the primary's last reported position. */
export function lagBytes(standby: NodeObservation, primary: NodeObservation | undefined): number | null {
  const mine = standby.heartbeat?.server?.replay_lsn ?? standby.heartbeat?.server?.receive_lsn ?? null;
  const theirs = primary?.heartbeat?.server?.current_lsn ?? null;
  if (standby.recovery !== 'standby' || mine === null || theirs === null) return null;
  const d = parseLsn(theirs) - parseLsn(mine);
  return d > 0n ? Number(d) : 0;
}

/** One row of `cluster show`. */
export interface ClusterShowRow {
  node_id: number;
  node_name: string;
  role: NodeRecord['type'];
  status: string;
  upstream: string;
  location: string;
  priority: number;
  /** Reported timeline while the node is up, else null (repmgr leaves it blank). */
  timeline: number | null;
  /** The node record's conninfo, never with a password. */
  conninfo: string;
  active: boolean;
  fenced: boolean;
  state: NodeState;
  recovery_type: RecoveryType;
  /** Bytes behind the primary's last reported WAL position (standbys). */
  lag_bytes: number | null;
  /** Seconds of replay lag as the standby's agent measures it. */
  lag_secs: number | null;
  heartbeat_age_ms: number | null;
  heartbeat_fresh: boolean;
  /** Why the node is not up (shown with --verbose). */
  reason: string | null;
  /** repmgr's `--csv`: 0 when the node is up, -1 otherwise. */
  connection_status: 0 | -1;
}

export interface ClusterShowModel {
  cluster_id: string;
  term: number;
  primary_node_id: number | null;
  paused: boolean;
  operation: { kind: string; step: string; term: number; candidate_node_id: number | null } | null;
  rows: ClusterShowRow[];
  /** repmgr's "following issues were detected" list: any entry means exit code 25. */
  issues: string[];
  /** Risks that are not a node's state (two nodes without witness): warned, exit code unaffected. */
  warnings: string[];
  notices: string[];
}

export interface RejectedHeartbeatInfo {
  node_id: number | null;
  errors: string[];
}

export function clusterShowModel(snapshot: ClusterSnapshot, now: number, rejected: readonly RejectedHeartbeatInfo[] = []): ClusterShowModel {
  const obs = observeCluster(snapshot, now);
  const byId = new Map(obs.map((o) => [o.node.node_id, o]));
  const cluster = snapshot.cluster;
  const primary = cluster.primary_node_id === null ? undefined : byId.get(cluster.primary_node_id);
  const issues: string[] = [];
  const warnings: string[] = [];
  const notices: string[] = [];
  const rows: ClusterShowRow[] = [];
  for (const o of obs) {
    const marker = statusMarker(o);
    const upstream = upstreamCell(o, byId);
    if (marker.issue) issues.push(marker.issue);
    if (upstream.issue) issues.push(...upstream.issue.split('\n'));
    if (o.skewed && o.reason) issues.push(`${nodeLabel(o.node)}: ${o.reason}`);
    if (o.state === 'up' && o.heartbeat?.server?.data_directory_writable === false) {
      issues.push(`the data directory of ${nodeLabel(o.node)} is not writable`);
    }
    const server = o.heartbeat?.server ?? null;
    rows.push({
      node_id: o.node.node_id,
      node_name: o.node.node_name,
      role: o.node.type,
      status: marker.status,
      upstream: upstream.text,
      location: o.node.location,
      priority: o.node.priority,
      timeline: o.state === 'up' ? (server?.timeline ?? null) : null,
      conninfo: stripPassword(o.node.conninfo),
      active: o.node.active,
      fenced: o.fenced,
      state: o.state,
      recovery_type: o.recovery,
      lag_bytes: o.node.type === 'standby' && o.state === 'up' ? lagBytes(o, primary) : null,
      lag_secs: o.node.type === 'standby' && o.state === 'up' ? (server?.replication_lag_secs ?? null) : null,
      heartbeat_age_ms: o.age_ms,
      heartbeat_fresh: o.fresh,
      reason: o.reason,
      connection_status: o.state === 'up' ? 0 : -1,
    });
  }
  for (const r of rejected) {
    issues.push(
      `a heartbeat stored for ${r.node_id === null ? 'an unknown node' : `node ID ${r.node_id}`} was rejected: ${r.errors.join('; ')}`,
    );
  }
  if (cluster.primary_node_id !== null && !primary) {
    issues.push(`the cluster record names node ID ${cluster.primary_node_id} as primary, but no such node is registered`);
  } else if (primary && primary.node.type !== 'primary') {
    issues.push(`the cluster's primary in term ${cluster.term} is ${nodeLabel(primary.node)}, but its node record says ${primary.node.type}`);
  }
  const activeData = obs.filter((o) => o.node.active && o.node.type !== 'witness');
  const witnesses = obs.filter((o) => o.node.active && o.node.type === 'witness');
  if (activeData.length === 2 && witnesses.length === 0) {
    warnings.push(
      `cluster "${cluster.cluster_id}" has one primary and one standby and no witness: a failover can only be decided on the primary's lease; register a witness in a third location`,
    );
  }
  for (const o of obs) {
    const pending = o.heartbeat?.server?.pending_restart ?? [];
    if (o.state === 'up' && pending.length > 0) {
      notices.push(`${nodeLabel(o.node)} has settings waiting for a restart: ${pending.slice(0, 10).join(', ')}${pending.length > 10 ? ` and ${pending.length - 10} more` : ''}`);
    }
  }
  if (cluster.paused) notices.push(`cluster "${cluster.cluster_id}" is paused: the controller reports but does not act (see "pgvigil service unpause")`);
  if (cluster.operation) {
    const op = cluster.operation;
    notices.push(
      `a ${op.kind} is in progress (term ${op.term}, step "${op.step}"${op.candidate_node_id === null ? '' : `, candidate node ID ${op.candidate_node_id}`})`,
    );
  }
  return {
    cluster_id: cluster.cluster_id,
    term: cluster.term,
    primary_node_id: cluster.primary_node_id,
    paused: cluster.paused,
    operation: cluster.operation
      ? { kind: cluster.operation.kind, step: cluster.operation.step, term: cluster.operation.term, candidate_node_id: cluster.operation.candidate_node_id }
      : null,
    rows,
    issues,
    warnings,
    notices,
  };
}

/** "0 s", "42 s", "3 min 5 s", "2 h 3 min", "4 d 2 h". */
export function formatAge(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** PostgreSQL's pg_size_pretty: "0 bytes", "9000 bytes", "16 kB", "12 MB". */
export function prettyBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (unit < units.length - 1 && Math.abs(value) >= 10 * 1024 - 0.5) {
    value /= 1024;
    unit++;
  }
  return `${Math.round(value)} ${units[unit]}`;
}
