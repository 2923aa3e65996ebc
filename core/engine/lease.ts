/**
 * The primary's lease, judged the way the DynamoDB lock client judges a lock (docs/architecture.md): the
 * controller never compares its clock with the primary's. It only remembers which record version
 * number (RVN) it saw and when it first saw it, on its own clock, and calls the lease expired once
 * that same RVN has been in place for `lease_secs` + `clock_skew_margin_ms`. The primary's agent
 * fences itself after `lease_secs` without a renewal on its own monotonic clock, so by then a live
 * but partitioned primary has already stopped writing.
 */
import type { ClusterRecord, LeaseObservation } from '../model.js';
import { formatDuration, formatTime, type EngineContext } from './freshness.js';

/**
 * The RVN the controller records when the cluster record holds no lease at all. "No lease" is
 * observed and aged exactly like an RVN: a primary that has never taken a lease, or whose lease
 * record was removed, could still be serving, and its agent fences itself only after `lease_secs`
 * without a successful renewal. Treating "no lease" as expired at once would let a failover race
 * a primary that is alive but has not written yet (for example right after `primary register`).
 * Real RVNs are random tokens written by agents; the parentheses keep this one from colliding.
 */
export const NO_LEASE_RVN = '(no lease)';

export interface LeaseView {
  /** The RVN in the cluster record, or {@link NO_LEASE_RVN}. */
  rvn: string;
  /** The observation that holds after this decision (the stored one, or the new one). */
  observation: LeaseObservation;
  /** The new observation the caller must persist; null when the stored one still holds. */
  update: LeaseObservation | null;
  /** How long the controller has seen this RVN unchanged (0 for a new observation). */
  observed_for_ms: number;
  /** `lease_secs` × 1000 + `clock_skew_margin_ms`. */
  expiry_ms: number;
  expired: boolean;
  /** One sentence describing the lease, for reasons. */
  description: string;
}

export function observeLease(ctx: EngineContext): LeaseView {
  const { cluster } = ctx.snapshot;
  const rvn = cluster.lease?.rvn ?? NO_LEASE_RVN;
  const expiry_ms = ctx.settings.lease_secs * 1000 + ctx.margin;
  const stored = cluster.lease_observation;
  const same = stored !== null && stored.rvn === rvn;
  const observation = same ? stored : { rvn, first_seen_at: ctx.now };
  // A controller clock that stepped backwards gives a negative age: not expired (safe side).
  const observed_for_ms = same ? ctx.now - stored.first_seen_at : 0;
  // A just-updated observation is never expired, whatever lease_secs is.
  const expired = same && observed_for_ms >= expiry_ms;
  const what = cluster.lease === null ? 'no lease is recorded' : `lease RVN ${rvn}`;
  const holder =
    cluster.lease !== null && (cluster.lease.holder_node_id !== cluster.primary_node_id || cluster.lease.term < cluster.term)
      ? ` (held by node ${cluster.lease.holder_node_id} in term ${cluster.lease.term}, not by the term's primary)`
      : '';
  let description: string;
  if (!same) {
    description = `${what}${holder} is newly observed at ${formatTime(ctx.now)}: it cannot count as expired before ${formatDuration(expiry_ms)} have passed`;
  } else if (expired) {
    description = `${what}${holder} has not changed for ${formatDuration(observed_for_ms)} on the controller clock (lease_secs + clock_skew_margin_ms = ${formatDuration(expiry_ms)}): the lease has expired`;
  } else {
    description = `${what}${holder} was first seen ${formatDuration(Math.max(0, observed_for_ms))} ago on the controller clock: the lease is not expired (it would be after ${formatDuration(expiry_ms)})`;
  }
  return { rvn, observation, update: same ? null : observation, observed_for_ms, expiry_ms, expired, description };
}

/** Operations that make their candidate the primary of their term. */
export const PROMOTING_OPERATIONS = ['failover', 'switchover'] as const;

/**
 * May `nodeId` renew the lease at `term`? The term's recorded primary may; so may the candidate of
 * the failover or switchover that claimed the term, from the moment its server is promoted until the
 * saga records it as the primary. Without the second rule a new primary would have no way to renew
 * while a slow controller is between the promotion and its record, and would fence itself at
 * `lease_secs` though nothing is wrong (docs/agent.md, "Lease and fencing"). It grants nothing the
 * operation has not already decided: the claim raised the term, so the former primary can renew
 * no more, and the candidate is the node the saga is promoting under that term.
 * adapters/dynamo-state-store.ts writes the same rule as a condition expression.
 */
export function mayRenewLease(cluster: Pick<ClusterRecord, 'term' | 'primary_node_id' | 'operation'>, nodeId: number, term: number): boolean {
  if (cluster.term !== term) return false;
  if (cluster.primary_node_id === nodeId) return true;
  const op = cluster.operation;
  return op !== null && (PROMOTING_OPERATIONS as readonly string[]).includes(op.kind) && op.term === term && op.candidate_node_id === nodeId;
}
