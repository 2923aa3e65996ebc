/**
 * `service status` (pure): repmgr's `ID | Name | Role | Status | Upstream | repmgrd | PID | Paused? |
 * Upstream last seen`, where repmgrd becomes the pgvigil agent (running = its heartbeat is fresh)
 * and PID becomes the agent's version.
 */
import { clusterShowModel, formatAge, latestCheck, observeCluster } from '../../core/node-status.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { csvLine, renderTable } from './table.js';
import { heartbeatAgeText } from './cluster-show.js';

export interface ServiceStatusRow {
  node_id: number;
  node_name: string;
  role: string;
  status: string;
  upstream: string;
  /** `running` (fresh heartbeat), `not running` (stale or future), `never seen`. */
  agent: 'running' | 'not running' | 'never seen';
  agent_version: string | null;
  paused: boolean;
  heartbeat_age_ms: number | null;
  /** Time since the node's agent last reached its upstream, on the agent's own clock; null when n/a. */
  upstream_last_seen_ms: number | null;
}

export interface ServiceStatusModel {
  cluster_id: string;
  paused: boolean;
  term: number;
  operation: { kind: string; step: string } | null;
  rows: ServiceStatusRow[];
  /** Active nodes whose agent is not running: exit code 25. */
  issues: string[];
}

export function serviceStatusModel(snapshot: ClusterSnapshot, now: number): ServiceStatusModel {
  const show = clusterShowModel(snapshot, now);
  const obs = observeCluster(snapshot, now);
  const paused = snapshot.cluster.paused;
  const issues: string[] = [];
  const rows = obs.map((o, i): ServiceStatusRow => {
    const shown = show.rows[i];
    const agent = o.heartbeat === null ? 'never seen' : o.fresh ? 'running' : 'not running';
    if (agent !== 'running' && o.node.active) {
      issues.push(`the agent of node "${o.node.node_name}" (ID: ${o.node.node_id}) is not running: ${o.reason ?? 'no fresh heartbeat'}`);
    }
    let upstreamSeen: number | null = null;
    if (o.node.upstream_node_id !== null && o.heartbeat) {
      const check = latestCheck(o.heartbeat, o.node.upstream_node_id);
      // Measured on the agent's clock (send time minus last success), plus how old the report is.
      if (check?.last_ok_at != null) upstreamSeen = Math.max(0, o.heartbeat.sent_at - check.last_ok_at) + Math.max(0, o.age_ms ?? 0);
    }
    return {
      node_id: o.node.node_id,
      node_name: o.node.node_name,
      role: o.node.type,
      status: shown?.status ?? '',
      upstream: shown?.upstream ?? '',
      agent,
      agent_version: o.heartbeat?.agent_version ?? null,
      paused,
      heartbeat_age_ms: o.age_ms,
      upstream_last_seen_ms: upstreamSeen,
    };
  });
  const op = snapshot.cluster.operation;
  return {
    cluster_id: snapshot.cluster.cluster_id,
    paused,
    term: snapshot.cluster.term,
    operation: op ? { kind: op.kind, step: op.step } : null,
    rows,
    issues,
  };
}

export function renderServiceStatusTable(model: ServiceStatusModel): string[] {
  return renderTable(
    [
      { title: 'ID' },
      { title: 'Name' },
      { title: 'Role' },
      { title: 'Status' },
      { title: 'Upstream' },
      { title: 'Agent' },
      { title: 'Version' },
      { title: 'Paused?' },
      { title: 'Last heartbeat' },
      { title: 'Upstream last seen' },
    ],
    model.rows.map((r) => [
      String(r.node_id),
      r.node_name,
      r.role,
      r.status,
      r.upstream,
      r.agent,
      r.agent_version ?? 'n/a',
      r.paused ? 'yes' : 'no',
      heartbeatAgeText(r.heartbeat_age_ms),
      r.upstream_last_seen_ms === null ? 'n/a' : `${formatAge(r.upstream_last_seen_ms)} ago`,
    ]),
  );
}

/** `node_id,node_name,role,agent_running(1|0),paused(1|0),heartbeat_age_secs,upstream_last_seen_secs` (-1 = n/a). */
export function renderServiceStatusCsv(model: ServiceStatusModel): string[] {
  const secs = (ms: number | null): number => (ms === null ? -1 : Math.floor(ms / 1000));
  return model.rows.map((r) =>
    csvLine([r.node_id, r.node_name, r.role, r.agent === 'running' ? 1 : 0, r.paused ? 1 : 0, secs(r.heartbeat_age_ms), secs(r.upstream_last_seen_ms)]),
  );
}
