/**
 * The evaluator (docs/architecture.md, docs/snapshot-format.md, docs/decision-engine.md, docs/controller.md): for one cluster, read → decide → persist the lease
 * observation → record what the decision says should be recorded → start, resume or end a saga.
 * The same function serves DynamoDB Stream batches (each cluster in a batch evaluated once) and the
 * scheduled sweep (every cluster, with bounded concurrency).
 *
 * When an evaluation ended an operation, cleared a cooldown or a leftover pause, or completed a
 * failover, switchover or restart, it decides again at once (a few rounds at most): the next thing
 * the cluster needs — the failover that replaces a failed new primary, the follow and rejoin
 * follow-ups of a promotion — starts in the same invocation instead of waiting for the next one.
 * So does an evaluation whose failover claim lost: the claim is conditional on the version read,
 * so it also loses to writes that claim nothing (another evaluation's reported conditions), and
 * then nobody would claim until the next heartbeat or sweep.
 *
 * Events for conditions that persist are deduplicated through the cluster record's
 * `reported_conditions`: an alarm, a cancelled round, a rejected heartbeat item is recorded when it
 * appears and (for alarms) again when it clears — not on every evaluation. The keys are written
 * with a conditional update first and only the invocation whose write won records the events, so
 * racing invocations do not duplicate them. While a saga is in flight the evaluator writes nothing
 * to the cluster record (the saga owns it); conditions are brought up to date once it is done.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { Action, Alarm, Decision, DecisionCode, OperationEnding } from '../core/decision.js';
import type { EventName } from '../core/events.js';
import { lsnDiff } from '../core/lsn.js';
import { CLUSTER_DIMENSION, METRICS } from '../core/metrics.js';
import { clusterId as clusterIdSchema, type ClusterSnapshot, type Operation } from '../core/model.js';
import type { RejectedHeartbeat } from '../core/ports.js';
import {
  PARTITION_KEY,
  SORT_KEY,
  clusterIdFromPartition,
  keys,
  nodeIdFromSortKey,
} from '../core/table.js';
import { checkHeartbeat, fromItem } from '../adapters/dynamo-state-store.js';
import { errorText, recordEvent, type ControllerDeps, type Invocation } from './controller.js';
import { keepDecision } from './flight-recorder.js';
import { runDueSwitchover } from './scheduled-switchover.js';
import { failoverSaga, startFailover } from './sagas/failover.js';
import { NODE_SAGAS, startNodeAction, startRestart } from './sagas/node-actions.js';
import { COOLDOWN_STEP, endOperation, runSaga, takeOver, type SagaDefinition, type SagaOutcome } from './sagas/runner.js';
import { repairRoutes } from './sagas/routes.js';
import { switchoverSaga } from './sagas/switchover.js';
import { latestHeartbeat } from './sagas/steps.js';

export interface EvaluationResult {
  cluster_id: string;
  code: DecisionCode | 'missing';
  reasons: string[];
  /**
   * What happened to a saga in this evaluation; `started_elsewhere`: another writer claimed the
   * cluster first (for a lost failover claim: the re-read found the term raised).
   */
  saga: SagaOutcome['outcome'] | 'started_elsewhere' | 'in_progress' | 'cooldown_cleared' | 'ended' | 'unpaused' | null;
  /** Events this evaluation recorded (decision/alarm/rejection events; saga events not counted). */
  events_recorded: number;
}

/** A stream record (or loaded heartbeat item) the evaluator refused. */
export interface StreamRejection {
  node_id: number | null;
  details: string;
}

export interface EvaluateOptions {
  /** Heartbeat records of this cluster the stream parser rejected (one event each). */
  rejections?: readonly StreamRejection[];
  /** The scheduled sweep: also puts an Elastic IP left elsewhere back on a serving primary. */
  sweep?: boolean;
}

/** Rounds of decide-and-act one evaluation may chain (see the module comment). */
const MAX_ROUNDS = 6;

/** One read → decide → act round; `again` when the cluster may need another decision at once. */
interface Round {
  result: EvaluationResult;
  again: boolean;
  /** The term the round read (none when the cluster record is missing). */
  term?: number;
  /** The round's failover claim lost to a concurrent write of the cluster record. */
  claimLost?: boolean;
}

export function sagaFor(kind: string): SagaDefinition {
  switch (kind) {
    case 'failover':
      return failoverSaga;
    case 'switchover':
      return switchoverSaga;
    case 'fence':
    case 'rejoin':
    case 'follow':
    case 'restart':
      return NODE_SAGAS[kind];
    default:
      throw new Error(`no saga for operation kind "${kind}"`);
  }
}

export async function evaluateCluster(deps: ControllerDeps, inv: Invocation, clusterId: string, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  let result: EvaluationResult | undefined;
  /** Set while `result` is a lost failover claim: the term its round read. */
  let lostAt: number | undefined;
  let events = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const once = await evaluateOnce(deps, inv, clusterId, round === 0 ? options : { ...(options.sweep ? { sweep: true } : {}) });
    events += once.result.events_recorded;
    // A cleared cooldown is bookkeeping: what the evaluation did is what came after it. So is a
    // lost failover claim when the re-read finds the same term (nobody claimed); with the term
    // raised, the failover was started elsewhere and the lost claim's result says so.
    const takes = !result || result.saga === 'cooldown_cleared' || (lostAt !== undefined && once.term === lostAt);
    if (takes) result = { ...once.result, saga: once.result.saga ?? (result?.saga === 'cooldown_cleared' ? result.saga : null) };
    lostAt = takes && once.claimLost ? once.term : undefined;
    if (!once.again || inv.remainingMs() < deps.timings.safetyMarginMs) break;
  }
  return { ...(result as EvaluationResult), events_recorded: events };
}

async function evaluateOnce(deps: ControllerDeps, inv: Invocation, clusterId: string, options: EvaluateOptions): Promise<Round> {
  const started = deps.clock.now();
  const loaded = await deps.store.load(clusterId);
  if (!loaded) {
    for (const r of options.rejections ?? []) {
      deps.log.warn('heartbeat rejected for a cluster that does not exist', { cluster_id: clusterId, node_id: r.node_id, details: r.details });
    }
    return { result: { cluster_id: clusterId, code: 'missing', reasons: [`cluster "${clusterId}" has no cluster record`], saga: null, events_recorded: 0 }, again: false };
  }
  const { snapshot } = loaded;
  const { cluster } = snapshot;
  const now = deps.clock.now();
  const decision = deps.decide(snapshot, now);
  const dims = { [CLUSTER_DIMENSION]: clusterId };
  deps.metrics.put(METRICS.decisionLatency.name, deps.clock.now() - started, 'Milliseconds', dims);
  emitStateMetrics(deps, snapshot, now);
  deps.log.info('decision', { cluster_id: clusterId, term: cluster.term, code: decision.code, reasons: decision.reasons.slice(0, 5) });
  const rejections = options.rejections ?? [];
  const reportedByStream = new Set(rejections.map((r) => rejectionKey(r.node_id)));
  const recordRejections = async (): Promise<number> => {
    await Promise.all(
      rejections.map((r) =>
        recordEvent(deps, cluster.settings, { cluster_id: clusterId, node_id: r.node_id ?? 0, event: 'heartbeat_rejected', successful: false, details: r.details, term: cluster.term }),
      ),
    );
    return rejections.length;
  };
  const action = decision.actions[0];
  let eventsRecorded = 0;
  const result = (saga: EvaluationResult['saga'], again = false): Round => ({
    result: { cluster_id: clusterId, code: decision.code, reasons: decision.reasons, saga, events_recorded: eventsRecorded },
    again,
    term: cluster.term,
  });
  /** A saga's outcome, its follow-up (if any) run by the same owner; `again` once a promotion or restart completed. */
  const ran = async (outcome: SagaOutcome | null, chain: boolean): Promise<Round> => {
    if (!outcome) return result('started_elsewhere');
    let last: SagaOutcome = outcome;
    while (last.outcome === 'completed' && last.followUp) last = await runSaga(sagaFor(last.followUp.op.kind), deps, inv, clusterId, last.followUp);
    return result(outcome.outcome, chain && last.outcome === 'completed');
  };

  if (cluster.operation === null && action?.kind === 'failover') {
    // The claim comes first and carries what this evaluation has to write (docs/controller.md,
    // "One evaluation"): the lease observation and the reported conditions go in the claim's own
    // conditional update — version and lease RVN as read, so it loses to a renewal or another
    // writer exactly as the claim alone would — and the events and flight record are written
    // beside the saga's first event, once the claim won.
    const plan = planConditions(snapshot, decision, loaded.rejected, reportedByStream);
    const change = {
      ...(decision.lease_observation ? { lease_observation: decision.lease_observation } : {}),
      ...(plan ? { reported_conditions: plan.keys } : {}),
    };
    const afterClaim = async (): Promise<void> => {
      const counts = await Promise.all([keepDecision(deps, snapshot, decision, now).then(() => 0), recordRejections(), plan ? recordConditions(deps, snapshot, plan) : 0]);
      eventsRecorded += counts.reduce((a, b) => a + b, 0);
    };
    const outcome = await startFailover(deps, inv, snapshot, action, decision, { change, afterClaim });
    if (!outcome) {
      // Another writer won: the conditions are theirs (or the next round's) to report. It may have
      // claimed nothing (a concurrent evaluation's own write), so decide again at once.
      const [, , rejected] = await Promise.all([
        keepDecision(deps, snapshot, decision, now),
        decision.lease_observation ? deps.store.putLeaseObservation(clusterId, cluster.term, decision.lease_observation) : null,
        recordRejections(),
      ]);
      eventsRecorded += rejected;
      return { ...result('started_elsewhere', true), claimLost: true };
    }
    return ran(outcome, true);
  }

  // Independent items (the flight record; the lease observation, which does not raise the
  // version; the event items), so written side by side rather than one after another.
  const [, , rejected] = await Promise.all([
    keepDecision(deps, snapshot, decision, now),
    // Conditional on the term and RVN: losing to a newer observation or a claimed term is fine.
    decision.lease_observation ? deps.store.putLeaseObservation(clusterId, cluster.term, decision.lease_observation) : null,
    recordRejections(),
  ]);
  eventsRecorded += rejected;

  let version = cluster.version;
  if (cluster.operation === null) {
    const reported = await reportConditions(deps, snapshot, decision, loaded.rejected, reportedByStream);
    eventsRecorded += reported.events;
    if (reported.wrote) version += 1;
  }
  const current: ClusterSnapshot = { ...snapshot, cluster: { ...cluster, version } };

  const op = cluster.operation;
  if (op) {
    if (action?.kind === 'end_operation') return endInFlight(deps, inv, current, decision, action, result, ran);
    if (op.step === COOLDOWN_STEP || now <= op.deadline) return result('in_progress');
    const def = sagaFor(op.kind);
    const taken = await takeOver(deps, inv, current);
    if (!taken) return result('started_elsewhere');
    return ran(await runSaga(def, deps, inv, clusterId, taken), op.kind === 'failover' || op.kind === 'switchover' || op.kind === 'restart');
  }

  if (!action) {
    if (options.sweep) eventsRecorded += await reconcileRoutes(deps, current, decision);
    // A switchover scheduled for now starts only when the engine has nothing more urgent to do.
    const scheduled = await runDueSwitchover(deps, inv, current);
    if (scheduled === 'started') return result(null, true);
    return result(null);
  }
  switch (action.kind) {
    case 'failover':
      return ran(await startFailover(deps, inv, current, action, decision), true); // not reached: claimed above
    case 'restart_primary':
      return ran(await startRestart(deps, inv, current, action, decision.reasons), true);
    case 'unpause': {
      const write = await deps.store.updateCluster(clusterId, version, { paused: false, paused_by: null }, deps.clock.now());
      if (!write.ok) return result('started_elsewhere');
      await recordEvent(deps, cluster.settings, {
        cluster_id: clusterId,
        node_id: 0,
        event: 'cluster_unpaused',
        successful: true,
        details: `stuck state pause_outlived_operation: ${decision.reasons[0] ?? ''}`.slice(0, 8000),
        term: cluster.term,
      });
      return result('unpaused', true);
    }
    case 'end_operation':
      return result(null); // only decided while an operation is in flight
    default:
      return ran(await startNodeAction(deps, inv, current, action), false);
  }
}

/**
 * Ends the operation in flight as the engine says (core/engine/operation.ts): one conditional
 * write takes it from its owner — who stops at its next re-read or write — and this invocation runs
 * the steps that end it; then the cluster is decided again at once. Only the invocation whose
 * write won records `operation_ended`.
 */
async function endInFlight(
  deps: ControllerDeps,
  inv: Invocation,
  current: ClusterSnapshot,
  decision: Decision,
  action: Extract<Action, { kind: 'end_operation' }>,
  result: (saga: EvaluationResult['saga'], again?: boolean) => Round,
  ran: (outcome: SagaOutcome | null, chain: boolean) => Promise<Round>,
): Promise<Round> {
  const { cluster } = current;
  const op = cluster.operation as Operation;
  const clusterId = cluster.cluster_id;
  const now = deps.clock.now();
  const base = { cluster_id: clusterId, term: cluster.term };
  if (action.ending === 'clear_cooldown') {
    const cleared = await deps.store.updateCluster(clusterId, cluster.version, { operation: null }, now);
    if (!cleared.ok) return result('started_elsewhere');
    if (now <= op.deadline) {
      // Cleared before its deadline: a stuck-looking state left on purpose, so say which and why.
      await recordEvent(deps, cluster.settings, { ...base, node_id: op.candidate_node_id ?? 0, event: 'stuck_state_recovery', successful: true, details: `cooldown_superseded: ${action.reason}`.slice(0, 8000) });
    }
    return result('cooldown_cleared', true);
  }
  const details = `${op.kind} ${op.id} (term ${op.term}) at step "${op.step}" ended (${action.ending.replace('_', ' ')}): ${action.reason}`.slice(0, 8000);
  if (action.ending === 'release' && (op.kind === 'follow' || op.kind === 'rejoin')) {
    // Nothing to undo: its agent action, if one is running, ends by its own timeout.
    const released = await deps.store.updateCluster(clusterId, cluster.version, { operation: null }, now);
    if (!released.ok) return result('started_elsewhere');
    await recordEvent(deps, cluster.settings, { ...base, node_id: op.candidate_node_id ?? 0, event: 'operation_ended', successful: true, details });
    return result('ended', true);
  }
  const step = endingStep(action.ending);
  const data: Record<string, unknown> = { end_reason: action.reason, abort_reason: action.reason };
  if (action.ending === 'release') data.collect_now = true; // a fence confirmation: collect now, give way
  if (op.step === 'promote' || op.step === 'verify_promotion') data.fence_candidate = true;
  const taken = await endOperation(deps, inv, current, step, data);
  if (!taken) return result('started_elsewhere');
  await recordEvent(deps, cluster.settings, { ...base, node_id: op.candidate_node_id ?? op.old_primary_node_id ?? 0, event: 'operation_ended', successful: true, details });
  deps.log.warn('operation ended by the engine', { cluster_id: clusterId, operation: op.id, from: op.step, to: step, reason: action.reason, decision: decision.code });
  const outcome = await runSaga(sagaFor(op.kind), deps, inv, clusterId, taken);
  const after = await ran(outcome, true);
  return { result: { ...after.result, saga: outcome.outcome === 'lost_ownership' ? 'lost_ownership' : 'ended' }, again: outcome.outcome !== 'lost_ownership' && outcome.outcome !== 'yielded' };
}

/** The saga step that carries out an ending. */
function endingStep(ending: Exclude<OperationEnding, 'clear_cooldown'>): string {
  switch (ending) {
    case 'rollback':
      return 'rollback';
    case 'incomplete':
      return 'incomplete';
    case 'hand_over':
      return 'finish';
    case 'release':
      return 'confirm_fence';
    case 'abort':
      return 'abort';
  }
}

/**
 * The sweep's check that the routes lead to a primary that serves (functions/sagas/routes.ts
 * `repairRoutes`): only when no operation is in flight and the engine finds the primary serving.
 */
async function reconcileRoutes(deps: ControllerDeps, snapshot: ClusterSnapshot, decision: Decision): Promise<number> {
  const { cluster } = snapshot;
  if (cluster.operation || !['healthy', 'follow', 'rejoin'].includes(decision.code)) return 0;
  const primary = snapshot.nodes.find((n) => n.node_id === cluster.primary_node_id);
  if (!primary?.instance_id) return 0;
  return repairRoutes(deps, snapshot, primary);
}

const ALARM_EVENTS: Partial<Record<Alarm['kind'], EventName>> = { witness_dark: 'witness_dark' };

function alarmKey(a: Alarm): string {
  return `alarm:${a.kind}:${a.node_id ?? '-'}`;
}

function rejectionKey(nodeId: number | null): string {
  return `rejected:${nodeId ?? '-'}`;
}

/** The conditions to report: the new key set, and the events of those that appeared or (alarms) cleared. */
interface ConditionReport {
  keys: string[];
  appeared: { key: string; record: (deps: ControllerDeps) => Promise<unknown> }[];
  cleared: string[];
}

/**
 * What changed since the last evaluation's `reported_conditions`; null when nothing did. Pure: the
 * caller writes `keys` with a conditional update and, only when that write won, records the events
 * ({@link recordConditions}).
 */
function planConditions(
  snapshot: ClusterSnapshot,
  decision: Decision,
  rejected: readonly RejectedHeartbeat[],
  reportedByStream: ReadonlySet<string>,
): ConditionReport | null {
  const { cluster } = snapshot;
  const pending: ConditionReport['appeared'] = [];
  const current = new Set<string>();
  const base = { cluster_id: cluster.cluster_id, term: cluster.term };
  const add = (key: string, record: (deps: ControllerDeps) => Promise<unknown>): void => {
    if (current.has(key)) return;
    current.add(key);
    pending.push({ key, record });
  };
  for (const e of decision.events) {
    add(`event:${e.event}:${e.node_id}`, (deps) =>
      recordEvent(deps, cluster.settings, { ...base, node_id: e.node_id, event: e.event, successful: e.successful, details: e.details }),
    );
  }
  for (const a of decision.alarms) {
    if (a.kind === 'clock_skew') continue; // the engine's clock_skew event says it already
    add(alarmKey(a), (deps) =>
      recordEvent(deps, cluster.settings, {
        ...base,
        node_id: a.node_id ?? 0,
        event: ALARM_EVENTS[a.kind] ?? 'replication_alarm',
        successful: false,
        details: `${a.kind}: ${a.message}`,
      }),
    );
  }
  for (const r of rejected) {
    const key = rejectionKey(r.node_id);
    if (reportedByStream.has(key)) {
      current.add(key);
      continue;
    }
    add(key, (deps) =>
      recordEvent(deps, cluster.settings, {
        ...base,
        node_id: r.node_id ?? 0,
        event: 'heartbeat_rejected',
        successful: false,
        details: `heartbeat item of node ${r.node_id ?? '?'} ignored: ${r.errors.join('; ')}`.slice(0, 8000),
      }),
    );
  }
  const previous = new Set(cluster.reported_conditions ?? []);
  const appeared = pending.filter((p) => !previous.has(p.key));
  const cleared = [...previous].filter((k) => !current.has(k));
  if (appeared.length === 0 && cleared.length === 0) return null;
  return { keys: [...current].sort(), appeared, cleared };
}

/** Records the events of a report whose key set this invocation wrote; returns how many. */
async function recordConditions(deps: ControllerDeps, snapshot: ClusterSnapshot, report: ConditionReport): Promise<number> {
  const { cluster } = snapshot;
  const clearedAlarms = report.cleared.flatMap((key) => {
    const m = /^alarm:([a-z_]+):(\d+|-)$/.exec(key);
    if (!m || m[1] === 'clock_skew') return [];
    return [{ kind: m[1] as Alarm['kind'], node_id: m[2] === '-' ? 0 : Number(m[2]) }];
  });
  // Separate event items: written side by side.
  await Promise.all([
    ...report.appeared.map((p) => p.record(deps)),
    ...clearedAlarms.map((a) =>
      recordEvent(deps, cluster.settings, {
        cluster_id: cluster.cluster_id,
        term: cluster.term,
        node_id: a.node_id,
        event: ALARM_EVENTS[a.kind] ?? 'replication_alarm',
        successful: true,
        details: `${a.kind}: cleared`,
      }),
    ),
  ]);
  return report.appeared.length + clearedAlarms.length;
}

/** Records events for conditions that appeared or (alarms) cleared since the last evaluation. */
async function reportConditions(
  deps: ControllerDeps,
  snapshot: ClusterSnapshot,
  decision: Decision,
  rejected: readonly RejectedHeartbeat[],
  reportedByStream: ReadonlySet<string>,
): Promise<{ wrote: boolean; events: number }> {
  const report = planConditions(snapshot, decision, rejected, reportedByStream);
  if (!report) return { wrote: false, events: 0 };
  const write = await deps.store.updateCluster(snapshot.cluster.cluster_id, snapshot.cluster.version, { reported_conditions: report.keys }, deps.clock.now());
  if (!write.ok) return { wrote: false, events: 0 }; // another invocation reports them
  return { wrote: true, events: await recordConditions(deps, snapshot, report) };
}

export function emitStateMetrics(deps: ControllerDeps, snapshot: ClusterSnapshot, now: number): void {
  const { cluster } = snapshot;
  const dims = { [CLUSTER_DIMENSION]: cluster.cluster_id };
  const primaryHb = cluster.primary_node_id === null ? null : latestHeartbeat(snapshot.heartbeats, cluster.primary_node_id);
  if (primaryHb) deps.metrics.put(METRICS.heartbeatAge.name, Math.max(0, now - primaryHb.sent_at) / 1000, 'Seconds', dims);
  const observation = cluster.lease_observation;
  if (observation && cluster.lease?.rvn === observation.rvn) {
    deps.metrics.put(METRICS.leaseAge.name, Math.max(0, now - observation.first_seen_at) / 1000, 'Seconds', dims);
  }
  const lagSecs = snapshot.nodes
    .filter((n) => n.type === 'standby' && n.active)
    .map((n) => latestHeartbeat(snapshot.heartbeats, n.node_id)?.server?.replication_lag_secs ?? null)
    .filter((v): v is number => v !== null);
  if (lagSecs.length > 0) deps.metrics.put(METRICS.replicationLagSeconds.name, Math.max(...lagSecs), 'Seconds', dims);
  const primaryLsn = primaryHb?.server?.current_lsn ?? null;
  if (!primaryLsn) return;
  let worst: bigint | null = null;
  for (const n of snapshot.nodes) {
    if (n.type !== 'standby' || !n.active) continue;
    const lsn = latestHeartbeat(snapshot.heartbeats, n.node_id)?.server?.receive_lsn ?? null;
    if (!lsn) continue;
    const lag = lsnDiff(primaryLsn, lsn);
    if (worst === null || lag > worst) worst = lag;
  }
  if (worst !== null) deps.metrics.put(METRICS.replicationLag.name, Number(worst > 0n ? worst : 0n), 'Bytes', dims);
}

// ---------------------------------------------------------------------------------------------
// DynamoDB Stream batches

export interface ParsedBatch {
  clusters: Map<string, { records: DynamoDBRecord[]; rejections: StreamRejection[] }>;
  /** Records that name no valid cluster: logged, nothing else can be done with them. */
  unattributable: { eventID: string | undefined; reason: string }[];
}

/** Groups stream records by cluster and rejects malformed or foreign heartbeat images. Never throws. */
export function parseStreamBatch(records: readonly unknown[]): ParsedBatch {
  const out: ParsedBatch = { clusters: new Map(), unattributable: [] };
  for (const raw of records) {
    const record = (typeof raw === 'object' && raw !== null ? raw : {}) as DynamoDBRecord;
    const ddb = record.dynamodb;
    const pk = ddb?.Keys?.[PARTITION_KEY]?.S;
    const sk = ddb?.Keys?.[SORT_KEY]?.S;
    const cid = typeof pk === 'string' ? clusterIdFromPartition(pk) : undefined;
    if (cid === undefined || !clusterIdSchema.safeParse(cid).success || typeof sk !== 'string') {
      out.unattributable.push({ eventID: record.eventID, reason: `record keys ${JSON.stringify(ddb?.Keys ?? null).slice(0, 200)} name no valid cluster item` });
      continue;
    }
    let group = out.clusters.get(cid);
    if (!group) {
      group = { records: [], rejections: [] };
      out.clusters.set(cid, group);
    }
    group.records.push(record);
    if (!sk.startsWith(keys.prefix.heartbeat) || record.eventName === 'REMOVE') continue;
    const keyNode = nodeIdFromSortKey(sk) ?? null;
    const where = `stream record ${record.eventID ?? '?'} (${sk})`;
    if (keyNode === null) {
      group.rejections.push({ node_id: null, details: `${where}: malformed heartbeat key` });
      continue;
    }
    if (!ddb?.NewImage) {
      group.rejections.push({ node_id: keyNode, details: `${where}: no new image` });
      continue;
    }
    let data: Record<string, unknown>;
    try {
      data = fromItem(ddb.NewImage as Record<string, AttributeValue>);
    } catch (error) {
      group.rejections.push({ node_id: keyNode, details: `${where}: image is not DynamoDB JSON: ${errorText(error)}` });
      continue;
    }
    const verdict = checkHeartbeat(data, cid, keyNode);
    if (!verdict.ok) group.rejections.push({ node_id: keyNode, details: `${where}: ${verdict.errors.join('; ')}`.slice(0, 8000) });
  }
  return out;
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i] as T) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * One stream batch: each cluster evaluated once; `batchItemFailures` lists the records of the
 * clusters whose evaluation threw (so Lambda retries from the earliest of them), nothing else.
 */
export async function handleStreamBatch(
  deps: ControllerDeps,
  inv: Invocation,
  event: Partial<DynamoDBStreamEvent>,
  concurrency = 8,
): Promise<DynamoDBBatchResponse & { results: EvaluationResult[] }> {
  const parsed = parseStreamBatch(Array.isArray(event.Records) ? event.Records : []);
  for (const u of parsed.unattributable) deps.log.warn('stream record ignored', u);
  const clusters = [...parsed.clusters.entries()];
  const settled = await mapLimit(clusters, concurrency, ([cid, group]) => evaluateCluster(deps, inv, cid, { rejections: group.rejections }));
  const failures: { itemIdentifier: string }[] = [];
  const results: EvaluationResult[] = [];
  settled.forEach((s, i) => {
    const [cid, group] = clusters[i] as [string, { records: DynamoDBRecord[] }];
    if (s.status === 'fulfilled') {
      results.push(s.value);
      return;
    }
    deps.log.error('evaluation failed', { cluster_id: cid, error: s.reason });
    for (const r of group.records) if (r.dynamodb?.SequenceNumber) failures.push({ itemIdentifier: r.dynamodb.SequenceNumber });
  });
  return { batchItemFailures: failures, results };
}

export interface SweepResult {
  clusters: number;
  results: EvaluationResult[];
  failed: { cluster_id: string; error: string }[];
  /** Clusters left for the next sweep because this invocation ran out of time. */
  skipped: string[];
}

/** Time an evaluation may need; a cluster is not started with less left (the next sweep takes it). */
const SWEEP_RESERVE_MS = 10_000;

/** The scheduled safety sweep: every cluster, `concurrency` at a time, within the invocation's time. */
export async function sweep(deps: ControllerDeps, inv: Invocation, concurrency = 10): Promise<SweepResult> {
  const listed = await deps.store.listClusters();
  // Start at a different cluster each minute, so a deployment too big for one invocation never
  // starves the same clusters at the end of the list.
  const start = Math.floor(deps.clock.now() / 60_000) % Math.max(1, listed.length);
  const ids = [...listed.slice(start), ...listed.slice(0, start)];
  const skipped: string[] = [];
  const settled = await mapLimit(ids, concurrency, async (cid) => {
    if (inv.remainingMs() < SWEEP_RESERVE_MS) {
      skipped.push(cid);
      return null;
    }
    return evaluateCluster(deps, inv, cid, { sweep: true });
  });
  if (skipped.length > 0) deps.log.warn('sweep ran out of time; the next sweep evaluates the rest', { skipped: skipped.length });
  const out: SweepResult = { clusters: ids.length, results: [], failed: [], skipped: skipped.sort() };
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') {
      if (s.value) out.results.push(s.value);
    } else {
      out.failed.push({ cluster_id: ids[i] as string, error: errorText(s.reason) });
      deps.log.error('evaluation failed', { cluster_id: ids[i], error: s.reason });
    }
  });
  return out;
}
