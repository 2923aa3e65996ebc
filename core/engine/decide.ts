/**
 * The decision engine (SPEC §6): one pure function from a cluster snapshot and the controller's
 * time to a decision with a code and plain-language reasons. No I/O, no clock, no randomness: the
 * evaluator Lambda, `pgvigil cluster explain` and the tests run exactly this code.
 *
 * Order of precedence, most urgent first:
 * 1. a saga in flight (`operation_in_progress`): it owns the cluster until done or taken over;
 * 2. no primary recorded (`no_primary`);
 * 3. a second writable server (`fence`): split brain is fixed before anything else;
 * 4. the primary's failure (`failover`, `failover_cancelled`, `wait`);
 * 5. standbys on the wrong upstream (`follow`), fenced nodes to rejoin (`rejoin`);
 * 6. otherwise `healthy` (alarm-only states ride along on every decision).
 * A paused cluster or `failover=manual` turns any decision with actions into `report_only`.
 */
import type { Action, Alarm, CandidateAssessment, Decision, DecisionCode, DecisionEvent } from '../decision.js';
import type { ClusterSnapshot } from '../model.js';
import { collectAlarms } from './alarms.js';
import { lagNote, selectCandidate } from './candidates.js';
import { assessPrimary, checkConsensus } from './evidence.js';
import { buildContext, formatTime, label, plural, type EngineContext, type NodeView } from './freshness.js';
import { observeLease, type LeaseView } from './lease.js';
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
  const draft = decideCore(ctx, lease);
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
  };
  return applyPause(ctx, decision);
}

function decideCore(ctx: EngineContext, lease: LeaseView): Draft {
  const { cluster } = ctx.snapshot;
  const op = cluster.operation;
  if (op) {
    const owner = ctx.now > op.deadline
      ? `its owner's deadline passed at ${formatTime(op.deadline)}: the next evaluator takes it over from step "${op.step}"`
      : `owned by ${op.owner} until ${formatTime(op.deadline)}`;
    return {
      code: 'operation_in_progress',
      reasons: [
        `a ${op.kind} (operation ${op.id}, term ${op.term}) is in progress at step "${op.step}": no new decision until it is done`,
        owner,
        ...(op.candidate_node_id !== null ? [`its candidate is node ${op.candidate_node_id}`] : []),
      ],
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
  if (verdict.state === 'failed') return decideFailover(ctx, primary, lease, verdict.began, [verdict.headline, ...verdict.reasons]);

  const followers = findFollowers(ctx, primary);
  const serves = primaryServes(primary);
  if (serves && followers.actions.length > 0) {
    return { code: 'follow', reasons: followers.reasons, actions: followers.actions };
  }
  const rejoins = findRejoins(ctx, primary);
  if (serves && rejoins.actions.length > 0) {
    return { code: 'rejoin', reasons: rejoins.reasons, actions: rejoins.actions };
  }
  return healthy(ctx, primary, lease, [...verdict.notes, ...rejoins.reasons]);
}

function decideFailover(ctx: EngineContext, primary: NodeView, lease: LeaseView, began: number, evidence: string[]): Draft {
  const pid = primary.node.node_id;
  const consensus = checkConsensus(ctx, primary, began, lease);
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
    return {
      code: 'failover_cancelled',
      reasons: [headline, ...evidence, ...consensus.reasons, ...why],
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
 * (split_brain_detected, clock_skew) are still returned so they are recorded.
 */
function applyPause(ctx: EngineContext, d: Decision): Decision {
  const { paused } = ctx.snapshot.cluster;
  const manual = ctx.settings.failover === 'manual';
  if (!paused && !manual) return d;
  const why = paused ? 'the cluster is paused (maintenance)' : 'failover=manual';
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
