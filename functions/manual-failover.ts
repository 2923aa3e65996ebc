/**
 * A promotion by hand (`pgvigil standby promote`, `pgvigil cluster failover --candidate N`): the
 * failover saga (sagas/failover.ts) under a new term, on request — fence the old primary, promote
 * the candidate, move the routes; the other standbys follow as the engine's ordinary follow-ups.
 * It reaches the controller the way a switchover does (the switchover entry point with
 * `failover: true`, docs/operations.md), so `failover=manual`, a paused cluster or a failover the
 * controller cancelled all have a safe way out.
 *
 * It refuses while the primary serves and holds its lease, unless `force`: then the saga fences a
 * healthy primary (it waits for the fence, or stops the instance) and every transaction the
 * candidate had not received when the primary stopped is lost (none with synchronous replication).
 */
import { buildContext } from '../core/engine/index.js';
import { selectCandidate } from '../core/engine/candidates.js';
import { observeLease } from '../core/engine/lease.js';
import { primaryServes } from '../core/engine/topology.js';
import { PgvigilError } from '../core/errors.js';
import type { ClusterSnapshot } from '../core/model.js';
import type { ControllerDeps, Invocation } from './controller.js';
import { failoverSaga } from './sagas/failover.js';
import { claim, runSaga, type SagaState } from './sagas/runner.js';
import { event, latestHeartbeat } from './sagas/steps.js';
import { checksOnly, type SwitchoverCheck, type SwitchoverRequest, type SwitchoverResponse } from './switchover.js';

/** What must hold before a promotion by hand, each with pass/fail and why. Pure. */
export function manualFailoverChecks(snapshot: ClusterSnapshot, candidateId: number, force: boolean, now: number): SwitchoverCheck[] {
  const { cluster } = snapshot;
  const checks: SwitchoverCheck[] = [];
  const check = (name: string, passed: boolean, detail: string): void => {
    checks.push({ name, passed, detail });
  };
  check('no_operation', cluster.operation === null, cluster.operation === null ? 'no other operation holds the cluster' : `operation ${cluster.operation.id} (${cluster.operation.kind}) holds the cluster`);
  const ctx = buildContext({ ...snapshot, cluster: { ...cluster, operation: null } }, now);
  const primary = cluster.primary_node_id === null ? undefined : ctx.byId.get(cluster.primary_node_id);
  check('primary_registered', primary !== undefined, primary ? `node ${primary.node.node_id} is the primary of term ${cluster.term}` : 'the cluster names no registered primary to fail over from');
  if (!primary) return checks;
  if (candidateId === primary.node.node_id) {
    check('candidate_eligible', false, `node ${candidateId} is the primary already`);
    return checks;
  }
  const assessment = selectCandidate(ctx, primary).assessments.find((a) => a.node_id === candidateId);
  check(
    'candidate_eligible',
    assessment?.eligible === true,
    assessment ? `node ${candidateId}: ${assessment.reasons.join('; ')}` : `node ${candidateId} is not registered in cluster "${cluster.cluster_id}"`,
  );
  const lease = observeLease(ctx);
  const serves = primaryServes(primary);
  const healthy = serves && !lease.expired;
  check(
    'primary_not_healthy',
    !healthy || force,
    healthy
      ? `node ${primary.node.node_id} serves as primary and holds its lease (${lease.description})${force ? '; --force: it will be fenced, and what node ' + candidateId + ' has not received is lost' : ''}`
      : `node ${primary.node.node_id} ${serves ? 'serves but its lease has expired' : 'does not serve as primary'}; it is fenced before node ${candidateId} is promoted`,
  );
  return checks;
}

export async function runManualFailover(deps: ControllerDeps, inv: Invocation, request: SwitchoverRequest): Promise<SwitchoverResponse> {
  const base = { cluster_id: request.cluster_id, candidate_node_id: request.candidate_node_id, dry_run: request.dry_run };
  const loaded = await deps.store.load(request.cluster_id);
  if (!loaded) throw new PgvigilError('NOT_FOUND', `cluster "${request.cluster_id}" does not exist`);
  const { snapshot } = loaded;
  const checks = manualFailoverChecks(snapshot, request.candidate_node_id, request.force === true, deps.clock.now());
  const failed = checks.filter((c) => !c.passed);
  if (request.dry_run || failed.length > 0) return checksOnly(base, checks, 'STANDBY PROMOTE', 'promotion');
  const { cluster } = snapshot;
  const oldPrimary = cluster.primary_node_id ?? 0;
  const oldHb = latestHeartbeat(snapshot.heartbeats, oldPrimary);
  const claimed = await claim(deps, inv, snapshot, {
    kind: 'failover',
    term: cluster.term + 1,
    candidate_node_id: request.candidate_node_id,
    old_primary_node_id: oldPrimary,
    firstStep: 'fence_old_primary',
    // A forced promotion over a renewing primary must not lose its claim to each renewal; the
    // fence before the promotion is what keeps the old primary from writing on.
    guardLease: request.force !== true,
    data: { old_timeline: oldHb?.server?.timeline ?? null, old_term: cluster.term, first_candidate: request.candidate_node_id, requested: true, pinned_candidate: true, forced: request.force === true },
  });
  if (!claimed) return { ...base, ok: false, checks, outcome: 'not_claimed', message: 'another operation claimed the cluster first (or the primary renewed its lease); nothing was changed' };
  const state: SagaState = { deps, inv, clusterId: request.cluster_id, snapshot, op: claimed.op, version: claimed.version };
  await event(
    state,
    'failover_started',
    oldPrimary,
    true,
    `term ${claimed.op.term}: promotion of node ${request.candidate_node_id} requested by an operator${request.force === true ? ' with --force' : ''}; node ${oldPrimary} is fenced first`,
  );
  const outcome = await runSaga(failoverSaga, deps, inv, request.cluster_id, claimed);
  const promoted = (await deps.store.load(request.cluster_id))?.snapshot.cluster.primary_node_id === request.candidate_node_id;
  const ok = outcome.outcome === 'completed' && promoted;
  return {
    ...base,
    ok,
    checks,
    operation_id: claimed.op.id,
    term: claimed.op.term,
    outcome: outcome.outcome,
    message: ok
      ? `node ${request.candidate_node_id} is now the primary (term ${claimed.op.term}); the other standbys follow it as the controller's follow-ups`
      : outcome.outcome === 'yielded'
        ? 'the failover continues in the evaluator; follow it with "pgvigil cluster event"'
        : 'the promotion did not complete; see "pgvigil cluster event --event=repmgrd_failover_aborted" for why',
  };
}
