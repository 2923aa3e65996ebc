/**
 * What the decision engine returns (docs/decision-engine.md). The engine is one pure function
 * `decide(snapshot, now) → Decision`; the evaluator Lambda, `pgvigil cluster explain` and the tests
 * all call the same code.
 */
import type { EventName } from './events.js';
import type { LeaseObservation } from './model.js';

export const DECISION_CODES = [
  /** Nothing to do: the cluster is as it should be. */
  'healthy',
  /** Something looks wrong but the evidence is not yet enough (e.g. primary silent, lease fresh). */
  'wait',
  /** The primary has failed and a candidate was chosen. */
  'failover',
  /** The primary has failed but a rule stopped the failover this round (see reasons). */
  'failover_cancelled',
  /** A second writable primary: fence it now. */
  'fence',
  /** A standby streams from the wrong upstream: make it follow the current primary. */
  'follow',
  /** A fenced former primary may come back as a standby (auto_rejoin). */
  'rejoin',
  /** A saga is in flight and may go on: let it run, or resume it once its owner's deadline has passed. */
  'operation_in_progress',
  /**
   * A saga is in flight but the cluster cannot wait for it: its candidate or new primary failed, it
   * has kept the cluster without a writable primary too long, or the cluster needs the operation
   * slot for something more urgent. The action says how it ends (docs/decision-engine.md).
   */
  'end_operation',
  /** The primary failed, no standby can be promoted, and the primary can be restarted in place. */
  'restart_primary',
  /** The cluster is paused by an operation that is no longer in flight: lift the pause. */
  'unpause',
  /** Something should be done but the cluster is paused or in `failover=manual`; report only. */
  'report_only',
  /** The cluster has no primary the engine can identify and no failover applies. */
  'no_primary',
] as const;
export type DecisionCode = (typeof DECISION_CODES)[number];

/**
 * How an operation the engine ends goes on:
 * - `rollback`: a switchover before its promote step (the old primary is restarted as primary);
 * - `abort`: a failover before its promotion is confirmed (a new round may follow);
 * - `incomplete`: a switchover whose promote step was reached but not confirmed;
 * - `hand_over`: a failover or switchover whose new primary has failed since: it finishes, and the
 *   engine decides again (a failover of the new primary);
 * - `release`: a one-node action (follow, rejoin, fence confirmation) gives the cluster up;
 * - `clear_cooldown`: the pause after an aborted round holds nothing back any more.
 */
export type OperationEnding = 'rollback' | 'abort' | 'incomplete' | 'hand_over' | 'release' | 'clear_cooldown';

export type Action =
  | { kind: 'failover'; old_primary_node_id: number; candidate_node_id: number; follower_node_ids: number[] }
  | { kind: 'fence'; node_id: number; reason: 'split_brain' | 'superseded_primary' }
  | { kind: 'follow'; node_id: number; upstream_node_id: number }
  /** `force_rewind`: pg_rewind when the node has diverged (auto_rejoin of a failed former primary). */
  | { kind: 'rejoin'; node_id: number; upstream_node_id: number; force_rewind: boolean }
  | { kind: 'end_operation'; operation_id: string; ending: OperationEnding; reason: string }
  | { kind: 'restart_primary'; node_id: number }
  | { kind: 'unpause'; operation_id: string };

export type AlarmKind =
  | 'replication_broken'
  | 'replication_lag_warning'
  | 'replication_lag_critical'
  | 'clock_skew'
  | 'witness_dark'
  | 'two_node_no_witness'
  | 'primary_unreachable'
  | 'data_directory_not_writable'
  | 'no_eligible_candidate'
  | 'node_stale';

export interface Alarm {
  kind: AlarmKind;
  node_id: number | null;
  message: string;
}

/** An event the caller should record because of this decision (clock_skew, failover_cancelled …). */
export interface DecisionEvent {
  event: EventName;
  node_id: number;
  successful: boolean;
  details: string;
}

/** How each standby fared in candidate selection, for `cluster explain`. */
export interface CandidateAssessment {
  node_id: number;
  eligible: boolean;
  /** Why it is not eligible, or why it ranks where it does. */
  reasons: string[];
  receive_lsn: string | null;
  priority: number;
}

/** Where a failover or switchover stands, for the engine's judgement of it. */
export type OperationPhase =
  /** Nothing has been sent that could promote the candidate: it can still be rolled back or aborted. */
  | 'before_promotion'
  /** The promote step was reached: the candidate may be promoting; it is never rolled back from here. */
  | 'promotion_in_flight'
  /** The cluster record names the candidate primary: what is left is on the new primary's side. */
  | 'promoted'
  /** The saga is on its way out (rollback, abort, incomplete, finish). */
  | 'ending'
  /** The pause after an aborted round or a failed node action. */
  | 'cooldown'
  /** A follow, rejoin, fence (or fence confirmation) or restart within the current term. */
  | 'node_action';

/** The engine's judgement of the operation in flight (`cluster explain` shows it). */
export interface OperationJudgement {
  id: string;
  kind: string;
  step: string;
  term: number;
  phase: OperationPhase;
  /** `end`: the decision is `end_operation` and its action says how. */
  verdict: 'continue' | 'end';
  ending: OperationEnding | null;
  /** Why, in sentences. */
  reasons: string[];
  /** What the engine would decide if no operation were in flight (its code and headline). */
  without_operation: { code: DecisionCode; headline: string } | null;
}

export interface Decision {
  code: DecisionCode;
  /** Plain-language sentences, most important first; they appear in events and `cluster explain`. */
  reasons: string[];
  /** What the controller should do (empty for healthy/wait/report_only …). */
  actions: Action[];
  /** When code is `report_only`: what would have been done. */
  suppressed_actions: Action[];
  alarms: Alarm[];
  events: DecisionEvent[];
  /** The lease observation to persist (conditional write) before acting; null when unchanged. */
  lease_observation: LeaseObservation | null;
  /** Per-standby candidate assessment when a failover was considered. */
  candidates: CandidateAssessment[];
  /** The primary the engine considers current (null when none). */
  primary_node_id: number | null;
  /** The judgement of the operation in flight; null when none. */
  operation: OperationJudgement | null;
}
