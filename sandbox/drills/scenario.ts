/**
 * What a drill is written against (a {@link Scenario} and the {@link DrillContext} it runs in) and
 * what it reports (a {@link DrillResult}); the runner (runner.ts) runs it, docs/sandbox.md shows it.
 */
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { EventRecord } from '../../core/model.js';
import type { Sandbox } from '../index.js';
import type { PlanNode } from '../cluster-plan.js';
import type { ScenarioName } from './names.js';

/**
 * Where the old primary ends: `fenced` (fence marker in its data directory, server stopped or
 * read-only), `stopped` (its host was stopped: the sandbox's EC2 StopInstances), `standby_streaming`
 * (rejoined), `standby` (in recovery, not streaming), `primary` (still the writable primary),
 * `down` (no server, no fence: should not happen after a drill).
 */
export type NodeState = 'fenced' | 'stopped' | 'standby_streaming' | 'standby' | 'primary' | 'down';

export interface DrillResult {
  scenario: ScenarioName;
  ok: boolean;
  /** Why `ok` is false (empty when ok). */
  problems: string[];
  mode: 'netns' | 'loopback';
  old_primary: string;
  new_primary: string;
  failover_expected: boolean;
  failover_happened: boolean;
  term_before: number;
  term_after: number;
  /** Each from the fault; null when it did not happen. */
  timings_ms: {
    detected: number | null;
    saga_claimed: number | null;
    fenced: number | null;
    promoted: number | null;
    vip_moved: number | null;
    first_write_via_vip: number | null;
    /** rejoin: the old primary streaming as a standby again. */
    rejoined?: number | null;
    /** kill-controller-mid-saga: the first controller frozen, the second started. */
    controller_killed?: number | null;
    controller_restarted?: number | null;
  };
  write_outage_ms: number;
  acked_writes: number;
  /** null when the final primary could not be asked (then `ok` is false). */
  acked_writes_lost: number | null;
  direct_acked_writes: number;
  direct_acked_writes_lost: number | null;
  /**
   * The writer through the sandbox's writer route (the load balancer's `/primary`, sandbox/routes.ts),
   * beside the one through the VIP; all null in a sandbox without routes (loopback).
   */
  route_acked_writes: number | null;
  route_acked_writes_lost: number | null;
  route_write_outage_ms: number | null;
  max_writable_primaries: number;
  old_primary_state: NodeState;
  vip_target: string | null;
  /** Promotions the controller recorded since the fault (kill-controller-mid-saga: exactly one). */
  promotions: number;
  events: { at_ms: number; node_id: number; event: string; successful: boolean; details: string }[];
  /**
   * The SNS notifications the drill caused: the stack's alarms changing state, as the sandbox's
   * subscriber received them (docs/sandbox.md, "Alarms and notifications").
   */
  notifications: { at_ms: number; alarm: string; from: string; to: string; subject: string | null }[];
  notes: string[];
}

/** What a scenario sees while it runs. */
export interface DrillContext {
  sandbox: Sandbox;
  store: DynamoStateStore;
  oldPrimary: PlanNode;
  /** Date.now() at the fault. */
  fault: number;
  /** Extra timings (absolute Date.now() values), reported from the fault. */
  marks: Record<string, number>;
  notes: string[];
  log: (line: string) => void;
}

export interface Scenario {
  name: ScenarioName;
  summary: string;
  /** What the drill proves (docs and `--help`). */
  proves: string;
  failoverExpected: boolean;
  /** Needs network namespaces (a partition cannot be made on plain loopback ports). */
  needsNetns?: boolean;
  /** Observation window after the fault when no failover is expected. */
  observeMs?: number;
  /**
   * Writes must keep flowing through the VIP and the writer route: no stretch without an
   * acknowledged write longer than the lease (a primary that fenced would leave one of the rest of
   * the window), and no fence or lease_lost event of the primary.
   */
  writesKeepFlowing?: boolean;
  /** Events the primary must have recorded by the drill's end (read until 30 s after the undo). */
  expectEvents?: readonly EventRecord['event'][];
  /** Injects the fault at ctx.fault (it may take a while: switchover runs until it answers). */
  inject(ctx: DrillContext): Promise<void>;
  /** Runs once the failover is seen, still under the writers (rejoin). */
  afterFailover?(ctx: DrillContext): Promise<void>;
  /** Undoes a fault that heals without failover (network restored, agent restarted). */
  undo?(ctx: DrillContext): Promise<void>;
}
