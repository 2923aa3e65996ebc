/**
 * The saga runner (docs/controller.md): a persisted sequence of idempotent steps, owned by one invocation at a
 * time through the cluster record's optimistic lock.
 *
 * - Ownership. The operation names its owner and a deadline. Every write the runner makes is a
 *   conditional update on the cluster record's `version`, and before each step it re-reads the
 *   record strongly and checks the version is still the one it wrote last: a saga that lost its
 *   record to anyone (a takeover, an operator) stops before acting again. Lease renewals, lease
 *   observations and the owner's deadline renewals do not raise the version, so they never disturb
 *   a running saga; evaluators do not write anything else to the record while an operation is in
 *   flight.
 * - Deadline: the owner's lease. It is `ownerLeaseMs` ahead of the clock, renewed before a step
 *   when less than two thirds of it are left and every third of it while a step runs (a
 *   conditional write that only succeeds while the deadline has not passed), so a live owner
 *   keeps its saga however long a step waits, and an owner that died (a Lambda killed
 *   mid-invocation) is replaced by the first invocation after its lease runs out (see
 *   {@link takeOver}), seconds later rather than a whole step's bound. If a live owner cannot
 *   renew (DynamoDB unreachable) and is taken over mid-step, both run the same idempotent step at
 *   the same term, and the old owner stops at its next write or re-read.
 * - Steps. `run(step)` returns the next step (or null: done). A step that throws is retried up to
 *   `maxStepAttempts` times (each failure an event `saga_step_failed` and a metric); then the saga's
 *   `giveUp` decides where it goes (abort, roll back, or skip a step that is not essential).
 * - Time. A step starts only if the invocation has time for its whole bound; otherwise the runner
 *   releases the saga (deadline = now) and the next invocation — the release itself is a stream
 *   record that passes the evaluator's filter — carries on.
 * - Cooldown. A saga that gives up leaves a `cooldown` step with a deadline instead of clearing
 *   the operation, so the engine does not start the same failing round again at once
 *   (`election_rerun_interval`). The engine says when it may be cleared: at its deadline, or at
 *   once for a different action (core/engine/operation.ts); a switchover's claim may take over
 *   the cooldown of a follow or rejoin ({@link supersedableCooldown}).
 * - Ending. The engine may decide that an operation must end before its own steps would end it
 *   (its candidate or new primary failed, no writable primary for too long, a more urgent
 *   decision): {@link endOperation} moves it, with one conditional write, to the step that ends it
 *   and names a new owner, so the live owner stops at its next re-read or write.
 * - Follow-up. A saga's last step may leave a small follow-up operation instead of none (the
 *   failover's deferred fence confirmation): it is written with the same conditional write and run
 *   by the same owner.
 * - Step times. Every transition records `data.step_started_at` and every takeover
 *   `data.taken_over_at` (controller clock), from which the engine measures how long a step has
 *   held the cluster.
 */
import { randomUUID } from 'node:crypto';
import { PgvigilError } from '../../core/errors.js';
import { METRICS, CLUSTER_DIMENSION } from '../../core/metrics.js';
import { COOLDOWN_STEP } from '../../core/engine/operation.js';
import type { ClusterRecord, ClusterSnapshot, Operation, OperationKind } from '../../core/model.js';
import { errorText, recordEvent, type ControllerDeps, type Invocation } from '../controller.js';

export { COOLDOWN_STEP };

export type ClusterChange = Partial<Pick<ClusterRecord, 'term' | 'primary_node_id' | 'paused' | 'paused_by' | 'lease_observation' | 'reported_conditions'>>;

/** A follow-up operation a saga's last step leaves behind (the runner gives it an id, owner and deadline). */
export type FollowUp = Pick<Operation, 'kind' | 'term' | 'candidate_node_id' | 'old_primary_node_id' | 'step' | 'data'>;

export interface StepResult {
  /** The next step, or null when the saga is done. */
  next: string | null;
  /** Merged into `operation.data`. */
  data?: Record<string, unknown>;
  /** Cluster-record fields written together with the step transition. */
  change?: ClusterChange;
  /** A new candidate (after re-ranking). */
  candidate_node_id?: number;
  /** When done: keep a cooldown operation for this long instead of clearing it. */
  cooldownMs?: number;
  /** When done: replace the operation with this follow-up, run next by the same owner. */
  followUp?: FollowUp;
}

export interface SagaState {
  deps: ControllerDeps;
  inv: Invocation;
  clusterId: string;
  /** The latest strongly consistent read, taken just before the current step. */
  snapshot: ClusterSnapshot;
  op: Operation;
  /** The cluster record version this owner wrote last. */
  version: number;
}

export interface SagaDefinition {
  kind: OperationKind;
  /** The longest a step may take, in milliseconds (its SSM / heartbeat waits). */
  stepBudgetMs(step: string, state: SagaState): number;
  run(step: string, state: SagaState): Promise<StepResult>;
  /** Where the saga goes when `step` keeps failing. */
  giveUp(step: string, reason: string, state: SagaState): StepResult;
}

export type SagaOutcome =
  | { outcome: 'completed'; operation: Operation; followUp?: { op: Operation; version: number } }
  | { outcome: 'cooldown'; operation: Operation }
  | { outcome: 'yielded'; operation: Operation; step: string }
  | { outcome: 'lost_ownership'; operation: Operation; step: string };

export function newOperationId(kind: OperationKind, now: number): string {
  return `${kind}-${now.toString(36)}-${randomUUID().slice(0, 8)}`;
}

export interface ClaimRequest {
  kind: OperationKind;
  /** The operation's term: cluster term + 1 for failover/switchover, the current term otherwise. */
  term: number;
  candidate_node_id: number | null;
  old_primary_node_id: number | null;
  firstStep: string;
  data?: Record<string, unknown>;
  change?: ClusterChange;
  /** Pause automatic failover while the operation runs (`paused_by` names it, so its pause can never outlive it). */
  pause?: boolean;
  /**
   * Claim only while the primary's lease still carries the RVN this snapshot read (a failover): a
   * renewal that lands between the read and the claim proves the primary alive, and wins.
   */
  guardLease?: boolean;
  /**
   * The id of a cooldown the claim takes over ({@link supersedableCooldown}: a switchover's). The
   * claim fails, as it does for any operation in the record, unless the record still holds that
   * cooldown; the write is the same conditional update on the version read.
   */
  supersedes?: string;
}

/**
 * The kinds whose cooldown a switchover may take over (docs/controller.md, "Switchover"): a follow
 * or rejoin that gave up. Its cooldown runs nothing and only keeps the engine from repeating that
 * same action at once; the engine decides it again after the switchover. Not a fence's (a server
 * that may still take writes was not confirmed fenced), a restart's (the primary could not be
 * restarted in place) or a failover's (a hard one protects a candidate whose fence was not confirmed).
 */
const SUPERSEDABLE_COOLDOWN_KINDS: ReadonlySet<OperationKind> = new Set(['follow', 'rejoin']);

/** A follow or rejoin that waits in its cooldown step, nothing more: what a switchover's claim may take over. */
export function supersedableCooldown(op: Operation | null): boolean {
  return op !== null && op.step === COOLDOWN_STEP && SUPERSEDABLE_COOLDOWN_KINDS.has(op.kind) && op.data.cooldown_hard !== true;
}

/**
 * Claims the cluster for a new saga with one conditional write on the version this invocation
 * read. Twenty invocations that read the same version: exactly one wins; the others get null.
 * The record must hold no operation, or the cooldown `req.supersedes` names.
 */
export async function claim(
  deps: ControllerDeps,
  inv: Invocation,
  snapshot: ClusterSnapshot,
  req: ClaimRequest,
): Promise<{ op: Operation; version: number } | null> {
  const now = deps.clock.now();
  const { cluster } = snapshot;
  const current = cluster.operation;
  if (current !== null && !(req.supersedes === current.id && supersedableCooldown(current))) return null;
  const op: Operation = {
    id: newOperationId(req.kind, now),
    kind: req.kind,
    term: req.term,
    candidate_node_id: req.candidate_node_id,
    old_primary_node_id: req.old_primary_node_id,
    step: req.firstStep,
    owner: inv.owner,
    deadline: now + deps.timings.ownerLeaseMs,
    started_at: now,
    data: req.data ?? {},
  };
  const guard = req.guardLease ? { leaseRvn: cluster.lease?.rvn ?? null } : undefined;
  // An operator's pause stays the operator's: the operation only owns a pause it set itself.
  const pause = req.pause && !cluster.paused ? { paused: true, paused_by: op.id } : {};
  const result = await deps.store.updateCluster(cluster.cluster_id, cluster.version, { ...req.change, ...pause, term: req.term, operation: op }, now, guard);
  if (!result.ok) return null;
  return { op, version: cluster.version + 1 };
}

/** Takes over a saga whose owner's deadline has passed (conditional on the version read). */
export async function takeOver(deps: ControllerDeps, inv: Invocation, snapshot: ClusterSnapshot): Promise<{ op: Operation; version: number } | null> {
  const now = deps.clock.now();
  const { cluster } = snapshot;
  const current = cluster.operation;
  if (!current || now <= current.deadline) return null;
  const op: Operation = { ...current, owner: inv.owner, deadline: now + deps.timings.ownerLeaseMs, data: { ...current.data, taken_over_at: now } };
  const result = await deps.store.updateCluster(cluster.cluster_id, cluster.version, { operation: op }, now);
  if (!result.ok) return null;
  deps.log.info('took over a saga whose owner missed its deadline', {
    cluster_id: cluster.cluster_id,
    operation: op.id,
    step: op.step,
    previous_owner: current.owner,
  });
  return { op, version: cluster.version + 1 };
}

/**
 * Ends the operation the engine judged must end: one conditional write on the version read moves
 * it to `step` (the step that ends it) under this invocation, whatever its deadline, so a live owner
 * stops at its next re-read or write. Null when the record changed meanwhile.
 */
export async function endOperation(
  deps: ControllerDeps,
  inv: Invocation,
  snapshot: ClusterSnapshot,
  step: string,
  data: Record<string, unknown>,
): Promise<{ op: Operation; version: number } | null> {
  const now = deps.clock.now();
  const { cluster } = snapshot;
  const current = cluster.operation;
  if (!current) return null;
  const op: Operation = {
    ...current,
    step,
    owner: inv.owner,
    deadline: now + deps.timings.ownerLeaseMs,
    data: { ...current.data, ...data, step_started_at: now, ended_at: now, ended_from_step: current.step },
  };
  const result = await deps.store.updateCluster(cluster.cluster_id, cluster.version, { operation: op }, now);
  if (!result.ok) return null;
  deps.log.info('ending an operation the engine judged must end', { cluster_id: cluster.cluster_id, operation: op.id, from: current.step, to: step, previous_owner: current.owner });
  return { op, version: cluster.version + 1 };
}

/** Runs `def` from `op.step` until done, yielded, or ownership is lost. */
export async function runSaga(
  def: SagaDefinition,
  deps: ControllerDeps,
  inv: Invocation,
  clusterId: string,
  start: { op: Operation; version: number },
): Promise<SagaOutcome> {
  const { timings, clock } = deps;
  let op = start.op;
  let version = start.version;
  const lease = new OwnerLease(deps, clusterId, () => op);
  try {
    return await runSteps();
  } finally {
    await lease.stop();
  }

  async function runSteps(): Promise<SagaOutcome> {
    const write = async (change: ClusterChange & { operation: Operation | null }): Promise<boolean> => {
      const result = await deps.store.updateCluster(clusterId, version, change, clock.now());
      if (!result.ok) return false;
      version += 1;
      return true;
    };

    for (;;) {
      const step = op.step;
      if (step === COOLDOWN_STEP) return { outcome: 'cooldown', operation: op };
      const loaded = await deps.store.load(clusterId);
      const snapshot = loaded?.snapshot;
      if (!snapshot || snapshot.cluster.version !== version || snapshot.cluster.operation?.id !== op.id) {
        deps.log.warn('saga lost its cluster record to another writer; stopping', { cluster_id: clusterId, operation: op.id, step });
        return { outcome: 'lost_ownership', operation: op, step };
      }
      const state: SagaState = { deps, inv, clusterId, snapshot, op, version };
      const budget = def.stepBudgetMs(step, state);
      if (inv.remainingMs() < budget + timings.safetyMarginMs) {
        // Not enough time for this step: hand the saga to the next invocation at once.
        await lease.stop();
        await write({ operation: { ...op, deadline: clock.now() } });
        return { outcome: 'yielded', operation: op, step };
      }
      // A fresh enough lease for the step; from here the background renewals keep it ahead of the clock.
      if (!(await lease.ensure())) return { outcome: 'lost_ownership', operation: op, step };

      let result: StepResult;
      try {
        result = await def.run(step, state);
        ({ op, version } = state); // a step may persist progress of its own (e.g. the promote command id)
      } catch (error) {
        ({ op, version } = state);
        const attempts = attemptsOf(op, step) + 1;
        const reason = errorText(error);
        deps.metrics.put(METRICS.sagaStepFailures.name, 1, 'Count', { [CLUSTER_DIMENSION]: clusterId });
        deps.log.warn('saga step failed', { cluster_id: clusterId, operation: op.id, step, attempts, error });
        await recordEvent(deps, snapshot.cluster.settings, {
          cluster_id: clusterId,
          node_id: op.candidate_node_id ?? op.old_primary_node_id ?? 0,
          event: 'saga_step_failed',
          successful: false,
          details: `${op.kind} ${op.id} step "${step}" failed (attempt ${attempts} of ${timings.maxStepAttempts}): ${reason}`,
          term: op.term,
        });
        const retryable = !(error instanceof PgvigilError) || error.retryable || error.code === 'AWS';
        if (attempts < timings.maxStepAttempts && retryable) {
          const next = { ...op, data: { ...op.data, attempts: { ...attemptMap(op), [step]: attempts } } };
          if (!(await write({ operation: next }))) return { outcome: 'lost_ownership', operation: op, step };
          op = next;
          await clock.sleep(timings.stepRetryDelayMs);
          continue;
        }
        result = def.giveUp(step, reason, state);
      }

      const now = clock.now();
      let nextOp: Operation | null;
      let followUp: Operation | null = null;
      if (result.next === null) {
        if (result.followUp) {
          followUp = {
            ...result.followUp,
            id: newOperationId(result.followUp.kind, now),
            owner: inv.owner,
            deadline: now + timings.ownerLeaseMs,
            started_at: now,
            data: { ...result.followUp.data, step_started_at: now },
          };
        }
        nextOp =
          followUp ??
          (result.cooldownMs
            ? { ...op, step: COOLDOWN_STEP, owner: 'cooldown', deadline: now + result.cooldownMs, data: { ...op.data, ...result.data, step_started_at: now } }
            : null);
      } else {
        const merged: Operation = {
          ...op,
          step: result.next,
          candidate_node_id: result.candidate_node_id ?? op.candidate_node_id,
          data: { ...op.data, ...result.data, ...(result.next !== step ? { step_started_at: now } : {}) },
        };
        nextOp = { ...merged, deadline: now + timings.ownerLeaseMs };
      }
      if (!(await write({ ...result.change, operation: nextOp }))) return { outcome: 'lost_ownership', operation: op, step };
      await inv.crashAfter?.(step);
      if (followUp) return { outcome: 'completed', operation: op, followUp: { op: followUp, version } };
      if (nextOp === null) return { outcome: 'completed', operation: op };
      if (nextOp.step === COOLDOWN_STEP) return { outcome: 'cooldown', operation: nextOp };
      op = nextOp;
    }
  }
}

/**
 * The saga owner's lease on its operation (see the module comment): renews `operation.deadline`
 * every third of `ownerLeaseMs` in the background while the runner works. A renewal refused by the
 * store means the deadline passed or the operation changed hands: the lease is lost for good.
 */
class OwnerLease {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<boolean> | undefined;
  private stopped = false;
  private lost = false;
  /** The latest deadline this owner's renewals wrote. */
  private until = 0;

  constructor(
    private readonly deps: ControllerDeps,
    private readonly clusterId: string,
    private readonly operation: () => Operation,
  ) {
    this.schedule();
  }

  /**
   * Renews unless the deadline already written (by a renewal, or by the runner's own step
   * transition, which sets it a whole lease ahead) still has two thirds of the lease to run.
   */
  async ensure(): Promise<boolean> {
    if (this.lost) return false;
    const until = Math.max(this.until, this.operation().deadline);
    if (until - this.deps.clock.now() > (this.deps.timings.ownerLeaseMs * 2) / 3) return true;
    return this.renew();
  }

  /** Renews now; false once the lease is lost. */
  async renew(): Promise<boolean> {
    if (this.lost) return false;
    await this.inFlight;
    const op = this.operation();
    const now = this.deps.clock.now();
    const deadline = now + this.deps.timings.ownerLeaseMs;
    this.inFlight = this.deps.store
      .renewOperation(this.clusterId, op.id, op.owner, deadline, now)
      .then((r) => {
        if (!r.ok) this.lost = true;
        else this.until = Math.max(this.until, deadline);
        return r.ok;
      })
      .catch((error: unknown) => {
        // Unreachable store: keep working on the lease we have; the next renewal tries again.
        this.deps.log.warn('could not renew the saga owner\'s deadline', { cluster_id: this.clusterId, operation: op.id, error });
        return op.deadline > this.deps.clock.now();
      });
    return this.inFlight;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(): void {
    if (this.stopped || this.lost) return;
    this.timer = setTimeout(() => {
      void this.renew().finally(() => this.schedule());
    }, Math.max(1, Math.floor(this.deps.timings.ownerLeaseMs / 3)));
  }
}

function attemptMap(op: Operation): Record<string, number> {
  const a = op.data.attempts;
  return typeof a === 'object' && a !== null ? (a as Record<string, number>) : {};
}

function attemptsOf(op: Operation, step: string): number {
  const n = attemptMap(op)[step];
  return typeof n === 'number' ? n : 0;
}
