/**
 * What the decision engine returns (SPEC §6). The engine is one pure function
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
  /** A saga is in flight: let it run or resume it. */
  'operation_in_progress',
  /** Something should be done but the cluster is paused or in `failover=manual`; report only. */
  'report_only',
  /** The cluster has no primary the engine can identify and no failover applies. */
  'no_primary',
] as const;
export type DecisionCode = (typeof DECISION_CODES)[number];

export type Action =
  | { kind: 'failover'; old_primary_node_id: number; candidate_node_id: number; follower_node_ids: number[] }
  | { kind: 'fence'; node_id: number; reason: 'split_brain' | 'superseded_primary' }
  | { kind: 'follow'; node_id: number; upstream_node_id: number }
  | { kind: 'rejoin'; node_id: number; upstream_node_id: number };

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
}
