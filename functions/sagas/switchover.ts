/**
 * The switchover saga (docs/controller.md), planned and operator-triggered, on the critical path only:
 *
 *   claim (term + 1, pause) → demote_primary → wait_catchup → promote → verify_promotion →
 *   move_vip → finish (unpause)
 *
 * It is done once the new primary serves writes behind the Elastic IP. At the promotion the old
 * primary is re-registered as a standby of the new primary (and, with `siblings_follow`, the other
 * standbys under the new primary); rejoining it and making the siblings follow are then the
 * engine's ordinary rejoin and follow decisions, each its own small operation that cannot hold the
 * cluster (docs/controller.md). The switchover entry point drives them while it has time, so the
 * CLI shows them.
 *
 * Any failure before the promotion rolls back (`rollback`): the old primary is unfenced and
 * restarted as primary (SSM `unfence` with the new term, which it adopts), the Elastic IP is put
 * back on it, the cluster is unpaused, and `switchover_rolled_back` says why. A promotion sent but
 * never confirmed ends in `incomplete` (repmgr's ERR_SWITCHOVER_INCOMPLETE): nothing is undone
 * (when the engine ended it because the candidate failed, the candidate is fenced: a promote may
 * still land there), and the engine takes it from there.
 */
import { compareLsn, isLsn, maxLsn } from '../../core/lsn.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import { pointRoutesAt } from './routes.js';
import type { ClusterChange, SagaDefinition, SagaState, StepResult } from './runner.js';
import { followersOf } from './failover.js';
import {
  dataString,
  describeResult,
  event,
  fenceCandidate,
  heartbeatOf,
  moveVipStep,
  nodeOf,
  promoteStep,
  promoteTimeoutMs,
  runOnNode,
  verifyPromotionStep,
  waitForHeartbeat,
} from './steps.js';

export const SWITCHOVER_STEPS = ['demote_primary', 'wait_catchup', 'promote', 'verify_promotion', 'move_vip', 'finish'] as const;

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
      case 'incomplete':
        return t.fenceWaitMs + 30_000;
      case 'finish':
        return (state.snapshot.cluster.settings.heartbeat_interval_secs + state.snapshot.cluster.settings.node_timeout_secs) * 1000 + 10_000;
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
        return promoteStep(state, 'verify_promotion', 'rollback', 'incomplete');
      case 'verify_promotion':
        return verifyPromotionStep(state, 'move_vip', 'incomplete', reregister);
      case 'move_vip':
        return moveVipStep(state, 'finish');
      // Steps an earlier controller version may have persisted: now follow-ups of the engine.
      case 'rejoin_old_primary':
      case 'siblings_follow':
        return { next: 'finish' };
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

  giveUp(step, reason, state) {
    if (step === 'demote_primary' || step === 'wait_catchup' || step === 'promote') {
      return { next: 'rollback', data: { abort_reason: `step "${step}" kept failing: ${reason}` } };
    }
    if (step === 'verify_promotion') return { next: 'incomplete', data: { abort_reason: reason } };
    if (step === 'move_vip' || step === 'rejoin_old_primary' || step === 'siblings_follow') return { next: 'finish', data: { [`skipped_${step}`]: reason } };
    return { next: null, change: liftOwnPause(state) };
  },
};

/**
 * The pause this switchover set, lifted. An operator's pause (set before the switchover, or during
 * it with "service pause") stays. A switchover claimed by an earlier controller version recorded no
 * owner of the pause: it restores what it started with.
 */
export function liftOwnPause(state: SagaState): ClusterChange {
  const { cluster } = state.snapshot;
  const { op } = state;
  if (cluster.paused_by === op.id) return { paused: false, paused_by: null };
  if (cluster.paused_by === undefined && op.data.pause_owned === undefined && op.data.was_paused === false) return { paused: false };
  return {};
}

/**
 * At the promotion: the old primary becomes, in the record, an active standby of the new primary
 * (its agent still reports it fenced: the engine rejoins it without a rewind), and with
 * `siblings_follow` the other standbys are registered under the new primary (the engine makes them
 * follow it). Without `siblings_follow` they stay registered under the old primary, through which
 * they stream once it has rejoined (repmgr's behaviour).
 */
async function reregister(state: SagaState, now: number): Promise<void> {
  const { op, deps } = state;
  const newPrimary = op.candidate_node_id;
  if (newPrimary === null) return;
  const old = state.snapshot.nodes.find((n) => n.node_id === op.old_primary_node_id);
  if (old) await deps.store.putNode({ ...old, type: 'standby', upstream_node_id: newPrimary, active: true, fenced: false, updated_at: now });
  if (op.data.siblings_follow !== true) return;
  const siblings = followersOf(state.snapshot.nodes, op.old_primary_node_id, newPrimary).filter((id) => id !== op.old_primary_node_id);
  for (const n of state.snapshot.nodes) {
    if (siblings.includes(n.node_id) && n.upstream_node_id !== newPrimary) await deps.store.putNode({ ...n, upstream_node_id: newPrimary, updated_at: now });
  }
}

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

/**
 * The switchover is done: the new primary serves behind the Elastic IP. Before it lets go, the
 * demoted primary's own agent must have reported the demote (its server stopped, fenced or in
 * recovery), bounded by one heartbeat interval and `node_timeout_secs`: the decisions that follow
 * (its rejoin, the siblings' follow) must not read a report from before the demote, which shows a
 * second server taking writes.
 */
async function finish(state: SagaState): Promise<StepResult> {
  const { op, deps } = state;
  const { settings } = state.snapshot.cluster;
  if (op.old_primary_node_id !== null && typeof op.data.end_reason !== 'string') {
    await waitForHeartbeat(
      deps,
      state.clusterId,
      op.old_primary_node_id,
      (hb) => hb.server === null || !hb.server.postmaster_running || hb.server.in_recovery === true || hb.server.fenced,
      (settings.heartbeat_interval_secs + settings.node_timeout_secs) * 1000,
    );
  }
  const handedOver = typeof op.data.end_reason === 'string' ? `; ended early: ${op.data.end_reason}` : '';
  const vip = typeof op.data.skipped_move_vip === 'string' ? ' (the Elastic IP could not be moved yet)' : ' behind the Elastic IP';
  await event(
    state,
    'standby_switchover',
    op.candidate_node_id ?? 0,
    true,
    `node ${op.candidate_node_id} is the primary of term ${op.term}${vip}; node ${op.old_primary_node_id} rejoins as its standby${op.data.siblings_follow === true ? ' and the siblings follow it' : ''} as follow-ups${handedOver}`,
    op.old_primary_node_id === null ? undefined : { former_primary_node_id: op.old_primary_node_id },
  );
  deps.metrics.put(METRICS.failoverDuration.name, Math.max(0, deps.clock.now() - op.started_at), 'Milliseconds', { [CLUSTER_DIMENSION]: state.clusterId });
  return { next: null, change: liftOwnPause(state) };
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
  return { next: null, change: { ...liftOwnPause(state), lease_observation: null } };
}

async function incomplete(state: SagaState): Promise<StepResult> {
  const { op } = state;
  const reason = dataString(op, 'abort_reason') ?? dataString(op, 'end_reason') ?? 'promotion not confirmed';
  // A promote may still land on the candidate: fence it before the engine decides again.
  const fenced = op.data.fence_candidate === true && op.data.candidate_fenced !== true ? await fenceCandidate(state) : null;
  await event(
    state,
    'standby_switchover',
    op.candidate_node_id ?? 0,
    false,
    `switchover incomplete: ${reason}; node ${op.old_primary_node_id} stays shut down${fenced === null ? '' : `, node ${op.candidate_node_id} is fenced${fenced ? '' : ' (unconfirmed)'}`}, the cluster is unpaused and the engine decides from here`,
  );
  return { next: null, change: liftOwnPause(state) };
}
