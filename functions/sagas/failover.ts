/**
 * The failover saga (docs/controller.md), on the critical path only:
 *
 *   claim (term + 1) → fence_old_primary → disconnect_wal_receivers → rerank → promote →
 *   verify_promotion → move_vip → finish
 *
 * It is done once the new primary serves writes behind the Elastic IP. The standbys that must
 * follow the new primary, and the old primary's rejoin (`auto_rejoin`), are the engine's ordinary
 * follow and rejoin decisions afterwards, each its own small operation (docs/controller.md).
 *
 * The old primary is fenced before anything is promoted. When its lease has already expired on the
 * controller clock (a silent primary), the lease proves it stopped taking writes, so the fence is
 * sent but not waited for: `finish` leaves a follow-up `fence` operation (step `confirm_fence`)
 * that collects the answer and stops the instance if SSM did not confirm it — off the critical
 * path, and judged by the engine like any one-node action.
 *
 * Anything that goes wrong before the candidate is confirmed promoted ends in `abort`
 * (event `repmgrd_failover_aborted` with the reason, then a cooldown of `election_rerun_interval`
 * before the engine may start the same round again). A round that reached its promote step without
 * confirming the promotion fences its candidate on the way out. After the promotion there is no
 * way back: a step that keeps failing is skipped with an event.
 *
 * `failover_validation_command` is not run from here: the command lives in the candidate's own
 * repmgr.conf and the agent's `promote` runs it before promoting (a non-zero exit fails the
 * promote, which aborts this round). The controller never ships shell text through SSM (docs/deploy.md).
 */
import type { Action, Decision } from '../../core/decision.js';
import { buildContext } from '../../core/engine/index.js';
import { observeLease } from '../../core/engine/lease.js';
import { silenceLimitMs } from '../../core/engine/operation.js';
import { rerankCandidates } from '../../core/engine/rerank.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import type { ClusterSnapshot, NodeRecord } from '../../core/model.js';
import type { ControllerDeps, Invocation } from '../controller.js';
import { measureFailoverDataLoss, putDataLossMetric } from '../data-loss.js';
import { withdrawRoutesFrom } from './routes.js';
import { claim, runSaga, type ClusterChange, type SagaDefinition, type SagaOutcome, type SagaState, type StepResult } from './runner.js';
import {
  collectPendingFences,
  describeResult,
  event,
  fenceCandidate,
  fenceNode,
  heartbeatOf,
  latestHeartbeat,
  markFenced,
  moveVipStep,
  nodeOf,
  pendingFencesOf,
  promoteStep,
  promoteTimeoutMs,
  runOnNode,
  sendFence,
  verifyPromotionStep,
  type PendingFence,
} from './steps.js';

export const FAILOVER_STEPS = ['fence_old_primary', 'disconnect_wal_receivers', 'rerank', 'promote', 'verify_promotion', 'move_vip', 'finish'] as const;

/** Steps an earlier controller version may have persisted after the promotion: they go on to `finish`. */
const LEGACY_AFTER_PROMOTION = ['follow_siblings', 'confirm_fence'];

/** Standbys that follow the new primary: every active standby except cascaded ones (they keep their upstream). */
export function followersOf(nodes: readonly NodeRecord[], oldPrimaryId: number | null, newPrimaryId: number): number[] {
  const byId = new Map(nodes.map((n) => [n.node_id, n]));
  return nodes
    .filter((n) => n.type === 'standby' && n.active && !n.fenced && n.node_id !== newPrimaryId)
    .filter((n) => {
      const up = n.upstream_node_id === null ? undefined : byId.get(n.upstream_node_id);
      const cascaded = up !== undefined && up.node_id !== oldPrimaryId && up.node_id !== newPrimaryId && up.type === 'standby' && up.active;
      return !cascaded;
    })
    .map((n) => n.node_id);
}

export const failoverSaga: SagaDefinition = {
  kind: 'failover',
  stepBudgetMs(step, state) {
    const s = state.snapshot.cluster.settings;
    const t = state.deps.timings;
    switch (step) {
      case 'fence_old_primary':
      case 'abort':
        return 2 * t.fenceWaitMs + 30_000; // abort may fence its candidate and collect a deferred fence
      case 'disconnect_wal_receivers':
        return s.standby_disconnect_on_failover ? 2 * s.sibling_nodes_disconnect_timeout * 1000 + 10_000 : 5000;
      case 'promote':
      case 'verify_promotion':
        return promoteTimeoutMs(state) + 10_000;
      case 'rerank':
        return silenceLimitMs(s) + 15_000; // it may wait for a late heartbeat that long
      default:
        return 15_000;
    }
  },

  async run(step, state): Promise<StepResult> {
    switch (step) {
      case 'fence_old_primary':
        return fenceOldPrimary(state);
      case 'disconnect_wal_receivers':
        return disconnectWalReceivers(state);
      case 'rerank':
        return rerank(state);
      case 'promote':
        return promoteStep(state, 'verify_promotion', 'abort');
      case 'verify_promotion':
        return verifyPromotionStep(state, 'move_vip', 'abort');
      case 'move_vip':
        return moveVipStep(state, 'finish');
      case 'follow_siblings':
      case 'confirm_fence':
        return { next: 'finish' };
      case 'finish':
        return finish(state);
      case 'abort':
        return abort(state);
      default:
        return { next: 'abort', data: { abort_reason: `unknown failover step "${step}"` } };
    }
  },

  giveUp(step, reason) {
    if (step === 'move_vip' || LEGACY_AFTER_PROMOTION.includes(step)) {
      // The new primary stands; skip what keeps failing (the event log says so) rather than undo
      // it. An Elastic IP left elsewhere is put right by the sweep (docs/controller.md).
      return { next: 'finish', data: { [`skipped_${step}`]: reason } };
    }
    if (step === 'finish') return { next: null };
    if (step === 'abort') return { next: null, cooldownMs: 15_000 };
    return { next: 'abort', data: { abort_reason: `step "${step}" kept failing: ${reason}` } };
  },
};

/** What the evaluation that decided a failover writes with its claim, and records once it won. */
export interface ClaimExtras {
  /** Written in the claim's own conditional update (the evaluation's lease observation, its reported conditions). */
  change?: ClusterChange;
  /** Runs once the claim won, beside the `failover_started` event (the evaluation's events and flight record). */
  afterClaim?: () => Promise<unknown>;
}

/** Claims the cluster for `action` (term + 1) and runs the saga. Null when another invocation won. */
export async function startFailover(
  deps: ControllerDeps,
  inv: Invocation,
  snapshot: ClusterSnapshot,
  action: Extract<Action, { kind: 'failover' }>,
  decision: Decision,
  extras: ClaimExtras = {},
): Promise<SagaOutcome | null> {
  const oldHb = latestHeartbeat(snapshot.heartbeats, action.old_primary_node_id);
  const claimed = await claim(deps, inv, snapshot, {
    ...(extras.change ? { change: extras.change } : {}),
    kind: 'failover',
    term: snapshot.cluster.term + 1,
    candidate_node_id: action.candidate_node_id,
    old_primary_node_id: action.old_primary_node_id,
    firstStep: 'fence_old_primary',
    guardLease: true,
    data: {
      old_timeline: oldHb?.server?.timeline ?? null,
      old_term: snapshot.cluster.term,
      first_candidate: action.candidate_node_id,
    },
  });
  if (!claimed) return null;
  deps.log.info('failover claimed', { cluster_id: snapshot.cluster.cluster_id, operation: claimed.op.id, term: claimed.op.term });
  const state: SagaState = { deps, inv, clusterId: snapshot.cluster.cluster_id, snapshot, op: claimed.op, version: claimed.version };
  await Promise.all([
    event(state, 'failover_started', action.old_primary_node_id, true, `term ${claimed.op.term}: ${decision.reasons.join('; ')}`.slice(0, 8000)),
    // Bookkeeping must never hold the saga: a failure is logged (the claim stands either way).
    extras.afterClaim?.().catch((error: unknown) => deps.log.warn('could not record what the failover\'s evaluation reported', { cluster_id: snapshot.cluster.cluster_id, error })),
  ]);
  return runSaga(failoverSaga, deps, inv, snapshot.cluster.cluster_id, claimed);
}

async function fenceOldPrimary(state: SagaState): Promise<StepResult> {
  const { deps, op } = state;
  const old = nodeOf(state, op.old_primary_node_id);
  // Clients first: take the Elastic IP away from the old primary before anything else.
  await withdrawRoutesFrom(state, old);
  const leaseExpired = observeLease(buildContext(state.snapshot, deps.clock.now())).expired;
  if (leaseExpired && state.snapshot.cluster.settings.fence_mode !== 'none') {
    // The old primary has not renewed its lease for a whole lease on the controller clock, so by
    // the lease rules (docs/architecture.md, docs/agent.md) its agent stopped the server before the
    // lease ran out (its lease watchdog did, if the agent itself was frozen), or the host is gone.
    // The promotion does not wait for SSM's answer: the fence is sent now and its
    // result collected once the new primary serves behind the Elastic IP (the follow-up operation
    // `finish` leaves), which still stops the instance when SSM does not confirm it. The node is
    // marked fenced at once either way.
    const sent = await sendFence(state, old);
    await markFenced(state, old);
    const pending: PendingFence = {
      node_id: old.node_id,
      command_id: 'commandId' in sent ? sent.commandId : null,
      undeliverable: 'undeliverable' in sent ? sent.undeliverable : null,
      sent_at: deps.clock.now(),
    };
    return { next: 'disconnect_wal_receivers', data: { fence_deferred: true, pending_fences: [...pendingFencesOf(op), pending] } };
  }
  const outcome = await fenceNode(state, old);
  await markFenced(state, old, outcome);
  await event(state, 'fence_applied', old.node_id, outcome.confirmed, `${outcome.method}: ${outcome.detail}`);
  return { next: 'disconnect_wal_receivers', data: { fence_method: outcome.method } };
}

/**
 * `standby_disconnect_on_failover`: stop every standby's WAL receiver so that no standby receives
 * more WAL from a half-dead primary, then wait (`sibling_nodes_disconnect_timeout`) until their
 * receive LSNs stop moving, so the re-ranking compares final positions.
 */
async function disconnectWalReceivers(state: SagaState): Promise<StepResult> {
  const { deps, op } = state;
  const s = state.snapshot.cluster.settings;
  if (!s.standby_disconnect_on_failover) return { next: 'rerank' };
  const timeoutMs = s.sibling_nodes_disconnect_timeout * 1000;
  const standbys = state.snapshot.nodes.filter((n) => n.type === 'standby' && n.active && !n.fenced && n.node_id !== op.old_primary_node_id);
  await Promise.all(
    standbys.map(async (n) => {
      try {
        const r = await runOnNode(state, n, { action: 'disconnect-wal-receiver' }, timeoutMs);
        if (r.status !== 'Success') await event(state, 'saga_step_failed', n.node_id, false, `disconnect-wal-receiver on node ${n.node_id}: ${describeResult(r)}`);
      } catch (error) {
        await event(state, 'saga_step_failed', n.node_id, false, `disconnect-wal-receiver on node ${n.node_id}: ${String(error)}`);
      }
    }),
  );
  // Settled: two consecutive reads show the same receive LSN on every standby, none streaming.
  const deadline = deps.clock.now() + timeoutMs;
  let previous = new Map<number, string | null>();
  for (;;) {
    const loaded = await deps.store.load(state.clusterId);
    const current = new Map<number, string | null>();
    let streaming = false;
    for (const n of standbys) {
      const hb = loaded ? latestHeartbeat(loaded.snapshot.heartbeats, n.node_id) : null;
      current.set(n.node_id, hb?.server?.receive_lsn ?? null);
      if (hb?.server?.wal_receiver_status === 'streaming') streaming = true;
    }
    const settled = !streaming && previous.size === current.size && [...current].every(([id, lsn]) => previous.get(id) === lsn);
    const disconnected = standbys.map((n) => n.node_id);
    if (settled) return { next: 'rerank', data: { lsns_settled: true, wal_receivers_disconnected: disconnected } };
    if (deps.clock.now() >= deadline) return { next: 'rerank', data: { lsns_settled: false, wal_receivers_disconnected: disconnected } };
    previous = current;
    await deps.clock.sleep(deps.timings.pollIntervalMs);
  }
}

/** Ranks the candidates again now that the old primary is fenced (core/engine/rerank.ts). */
async function rerank(state: SagaState): Promise<StepResult> {
  const { op, deps } = state;
  let snapshot = state.snapshot;
  let reranking = rerankCandidates(snapshot, deps.clock.now(), op.old_primary_node_id, op.candidate_node_id, op.data.pinned_candidate === true);
  // A standby held back only by a late heartbeat is waited for, up to the silence limit (core/engine/rerank.ts).
  while (reranking.kind === 'wait' && deps.clock.now() < reranking.until) {
    await deps.clock.sleep(Math.min(deps.timings.pollIntervalMs, reranking.until - deps.clock.now()));
    snapshot = (await deps.store.load(state.clusterId))?.snapshot ?? snapshot;
    reranking = rerankCandidates(snapshot, deps.clock.now(), op.old_primary_node_id, op.candidate_node_id, op.data.pinned_candidate === true);
  }
  if (reranking.kind === 'abort' || reranking.kind === 'wait') return { next: 'abort', data: { abort_reason: reranking.reason } };
  if (reranking.kind === 'keep') return { next: 'promote', data: measureFailoverDataLoss(snapshot, op, op.candidate_node_id, deps.clock.now()) };
  const { candidate, previous } = reranking;
  if (previous !== null && previous !== candidate) {
    deps.log.info('re-ranking chose another candidate', { cluster_id: state.clusterId, previous, chosen: candidate });
  }
  return { next: 'promote', candidate_node_id: candidate, data: { reranked_from: previous, ...measureFailoverDataLoss(snapshot, op, candidate, deps.clock.now()) } };
}

/**
 * The failover is done: the new primary serves behind the Elastic IP. A fence sent without waiting
 * is still to be collected: it becomes a follow-up `fence` operation (step `confirm_fence`) run by
 * the same owner, which no longer holds the cluster (the engine judges it like any one-node action,
 * and a failover of the new primary makes it collect at once and give way).
 */
async function finish(state: SagaState): Promise<StepResult> {
  const { deps, op } = state;
  const now = deps.clock.now();
  deps.metrics.put(METRICS.failovers.name, 1, 'Count', { [CLUSTER_DIMENSION]: state.clusterId });
  deps.metrics.put(METRICS.failoverDuration.name, Math.max(0, now - op.started_at), 'Milliseconds', { [CLUSTER_DIMENSION]: state.clusterId });
  putDataLossMetric(deps.metrics, state.clusterId, op);
  const candidate = heartbeatOf(state, op.candidate_node_id ?? 0);
  deps.log.info('failover finished', {
    cluster_id: state.clusterId,
    operation: op.id,
    term: op.term,
    new_primary: op.candidate_node_id,
    timeline: candidate?.server?.timeline ?? null,
    duration_ms: now - op.started_at,
    ...(typeof op.data.end_reason === 'string' ? { handed_over: op.data.end_reason } : {}),
  });
  const pending = pendingFencesOf(op);
  if (pending.length === 0 || state.snapshot.cluster.settings.fence_mode === 'none') return { next: null };
  return {
    next: null,
    followUp: {
      kind: 'fence',
      term: op.term,
      candidate_node_id: pending[0]?.node_id ?? op.old_primary_node_id,
      old_primary_node_id: op.candidate_node_id,
      step: 'confirm_fence',
      data: { pending_fences: pending, reason: `deferred fence of the failover of term ${op.term}` },
    },
  };
}

async function abort(state: SagaState): Promise<StepResult> {
  const { op } = state;
  const s = state.snapshot.cluster.settings;
  // A round that reached its promote step and ends unconfirmed fences its candidate: a promote may land.
  const candidateFenced = op.data.fence_candidate === true && op.data.candidate_fenced !== true ? await fenceCandidate(state) : true;
  // A fence sent before an aborted promotion is still collected (and the instance stopped if needed).
  const pending = pendingFencesOf(op);
  if (pending.length > 0) await collectPendingFences(state, pending);
  await reconnectWalReceivers(state);
  const reason = typeof op.data.abort_reason === 'string' ? op.data.abort_reason : typeof op.data.end_reason === 'string' ? op.data.end_reason : 'unknown reason';
  const rerun = s.election_rerun_interval * 1000;
  // An unconfirmed fence of a candidate that may be promoting: no new round before its lease ran out.
  const hard = !candidateFenced;
  const cooldownMs = hard ? Math.max(rerun, s.lease_secs * 1000 + s.clock_skew_margin_ms) : rerun;
  await event(
    state,
    'repmgrd_failover_aborted',
    op.candidate_node_id ?? op.old_primary_node_id ?? 0,
    false,
    `failover of term ${op.term} aborted before its promotion was confirmed: ${reason}; the engine may try the same round again after ${Math.round(cooldownMs / 1000)} s${hard ? ' (the candidate\'s fence was not confirmed: no other round before its lease has run out either)' : ', another candidate at once'}`,
  );
  return { next: null, cooldownMs, data: { pending_fences: [], fence_deferred: false, candidate_fenced: true, ...(hard ? { cooldown_hard: true } : {}) } };
}

/**
 * After an aborted round, the standbys whose WAL receivers `disconnect_wal_receivers` stopped stream
 * again from where they were (SSM `reconnect-wal-receiver`): no promotion happened, so they must
 * not stay cut off until the next round. A failure is an event; the engine's follow decision and
 * the next round mop up.
 */
async function reconnectWalReceivers(state: SagaState): Promise<void> {
  const ids = state.op.data.wal_receivers_disconnected;
  if (!Array.isArray(ids)) return;
  const timeoutMs = state.snapshot.cluster.settings.sibling_nodes_disconnect_timeout * 1000;
  await Promise.all(
    state.snapshot.nodes
      .filter((n) => ids.includes(n.node_id) && n.active && !n.fenced)
      .map(async (n) => {
        const r = await runOnNode(state, n, { action: 'reconnect-wal-receiver' }, timeoutMs).catch((error: unknown) => ({ status: 'Failed' as const, exitCode: null, output: String(error) }));
        if (r.status !== 'Success') await event(state, 'saga_step_failed', n.node_id, false, `reconnect-wal-receiver on node ${n.node_id} after the aborted round: ${describeResult(r)}`);
      }),
  );
}


