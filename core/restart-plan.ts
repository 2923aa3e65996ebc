/**
 * The plan of `pgvigil cluster restart --rolling [--pending]` (docs/operations.md, "Rolling
 * restart"): every standby (and a witness that runs PostgreSQL) restarted one at a time, then a
 * switchover to a healthy standby, then the old primary — which the switchover's demote already
 * stopped and its rejoin started, so it is only checked (and restarted only if it still holds
 * settings back). Pure: the CLI loads the snapshot, asks for the plan, and carries it out.
 */
import { PgvigilError } from './errors.js';
import type { ClusterSnapshot } from './model.js';
import { nodeLabel, observeCluster, type NodeObservation } from './node-status.js';

export interface RestartPlanOptions {
  /** Only nodes whose heartbeat reports `server.pending_restart` non-empty. */
  pending: boolean;
  /** The standby the switchover promotes; the best eligible one when absent. */
  candidateNodeId?: number | undefined;
}

export interface RestartTarget {
  node_id: number;
  node_name: string;
  instance_id: string;
  config_file: string | null;
  /** What the heartbeat reported waiting for a restart when the plan was made. */
  pending_restart: string[];
}

export type RestartStep =
  | { kind: 'restart'; role: 'standby' | 'witness'; node: RestartTarget }
  | { kind: 'switchover'; candidate: RestartTarget; old_primary: RestartTarget }
  /** The old primary after the switchover: it must stream from the new primary; restarted again only if settings are still pending. */
  | { kind: 'old_primary'; node: RestartTarget };

export interface RestartPlan {
  cluster_id: string;
  term: number;
  primary_node_id: number;
  steps: RestartStep[];
  /** Nodes left out, and why (inactive, nothing pending). */
  skipped: { node_id: number; reason: string }[];
}

function pendingOf(o: NodeObservation): string[] {
  return o.heartbeat?.server?.pending_restart ?? [];
}

/** Does the node run a PostgreSQL server of its own (a witness may not)? */
function runsPostgres(o: NodeObservation): boolean {
  return o.node.type !== 'witness' || (o.heartbeat?.server?.postmaster_running ?? false);
}

function target(o: NodeObservation): RestartTarget {
  if (!o.node.instance_id) {
    throw new PgvigilError('BAD_ARGUMENT', `${nodeLabel(o.node)} has no EC2 instance registered: SSM Run Command cannot reach it`, {
      detail: 'nothing was restarted',
      hint: 'register the node again on its instance ("standby register -F"), or restart it by hand there with "pgvigil node service --action restart"',
    });
  }
  return { node_id: o.node.node_id, node_name: o.node.node_name, instance_id: o.node.instance_id, config_file: o.node.config_file, pending_restart: pendingOf(o) };
}

/** A standby the switchover may promote: up, streaming from the primary, not fenced, priority > 0. */
function eligible(o: NodeObservation, primaryId: number): string | null {
  if (o.node.type !== 'standby') return 'is not a standby';
  if (o.node.priority <= 0) return 'has priority 0 (never a candidate)';
  if (o.fenced) return 'is fenced';
  if (o.state !== 'up' || o.recovery !== 'standby') return `is not a running standby (${o.reason ?? o.recovery})`;
  const server = o.heartbeat?.server;
  if (server?.wal_receiver_status !== 'streaming') return 'is not streaming';
  if (server.wal_receiver_upstream_node_id !== primaryId) return `does not stream from the primary (node ID ${primaryId})`;
  return null;
}

/**
 * The rolling restart of `snapshot` at `now`. Throws BAD_ARGUMENT (nothing changed) when it cannot
 * be carried out safely: no primary, an operation in flight, a node to restart that is not up or is
 * fenced, or a primary to restart with no standby to switch over to.
 */
export function planRollingRestart(snapshot: ClusterSnapshot, now: number, options: RestartPlanOptions): RestartPlan {
  const { cluster } = snapshot;
  const refuse = (message: string, hint?: string): never => {
    throw new PgvigilError('BAD_ARGUMENT', message, { detail: 'nothing was restarted', ...(hint ? { hint } : {}) });
  };
  if (cluster.primary_node_id === null) refuse(`cluster "${cluster.cluster_id}" has no primary`, 'a rolling restart keeps a primary serving: resolve the failover first');
  const primaryId = cluster.primary_node_id as number;
  if (cluster.operation) {
    refuse(`a ${cluster.operation.kind} is in progress (step "${cluster.operation.step}")`, 'wait until it has finished ("pgvigil cluster show")');
  }
  const all = observeCluster(snapshot, now);
  const primary = all.find((o) => o.node.node_id === primaryId);
  if (!primary) return refuse(`the cluster record names node ID ${primaryId} as primary, but no such node is registered`);
  if (primary.state !== 'up' || primary.recovery !== 'primary') {
    refuse(`the primary ${nodeLabel(primary.node)} is not serving (${primary.reason ?? primary.recovery})`, 'a rolling restart needs a healthy cluster to start from');
  }

  const skipped: RestartPlan['skipped'] = [];
  const chosen: NodeObservation[] = [];
  for (const o of all) {
    if (o.node.node_id === primaryId) continue;
    if (!o.node.active) {
      skipped.push({ node_id: o.node.node_id, reason: 'inactive' });
      continue;
    }
    if (!runsPostgres(o)) {
      skipped.push({ node_id: o.node.node_id, reason: 'a witness without a PostgreSQL server' });
      continue;
    }
    if (options.pending && pendingOf(o).length === 0) {
      skipped.push({ node_id: o.node.node_id, reason: 'no setting waits for a restart' });
      continue;
    }
    if (o.fenced) refuse(`${nodeLabel(o.node)} is fenced`, 'rejoin it first ("pgvigil node rejoin"), or restart it by hand');
    if (o.state !== 'up') refuse(`${nodeLabel(o.node)} is not up: ${o.reason ?? o.state}`, 'a rolling restart restarts only running nodes: bring it back first');
    chosen.push(o);
  }
  const restartPrimary = !options.pending || pendingOf(primary).length > 0;
  if (!restartPrimary) skipped.push({ node_id: primaryId, reason: 'no setting waits for a restart' });

  const steps: RestartStep[] = chosen.map((o) => ({ kind: 'restart', role: o.node.type === 'witness' ? 'witness' : 'standby', node: target(o) }));
  if (restartPrimary) {
    const standbys = all.filter((o) => o.node.node_id !== primaryId && o.node.active);
    let candidate: NodeObservation | undefined;
    if (options.candidateNodeId !== undefined) {
      candidate = all.find((o) => o.node.node_id === options.candidateNodeId);
      if (!candidate) return refuse(`no node with ID ${options.candidateNodeId} is registered`);
      const why = eligible(candidate, primaryId);
      if (why) refuse(`the candidate ${nodeLabel(candidate.node)} ${why}`);
    } else {
      // The highest priority, then the lowest node id: the same standby every time for the same cluster.
      candidate = standbys.filter((o) => eligible(o, primaryId) === null).sort((a, b) => b.node.priority - a.node.priority || a.node.node_id - b.node.node_id)[0];
      if (!candidate) {
        refuse(
          `no standby can take over from the primary ${nodeLabel(primary.node)}: ${standbys.map((o) => `${nodeLabel(o.node)} ${eligible(o, primaryId) ?? ''}`.trim()).join('; ') || 'there is none'}`,
          'restarting the primary without a switchover leaves the cluster without a primary: add or repair a standby first',
        );
      }
    }
    const c = candidate as NodeObservation;
    steps.push({ kind: 'switchover', candidate: target(c), old_primary: target(primary) }, { kind: 'old_primary', node: target(primary) });
  }
  return { cluster_id: cluster.cluster_id, term: cluster.term, primary_node_id: primaryId, steps, skipped };
}

/** One line per step, as printed by `--dry-run` and recorded in `cluster_restart_started`. */
export function describePlan(plan: RestartPlan): string[] {
  const name = (t: RestartTarget): string => `node "${t.node_name}" (ID: ${t.node_id})`;
  const pending = (t: RestartTarget): string => (t.pending_restart.length > 0 ? ` (pending: ${t.pending_restart.join(', ')})` : '');
  return plan.steps.map((s, i) => {
    const n = `${i + 1}.`;
    switch (s.kind) {
      case 'restart':
        return `${n} restart the ${s.role} ${name(s.node)}${pending(s.node)} and wait until it ${s.role === 'witness' ? 'accepts connections' : 'streams'} again`;
      case 'switchover':
        return `${n} switch over from ${name(s.old_primary)}${pending(s.old_primary)} to ${name(s.candidate)}`;
      case 'old_primary':
        return `${n} wait until the old primary ${name(s.node)} streams from the new primary (the switchover stops and restarts it)`;
    }
  });
}
