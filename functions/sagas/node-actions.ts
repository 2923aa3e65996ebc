/**
 * The one-node sagas (SPEC §7.3): fence an intruder (split brain, or a superseded primary back up),
 * rejoin a fenced former primary (`auto_rejoin`: pg_rewind, then follow), make a standby follow the
 * current primary. None raises the term — they act *within* the current term and carry it as the
 * fencing token — but each still claims the cluster record, so none runs beside another saga.
 * A failure leaves an event and a short cooldown; the engine decides again afterwards.
 */
import type { Action } from '../../core/decision.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import type { ControllerDeps, Invocation } from '../controller.js';
import { pointRoutesAt } from './routes.js';
import { claim, runSaga, type SagaDefinition, type SagaOutcome, type SagaState, type StepResult } from './runner.js';
import { describeResult, event, fenceNode, nodeOf, runOnNode } from './steps.js';

type NodeAction = Extract<Action, { kind: 'fence' | 'rejoin' | 'follow' }>;

function cooldown(state: SagaState): number {
  return state.snapshot.cluster.settings.election_rerun_interval * 1000;
}

export const fenceSaga: SagaDefinition = {
  kind: 'fence',
  stepBudgetMs: (_step, state) => state.deps.timings.fenceWaitMs + 30_000,
  async run(step, state): Promise<StepResult> {
    if (step !== 'fence') return { next: null };
    const { deps, op } = state;
    const node = nodeOf(state, op.candidate_node_id);
    const primary = state.snapshot.nodes.find((n) => n.node_id === state.snapshot.cluster.primary_node_id);
    // The routes stay with (or go back to) the term's primary.
    if (primary) await pointRoutesAt(state, primary, { events: 'when-moved', why: "kept on the term's primary" });
    const outcome = await fenceNode(state, node);
    await deps.store.putNode({ ...node, active: false, fenced: true, updated_at: deps.clock.now() });
    deps.metrics.put(METRICS.splitBrains.name, 1, 'Count', { [CLUSTER_DIMENSION]: state.clusterId });
    await event(state, 'fence_applied', node.node_id, outcome.confirmed, `${String(op.data.reason ?? 'split brain')}: ${outcome.method}: ${outcome.detail}`);
    return outcome.confirmed || outcome.method === 'none' ? { next: null } : { next: null, cooldownMs: cooldown(state) };
  },
  giveUp: (_step, _reason, state) => ({ next: null, cooldownMs: cooldown(state) }),
};

export const rejoinSaga: SagaDefinition = {
  kind: 'rejoin',
  stepBudgetMs: () => 0, // replaced below (needs settings)
  async run(step, state): Promise<StepResult> {
    if (step !== 'rejoin') return { next: null };
    const { deps, op } = state;
    const node = nodeOf(state, op.candidate_node_id);
    const upstream = Number(op.data.upstream_node_id);
    const timeoutMs = Number(op.data.timeout_ms);
    const result = await runOnNode(state, node, { action: 'rejoin', upstreamNodeId: upstream, forceRewind: true }, timeoutMs);
    const ok = result.status === 'Success';
    if (ok) {
      await deps.store.putNode({ ...node, type: 'standby', upstream_node_id: upstream, active: true, fenced: false, updated_at: deps.clock.now() });
    }
    await event(state, 'node_rejoin', node.node_id, ok, ok ? `node ${node.node_id} rejoined as a standby of node ${upstream}` : `rejoin of node ${node.node_id} failed: ${describeResult(result)}`);
    return ok ? { next: null } : { next: null, cooldownMs: cooldown(state) };
  },
  giveUp: (_step, _reason, state) => ({ next: null, cooldownMs: cooldown(state) }),
};
rejoinSaga.stepBudgetMs = (_step, state) => Number(state.op.data.timeout_ms) + 10_000;

export const followSaga: SagaDefinition = {
  kind: 'follow',
  stepBudgetMs: (_step, state) => state.snapshot.cluster.settings.primary_follow_timeout * 1000 + 10_000,
  async run(step, state): Promise<StepResult> {
    if (step !== 'follow') return { next: null };
    const { deps, op } = state;
    const node = nodeOf(state, op.candidate_node_id);
    const upstream = Number(op.data.upstream_node_id);
    const result = await runOnNode(state, node, { action: 'follow', upstreamNodeId: upstream }, state.snapshot.cluster.settings.primary_follow_timeout * 1000);
    const ok = result.status === 'Success';
    if (ok) await deps.store.putNode({ ...node, upstream_node_id: upstream, updated_at: deps.clock.now() });
    await event(state, 'standby_follow', node.node_id, ok, ok ? `node ${node.node_id} now follows node ${upstream}` : `node ${node.node_id} did not follow node ${upstream}: ${describeResult(result)}`);
    return ok ? { next: null } : { next: null, cooldownMs: cooldown(state) };
  },
  giveUp: (_step, _reason, state) => ({ next: null, cooldownMs: cooldown(state) }),
};

/** The saga definition of each operation kind that has one step on one node. */
export const NODE_SAGAS = { fence: fenceSaga, rejoin: rejoinSaga, follow: followSaga } as const;

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
    firstStep: action.kind,
    data: {
      upstream_node_id: upstream,
      timeout_ms: timeoutMs,
      ...(action.kind === 'fence' ? { reason: action.reason === 'split_brain' ? 'split brain' : 'superseded primary back up' } : {}),
    },
  });
  if (!claimed) return null;
  return runSaga(def, deps, inv, snapshot.cluster.cluster_id, claimed);
}
