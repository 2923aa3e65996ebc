/**
 * The decision engine (docs/decision-engine.md): one pure function from a cluster snapshot and the controller's
 * time to a decision with a code and plain-language reasons. No I/O, no clock, no randomness: the
 * evaluator Lambda, `pgvigil cluster explain` and the tests run exactly this code.
 *
 * Order of precedence, most urgent first:
 * 1. a saga in flight: it is judged (operation.ts) against what the engine would decide without
 *    it — `operation_in_progress` while it may go on, `end_operation` when it must end;
 * 2. a pause left behind by an operation that is gone (`unpause`);
 * 3. no primary recorded (`no_primary`);
 * 4. a second writable server (`fence`): split brain is fixed before anything else;
 * 5. the primary's failure (`failover`, `restart_primary` when no standby can be promoted,
 *    `failover_cancelled`, `wait`);
 * 6. a switchover's demoted primary (`rejoin`), standbys on the wrong upstream (`follow`), fenced
 *    nodes to rewind and rejoin (`rejoin`), cascaded standbys that receive nothing (`follow`);
 * 7. otherwise `healthy` (alarm-only states ride along on every decision).
 * A cluster paused by an operator or in `failover=manual` turns any decision with actions into
 * `report_only` (the ending of an operation included: it then ends by its own steps, as before).
 */
import type { Action, Alarm, CandidateAssessment, Decision, DecisionCode, DecisionEvent, OperationJudgement } from '../decision.js';
import type { ClusterSnapshot } from '../model.js';
import { collectAlarms } from './alarms.js';
import { lagNote, selectCandidate, type PrimaryReference } from './candidates.js';
import { lsnDiff } from '../lsn.js';
import { assessPrimary, checkConsensus, type FailureKind } from './evidence.js';
import { buildContext, label, plural, type EngineContext, type NodeView } from './freshness.js';
import { observeLease, type LeaseView } from './lease.js';
import { judgeOperation } from './operation.js';
import { findFollowers, findIntruders, findRejoins, primaryServes } from './topology.js';

interface Draft {
  code: DecisionCode;
  reasons: string[];
  actions?: Action[];
  events?: DecisionEvent[];
  alarms?: Alarm[];
  candidates?: CandidateAssessment[];
}

export function decide(snapshot: ClusterSnapshot, now: number): Decision {
  const ctx = buildContext(snapshot, now);
  const lease = observeLease(ctx);
  const standing = collectAlarms(ctx);
  const op = snapshot.cluster.operation;
  let draft: Draft;
  let judgement: OperationJudgement | null = null;
  if (op) {
    // What the cluster needs if the operation were not there: the operation is judged against it.
    // The operation's own pause (a switchover's) is no pause of the cluster for this.
    const ownPause = snapshot.cluster.paused_by === op.id ? { paused: false, paused_by: null } : {};
    const free = buildContext({ ...snapshot, cluster: { ...snapshot.cluster, ...ownPause, operation: null } }, now);
    const without = decideCore(free, lease);
    const verdict = judgeOperation(ctx, lease, op, { code: without.code, reasons: without.reasons, actions: without.actions ?? [] });
    judgement = verdict.judgement;
    draft = { code: verdict.code, reasons: verdict.reasons, actions: verdict.actions };
  } else {
    draft = decideCore(ctx, lease);
  }
  const actions = draft.actions ?? [];
  const alarms = dedupeAlarms([...standing.alarms, ...(draft.alarms ?? [])]);
  const decision: Decision = {
    code: draft.code,
    reasons: draft.reasons,
    actions,
    suppressed_actions: [],
    alarms,
    events: [...standing.events, ...(draft.events ?? [])],
    lease_observation: lease.update,
    candidates: draft.candidates ?? [],
    primary_node_id: ctx.primary?.node.node_id ?? null,
    operation: judgement,
  };
  return applyPause(ctx, decision);
}

function decideCore(ctx: EngineContext, lease: LeaseView): Draft {
  const { cluster } = ctx.snapshot;
  if (cluster.paused && cluster.paused_by) {
    // Only reached with no operation in flight (decide judges an operation first).
    return {
      code: 'unpause',
      reasons: [`the cluster was paused by operation ${cluster.paused_by}, which is no longer in flight: lift its pause (an operator's pause is never lifted by the controller)`],
      actions: [{ kind: 'unpause', operation_id: cluster.paused_by }],
    };
  }

  const primary = ctx.primary;
  if (!primary) {
    const writable = ctx.views.filter((v) => v.node.type !== 'witness' && v.server?.postmaster_running && v.server.in_recovery === false);
    return {
      code: 'no_primary',
      reasons: [
        cluster.primary_node_id === null
          ? 'the cluster record names no primary: register one with "pgvigil primary register"'
          : `the cluster record names node ${cluster.primary_node_id} as primary, but no such node is registered`,
        ...writable.map((v) => `${label(v.node)} is running and not in recovery`),
      ],
    };
  }

  const intruders = findIntruders(ctx, primary);
  if (intruders.actions.length > 0) {
    return { code: 'fence', reasons: intruders.reasons, actions: intruders.actions, events: intruders.events };
  }

  const verdict = assessPrimary(ctx, primary, lease);
  if (verdict.state === 'suspect') {
    return { code: 'wait', reasons: [verdict.headline, ...verdict.reasons] };
  }
  if (verdict.state === 'failed') return decideFailover(ctx, primary, lease, verdict.kind, verdict.began, [verdict.headline, ...verdict.reasons]);

  const serves = primaryServes(primary);
  const rejoins = findRejoins(ctx, primary);
  const rejoinReasons = [...rejoins.demoted.reasons, ...rejoins.rewind.reasons];
  const rejoining = new Set([...rejoins.demoted.actions, ...rejoins.rewind.actions].flatMap((a) => (a.kind === 'rejoin' ? [a.node_id] : [])));
  const followers = findFollowers(ctx, primary, rejoining);
  if (serves) {
    // A switchover's demoted primary first: started again without a rewind, it is often the
    // synchronous standby, and the standbys cascaded under it stream through it once it is back.
    if (rejoins.demoted.actions.length > 0) return { code: 'rejoin', reasons: rejoinReasons, actions: rejoins.demoted.actions };
    // Then a standby cut off from a failed primary follows the new one before that one is rewound:
    // a follow takes seconds, a rewind (perhaps an instance to boot first) far longer, and a standby
    // still registered under the former primary when it rejoins would stream through it, cascaded.
    if (followers.direct.actions.length > 0) return { code: 'follow', reasons: [...followers.direct.reasons, ...rejoinReasons], actions: followers.direct.actions };
    if (rejoins.rewind.actions.length > 0) return { code: 'rejoin', reasons: rejoinReasons, actions: rejoins.rewind.actions };
    if (followers.cascaded.actions.length > 0) return { code: 'follow', reasons: followers.cascaded.reasons, actions: followers.cascaded.actions };
  }
  return healthy(ctx, primary, lease, [...verdict.notes, ...rejoinReasons]);
}

function decideFailover(ctx: EngineContext, primary: NodeView, lease: LeaseView, kind: FailureKind, began: number, evidence: string[]): Draft {
  const pid = primary.node.node_id;
  // A primary whose own agent reports it in recovery is no question of visibility: R1–R3 judge
  // whether others can reach a primary, and this one is reachable but cannot take writes.
  const consensus = kind === 'in_recovery' ? { ok: true as const, reasons: ['its own agent reports it in recovery: no consensus on reachability is needed'], alarms: [] } : checkConsensus(ctx, primary, began, lease);
  if (!consensus.ok) {
    const reasons = [consensus.headline, ...evidence, ...consensus.reasons];
    return {
      code: consensus.code,
      reasons,
      alarms: consensus.alarms,
      events: consensus.code === 'failover_cancelled' ? [cancelled(pid, consensus.headline)] : [],
    };
  }
  const selection = selectCandidate(ctx, primary);
  const best = selection.best;
  if (!best) {
    const considered = selection.assessments.filter((a) => ctx.byId.get(a.node_id)?.node.type !== 'witness');
    const headline = `failover cancelled: no eligible candidate among ${plural(considered.length, 'standby', 'standbys')}`;
    const why = considered.map((a) => `node ${a.node_id}: ${a.reasons.join('; ')}`);
    const restart = restartTarget(ctx, primary, selection.reference);
    if (restart.node) {
      const target = restart.node;
      return {
        code: 'restart_primary',
        reasons: [
          `restart ${label(target.node)} in place as the primary of a new term: ${target === primary ? 'it' : `the primary ${label(primary.node)}`} has failed, no standby can be promoted, and ${restart.why}`,
          `no eligible candidate among ${plural(considered.length, 'standby', 'standbys')}: leaving the primary down would leave the cluster without one`,
          ...evidence,
          ...consensus.reasons,
          ...why,
        ],
        actions: [{ kind: 'restart_primary', node_id: target.node.node_id }],
        alarms: [...consensus.alarms, { kind: 'no_eligible_candidate', node_id: pid, message: headline }],
        candidates: selection.assessments,
      };
    }
    return {
      code: 'failover_cancelled',
      reasons: [headline, ...evidence, ...consensus.reasons, ...why, ...(restart.why ? [`it is not restarted in place: ${restart.why}`] : [])],
      alarms: [...consensus.alarms, { kind: 'no_eligible_candidate', node_id: pid, message: headline }],
      events: [cancelled(pid, [headline, ...why].join('; '))],
      candidates: selection.assessments,
    };
  }
  const followerIds = ctx.views
    .filter((v) => v !== primary && v !== best && v.node.type === 'standby' && v.node.active && !v.node.fenced && !isCascaded(ctx, v, primary))
    .map((v) => v.node.node_id);
  const lag = lagNote(selection.reference, best);
  const candidateReason =
    `${label(best.node)} is the best eligible candidate (receive LSN ${best.server?.receive_lsn ?? best.server?.replay_lsn ?? 'unknown'}, priority ${best.node.priority})` +
    (lag ? ` and ${lag}` : '') +
    (selection.reference.synchronous ? '; the primary ran synchronous replication and reported it as synchronous' : '');
  return {
    code: 'failover',
    reasons: [`fail over from ${label(primary.node)} to ${label(best.node)}`, ...evidence, ...consensus.reasons, candidateReason],
    actions: [{ kind: 'failover', old_primary_node_id: pid, candidate_node_id: best.node.node_id, follower_node_ids: followerIds }],
    alarms: consensus.alarms,
    candidates: selection.assessments,
  };
}

/**
 * Which node may be started again in place as the primary of a new term (no promotion) when the
 * primary failed and no standby can take its place, and why (or why none may).
 * - The primary itself, when its own agent reports (so the restart can be carried out and judged),
 *   its server is down, refuses connections or runs in recovery, and no other node reports a newer
 *   timeline: it has every write it acknowledged, and leaving it down leaves the cluster without one.
 * - A node on a newer timeline than the primary's instead: a candidate a failover promoted and then
 *   lost before the record named it (its owner died, it fenced itself for want of a lease). It is
 *   restarted when it alone is on the newest timeline, its agent reports, it holds at least the
 *   primary's last reported LSN and, under synchronous replication, the primary last reported it as
 *   synchronous: it then holds every write the primary acknowledged, and more.
 */
function restartTarget(ctx: EngineContext, primary: NodeView, ref: PrimaryReference): { node: NodeView | null; why: string | null } {
  const tl = primary.heartbeat?.server?.timeline ?? null;
  const down = (v: NodeView): string | null => {
    const s = v.server;
    if (!v.fresh || !s) return null;
    if (!s.postmaster_running) return 'its server is not running';
    if (s.in_recovery === true) return 'its server runs in recovery';
    if (!s.accepting_connections) return 'its server does not accept connections';
    return s.fenced ? 'its server is fenced' : null;
  };
  if (tl === null || primary.heartbeat?.server?.system_identifier == null) return { node: null, why: 'its agent does not report its timeline and system identifier' };
  const later = (v: NodeView): boolean => v !== primary && v.node.type !== 'witness' && (v.heartbeat?.server?.timeline ?? 0) > tl;
  // Those that ran as primaries on a newer timeline (its standbys follow it, and do not count).
  const newer = ctx.views.filter((v) => later(v) && v.heartbeat?.server?.in_recovery === false).sort((a, b) => (b.heartbeat?.server?.timeline ?? 0) - (a.heartbeat?.server?.timeline ?? 0));
  const top = newer[0];
  if (!top) {
    const follower = ctx.views.find(later);
    if (follower) return { node: null, why: `${label(follower.node)} follows timeline ${follower.heartbeat?.server?.timeline}, newer than the primary's ${tl}, whose primary does not report` };
    const state = down(primary);
    return state ? { node: primary, why: `its own agent reports (${state}) and no node is on a newer timeline than its ${tl}` } : { node: null, why: null };
  }
  const topTl = top.heartbeat?.server?.timeline ?? 0;
  const lsn = top.heartbeat?.server?.current_lsn ?? top.heartbeat?.server?.receive_lsn ?? null;
  const refuse = (reason: string): { node: null; why: string } => ({ node: null, why: `${label(top.node)} reports timeline ${topTl}, newer than the primary's ${tl}, and ${reason}` });
  if (newer.some((v) => v !== top && (v.heartbeat?.server?.timeline ?? 0) === topTl)) return refuse('another node is on that timeline too');
  const state = down(top);
  if (!state) return refuse('its agent does not report it down (it may still hold writes the primary never had)');
  if (ref.last_lsn === null || lsn === null || lsnDiff(ref.last_lsn, lsn) > 0n) return refuse(`it cannot be shown to hold the primary's last reported LSN ${ref.last_lsn ?? 'unknown'}`);
  if (ref.synchronous && !ref.sync_names.has(top.node.node_name)) return refuse('the primary did not last report it as its synchronous standby');
  return { node: top, why: `${label(top.node)} is the candidate a failover promoted on timeline ${topTl} before it was lost: it alone is on the newest timeline, holds the primary's last reported LSN ${ref.last_lsn}${ref.synchronous ? ' and was its synchronous standby' : ''}, and its own agent reports (${state})` };
}

/** A standby registered under another active standby keeps its upstream through a failover (§7.1). */
function isCascaded(ctx: EngineContext, v: NodeView, primary: NodeView): boolean {
  const up = v.node.upstream_node_id === null ? undefined : ctx.byId.get(v.node.upstream_node_id);
  return up !== undefined && up !== primary && up !== v && up.node.type === 'standby' && up.node.active && !up.node.fenced;
}

function healthy(ctx: EngineContext, primary: NodeView, lease: LeaseView, notes: string[]): Draft {
  const standbys = ctx.views.filter((v) => v.node.type === 'standby' && v.node.active);
  const streaming = standbys.filter((v) => v.server?.wal_receiver_status === 'streaming');
  const headline = `${label(primary.node)} is the primary of term ${ctx.snapshot.cluster.term}, running and reporting; ${streaming.length} of ${plural(standbys.length, 'standby', 'standbys')} streaming: nothing to do`;
  return { code: 'healthy', reasons: [headline, lease.description, ...notes] };
}

function cancelled(nodeId: number, details: string): DecisionEvent {
  return { event: 'failover_cancelled', node_id: nodeId, successful: false, details };
}

function dedupeAlarms(alarms: Alarm[]): Alarm[] {
  const seen = new Set<string>();
  return alarms.filter((a) => {
    const key = `${a.kind}|${a.node_id ?? ''}|${a.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Maintenance (`service pause`) and `failover=manual` both mean "report, do not act": any decision
 * with actions becomes `report_only`, its actions kept as `suppressed_actions` so the operator sees
 * what would have been done. Manual mode suppresses every automatic action, fencing included,
 * because repmgr's `failover=manual` makes no automatic change at all; detection events
 * (split_brain_detected, clock_skew) are still returned so they are recorded. A pause an operation
 * set (`paused_by`: a switchover's, while it runs or left behind) is not the operator's: it
 * suppresses nothing, so the operation can be judged and its leftover pause lifted.
 */
function applyPause(ctx: EngineContext, d: Decision): Decision {
  const { paused, paused_by } = ctx.snapshot.cluster;
  const operatorPause = paused && !paused_by;
  const manual = ctx.settings.failover === 'manual';
  if (!operatorPause && !manual) return d;
  const why = operatorPause ? 'the cluster is paused (maintenance)' : 'failover=manual';
  if (d.actions.length === 0) return { ...d, reasons: [...d.reasons, `${why}: the engine reports but does not act`] };
  const headline = d.reasons[0] ?? d.code;
  return {
    ...d,
    code: 'report_only',
    reasons: [`${why}: reporting only, ${d.code} suppressed — ${headline}`, ...d.reasons.slice(1)],
    actions: [],
    suppressed_actions: d.actions,
  };
}
