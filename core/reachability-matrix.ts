/**
 * `cluster matrix` and `cluster crosscheck` without SSH (SPEC §9): built from the reachability
 * every agent reports in its heartbeat. Values follow repmgr: 0 = connection OK (`*`), -1 = failed
 * (`x`), -2 = unknown (`?`). Pure.
 *
 * - matrix: row i is what node i's own agent reports, now. A node whose heartbeat is not fresh
 *   cannot tell us anything current, so its whole row is unknown (repmgr: a node it cannot reach by
 *   SSH). The diagonal is the node's check of its own server (a witness without PostgreSQL counts
 *   as OK while its agent reports).
 * - crosscheck: repmgr merges the matrices seen from every node, taking the best value per cell
 *   (OK over failed over unknown). Here every agent already reports to one place, so the merge is
 *   over the two ends of each pair: cell (i, j) is the best of i's check of j and j's check of i,
 *   and a node's own cell is taken from the others when its agent is silent.
 */
import type { ClusterSnapshot } from './model.js';
import { latestCheck, observeCluster, type NodeObservation } from './node-status.js';

export type MatrixValue = 0 | -1 | -2;

export interface MatrixModel {
  cluster_id: string;
  nodes: { node_id: number; node_name: string }[];
  /** values[i][j]: the connection from nodes[i] to nodes[j]. */
  values: MatrixValue[][];
  /** Why the result is not all-clear (exit code 25 when non-empty). */
  issues: string[];
}

function selfValue(o: NodeObservation): MatrixValue {
  if (!o.fresh) return -2;
  if (o.state === 'up') return 0;
  return -1;
}

function directValue(from: NodeObservation, to: NodeObservation): MatrixValue {
  if (!from.fresh) return -2;
  if (from.node.node_id === to.node.node_id) return selfValue(from);
  const check = latestCheck(from.heartbeat, to.node.node_id);
  return check === null ? -2 : check.ok ? 0 : -1;
}

function issuesOf(obs: NodeObservation[], values: MatrixValue[][], pairs = false): string[] {
  const issues: string[] = [];
  obs.forEach((o, i) => {
    if (o.node.active && !o.fresh) issues.push(`node "${o.node.node_name}" (ID: ${o.node.node_id}) does not report: ${o.reason ?? 'no fresh heartbeat'}`);
    values[i]?.forEach((v, j) => {
      if (v !== -1 || (pairs && j < i)) return;
      const t = obs[j];
      if (!t) return;
      issues.push(
        pairs && i !== j
          ? `the connection between node "${o.node.node_name}" (ID: ${o.node.node_id}) and node "${t.node.node_name}" (ID: ${t.node.node_id}) failed`
          : i === j
          ? `node "${o.node.node_name}" (ID: ${o.node.node_id}) reports its own server down`
          : `node "${o.node.node_name}" (ID: ${o.node.node_id}) cannot reach node "${t.node.node_name}" (ID: ${t.node.node_id})`,
      );
    });
  });
  return issues;
}

export function reachabilityMatrix(snapshot: ClusterSnapshot, now: number): MatrixModel {
  const obs = observeCluster(snapshot, now);
  const values = obs.map((from) => obs.map((to) => directValue(from, to)));
  return {
    cluster_id: snapshot.cluster.cluster_id,
    nodes: obs.map((o) => ({ node_id: o.node.node_id, node_name: o.node.node_name })),
    values,
    issues: issuesOf(obs, values),
  };
}

export function crosscheckMatrix(snapshot: ClusterSnapshot, now: number): MatrixModel {
  const obs = observeCluster(snapshot, now);
  const direct = obs.map((from) => obs.map((to) => directValue(from, to)));
  const at = (i: number, j: number): MatrixValue => direct[i]?.[j] ?? -2;
  const values = obs.map((_, i) =>
    obs.map((__, j): MatrixValue => {
      if (i !== j) return Math.max(at(i, j), at(j, i)) as MatrixValue;
      if (at(i, i) !== -2) return at(i, i);
      // A silent agent: what the others last saw of its server.
      return obs.reduce<MatrixValue>((best, ___, k) => (k === i ? best : (Math.max(best, at(k, i)) as MatrixValue)), -2);
    }),
  );
  return {
    cluster_id: snapshot.cluster.cluster_id,
    nodes: obs.map((o) => ({ node_id: o.node.node_id, node_name: o.node.node_name })),
    values,
    issues: issuesOf(obs, values, true),
  };
}
