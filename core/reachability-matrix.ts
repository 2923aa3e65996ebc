/**
 * `cluster matrix` and `cluster crosscheck` without SSH (docs/cli.md): built from the reachability
 * every agent reports in its heartbeat. Values follow repmgr: 0 = connection OK (`*`), -1 = failed
 * (`x`), -2 = unknown (`?`); pgvigil adds -3 = not checked by design (`-`). Pure.
 *
 * Which pairs are checked: every agent checks every other *active PostgreSQL* node
 * (agent/daemon/daemon.ts).
 * Nobody connects to a witness (it has no PostgreSQL server here) or to an inactive node, so those
 * columns are `-`, not `?`: `?` means "should be known and is not" (a silent agent, a check not
 * made yet), `-` means "there is nothing to know". An inactive node that does not report is not
 * expected to, so its row is `-` too.
 *
 * - matrix: row i is what node i's own agent reports, now. A node whose heartbeat is not fresh
 *   cannot tell us anything current, so its whole row is unknown (repmgr: a node it cannot reach by
 *   SSH). The diagonal is the node's check of its own server.
 * - crosscheck: repmgr merges the matrices seen from every node, taking the best value per cell
 *   (OK over failed over unknown over not checked). Here every agent already reports to one place,
 *   so the merge is over the two ends of each pair: cell (i, j) is the best of i's check of j and
 *   j's check of i, and a node's own cell is taken from the others when its agent is silent. A pair
 *   with a witness is therefore filled from the witness's end.
 */
import type { ClusterSnapshot } from './model.js';
import { latestCheck, observeCluster, type NodeObservation } from './node-status.js';

export type MatrixValue = 0 | -1 | -2 | -3;

/** The values by meaning (repmgr's three, and pgvigil's "not checked by design"). */
export const MATRIX = { ok: 0, failed: -1, unknown: -2, notChecked: -3 } as const satisfies Record<string, MatrixValue>;

/** Nobody checks a connection to this node: a witness (no server) or an inactive node. */
export function notCheckedByDesign(node: { type: string; active: boolean }): boolean {
  return node.type === 'witness' || !node.active;
}

export interface MatrixModel {
  cluster_id: string;
  nodes: { node_id: number; node_name: string }[];
  /** values[i][j]: the connection from nodes[i] to nodes[j]. */
  values: MatrixValue[][];
  /** Why the result is not all-clear (exit code 25 when non-empty). */
  issues: string[];
}

function selfValue(o: NodeObservation): MatrixValue {
  if (!o.fresh) return MATRIX.unknown;
  if (o.state === 'up') return MATRIX.ok;
  return MATRIX.failed;
}

function directValue(from: NodeObservation, to: NodeObservation): MatrixValue {
  if (notCheckedByDesign(to.node)) return MATRIX.notChecked;
  if (!from.fresh) return from.node.active ? MATRIX.unknown : MATRIX.notChecked;
  if (from.node.node_id === to.node.node_id) return selfValue(from);
  const check = latestCheck(from.heartbeat, to.node.node_id);
  return check === null ? MATRIX.unknown : check.ok ? MATRIX.ok : MATRIX.failed;
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
  const at = (i: number, j: number): MatrixValue => direct[i]?.[j] ?? MATRIX.unknown;
  const values = obs.map((_, i) =>
    obs.map((__, j): MatrixValue => {
      if (i !== j) return Math.max(at(i, j), at(j, i)) as MatrixValue;
      if (at(i, i) !== MATRIX.unknown) return at(i, i);
      // A silent agent: what the others last saw of its server.
      return obs.reduce<MatrixValue>((best, ___, k) => (k === i ? best : (Math.max(best, at(k, i)) as MatrixValue)), MATRIX.unknown);
    }),
  );
  return {
    cluster_id: snapshot.cluster.cluster_id,
    nodes: obs.map((o) => ({ node_id: o.node.node_id, node_name: o.node.node_name })),
    values,
    issues: issuesOf(obs, values, true),
  };
}
