/**
 * The switchover saga (SPEC §7.2), planned and operator-triggered:
 *
 *   claim (term + 1, pause) → demote_primary → wait_catchup → promote → verify_promotion →
 *   move_vip → rejoin_old_primary → siblings_follow → finish (unpause)
 *
 * Any failure before the promotion rolls back (`rollback`): the old primary is unfenced and
 * restarted as primary (SSM `unfence` with the new term, which it adopts), the Elastic IP is put
 * back on it, the cluster is unpaused, and `switchover_rolled_back` says why. A promotion sent but
 * never confirmed ends in `incomplete` (repmgr's ERR_SWITCHOVER_INCOMPLETE): nothing is undone,
 * because the candidate may yet come up as primary; the engine takes it from there.
 */
import { compareLsn, isLsn, maxLsn } from '../../core/lsn.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import { pointRoutesAt } from './routes.js';
import type { SagaDefinition, SagaState, StepResult } from './runner.js';
import { followersOf } from './failover.js';
import {
  dataString,
  describeResult,
  event,
  followStep,
  heartbeatOf,
  moveVipStep,
  nodeOf,
  promoteStep,
  promoteTimeoutMs,
  runOnNode,
  verifyPromotionStep,
} from './steps.js';

/** `node_rejoin_timeout` from the cluster settings, in milliseconds. */
function rejoinTimeoutMs(state: SagaState): number {
  return state.snapshot.cluster.settings.node_rejoin_timeout * 1000;
}

export const switchoverSaga: SagaDefinition = {
  kind: 'switchover',
  stepBudgetMs(step, state) {
    const t = state.deps.timings;
    switch (step) {
      case 'demote_primary':
      case 'rollback':
        return t.demoteWaitMs + 15_000;
      case 'promote':
      case 'verify_promotion':
        return promoteTimeoutMs(state) + 10_000;
      case 'rejoin_old_primary':
        return rejoinTimeoutMs(state) + 10_000;
      case 'siblings_follow':
        return state.snapshot.cluster.settings.primary_follow_timeout * 1000 + 10_000;
      default:
        return 15_000;
    }
  },

  async run(step, state): Promise<StepResult> {
    switch (step) {
      case 'demote_primary':
        return demote(state);
      case 'wait_catchup':
        return waitCatchup(state);
      case 'promote':
        return promoteStep(state, 'verify_promotion', 'rollback');
      case 'verify_promotion':
        return verifyPromotionStep(state, 'move_vip', 'incomplete');
      case 'move_vip':
        return moveVipStep(state, 'rejoin_old_primary');
      case 'rejoin_old_primary':
        return rejoinOld(state);
      case 'siblings_follow': {
        if (state.op.data.siblings_follow !== true) return { next: 'finish' };
        const followers = followersOf(state.snapshot.nodes, state.op.old_primary_node_id, state.op.candidate_node_id ?? 0).filter(
          (id) => id !== state.op.old_primary_node_id,
        );
        return followStep(state, followers, 'standby_follow', 'finish');
      }
      case 'finish':
        return finish(state);
      case 'rollback':
        return rollback(state);
      case 'incomplete':
        return incomplete(state);
      default:
        return { next: 'rollback', data: { abort_reason: `unknown switchover step "${step}"` } };
    }
  },

  giveUp(step, reason) {
    if (step === 'demote_primary' || step === 'wait_catchup' || step === 'promote') {
      return { next: 'rollback', data: { abort_reason: `step "${step}" kept failing: ${reason}` } };
    }
    if (step === 'verify_promotion') return { next: 'incomplete', data: { abort_reason: reason } };
    if (step === 'move_vip') return { next: 'rejoin_old_primary', data: { skipped_move_vip: reason } };
    if (step === 'rejoin_old_primary') return { next: 'siblings_follow', data: { skipped_rejoin: reason } };
    if (step === 'siblings_follow') return { next: 'finish', data: { skipped_siblings_follow: reason } };
    return { next: null, change: { paused: false } };
  },
};

/** The final LSN `demote` reports ("final LSN 0/5000028" or any LSN on its last lines). */
export function finalLsnFromOutput(output: string): string | null {
  const explicit = /final\s+(?:checkpoint\s+)?lsn\D{0,10}([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})/i.exec(output);
  if (explicit?.[1] && isLsn(explicit[1])) return explicit[1].toUpperCase();
  const all = output.match(/\b[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}\b/g) ?? [];
  return maxLsn(all.filter(isLsn).map((l) => l.toUpperCase()));
}

async function demote(state: SagaState): Promise<StepResult> {
  const old = nodeOf(state, state.op.old_primary_node_id);
  const result = await runOnNode(state, old, { action: 'demote' }, state.deps.timings.demoteWaitMs);
  if (result.status !== 'Success') {
    return { next: 'rollback', data: { abort_reason: `demote of node ${old.node_id} failed: ${describeResult(result)}` } };
  }
  const fromOutput = finalLsnFromOutput(result.output);
  const fromHeartbeat = heartbeatOf(state, old.node_id)?.server?.current_lsn ?? null;
  const finalLsn = maxLsn([fromOutput, fromHeartbeat]);
  await event(state, 'demote', old.node_id, true, `node ${old.node_id} shut down cleanly for switchover; final LSN ${finalLsn ?? 'unknown'}`);
  return { next: 'wait_catchup', data: { final_lsn: finalLsn } };
}

/**
 * The candidate must have received the demoted primary's final LSN before it is promoted. Its own
 * `promote` checks that on its server right before promoting (it reads `final_lsn` from this
 * operation and waits up to its `wal_receive_check_timeout`, refusing — nothing changed, so the
 * saga rolls back — when the WAL does not arrive), which spares waiting here for its next
 * heartbeat. This step only records what the heartbeat already shows, if anything.
 */
async function waitCatchup(state: SagaState): Promise<StepResult> {
  const { op } = state;
  const finalLsn = dataString(op, 'final_lsn');
  if (finalLsn === null) return { next: 'rollback', data: { abort_reason: 'the demoted primary reported no final LSN: cannot prove the candidate has everything' } };
  const hb = heartbeatOf(state, nodeOf(state, op.candidate_node_id).node_id);
  const lsn = hb?.server?.receive_lsn ?? hb?.server?.replay_lsn ?? null;
  const seen = lsn !== null && compareLsn(lsn, finalLsn) >= 0;
  return { next: 'promote', data: seen ? { candidate_lsn: lsn } : { catchup_checked_by: 'candidate' } };
}

async function rejoinOld(state: SagaState): Promise<StepResult> {
  const { op, deps } = state;
  const old = nodeOf(state, op.old_primary_node_id);
  const upstream = op.candidate_node_id ?? 0;
  let ok = false;
  let detail: string;
  try {
    const r = await runOnNode(state, old, { action: 'rejoin', upstreamNodeId: upstream, forceRewind: false }, rejoinTimeoutMs(state));
    ok = r.status === 'Success';
    detail = describeResult(r);
  } catch (error) {
    detail = String(error);
  }
  const now = deps.clock.now();
  await deps.store.putNode(
    ok
      ? { ...old, type: 'standby', upstream_node_id: upstream, active: true, fenced: false, updated_at: now }
      : { ...old, active: false, fenced: true, updated_at: now },
  );
  await event(state, 'node_rejoin', old.node_id, ok, ok ? `node ${old.node_id} rejoined as a standby of node ${upstream}` : `node ${old.node_id} did not rejoin: ${detail}; it stays fenced`);
  return { next: 'siblings_follow', data: { old_primary_rejoined: ok } };
}

async function finish(state: SagaState): Promise<StepResult> {
  const { op, deps } = state;
  const wasPaused = op.data.was_paused === true;
  await event(
    state,
    'standby_switchover',
    op.candidate_node_id ?? 0,
    true,
    `node ${op.candidate_node_id} is the primary of term ${op.term}; node ${op.old_primary_node_id} ${op.data.old_primary_rejoined === true ? 'follows it' : 'did not rejoin'}`,
  );
  deps.metrics.put(METRICS.failoverDuration.name, Math.max(0, deps.clock.now() - op.started_at), 'Milliseconds', { [CLUSTER_DIMENSION]: state.clusterId });
  return { next: null, change: { paused: wasPaused } };
}

async function rollback(state: SagaState): Promise<StepResult> {
  const { op, deps } = state;
  const reason = dataString(op, 'abort_reason') ?? 'unknown reason';
  const old = nodeOf(state, op.old_primary_node_id);
  let restarted = false;
  let detail: string;
  try {
    const r = await runOnNode(state, old, { action: 'unfence-primary' }, deps.timings.demoteWaitMs);
    restarted = r.status === 'Success';
    detail = describeResult(r);
  } catch (error) {
    detail = String(error);
  }
  await pointRoutesAt(state, old, { events: 'when-moved', why: 'switchover rolled back' });
  await event(
    state,
    'switchover_rolled_back',
    old.node_id,
    restarted,
    `switchover to node ${op.candidate_node_id} rolled back: ${reason}; node ${old.node_id} ${restarted ? 'restarted as primary' : `could not be restarted as primary (${detail})`}`,
  );
  await event(state, 'standby_switchover', op.candidate_node_id ?? 0, false, `switchover to node ${op.candidate_node_id} failed: ${reason}`);
  return { next: null, change: { paused: op.data.was_paused === true, lease_observation: null } };
}

async function incomplete(state: SagaState): Promise<StepResult> {
  const { op } = state;
  const reason = dataString(op, 'abort_reason') ?? 'promotion not confirmed';
  await event(
    state,
    'standby_switchover',
    op.candidate_node_id ?? 0,
    false,
    `switchover incomplete: ${reason}; node ${op.old_primary_node_id} stays shut down, the cluster is unpaused and the engine decides from here`,
  );
  return { next: null, change: { paused: op.data.was_paused === true } };
}
