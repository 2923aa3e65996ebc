/**
 * The failover's second look at its candidate (docs/controller.md, failover steps): once the old
 * primary is fenced and the LSNs may have moved, the candidates are ranked again on fresh state
 * with the engine's own rules.
 */
import { compareLsn } from '../lsn.js';
import type { ClusterSnapshot } from '../model.js';
import { selectCandidate } from './candidates.js';
import { buildContext } from './freshness.js';
import { silenceLimitMs } from './operation.js';

export type Reranking =
  /** Nobody can be promoted: the failover aborts for `reason`. */
  | { kind: 'abort'; reason: string }
  /**
   * Nobody can be promoted yet, but a standby is held back only by a heartbeat that is late, not
   * by far (under {@link silenceLimitMs}): ask again once it has reported, until `until`.
   */
  | { kind: 'wait'; reason: string; until: number }
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
    const reason = `no eligible candidate after fencing: ${why.join(' | ')}`;
    // A loaded host sends a heartbeat a second late; aborting the round for that costs a whole
    // election_rerun_interval with no primary. A standby whose only fault is a heartbeat younger
    // than the silence limit is waited for (its other checks run once it has reported).
    const late = ctx.views.filter((v) => {
      const a = selection.assessments.find((x) => x.node_id === v.node.node_id);
      return a !== undefined && v.node.type === 'standby' && !v.fresh && !v.skewed && v.heartbeat !== null && a.reasons.length === 1;
    });
    const waits = late.map((v) => (v.heartbeat?.sent_at ?? 0) + silenceLimitMs(ctx.settings)).filter((until) => until > now);
    if (waits.length > 0) return { kind: 'wait', reason, until: Math.max(...waits) };
    return { kind: 'abort', reason };
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
