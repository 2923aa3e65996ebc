/**
 * The flight recorder (docs/operations.md, "Flight recorder"): the controller keeps the cluster
 * snapshot behind every decision that is not `healthy`, so `pgvigil cluster explain --at TIME`
 * can say later, with the engine's own sentences of the time, why it did or did not fail over.
 *
 * Pure: what to keep is decided here from the last decision kept; the adapter stores it.
 */
import type { Decision, DecisionCode } from './decision.js';
import type { ClusterSnapshot } from './model.js';

/** How long decisions are kept: DynamoDB expires them through the table's TTL attribute. */
export const FLIGHT_RECORDER_TTL_SECS = 7 * 86_400;

/**
 * An unchanged decision (same code, same sentences) is kept again only after this long: a
 * condition that lasts does not fill the table, and a later `--at` still finds a record close by.
 */
export const FLIGHT_RECORDER_REPEAT_MS = 60_000;

/** A decision the flight recorder kept. */
export interface RecordedDecision {
  cluster_id: string;
  /** The controller time the engine decided at (epoch ms). */
  decided_at: number;
  decision: Decision;
  /**
   * The state it decided on; null for the marker kept when a cluster became healthy again (no
   * snapshot is kept for healthy decisions).
   */
  snapshot: ClusterSnapshot | null;
}

/** What the recorder remembers of the last decision it kept for a cluster. */
export interface LastKept {
  code: DecisionCode;
  digest: string;
  at: number;
}

export function decisionDigest(decision: Pick<Decision, 'code' | 'reasons'>): string {
  return [decision.code, ...decision.reasons].join('\n');
}

/**
 * Whether to keep this decision: every decision that is not healthy, unless it repeats the last
 * one kept within {@link FLIGHT_RECORDER_REPEAT_MS}; a healthy one only as the marker that ends a
 * run of unhealthy ones.
 */
export function worthKeeping(last: LastKept | undefined, decision: Pick<Decision, 'code' | 'reasons'>, now: number): boolean {
  if (decision.code === 'healthy') return last !== undefined && last.code !== 'healthy';
  if (!last) return true;
  return last.digest !== decisionDigest(decision) || now - last.at >= FLIGHT_RECORDER_REPEAT_MS;
}
