/**
 * Candidate selection (docs/decision-engine.md): which standbys may be promoted, and in what order.
 *
 * The primary's identity facts (system identifier, timeline, last LSN, synchronous standbys) are
 * read from its *latest* heartbeat even when that heartbeat is stale: they are what the primary last
 * reported, which is exactly what the rules compare against, and they do not depend on clocks.
 * When the primary never reported one of them, the rule that needs it cannot be checked and no
 * standby passes it: promoting a node of another cluster or timeline is worse than not failing over.
 */
import type { CandidateAssessment } from '../decision.js';
import { compareLsn, lsnDiff } from '../lsn.js';
import { label, staleness, type EngineContext, type NodeView } from './freshness.js';

export interface PrimaryReference {
  system_identifier: string | null;
  timeline: number | null;
  /** The last WAL position the primary reported (current_lsn). */
  last_lsn: string | null;
  /** The primary ran synchronous replication: non-empty synchronous_standby_names and sync/quorum rows. */
  synchronous: boolean;
  /**
   * Non-empty synchronous_standby_names but no standby reported as sync/quorum: its commits waited
   * for a standby that was not there, and the writes it acknowledged before are on no standby it
   * still reported. Only a standby holding everything it last reported may then be promoted.
   */
  synchronousWithoutStandby: boolean;
  /** application_name of the standbys the primary last reported as sync or quorum. */
  sync_names: ReadonlySet<string>;
}

export function primaryReference(primary: NodeView): PrimaryReference {
  const s = primary.heartbeat?.server ?? null;
  const syncRows = (s?.replication ?? []).filter((r) => r.sync_state === 'sync' || r.sync_state === 'quorum');
  const named = (s?.synchronous_standby_names ?? '').trim() !== '';
  const synchronous = named && syncRows.length > 0;
  return {
    system_identifier: s?.system_identifier ?? null,
    timeline: s?.timeline ?? null,
    last_lsn: s?.current_lsn ?? null,
    synchronous,
    synchronousWithoutStandby: named && syncRows.length === 0,
    sync_names: new Set(synchronous ? syncRows.map((r) => r.application_name) : []),
  };
}

/** The LSN a standby has received up to (falls back to replay when no receive LSN is reported). */
export function receivedLsn(view: NodeView): string | null {
  const s = view.server;
  return s ? (s.receive_lsn ?? s.replay_lsn) : null;
}

/** Every reason `view` may not be promoted (empty when eligible). */
export function ineligibility(ctx: EngineContext, view: NodeView, ref: PrimaryReference): string[] {
  const n = view.node;
  if (n.type === 'witness') return ['is a witness: a vote, never a candidate'];
  const reasons: string[] = [];
  if (n.type !== 'standby') reasons.push(`is registered as a ${n.type}, not a standby`);
  if (!n.active) reasons.push('is marked inactive (failed)');
  const stale = staleness(view, ctx);
  if (stale) reasons.push(stale);
  if (n.fenced) reasons.push('is fenced (it must rejoin before it can be promoted)');
  if (n.priority <= 0) reasons.push('has priority 0 (never promote this node)');
  const s = view.server;
  if (view.fresh) {
    if (!s) reasons.push('reports no PostgreSQL server');
    else if (!s.postmaster_running) reasons.push('its PostgreSQL server is not running');
    else if (s.in_recovery !== true) reasons.push(s.in_recovery === false ? 'is not in recovery (it is not a standby)' : 'did not report whether it is in recovery');
    if (s?.fenced && !n.fenced) reasons.push('its agent reports the server fenced');
  }
  if (s) {
    if (ref.system_identifier === null) reasons.push("the primary's system identifier is unknown, so it cannot be compared");
    else if (s.system_identifier === null) reasons.push('did not report its system identifier');
    else if (s.system_identifier !== ref.system_identifier) {
      reasons.push(`its system identifier ${s.system_identifier} differs from the primary's ${ref.system_identifier} (another cluster)`);
    }
    if (ref.timeline === null) reasons.push("the primary's timeline is unknown, so it cannot be compared");
    else if (s.timeline !== ref.timeline) reasons.push(`is on timeline ${s.timeline ?? 'unknown'}, not the cluster's current timeline ${ref.timeline}`);
    const lsn = receivedLsn(view);
    const max = ctx.settings.maximum_lag_on_failover;
    if (lsn === null) reasons.push('reports no receive LSN');
    else if (max !== null) {
      if (ref.last_lsn === null) reasons.push("the primary's last LSN is unknown, so maximum_lag_on_failover cannot be checked");
      else {
        const lag = lsnDiff(ref.last_lsn, lsn);
        if (lag > BigInt(max)) {
          reasons.push(`is ${lag} bytes behind the primary's last reported LSN ${ref.last_lsn} (maximum_lag_on_failover=${max})`);
        }
      }
    }
    if (ref.synchronous && !ref.sync_names.has(n.node_name)) {
      reasons.push('the primary ran synchronous replication and last reported this node as asynchronous: promoting it could lose committed transactions');
    }
    if (ref.synchronousWithoutStandby && lsn !== null) {
      if (ref.last_lsn === null) reasons.push("the primary ran synchronous replication with no synchronous standby and its last LSN is unknown: this node cannot be shown to hold its committed transactions");
      else if (lsnDiff(ref.last_lsn, lsn) > 0n) {
        reasons.push(`the primary ran synchronous replication (synchronous_standby_names is set) but last reported no synchronous standby, and this node is behind its last reported LSN ${ref.last_lsn}: promoting it could lose committed transactions`);
      }
    }
  }
  return reasons;
}

/** Highest receive LSN, then highest priority, then lowest node_id. */
export function rankCandidates(list: NodeView[]): NodeView[] {
  return [...list].sort((a, b) => {
    const la = receivedLsn(a);
    const lb = receivedLsn(b);
    const byLsn = la !== null && lb !== null ? compareLsn(lb, la) : 0;
    if (byLsn !== 0) return byLsn;
    if (a.node.priority !== b.node.priority) return b.node.priority - a.node.priority;
    return a.node.node_id - b.node.node_id;
  });
}

export interface CandidateSelection {
  assessments: CandidateAssessment[];
  /** The best eligible standby, or null. */
  best: NodeView | null;
  reference: PrimaryReference;
}

/** Assesses every node other than the primary (witnesses included, so `cluster explain` shows them). */
export function selectCandidate(ctx: EngineContext, primary: NodeView): CandidateSelection {
  const reference = primaryReference(primary);
  const others = ctx.views.filter((v) => v !== primary);
  const why = new Map<number, string[]>();
  for (const v of others) why.set(v.node.node_id, ineligibility(ctx, v, reference));
  const ranked = rankCandidates(others.filter((v) => why.get(v.node.node_id)?.length === 0));
  const best = ranked[0] ?? null;
  ranked.forEach((v, i) => {
    why.set(v.node.node_id, [rankReason(v, i, ranked.length, best)]);
  });
  const assessments = others.map<CandidateAssessment>((v) => ({
    node_id: v.node.node_id,
    eligible: ranked.includes(v),
    reasons: why.get(v.node.node_id) ?? [],
    receive_lsn: receivedLsn(v),
    priority: v.node.priority,
  }));
  return { assessments, best, reference };
}

function rankReason(v: NodeView, index: number, total: number, best: NodeView | null): string {
  const lsn = receivedLsn(v) ?? 'unknown';
  const head = `eligible, ranked ${index + 1} of ${total}`;
  if (index === 0 || !best) return `${head}: receive LSN ${lsn}, priority ${v.node.priority}`;
  const bestLsn = receivedLsn(best);
  if (bestLsn !== null && lsn !== 'unknown' && compareLsn(bestLsn, lsn) > 0) {
    return `${head}: receive LSN ${lsn} is behind ${label(best.node)}'s ${bestLsn}`;
  }
  if (best.node.priority > v.node.priority) return `${head}: same receive LSN ${lsn} as ${label(best.node)}, lower priority ${v.node.priority}`;
  return `${head}: same receive LSN and priority as ${label(best.node)}, higher node_id`;
}

/** A compact note on lag for candidate reasons ("0 bytes behind"). */
export function lagNote(ref: PrimaryReference, view: NodeView): string | null {
  const lsn = receivedLsn(view);
  if (ref.last_lsn === null || lsn === null) return null;
  const lag = lsnDiff(ref.last_lsn, lsn);
  return lag <= 0n ? 'has everything the primary last reported' : `is ${lag} bytes behind the primary's last reported LSN`;
}

