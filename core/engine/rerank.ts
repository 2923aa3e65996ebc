/**
 * The failover's second look at its candidate (docs/controller.md, failover steps): once the old
 * primary is fenced and the LSNs may have moved, the candidates are ranked again on fresh state
 * with the engine's own rules.
 */
import { compareLsn } from '../lsn.js';
import type { ClusterSnapshot } from '../model.js';
import { selectCandidate } from './candidates.js';
import { buildContext } from './freshness.js';

export type Reranking =
  /** Nobody can be promoted: the failover aborts for `reason`. */
  | { kind: 'abort'; reason: string }
  /** The claimed candidate is still as good as the best (same receive LSN): no needless switch. */
  | { kind: 'keep' }
  /** Promote `candidate`; `previous` is the one claimed before (null when none was). */
  | { kind: 'choose'; candidate: number; previous: number | null };

/**
 * Ranks the candidates of `snapshot` again for a failover away from `oldPrimaryId` that claimed
 * `claimed`. The operation in flight is left out of the view, so it does not hold its own candidate back.
 * A `pinned` candidate (a promotion by hand, functions/manual-failover.ts) is promoted or nobody is.
 */
export function rerankCandidates(snapshot: ClusterSnapshot, now: number, oldPrimaryId: number | null, claimed: number | null, pinned = false): Reranking {
  const ctx = buildContext({ ...snapshot, cluster: { ...snapshot.cluster, operation: null } }, now);
  const primary = oldPrimaryId === null ? undefined : ctx.byId.get(oldPrimaryId);
  if (!primary) return { kind: 'abort', reason: `the old primary node ${oldPrimaryId} is no longer registered` };
  const selection = selectCandidate(ctx, primary);
  if (pinned) {
    const own = selection.assessments.find((a) => a.node_id === claimed);
    if (own?.eligible) return { kind: 'keep' };
    return { kind: 'abort', reason: `the requested candidate node ${claimed} is not eligible after fencing: ${own?.reasons.join('; ') ?? 'not registered'}` };
  }
  const best = selection.best;
  if (!best) {
    const why = selection.assessments.filter((a) => !a.eligible).map((a) => `node ${a.node_id}: ${a.reasons.join('; ')}`);
    return { kind: 'abort', reason: `no eligible candidate after fencing: ${why.join(' | ')}` };
  }
  const chosen = best.node.node_id;
  if (claimed !== null && claimed !== chosen) {
    const claimedView = ctx.byId.get(claimed);
    const claimedAssessment = selection.assessments.find((a) => a.node_id === claimed);
    const bestLsn = best.server?.receive_lsn ?? best.server?.replay_lsn ?? null;
    const claimedLsn = claimedView?.server?.receive_lsn ?? claimedView?.server?.replay_lsn ?? null;
    if (claimedAssessment?.eligible && bestLsn !== null && claimedLsn !== null && compareLsn(claimedLsn, bestLsn) >= 0) return { kind: 'keep' };
  }
  return { kind: 'choose', candidate: chosen, previous: claimed };
}
