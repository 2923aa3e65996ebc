/**
 * The engine's judgement of an operation in flight (docs/decision-engine.md, "Operations in
 * flight"). An operation never blinds the engine: while a saga owns the cluster record, the
 * cluster is still judged, and the decision says the operation must end when waiting for it would
 * leave the cluster without a writable primary for nothing:
 *
 * - before the promote step, a failover or switchover whose candidate has failed, or one of whose
 *   steps has kept the cluster without a writable primary longer than the operation window
 *   (`promote_check_timeout` + `lease_secs` + `clock_skew_margin_ms`) while its owner lives, is
 *   aborted (failover) or rolled back (switchover);
 * - from the promote step on, a promote may be in flight, so nothing is rolled back: a candidate
 *   that has failed is fenced and the round ends (failover `abort`, switchover `incomplete`);
 * - once the record names the new primary, a new primary that has failed by the usual evidence
 *   rules ends the operation (`hand_over`), and the engine decides again — a failover of it;
 * - a one-node action (follow, rejoin, fence confirmation) gives the cluster up at once to a
 *   failover, a restart of the primary or a split-brain fence, and a follow or rejoin whose
 *   upstream is no longer the primary ends;
 * - the cooldown after a failed round holds back only that same action.
 *
 * The judgement only reads; ending is carried out by the evaluator with a conditional write, which
 * makes the saga's live owner stop at its next re-read or write.
 */
import type { Action, DecisionCode, OperationEnding, OperationJudgement, OperationPhase } from '../decision.js';
import type { ClusterSettings, Operation } from '../model.js';
import { assessPrimary } from './evidence.js';
import { formatDuration, formatTime, label, staleness, type EngineContext, type NodeView } from './freshness.js';
import type { LeaseView } from './lease.js';

/** The step an aborted round or a failed node action waits in (functions/sagas/runner.ts writes it). */
export const COOLDOWN_STEP = 'cooldown';
/**
 * Failover and switchover steps before their promote step: the only ones that may be rolled back
 * or aborted as if nothing had been promoted. Any other step (promote, verify, the steps after the
 * promotion, a step this version does not know) counts as a promotion that may be in flight.
 */
export const BEFORE_PROMOTION_STEPS: ReadonlySet<string> = new Set(['fence_old_primary', 'disconnect_wal_receivers', 'rerank', 'demote_primary', 'wait_catchup']);
/** Failover and switchover steps on the way out: the engine lets them finish. */
export const ENDING_STEPS: ReadonlySet<string> = new Set(['abort', 'rollback', 'incomplete', 'finish']);

/**
 * How long one step of an operation may keep the cluster without a writable primary while its
 * owner lives: the time a promotion may take plus one lease.
 */
export function operationWindowMs(s: ClusterSettings): number {
  return (s.promote_check_timeout + s.lease_secs) * 1000 + s.clock_skew_margin_ms;
}

/**
 * How long an operation's candidate may be silent before the operation stops counting on it: its
 * heartbeat is stale (`node_timeout_secs`) and a whole lease more has passed, so a blip of a slow
 * control plane does not end a round that is about to succeed.
 */
export function silenceLimitMs(s: ClusterSettings): number {
  return (s.node_timeout_secs + s.lease_secs) * 1000 + s.clock_skew_margin_ms;
}

export function operationPhase(ctx: EngineContext, op: Operation): OperationPhase {
  if (op.step === COOLDOWN_STEP) return 'cooldown';
  if (op.kind !== 'failover' && op.kind !== 'switchover') return 'node_action';
  if (ENDING_STEPS.has(op.step)) return 'ending';
  const cand = op.candidate_node_id;
  if (cand !== null && cand !== op.old_primary_node_id && ctx.snapshot.cluster.primary_node_id === cand) return 'promoted';
  return BEFORE_PROMOTION_STEPS.has(op.step) ? 'before_promotion' : 'promotion_in_flight';
}

/** Identifies an action (or the operation that carried one out) for cooldowns: kind and node. */
export function actionKey(a: Action): string {
  switch (a.kind) {
    case 'failover':
      return `failover:${a.candidate_node_id}`;
    case 'fence':
    case 'follow':
    case 'rejoin':
    case 'restart_primary':
      return `${a.kind === 'restart_primary' ? 'restart' : a.kind}:${a.node_id}`;
    case 'end_operation':
      return `end:${a.operation_id}`;
    case 'unpause':
      return `unpause:${a.operation_id}`;
  }
}

/** The action a cooling operation carried out, as {@link actionKey} names it. */
export function cooledKey(op: Operation): string {
  return `${op.kind}:${op.candidate_node_id ?? '-'}`;
}

/** When the current step of `op` began on the controller clock (a takeover starts it afresh). */
export function stepStartedAt(op: Operation): number {
  const step = typeof op.data.step_started_at === 'number' ? op.data.step_started_at : op.started_at;
  return typeof op.data.taken_over_at === 'number' ? Math.max(step, op.data.taken_over_at) : step;
}

/** A fresh server that runs, accepts connections, is out of recovery and not fenced. */
export function writable(v: NodeView): boolean {
  const s = v.server;
  return v.node.type !== 'witness' && s !== null && s.postmaster_running && s.accepting_connections && s.in_recovery === false && !s.fenced;
}

export interface OperationVerdict {
  judgement: OperationJudgement;
  code: DecisionCode;
  reasons: string[];
  actions: Action[];
}

/** What the engine would decide with no operation in flight (decide.ts passes it in). */
export interface WithoutOperation {
  code: DecisionCode;
  reasons: string[];
  actions: Action[];
}

export function judgeOperation(ctx: EngineContext, lease: LeaseView, op: Operation, without: WithoutOperation): OperationVerdict {
  const phase = operationPhase(ctx, op);
  const base = { id: op.id, kind: op.kind, step: op.step, term: op.term, phase, without_operation: { code: without.code, headline: without.reasons[0] ?? without.code } };
  const what = `a ${op.kind} (operation ${op.id}, term ${op.term})`;
  const go = (reasons: string[]): OperationVerdict => {
    const owner =
      phase === 'cooldown'
        ? []
        : [
            ctx.now > op.deadline
              ? `its owner's deadline passed at ${formatTime(op.deadline)}: the next evaluator takes it over from step "${op.step}"`
              : `owned by ${op.owner} until ${formatTime(op.deadline)}`,
          ];
    const headline =
      phase === 'cooldown'
        ? `${what} is cooling down after it gave up: ${reasons[0] ?? ''}`
        : `${what} is in progress at step "${op.step}"; the engine still judges the cluster and lets it go on`;
    return {
      judgement: { ...base, verdict: 'continue', ending: null, reasons },
      code: 'operation_in_progress',
      reasons: [headline, ...owner, ...(phase === 'cooldown' ? reasons.slice(1) : reasons), ...(op.candidate_node_id !== null ? [`its candidate is node ${op.candidate_node_id}`] : [])],
      actions: [],
    };
  };
  const end = (ending: OperationEnding, reason: string, more: string[] = []): OperationVerdict => ({
    judgement: { ...base, verdict: 'end', ending, reasons: [reason, ...more] },
    code: 'end_operation',
    reasons: [`end ${what} at step "${op.step}" (${ending.replace('_', ' ')}): ${reason}`, ...more],
    actions: [{ kind: 'end_operation', operation_id: op.id, ending, reason }],
  });

  switch (phase) {
    case 'cooldown':
      return judgeCooldown(ctx, op, without, go, end);
    case 'ending':
      return go([`it is on its way out (step "${op.step}") and is left to finish`]);
    case 'node_action':
      return judgeNodeAction(ctx, op, without, go, end);
    case 'promoted': {
      const np = op.candidate_node_id === null ? undefined : ctx.byId.get(op.candidate_node_id);
      if (!np) return end('hand_over', `its new primary node ${op.candidate_node_id} is no longer registered`);
      const verdict = assessPrimary(ctx, np, lease);
      if (verdict.state === 'failed') {
        return end('hand_over', `its new primary ${label(np.node)} has failed since the ${op.kind} promoted it (${verdict.headline}): the ${op.kind} ends here and the engine decides again`, verdict.reasons);
      }
      const intruder = intruderBeside(ctx, op);
      if (intruder) return end('hand_over', intruder);
      return go([verdict.state === 'healthy' ? `its new primary ${label(np.node)} serves` : `its new primary ${label(np.node)} is suspect: ${verdict.headline}`]);
    }
    case 'before_promotion':
    case 'promotion_in_flight': {
      const ending: OperationEnding =
        op.kind === 'switchover' ? (phase === 'before_promotion' ? 'rollback' : 'incomplete') : 'abort';
      const failure = candidateFailure(ctx, op);
      if (failure) {
        const then =
          phase === 'before_promotion'
            ? op.kind === 'switchover'
              ? 'no promote has been sent: roll back to the old primary'
              : 'no promote has been sent: abort this round, and the engine chooses again'
            : 'a promote may be in flight: fence the candidate and end the round, and the engine decides again';
        return end(ending, `${failure}; ${then}`);
      }
      const intruder = intruderBeside(ctx, op);
      if (intruder) return end(ending, intruder);
      const cand = ctx.byId.get(op.candidate_node_id ?? -1);
      const reasons = [`its candidate ${cand ? label(cand.node) : `node ${op.candidate_node_id}`} is reporting and has not failed`];
      if (phase === 'promotion_in_flight') {
        reasons.push('a promote may be in flight: from here the operation is never rolled back, only confirmed or ended with the candidate fenced');
        return go(reasons);
      }
      if (!ctx.views.some(writable)) {
        const window = operationWindowMs(ctx.settings);
        const age = ctx.now - stepStartedAt(op);
        const windowText = `the operation window (promote_check_timeout + lease_secs + clock_skew_margin_ms = ${formatDuration(window)})`;
        if (ctx.now <= op.deadline && age > window) {
          return end(
            ending,
            `step "${op.step}" has kept the cluster without a writable primary for ${formatDuration(age)}, longer than ${windowText}`,
            [op.kind === 'switchover' ? 'no promote has been sent: roll back to the old primary' : 'no promote has been sent: abort this round, and the engine chooses again'],
          );
        }
        reasons.push(`no server accepts writes; step "${op.step}" has run for ${formatDuration(Math.max(0, age))} of ${windowText}`);
      }
      return go(reasons);
    }
  }
}

type Go = (reasons: string[]) => OperationVerdict;
type End = (ending: OperationEnding, reason: string, more?: string[]) => OperationVerdict;

/** Why the operation's candidate can no longer be counted on; null when it can. */
function candidateFailure(ctx: EngineContext, op: Operation): string | null {
  const id = op.candidate_node_id;
  const v = id === null ? undefined : ctx.byId.get(id);
  if (!v) return `its candidate node ${id ?? '(none)'} is not registered`;
  const who = `its candidate ${label(v.node)}`;
  if (v.node.fenced || v.server?.fenced === true) return `${who} is fenced`;
  if (v.fresh) return v.server && !v.server.postmaster_running ? `${who} reports that its PostgreSQL server is not running` : null;
  if (v.skewed) return null; // its clock is wrong: no evidence either way
  const limit = silenceLimitMs(ctx.settings);
  if (v.age_ms !== null && v.age_ms <= limit) return null;
  return `${who} ${staleness(v, ctx) ?? 'is silent'}, longer than node_timeout_secs + lease_secs + clock_skew_margin_ms = ${formatDuration(limit)}`;
}

/** A writable server beside the operation's own (split brain): the operation must give way to its fence. */
function intruderBeside(ctx: EngineContext, op: Operation): string | null {
  const own = new Set([op.candidate_node_id, op.old_primary_node_id, ctx.snapshot.cluster.primary_node_id]);
  const other = ctx.views.find((v) => !own.has(v.node.node_id) && writable(v));
  return other ? `${label(other.node)} is running and accepting writes beside the operation's own nodes (split brain): it must be fenced first` : null;
}

function judgeNodeAction(ctx: EngineContext, op: Operation, without: WithoutOperation, go: Go, end: End): OperationVerdict {
  const target = op.candidate_node_id === null ? 'the cluster' : ctx.byId.has(op.candidate_node_id) ? label((ctx.byId.get(op.candidate_node_id) as NodeView).node) : `node ${op.candidate_node_id}`;
  const headline = without.reasons[0] ?? without.code;
  if (op.kind === 'restart') {
    const fence = without.actions.find((a) => a.kind === 'fence');
    if (fence) return end('abort', `a split brain must be fenced first: ${headline}`);
    const window = operationWindowMs(ctx.settings);
    const age = ctx.now - stepStartedAt(op);
    if (ctx.now <= op.deadline && age > window && !ctx.views.some(writable)) {
      return end('abort', `step "${op.step}" has kept the cluster without a writable primary for ${formatDuration(age)}, longer than the operation window (${formatDuration(window)})`);
    }
    return go([`the restart of ${target} in place is under way`]);
  }
  const urgent = without.actions.find(
    (a) => a.kind === 'failover' || a.kind === 'restart_primary' || (a.kind === 'fence' && a.node_id !== op.candidate_node_id),
  );
  if (urgent) return end('release', `the ${op.kind} of ${target} gives way to a more urgent decision: ${headline}`);
  if (op.kind === 'follow' || op.kind === 'rejoin') {
    const upstream = Number(op.data.upstream_node_id);
    const primary = ctx.snapshot.cluster.primary_node_id;
    if (upstream !== primary) {
      return end('release', `its upstream node ${upstream} is no longer the primary (the record names ${primary === null ? 'none' : `node ${primary}`}): a ${op.kind} toward it is pointless`);
    }
  }
  return go([`the ${op.kind} of ${target} is a bounded one-node action; it gives way at once to a failover, a restart of the primary or a split-brain fence`]);
}

function judgeCooldown(ctx: EngineContext, op: Operation, without: WithoutOperation, go: Go, end: End): OperationVerdict {
  const cooled = cooledKey(op);
  const what = `the ${op.kind}${op.candidate_node_id === null ? '' : ` of node ${op.candidate_node_id}`}`;
  if (ctx.now > op.deadline) return end('clear_cooldown', `the cooldown after ${what} ended at ${formatTime(op.deadline)}`);
  const hard = op.data.cooldown_hard === true;
  // A leftover pause of another operation is lifted after the cooldown, not instead of it.
  const next = without.actions.find((a) => a.kind !== 'unpause');
  if (next && actionKey(next) !== cooled && (!hard || next.kind === 'fence')) {
    return end('clear_cooldown', `the cooldown after ${what} holds back only that same action, not this one: ${without.reasons[0] ?? without.code}`);
  }
  const reasons = [`not repeating ${what} before ${formatTime(op.deadline)} (election_rerun_interval)`];
  if (hard) reasons.push(`no other failover before then either: a promote may have reached node ${op.candidate_node_id ?? '?'}, whose fence was not confirmed, so its lease must run out first`);
  if (next) reasons.push(`then: ${without.reasons[0] ?? without.code}`);
  return go(reasons);
}
