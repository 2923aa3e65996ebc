/**
 * The switchover entry point (docs/controller.md) the SSM Automation document and `pgvigil standby
 * switchover` invoke: `{cluster_id, candidate_node_id, siblings_follow, dry_run}`. A dry run returns
 * the checks with pass/fail and changes nothing; a real run checks, claims the cluster (term + 1)
 * and drives the saga as far as this invocation's time allows — the CLI follows the progress in the
 * cluster record and the event log, and a saga this invocation could not finish is resumed by the
 * evaluator.
 *
 * The switchover succeeds once the new primary serves behind the Elastic IP. Its follow-ups — the
 * old primary rejoining as a standby, the siblings following — are the engine's ordinary decisions
 * (docs/controller.md); this invocation then evaluates the cluster like the evaluator does, while it
 * has time and within `node_rejoin_timeout` + `primary_follow_timeout`, so they usually happen
 * before it answers, and reports each as done or pending (`follow_ups`). A pending one is carried
 * on by the evaluator.
 */
import { buildContext, formatTime } from '../core/engine/index.js';
import { PgvigilError } from '../core/errors.js';
import { lsnDiff } from '../core/lsn.js';
import { clusterId, nodeId, type ClusterSnapshot, type Operation } from '../core/model.js';
import { describeRoute, primaryRoutes } from '../core/routes.js';
import { boolean, object, optional, withDefault, type Infer } from '../core/schema.js';
import { recordEvent, type ControllerDeps, type Invocation } from './controller.js';
import { followersOf } from './sagas/failover.js';
import { claim, COOLDOWN_STEP, runSaga, supersedableCooldown } from './sagas/runner.js';
import { latestHeartbeat } from './sagas/steps.js';
import { switchoverSaga } from './sagas/switchover.js';

/** The invocation payload: exactly these keys (an unknown one is refused, naming it). */
export const SwitchoverRequestSchema = object('switchover request', {
  cluster_id: clusterId,
  candidate_node_id: nodeId,
  siblings_follow: withDefault(boolean, () => false),
  dry_run: withDefault(boolean, () => false),
  /** A promotion by hand under the failover saga instead of a switchover (functions/manual-failover.ts). */
  failover: optional(boolean),
  /** With `failover`: promote even while the primary serves and holds its lease. */
  force: optional(boolean),
});
export type SwitchoverRequest = Infer<typeof SwitchoverRequestSchema>;

export interface SwitchoverCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface SwitchoverResponse {
  cluster_id: string;
  candidate_node_id: number;
  dry_run: boolean;
  /** Dry run: every check passed. Real run: the switchover completed. */
  ok: boolean;
  checks: SwitchoverCheck[];
  message: string;
  operation_id?: string;
  term?: number;
  /** completed | yielded (the evaluator carries on) | lost_ownership | not_claimed | cooldown */
  outcome?: string;
  /** After a completed switchover: the old primary's rejoin and the siblings' follow, done or pending. */
  follow_ups?: FollowUpStatus[];
}

/** One follow-up of a switchover, as the cluster's heartbeats show it. */
export interface FollowUpStatus {
  node_id: number;
  action: 'rejoin' | 'follow';
  state: 'done' | 'pending';
  detail: string;
}

/**
 * The follow-ups of a switchover that promoted `newPrimary` over `oldPrimary`: the old primary back
 * as a streaming standby of the new one, and each standby registered under the new primary (with
 * `siblings_follow`, the switchover registered the siblings there) streaming from it. Pure.
 */
export function switchoverFollowUps(snapshot: ClusterSnapshot, oldPrimary: number, newPrimary: number, now: number): FollowUpStatus[] {
  const ctx = buildContext(snapshot, now);
  const streamsFrom = (id: number): boolean => {
    const s = ctx.byId.get(id)?.server;
    return s !== null && s !== undefined && s.in_recovery === true && s.wal_receiver_status === 'streaming' && s.wal_receiver_upstream_node_id === newPrimary && !s.fenced;
  };
  const out: FollowUpStatus[] = [];
  const old = ctx.byId.get(oldPrimary);
  if (old) {
    const done = streamsFrom(oldPrimary);
    out.push({ node_id: oldPrimary, action: 'rejoin', state: done ? 'done' : 'pending', detail: done ? `node ${oldPrimary} streams from node ${newPrimary}` : `node ${oldPrimary} does not stream from node ${newPrimary} yet` });
  }
  const siblings = followersOf(snapshot.nodes, oldPrimary, newPrimary).filter((id) => id !== oldPrimary && ctx.byId.get(id)?.node.upstream_node_id === newPrimary);
  for (const id of siblings) {
    const done = streamsFrom(id);
    out.push({ node_id: id, action: 'follow', state: done ? 'done' : 'pending', detail: done ? `node ${id} streams from node ${newPrimary}` : `node ${id} does not stream from node ${newPrimary} yet` });
  }
  return out;
}

/** Parses the invocation payload; numbers may arrive as strings from SSM Automation. */
export function parseSwitchoverRequest(input: unknown): SwitchoverRequest {
  const raw = typeof input === 'object' && input !== null ? { ...(input as Record<string, unknown>) } : input;
  if (typeof raw === 'object' && raw !== null) {
    const r = raw as Record<string, unknown>;
    if (typeof r.candidate_node_id === 'string' && /^\d+$/.test(r.candidate_node_id)) r.candidate_node_id = Number(r.candidate_node_id);
    for (const k of ['siblings_follow', 'dry_run', 'failover', 'force']) if (r[k] === 'true' || r[k] === 'false') r[k] = r[k] === 'true';
  }
  const result = SwitchoverRequestSchema.check(raw);
  if (!result.ok) throw new PgvigilError('BAD_INPUT', 'invalid switchover request', { detail: result.errors.join('\n') });
  return result.value;
}

/** The prerequisite checks (what `--dry-run` prints). Pure: snapshot and time in, checks out. */
export function switchoverChecks(snapshot: ClusterSnapshot, candidateId: number, siblingsFollow: boolean, now: number): SwitchoverCheck[] {
  const ctx = buildContext(snapshot, now);
  const { cluster } = snapshot;
  const checks: SwitchoverCheck[] = [];
  const check = (name: string, passed: boolean, detail: string): void => {
    checks.push({ name, passed, detail });
  };
  const op = cluster.operation;
  check('no_operation_in_progress', op === null || supersedableCooldown(op), operationDetail(op, now));

  const primary = ctx.primary;
  check('primary_registered', primary !== null, primary ? `node ${primary.node.node_id} is the primary of term ${cluster.term}` : 'the cluster has no registered primary');
  const ps = primary?.server ?? null;
  const primaryServes = primary !== null && primary.fresh && ps !== null && ps.postmaster_running && ps.accepting_connections && ps.in_recovery === false;
  check(
    'primary_running',
    primaryServes,
    primaryServes ? `node ${primary?.node.node_id} is running and reporting` : 'the primary is not fresh, not running or in recovery: use failover, not switchover',
  );

  const cand = ctx.byId.get(candidateId);
  const isStandby = cand !== undefined && cand.node.type === 'standby' && cand.node.active && !cand.node.fenced;
  check(
    'candidate_is_standby',
    isStandby,
    cand === undefined ? `node ${candidateId} is not registered` : isStandby ? `node ${candidateId} is an active standby` : `node ${candidateId} is ${cand.node.type}${cand.node.active ? '' : ', inactive'}${cand.node.fenced ? ', fenced' : ''}`,
  );
  const cs = cand?.server ?? null;
  const streaming =
    cand !== undefined && cand.fresh && cs !== null && cs.in_recovery === true && cs.wal_receiver_status === 'streaming' &&
    (primary === null || cs.wal_receiver_upstream_node_id === null || cs.wal_receiver_upstream_node_id === primary.node.node_id);
  check(
    'candidate_streaming',
    streaming,
    streaming ? `node ${candidateId} is in recovery and streaming from the primary` : `node ${candidateId} is not fresh, not in recovery or not streaming from the primary`,
  );
  const pHb = primary ? latestHeartbeat(snapshot.heartbeats, primary.node.node_id) : null;
  const cHb = cand ? latestHeartbeat(snapshot.heartbeats, candidateId) : null;
  const sameSystem =
    pHb?.server?.system_identifier != null && pHb.server.system_identifier === cHb?.server?.system_identifier && pHb.server.timeline === cHb.server.timeline;
  check(
    'same_system_and_timeline',
    sameSystem,
    sameSystem ? `system identifier ${pHb?.server?.system_identifier}, timeline ${pHb?.server?.timeline}` : 'the candidate does not report the primary\'s system identifier and timeline',
  );
  const pLsn = pHb?.server?.current_lsn ?? null;
  const cLsn = cHb?.server?.receive_lsn ?? cHb?.server?.replay_lsn ?? null;
  const lagSecs = cHb?.server?.replication_lag_secs ?? null;
  const lagBytes = pLsn && cLsn ? lsnDiff(pLsn, cLsn) : null;
  const maxLag = cluster.settings.maximum_lag_on_failover;
  const lagOk =
    lagBytes !== null && (maxLag === null || lagBytes <= BigInt(maxLag)) && (lagSecs === null || lagSecs <= cluster.settings.replication_lag_critical);
  check(
    'candidate_lag',
    lagOk,
    lagBytes === null
      ? 'the LSNs of the primary or the candidate are unknown'
      : `${lagBytes > 0n ? lagBytes : 0n} bytes behind${lagSecs === null ? '' : `, ${lagSecs} s replay lag`}${maxLag === null ? '' : ` (maximum_lag_on_failover=${maxLag})`}`,
  );
  const instances = Boolean(primary?.node.instance_id) && Boolean(cand?.node.instance_id);
  check('ssm_targets', instances, instances ? 'the primary and the candidate have EC2 instance ids for SSM' : 'the primary or the candidate has no instance_id registered');
  if (siblingsFollow && primary) {
    const siblings = followersOf(snapshot.nodes, primary.node.node_id, candidateId).filter((id) => id !== primary.node.node_id);
    const stale = siblings.filter((id) => !ctx.byId.get(id)?.fresh);
    check(
      'siblings_reporting',
      stale.length === 0,
      stale.length === 0 ? `${siblings.length} sibling standby(s) will follow the new primary` : `sibling node(s) ${stale.join(', ')} are not reporting`,
    );
  }
  const routes = primaryRoutes(cluster.settings).map(describeRoute);
  check(
    'vip',
    true,
    routes.length > 0
      ? `${routes.join(' and ')} will move to node ${candidateId}`
      : 'no Elastic IP or Route 53 record configured: clients find the new primary through a load balancer or a multi-host connection string (pgvigil cluster uri)',
  );
  return checks;
}

/** What `no_operation_in_progress` says about the operation in the record. */
function operationDetail(op: Operation | null, now: number): string {
  if (op === null) return 'no saga is in flight';
  if (supersedableCooldown(op)) {
    const until = now > op.deadline ? `its cooldown ended at ${formatTime(op.deadline)}` : `only cools down until ${formatTime(op.deadline)} (election_rerun_interval)`;
    return `no saga is in flight: the ${op.kind} of node ${op.candidate_node_id} (operation ${op.id}) gave up and ${until}; the switchover will supersede that cooldown, and the controller decides the ${op.kind} again after it`;
  }
  const running = `a ${op.kind} (operation ${op.id}) is at step "${op.step}"`;
  if (op.step !== COOLDOWN_STEP) return running;
  const hard = op.data.cooldown_hard === true ? `, a hard one: a promote may have reached node ${op.candidate_node_id ?? '?'}, whose fence was not confirmed` : '';
  return `${running} until ${formatTime(op.deadline)}${hard}; a switchover supersedes only the cooldown of a follow or rejoin`;
}

/** The answer of a dry run, or of a run whose checks failed: the checks, and what they mean. */
export function checksOnly(
  base: Pick<SwitchoverResponse, 'cluster_id' | 'candidate_node_id' | 'dry_run'>,
  checks: SwitchoverCheck[],
  command: string,
  what: string,
): SwitchoverResponse {
  const failed = checks.filter((c) => !c.passed);
  return {
    ...base,
    ok: failed.length === 0,
    checks,
    message:
      failed.length === 0
        ? `prerequisites for executing ${command} are met`
        : `${what} not possible: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`,
  };
}

/** Checks that fail for a while and pass again by themselves: stale heartbeats, a follow-up in flight. */
const TRANSIENT_CHECKS = new Set(['no_operation_in_progress', 'primary_running', 'candidate_streaming', 'same_system_and_timeline', 'candidate_lag', 'siblings_reporting']);

/** An operation in flight, or a node whose latest heartbeat is not fresh: what waiting can clear. */
function staleOrBusy(snapshot: ClusterSnapshot, now: number): boolean {
  const ctx = buildContext(snapshot, now);
  return snapshot.cluster.operation !== null || [...ctx.byId.values()].some((n) => n.node.active && !n.fresh);
}

async function checkedSnapshot(deps: ControllerDeps, request: SwitchoverRequest): Promise<{ snapshot: ClusterSnapshot; checks: SwitchoverCheck[] }> {
  const loaded = await deps.store.load(request.cluster_id);
  if (!loaded) throw new PgvigilError('NOT_FOUND', `cluster "${request.cluster_id}" does not exist`);
  const { snapshot } = loaded;
  return { snapshot, checks: switchoverChecks(snapshot, request.candidate_node_id, request.siblings_follow, deps.clock.now()) };
}

/**
 * One evaluation of the cluster, as the evaluator makes it (functions/evaluator.ts `evaluateCluster`):
 * passed in by the entry point (functions/switchover-entry.ts) so this module does not import the
 * evaluator, which starts scheduled switchovers through it.
 */
export type EvaluateOnce = (deps: ControllerDeps, inv: Invocation, clusterId: string) => Promise<{ saga: string | null }>;

/** A switchover; with `evaluate`, its follow-ups are driven before it answers, else the evaluator carries them on. */
export async function runSwitchover(deps: ControllerDeps, inv: Invocation, request: SwitchoverRequest, evaluate?: EvaluateOnce): Promise<SwitchoverResponse> {
  const base = { cluster_id: request.cluster_id, candidate_node_id: request.candidate_node_id, dry_run: request.dry_run };
  let { snapshot, checks } = await checkedSnapshot(deps, request);
  let failed = checks.filter((c) => !c.passed);
  // A real run waits out what the next heartbeats or the end of a follow-up clear (a busy host's
  // heartbeat a second late must not refuse a planned switchover); a dry run reports what it sees.
  const waitUntil = deps.clock.now() + Math.max(5, 2 * snapshot.cluster.settings.node_timeout_secs) * 1000;
  while (!request.dry_run && failed.length > 0 && failed.every((c) => TRANSIENT_CHECKS.has(c.name)) && staleOrBusy(snapshot, deps.clock.now()) && deps.clock.now() < waitUntil) {
    await deps.clock.sleep(500);
    ({ snapshot, checks } = await checkedSnapshot(deps, request));
    failed = checks.filter((c) => !c.passed);
  }
  if (request.dry_run || failed.length > 0) return checksOnly(base, checks, 'STANDBY SWITCHOVER', 'switchover');
  const { cluster } = snapshot;
  const oldHb = latestHeartbeat(snapshot.heartbeats, cluster.primary_node_id ?? 0);
  // The checks passed, so an operation in the record is a cooldown this claim takes over.
  const superseded = cluster.operation;
  const claimed = await claim(deps, inv, snapshot, {
    kind: 'switchover',
    term: cluster.term + 1,
    candidate_node_id: request.candidate_node_id,
    old_primary_node_id: cluster.primary_node_id,
    firstStep: 'demote_primary',
    data: {
      was_paused: cluster.paused,
      pause_owned: !cluster.paused,
      siblings_follow: request.siblings_follow,
      old_timeline: oldHb?.server?.timeline ?? null,
      ...(superseded ? { superseded_cooldown: superseded.id } : {}),
    },
    pause: true,
    ...(superseded ? { supersedes: superseded.id } : {}),
  });
  if (!claimed) {
    return { ...base, ok: false, checks, outcome: 'not_claimed', message: 'another operation claimed the cluster first; nothing was changed' };
  }
  if (superseded && deps.clock.now() <= superseded.deadline) {
    // As the evaluator records a cooldown it clears early (functions/evaluator.ts).
    await recordEvent(deps, cluster.settings, {
      cluster_id: request.cluster_id,
      node_id: superseded.candidate_node_id ?? 0,
      event: 'stuck_state_recovery',
      successful: true,
      details: `cooldown_superseded: the cooldown after the ${superseded.kind} of node ${superseded.candidate_node_id} (operation ${superseded.id}, until ${formatTime(superseded.deadline)}) gives way to the switchover to node ${request.candidate_node_id}: it only held back that same ${superseded.kind}, which the controller decides again after the switchover`,
      term: claimed.op.term,
    });
  }
  await recordEvent(deps, cluster.settings, {
    cluster_id: request.cluster_id,
    node_id: request.candidate_node_id,
    event: 'switchover_started',
    successful: true,
    details: `switchover from node ${cluster.primary_node_id} to node ${request.candidate_node_id}, term ${claimed.op.term}${request.siblings_follow ? ', siblings follow' : ''}`,
    term: claimed.op.term,
  });
  const outcome = await runSaga(switchoverSaga, deps, inv, request.cluster_id, claimed);
  const promoted = (await deps.store.load(request.cluster_id))?.snapshot.cluster.primary_node_id === request.candidate_node_id;
  const succeeded = outcome.outcome === 'completed' && promoted;
  const followUps = succeeded && evaluate ? await driveFollowUps(deps, inv, evaluate, request.cluster_id, cluster.primary_node_id ?? 0, request.candidate_node_id) : undefined;
  const pending = (followUps ?? []).filter((f) => f.state === 'pending');
  return {
    ...base,
    ok: succeeded,
    checks,
    operation_id: claimed.op.id,
    term: claimed.op.term,
    outcome: outcome.outcome,
    ...(followUps ? { follow_ups: followUps } : {}),
    message: succeeded
      ? `node ${request.candidate_node_id} is now the primary (term ${claimed.op.term})${pending.length === 0 ? '' : `; pending follow-ups, carried on by the controller: ${pending.map((p) => `${p.action} of node ${p.node_id}`).join(', ')}`}`
      : outcome.outcome === 'yielded'
        ? 'the switchover continues in the evaluator; follow it with "pgvigil cluster event"'
        : 'the switchover did not complete; see "pgvigil cluster event" for why',
  };
}

/**
 * Evaluates the cluster, as the evaluator does, until the switchover's follow-ups are done, its
 * bound (`node_rejoin_timeout` + `primary_follow_timeout`) has passed or this invocation runs short
 * of time. Whatever the engine decides meanwhile is carried out (a failover of the new primary
 * included): this invocation is one more evaluator, racing the others under the same conditional
 * writes.
 */
async function driveFollowUps(deps: ControllerDeps, inv: Invocation, evaluate: EvaluateOnce, clusterId: string, oldPrimary: number, newPrimary: number): Promise<FollowUpStatus[]> {
  const started = deps.clock.now();
  let statuses: FollowUpStatus[] = [];
  for (;;) {
    const loaded = await deps.store.load(clusterId);
    if (!loaded) return statuses;
    const { settings } = loaded.snapshot.cluster;
    statuses = switchoverFollowUps(loaded.snapshot, oldPrimary, newPrimary, deps.clock.now());
    const bound = (settings.node_rejoin_timeout + settings.primary_follow_timeout) * 1000 + 10_000;
    if (statuses.every((f) => f.state === 'done') || deps.clock.now() - started > bound || inv.remainingMs() < deps.timings.safetyMarginMs + 15_000) return statuses;
    const r = await evaluate(deps, inv, clusterId);
    if (r.saga !== 'completed') await deps.clock.sleep(deps.timings.pollIntervalMs);
  }
}
