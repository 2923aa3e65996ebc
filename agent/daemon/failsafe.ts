/**
 * Failsafe mode's rules, without doing any of them (docs/architecture.md, "Failsafe mode").
 *
 * A primary that cannot renew its lease asks every active standby (the possible candidates) to
 * confirm that they still see it. A standby that confirms first records the promise "I refuse to be
 * promoted until `holdMs` after now, on my own monotonic clock", then answers. The primary keeps its
 * lease standing from the moment it *asked* a round, as a renewal stands from the moment it was
 * sent, but only while it holds a confirmation from every candidate: the ground is the oldest of
 * their latest confirmations' ask times. Each side measures only its own durations on its own
 * monotonic clock; no two clocks are ever compared, so offsets do not matter, and `holdMs` is longer
 * than the lease by `clock_skew_margin_ms` to cover clocks that run at slightly different rates.
 *
 * Nothing here reads a clock or does I/O: tested with plain numbers, including a property test over
 * interleavings and clock rates (test/unit/agent-failsafe.property.test.ts).
 */
import type { ClusterRecord, NodeRecord, ServerState } from '../../core/model.js';
import type { AgentConfig } from '../config.js';
import type { LeaseTimings } from './policy.js';

/** How long a standby that confirmed refuses promotion, on its own monotonic clock. */
export function failsafeHoldMs(config: Pick<AgentConfig, 'lease_secs' | 'clock_skew_margin_ms'>): number {
  return config.lease_secs * 1000 + config.clock_skew_margin_ms;
}

/** The nodes whose confirmation a primary needs: every active standby of the cluster it last read. */
export function failsafeCandidates(nodes: readonly Pick<NodeRecord, 'node_id' | 'type' | 'active'>[], selfId: number): number[] {
  return nodes
    .filter((n) => n.active && n.type === 'standby' && n.node_id !== selfId)
    .map((n) => n.node_id)
    .sort((a, b) => a - b);
}

/**
 * Should the primary ask for confirmations now? Once half the lease has passed since its latest
 * ground (a renewal, or an earlier round): the rounds then have the other half, less the fence's
 * lead, to come back, and a primary whose renewals work never asks.
 */
export function failsafeDue(latestGroundMono: number, nowMono: number, timings: Pick<LeaseTimings, 'leaseMs'>): boolean {
  return nowMono - latestGroundMono >= timings.leaseMs / 2;
}

/** One standby's latest confirmation, as the primary holds it. */
export interface HeldConfirmation {
  nodeId: number;
  /** Primary's monotonic ms when it sent the request this answers. */
  askedMono: number;
  /** The candidates the standby knows of (its own cluster read). */
  candidates: readonly number[];
}

export type FailsafeGround = { ok: true; sinceMono: number } | { ok: false; why: string };

/**
 * The moment from which the confirmations keep the lease standing: the oldest of the latest
 * confirmations of all candidates. None without candidates (nothing promises anything then), when
 * one is missing, or when a standby knows of a candidate this primary did not ask (a standby
 * registered after its last read of the cluster).
 */
export function failsafeGround(candidates: readonly number[], held: ReadonlyMap<number, HeldConfirmation>): FailsafeGround {
  if (candidates.length === 0) return { ok: false, why: 'no active standby to confirm' };
  let since = Infinity;
  const asked = new Set(candidates);
  for (const id of candidates) {
    const c = held.get(id);
    if (!c) return { ok: false, why: `no confirmation from node ${id}` };
    const unknown = c.candidates.find((n) => !asked.has(n) && n !== id);
    if (unknown !== undefined) return { ok: false, why: `node ${id} knows of candidate ${unknown}, which this primary did not ask` };
    since = Math.min(since, c.askedMono);
  }
  return { ok: true, sinceMono: since };
}

/** What a standby knows when asked to confirm. */
export interface ConfirmFacts {
  nodeId: number;
  clusterId: string;
  /** The local server at the latest tick. */
  server: Pick<ServerState, 'accepting_connections' | 'in_recovery'> | null;
  fenced: boolean;
  /** The latest cluster record read; undefined before the first. */
  cluster: Pick<ClusterRecord, 'term' | 'primary_node_id'> | undefined;
  /** A promote of this node has started (its marker exists): it must not promise anything. */
  promoting: boolean;
}

export interface ConfirmRequest {
  clusterId: string;
  /** The primary asking. */
  nodeId: number;
  term: number;
}

export type ConfirmDecision = { confirm: true } | { confirm: false; why: string };

/**
 * A standby confirms a primary it still sees: the cluster record it last read names that node as
 * primary at that term (or an older one), and it is itself a standby that is not being promoted.
 */
export function decideConfirm(req: ConfirmRequest, f: ConfirmFacts): ConfirmDecision {
  if (req.clusterId !== f.clusterId) return { confirm: false, why: `this node belongs to cluster "${f.clusterId}", not "${req.clusterId}"` };
  if (req.nodeId === f.nodeId) return { confirm: false, why: 'a node does not confirm itself' };
  if (f.promoting) return { confirm: false, why: 'this node is being promoted' };
  if (f.fenced) return { confirm: false, why: 'this node is fenced' };
  if (!f.server?.accepting_connections || f.server.in_recovery !== true) return { confirm: false, why: 'this node does not run as a standby' };
  if (!f.cluster) return { confirm: false, why: 'this node has not read the cluster record yet' };
  if (f.cluster.primary_node_id !== req.nodeId) return { confirm: false, why: `the cluster record this node read names node ${f.cluster.primary_node_id ?? 'none'} as primary, not node ${req.nodeId}` };
  if (f.cluster.term > req.term) return { confirm: false, why: `this node has seen term ${f.cluster.term}, newer than the primary's term ${req.term}` };
  return { confirm: true };
}

/**
 * May a standby be promoted now, given the latest promise it made (its monotonic ms, null if none)?
 * It refuses for `holdMs` after confirming, whatever the term of the promote.
 */
export function promoteHeld(confirmedMono: number | null, nowMono: number, holdMs: number): { held: false } | { held: true; remainingMs: number } {
  if (confirmedMono === null) return { held: false };
  const remainingMs = confirmedMono + holdMs - nowMono;
  return remainingMs > 0 ? { held: true, remainingMs } : { held: false };
}
