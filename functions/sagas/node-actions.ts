/**
 * The small sagas (docs/controller.md): fence an intruder (split brain, or a superseded primary back up) or
 * collect the fences a failover sent without waiting (`confirm_fence`); rejoin a fenced node
 * (a switchover's demoted primary, or a failed former primary with `auto_rejoin`); make a standby
 * follow the current primary; restart the term's primary in place when it failed and no standby can
 * take its place. None of them promotes anything. Each claims the cluster record, so none runs
 * beside another saga, and each is bounded by one agent action's timeout; the engine judges the
 * cluster while they run and ends them at once when something more urgent needs the record
 * (core/engine/operation.ts).
 *
 * Follow and rejoin re-check, on the record the runner re-read just before acting, that their
 * upstream is the live primary of the operation's term, and a rejoin never stops the last eligible
 * candidate or the only synchronous standby: otherwise they end without acting (an event and a
 * cooldown for that same action only). A failure leaves an event and the same cooldown.
 */
import type { Action } from '../../core/decision.js';
import type { ClusterSnapshot, NodeRecord } from '../../core/model.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import type { ControllerDeps, Invocation } from '../controller.js';
import { pointRoutesAt } from './routes.js';
import { claim, runSaga, type SagaDefinition, type SagaOutcome, type SagaState, type StepResult } from './runner.js';
import {
  collectPendingFences,
  describeResult,
  destructiveStepBlocked,
  event,
  fenceNode,
  heartbeatOf,
  markFenced,
  moveVipStep,
  nodeOf,
  pendingFencesOf,
  runOnNode,
  waitForHeartbeat,
} from './steps.js';

type NodeAction = Extract<Action, { kind: 'fence' | 'rejoin' | 'follow' }>;

function cooldown(state: SagaState): number {
  return state.snapshot.cluster.settings.election_rerun_interval * 1000;
}

export const fenceSaga: SagaDefinition = {
  kind: 'fence',
  stepBudgetMs: (_step, state) => state.deps.timings.fenceWaitMs + 30_000,
  async run(step, state): Promise<StepResult> {
    if (step === 'confirm_fence') {
      // A failover sent these without waiting; collected here, off its critical path. When the
      // engine ends this to make way for something urgent (`collect_now`), nothing is waited for:
      // an instance whose agent has not confirmed by then is stopped.
      await collectPendingFences(state, pendingFencesOf(state.op), state.op.data.collect_now === true);
      return { next: null };
    }
    if (step !== 'fence') return { next: null };
    const { deps, op } = state;
    const node = nodeOf(state, op.candidate_node_id);
    const s = heartbeatOf(state, node.node_id)?.server;
    if (s && !(s.postmaster_running && s.in_recovery === false) && s.fenced) {
      // Fenced meanwhile (its own agent, or an earlier attempt): nothing left to stop.
      await markFenced(state, node);
      await event(state, 'fence_applied', node.node_id, true, `${String(op.data.reason ?? 'split brain')}: its agent already reports it fenced`);
      return { next: null };
    }
    const primary = state.snapshot.nodes.find((n) => n.node_id === state.snapshot.cluster.primary_node_id);
    // The routes stay with (or go back to) the term's primary.
    if (primary) await pointRoutesAt(state, primary, { events: 'when-moved', why: "kept on the term's primary" });
    // A second writable server is fenced even when the term's primary is not live right now: two
    // writable servers are worse than none (docs/controller.md).
    const outcome = await fenceNode(state, node);
    await markFenced(state, node, outcome);
    deps.metrics.put(METRICS.splitBrains.name, 1, 'Count', { [CLUSTER_DIMENSION]: state.clusterId });
    await event(state, 'fence_applied', node.node_id, outcome.confirmed, `${String(op.data.reason ?? 'split brain')}: ${outcome.method}: ${outcome.detail}`);
    return outcome.confirmed || outcome.method === 'none' ? { next: null } : { next: null, cooldownMs: cooldown(state) };
  },
  giveUp: (_step, _reason, state) => ({ next: null, cooldownMs: cooldown(state) }),
};

/**
 * After the agent confirmed a follow or rejoin, its next heartbeat (bounded by one heartbeat
 * interval and node_timeout_secs): the decision after this saga must not read the report from
 * before it, which still shows the node fenced or on its old upstream, and repeat the action.
 */
async function awaitReport(state: SagaState, nodeId: number, upstream: number): Promise<void> {
  const { settings } = state.snapshot.cluster;
  await waitForHeartbeat(
    state.deps,
    state.clusterId,
    nodeId,
    (hb) => hb.server?.in_recovery === true && !hb.server.fenced && hb.server.wal_receiver_upstream_node_id === upstream,
    (settings.heartbeat_interval_secs + settings.node_timeout_secs) * 1000,
  );
}

/** A follow or rejoin that must not act now: an event, and a cooldown of that same action. */
async function notSent(state: SagaState, name: 'node_rejoin' | 'standby_follow', why: string): Promise<StepResult> {
  const { op } = state;
  await event(state, name, op.candidate_node_id ?? 0, false, `${op.kind} of node ${op.candidate_node_id} not sent: ${why}`);
  return { next: null, cooldownMs: cooldown(state), data: { not_sent: why } };
}

/**
 * The rejoin of a node whose instance a fence stopped (auto_rejoin): start the instance, then wait
 * for its agent, which is what carries out the rejoin. The upstream must be the live primary of the
 * term first: nothing is started for a primary that is not serving.
 */
async function startInstance(state: SagaState): Promise<StepResult> {
  const { deps, op } = state;
  const node = nodeOf(state, op.candidate_node_id);
  const upstream = Number(op.data.upstream_node_id);
  const blocked = destructiveStepBlocked(state, node.node_id, upstream, false);
  if (blocked) return notSent(state, 'node_rejoin', blocked);
  if (node.instance_stopped_at !== null && node.instance_id !== null) {
    try {
      await deps.fencer.start(node.instance_id);
    } catch (error) {
      await event(state, 'node_rejoin', node.node_id, false, `rejoin of node ${node.node_id} failed: ${error instanceof Error ? error.message : String(error)}`);
      return { next: null, cooldownMs: cooldown(state) };
    }
    // Started once: if its agent never reports, the node stays down (node_stale says so) rather
    // than being started again and again.
    await deps.store.putNode({ ...node, instance_stopped_at: null, updated_at: deps.clock.now() });
    await event(
      state,
      'instance_started',
      node.node_id,
      true,
      `instance ${node.instance_id} of node ${node.node_id} started again (a fence stopped it at ${new Date(node.instance_stopped_at).toISOString()}): auto_rejoin rewinds it and makes it follow node ${upstream} once its agent reports`,
    );
  }
  const startedAt = deps.clock.now();
  const margin = state.snapshot.cluster.settings.clock_skew_margin_ms;
  const hb = await waitForHeartbeat(deps, state.clusterId, node.node_id, (h) => h.sent_at > startedAt - margin, deps.timings.bootWaitMs);
  if (!hb) {
    await event(state, 'node_rejoin', node.node_id, false, `rejoin of node ${node.node_id} failed: its agent did not report within ${deps.timings.bootWaitMs / 1000} s of the instance's start`);
    return { next: null, cooldownMs: cooldown(state) };
  }
  return { next: 'rejoin' };
}

/**
 * A fenced node whose server already streams from `upstream` — a fenced former primary that a
 * restart brought back as a standby (its fence wrote standby.signal). Its agent's rejoin stops
 * nothing then (it lifts the fence and registers it), so the rule that never stops the last
 * candidate or the only synchronous standby does not hold it back; it would otherwise stay fenced,
 * never a failover candidate, while it already carries the synchronous commits
 * (docs/controller.md, "Stuck states"). A node that stopped streaming meanwhile acknowledges no
 * commit, and a fenced node is no candidate, so its agent stopping it after all costs neither.
 */
function attachedFenced(state: SagaState, node: NodeRecord, upstream: number): boolean {
  const s = heartbeatOf(state, node.node_id)?.server;
  if (!s || !(node.fenced || s.fenced)) return false;
  return s.postmaster_running && s.in_recovery === true && s.wal_receiver_status === 'streaming' && s.wal_receiver_upstream_node_id === upstream;
}

export const rejoinSaga: SagaDefinition = {
  kind: 'rejoin',
  stepBudgetMs: (step, state) =>
    (step === 'start_instance' ? state.deps.timings.bootWaitMs : Number(state.op.data.timeout_ms)) + (state.snapshot.cluster.settings.heartbeat_interval_secs + state.snapshot.cluster.settings.node_timeout_secs) * 1000 + 10_000,
  async run(step, state): Promise<StepResult> {
    if (step === 'start_instance') return startInstance(state);
    if (step !== 'rejoin') return { next: null };
    const { deps, op } = state;
    const node = nodeOf(state, op.candidate_node_id);
    const upstream = Number(op.data.upstream_node_id);
    const blocked = destructiveStepBlocked(state, node.node_id, upstream, !attachedFenced(state, node, upstream));
    if (blocked) return notSent(state, 'node_rejoin', blocked);
    // Operations claimed by an earlier controller version always rewound.
    const forceRewind = op.data.force_rewind !== false;
    const timeoutMs = Number(op.data.timeout_ms);
    const result = await runOnNode(state, node, { action: 'rejoin', upstreamNodeId: upstream, forceRewind }, timeoutMs);
    const ok = result.status === 'Success';
    if (ok) {
      await deps.store.putNode({ ...node, type: 'standby', upstream_node_id: upstream, active: true, fenced: false, instance_stopped_at: null, updated_at: deps.clock.now() });
      await awaitReport(state, node.node_id, upstream);
    }
    await event(state, 'node_rejoin', node.node_id, ok, ok ? `node ${node.node_id} rejoined as a standby of node ${upstream}` : `rejoin of node ${node.node_id} failed: ${describeResult(result)}`);
    return ok ? { next: null } : { next: null, cooldownMs: cooldown(state) };
  },
  giveUp: (_step, _reason, state) => ({ next: null, cooldownMs: cooldown(state) }),
};

export const followSaga: SagaDefinition = {
  kind: 'follow',
  stepBudgetMs: (_step, state) => {
    const s = state.snapshot.cluster.settings;
    return (s.primary_follow_timeout + s.heartbeat_interval_secs + s.node_timeout_secs) * 1000 + 10_000;
  },
  async run(step, state): Promise<StepResult> {
    if (step !== 'follow') return { next: null };
    const { deps, op } = state;
    const node = nodeOf(state, op.candidate_node_id);
    const upstream = Number(op.data.upstream_node_id);
    // A follow restarts nothing that runs (the agent reloads a running standby), but one toward a
    // primary that is not live would only wait out its timeout.
    const blocked = destructiveStepBlocked(state, node.node_id, upstream, false);
    if (blocked) return notSent(state, 'standby_follow', blocked);
    // repmgr records a standby re-pointed after its upstream failed as repmgrd_failover_follow.
    const formerUpstream = state.snapshot.nodes.find((n) => n.node_id === node.upstream_node_id);
    const name = formerUpstream && formerUpstream.node_id !== upstream && (!formerUpstream.active || formerUpstream.fenced) ? 'repmgrd_failover_follow' : 'standby_follow';
    const result = await runOnNode(state, node, { action: 'follow', upstreamNodeId: upstream }, state.snapshot.cluster.settings.primary_follow_timeout * 1000);
    const ok = result.status === 'Success';
    if (ok) {
      await deps.store.putNode({ ...node, upstream_node_id: upstream, updated_at: deps.clock.now() });
      await awaitReport(state, node.node_id, upstream);
    }
    await event(state, name, node.node_id, ok, ok ? `node ${node.node_id} now follows node ${upstream}` : `node ${node.node_id} did not follow node ${upstream}: ${describeResult(result)}`);
    return ok ? { next: null } : { next: null, cooldownMs: cooldown(state) };
  },
  giveUp: (_step, _reason, state) => ({ next: null, cooldownMs: cooldown(state) }),
};

/**
 * A stopped node started again in place as the primary (a new term, claimed like a failover, the
 * record naming it primary): SSM `Unfence` (the agent's `unfence-primary`: fence marker and
 * standby.signal removed, started, checked out of recovery), its heartbeat confirms it, the record
 * names it an unfenced primary, the Elastic IP is put on it. Reached only when the engine found the
 * primary failed, no standby promotable and this node holding every write the primary acknowledged:
 * the primary itself, or a candidate a failover promoted and lost (core/engine/decide.ts).
 */
export const restartSaga: SagaDefinition = {
  kind: 'restart',
  stepBudgetMs: (step, state) => (step === 'restart' ? state.deps.timings.demoteWaitMs + state.snapshot.cluster.settings.promote_check_timeout * 1000 + 10_000 : 15_000),
  async run(step, state): Promise<StepResult> {
    const { deps, op } = state;
    switch (step) {
      case 'restart': {
        const node = nodeOf(state, op.candidate_node_id);
        const result = await runOnNode(state, node, { action: 'unfence-primary' }, deps.timings.demoteWaitMs);
        if (result.status !== 'Success') return { next: 'abort', data: { abort_reason: `unfence-primary on node ${node.node_id} failed: ${describeResult(result)}` } };
        const up = await waitForHeartbeat(
          deps,
          state.clusterId,
          node.node_id,
          (hb) => hb.term >= op.term && hb.server?.postmaster_running === true && hb.server.in_recovery === false && !hb.server.fenced,
          state.snapshot.cluster.settings.promote_check_timeout * 1000,
        );
        const now = deps.clock.now();
        await deps.store.putNode({ ...node, type: 'primary', upstream_node_id: null, active: true, fenced: false, updated_at: now });
        await event(state, 'fence_lifted', node.node_id, true, `node ${node.node_id} restarted in place as the primary of term ${op.term}${up ? '' : ' (confirmed by the unfence command; its heartbeat has not shown it yet)'}`);
        return { next: 'move_vip', data: { restarted_at: now }, change: { lease_observation: null } };
      }
      case 'move_vip':
        return moveVipStep(state, 'finish');
      case 'abort': {
        const reason = typeof op.data.abort_reason === 'string' ? op.data.abort_reason : typeof op.data.end_reason === 'string' ? op.data.end_reason : 'unknown reason';
        await event(state, 'stuck_state_recovery', op.candidate_node_id ?? 0, false, `primary_down_no_candidate: the restart of node ${op.candidate_node_id} in place failed: ${reason}; the engine tries again after election_rerun_interval`);
        return { next: null, cooldownMs: cooldown(state) };
      }
      default:
        return { next: null };
    }
  },
  giveUp: (step, reason) => (step === 'move_vip' ? { next: 'finish', data: { skipped_move_vip: reason } } : step === 'restart' ? { next: 'abort', data: { abort_reason: reason } } : { next: null }),
};

/** The saga definition of each operation kind that acts on one node. */
export const NODE_SAGAS = { fence: fenceSaga, rejoin: rejoinSaga, follow: followSaga, restart: restartSaga } as const;

/** Claims the cluster (same term) for one node action and runs it. Null when another invocation won. */
export async function startNodeAction(
  deps: ControllerDeps,
  inv: Invocation,
  snapshot: ClusterSnapshot,
  action: NodeAction,
): Promise<SagaOutcome | null> {
  const upstream = action.kind === 'fence' ? null : action.upstream_node_id;
  const timeoutMs = snapshot.cluster.settings.node_rejoin_timeout * 1000;
  const def = NODE_SAGAS[action.kind];
  const claimed = await claim(deps, inv, snapshot, {
    kind: action.kind,
    term: snapshot.cluster.term,
    candidate_node_id: action.node_id,
    old_primary_node_id: snapshot.cluster.primary_node_id,
    // A node whose instance a fence stopped is started first (auto_rejoin; core/engine/topology.ts).
    firstStep: action.kind === 'rejoin' && snapshot.nodes.find((n) => n.node_id === action.node_id)?.instance_stopped_at != null ? 'start_instance' : action.kind,
    data: {
      upstream_node_id: upstream,
      timeout_ms: timeoutMs,
      ...(action.kind === 'rejoin' ? { force_rewind: action.force_rewind } : {}),
      ...(action.kind === 'fence' ? { reason: action.reason === 'split_brain' ? 'split brain' : 'superseded primary back up' } : {}),
    },
  });
  if (!claimed) return null;
  return runSaga(def, deps, inv, snapshot.cluster.cluster_id, claimed);
}

/**
 * Claims a new term for restarting the failed primary in place (the claim raises the term like a
 * failover, so a late command of the old term is refused by every agent) and runs it.
 */
export async function startRestart(
  deps: ControllerDeps,
  inv: Invocation,
  snapshot: ClusterSnapshot,
  action: Extract<Action, { kind: 'restart_primary' }>,
  reasons: readonly string[],
): Promise<SagaOutcome | null> {
  const claimed = await claim(deps, inv, snapshot, {
    kind: 'restart',
    term: snapshot.cluster.term + 1,
    candidate_node_id: action.node_id,
    old_primary_node_id: snapshot.cluster.primary_node_id,
    firstStep: 'restart',
    guardLease: true,
    data: { old_term: snapshot.cluster.term },
    // The agent's unfence-primary starts only the node the record names primary.
    ...(snapshot.cluster.primary_node_id === action.node_id ? {} : { change: { primary_node_id: action.node_id, lease_observation: null } }),
  });
  if (!claimed) return null;
  const state: SagaState = { deps, inv, clusterId: snapshot.cluster.cluster_id, snapshot, op: claimed.op, version: claimed.version };
  await event(state, 'stuck_state_recovery', action.node_id, true, `primary_down_no_candidate: ${reasons.join('; ')}`.slice(0, 8000));
  return runSaga(restartSaga, deps, inv, snapshot.cluster.cluster_id, claimed);
}
