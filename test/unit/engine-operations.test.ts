import { describe, expect, it } from 'vitest';
import type { Action, Decision, DecisionCode, OperationEnding, OperationPhase } from '../../core/decision.js';
import { decide } from '../../core/engine/index.js';
import { operationWindowMs, silenceLimitMs } from '../../core/engine/operation.js';
import { DEFAULT_CLUSTER_SETTINGS, type Operation } from '../../core/model.js';
import { BUILDER_NOW, clusterSnapshot, type SnapshotBuilder } from '../support/snapshot-builder.js';

/**
 * The engine's judgement of an operation in flight (docs/decision-engine.md, "Operations in
 * flight"): for every kind and phase, a case where the operation may go on and one where it must
 * end, each asserting the code, the ending and a sentence of the reasons. Then the stuck states
 * the engine leaves by itself with no operation in flight.
 */
const NOW = BUILDER_NOW;
const WINDOW = operationWindowMs(DEFAULT_CLUSTER_SETTINGS); // 81 s at the defaults
const SILENCE = silenceLimitMs(DEFAULT_CLUSTER_SETTINGS); // 36 s at the defaults

function op(patch: Partial<Operation> = {}): Operation {
  return {
    id: 'op-1',
    kind: 'failover',
    term: 4,
    candidate_node_id: 2,
    old_primary_node_id: 1,
    step: 'rerank',
    owner: 'req-1',
    deadline: NOW + 10_000,
    started_at: NOW - 5000,
    data: {},
    ...patch,
  };
}

/** The cluster while a failover of term 4 from node 1 (crashed) to node 2 runs. */
function failingOver(patch: Partial<Operation> = {}): SnapshotBuilder {
  return clusterSnapshot().crashPrimary().cluster({ term: 4, operation: op(patch) });
}

/** The cluster after a failover of term 4 promoted node 2 (the record names it primary). */
function promoted(patch: Partial<Operation> = {}): SnapshotBuilder {
  return clusterSnapshot()
    .crashPrimary()
    .node(1, { fenced: true, active: false })
    .cluster({ term: 4, primary_node_id: 2, lease: null, lease_observation: null, operation: op({ step: 'move_vip', ...patch }) })
    .node(2, { type: 'primary', upstream_node_id: null })
    .server(2, { in_recovery: false, timeline: 3, current_lsn: '0/5000060', wal_receiver_status: null, wal_receiver_upstream_node_id: null });
}

/** A switchover of term 4 from node 1 to node 2 whose demote has stopped node 1. */
function switchingOver(patch: Partial<Operation> = {}): SnapshotBuilder {
  return clusterSnapshot()
    .server(1, { postmaster_running: false, accepting_connections: false, fenced: true, down_since: NOW - 2000 })
    .cluster({ term: 4, paused: true, paused_by: 'op-1', operation: op({ kind: 'switchover', step: 'wait_catchup', ...patch }) });
}

interface Case {
  name: string;
  given: () => SnapshotBuilder;
  code: DecisionCode;
  phase?: OperationPhase;
  ending?: OperationEnding | null;
  /** A substring of one of the reasons. */
  reason: string;
  action?: Action;
  check?: (d: Decision) => void;
}

const cases: Record<string, Case[]> = {
  'a failover before its promote step': [
    {
      name: 'lets it go on while its candidate reports and has not failed',
      given: () => failingOver(),
      code: 'operation_in_progress',
      phase: 'before_promotion',
      ending: null,
      reason: 'its candidate node 2 (pg2) is reporting and has not failed',
    },
    {
      name: 'aborts it at once when its candidate reports its server down, sending no promote',
      given: () => failingOver().server(2, { postmaster_running: false, accepting_connections: false }),
      code: 'end_operation',
      phase: 'before_promotion',
      ending: 'abort',
      reason: 'its candidate node 2 (pg2) reports that its PostgreSQL server is not running; no promote has been sent: abort this round, and the engine chooses again',
    },
    {
      name: 'aborts it when its candidate is fenced',
      given: () => failingOver().node(2, { fenced: true }),
      code: 'end_operation',
      ending: 'abort',
      reason: 'its candidate node 2 (pg2) is fenced',
    },
    {
      name: 'keeps counting on a candidate silent for less than node_timeout + lease_secs + margin (a slow control plane is no failure)',
      given: () => failingOver().silence(2, SILENCE - 1000),
      code: 'operation_in_progress',
      ending: null,
      reason: 'is reporting and has not failed',
    },
    {
      name: 'aborts it when its candidate has been silent for longer than node_timeout + lease_secs + margin',
      given: () => failingOver().silence(2, SILENCE + 1000),
      code: 'end_operation',
      ending: 'abort',
      reason: 'last sent a heartbeat 37 s ago (node_timeout_secs=15), longer than node_timeout_secs + lease_secs + clock_skew_margin_ms = 36 s',
    },
    {
      name: 'aborts a step that has kept the cluster without a writable primary longer than the operation window while its owner lives',
      given: () => failingOver({ step: 'fence_old_primary', data: { step_started_at: NOW - WINDOW - 1000 } }),
      code: 'end_operation',
      ending: 'abort',
      reason: 'step "fence_old_primary" has kept the cluster without a writable primary for 82 s, longer than the operation window (promote_check_timeout + lease_secs + clock_skew_margin_ms = 81 s)',
    },
    {
      name: 'lets a step inside the operation window go on, saying how much of it has run',
      given: () => failingOver({ step: 'fence_old_primary', data: { step_started_at: NOW - 20_000 } }),
      code: 'operation_in_progress',
      ending: null,
      reason: 'no server accepts writes; step "fence_old_primary" has run for 20 s of the operation window',
    },
    {
      name: 'resumes, rather than ends, a step past the window whose owner died: a takeover gives it a fresh window',
      given: () => failingOver({ step: 'fence_old_primary', deadline: NOW - 1, data: { step_started_at: NOW - 10 * 60_000 } }),
      code: 'operation_in_progress',
      ending: null,
      reason: 'the next evaluator takes it over from step "fence_old_primary"',
    },
    {
      name: 'ends it when a third server accepts writes beside it (split brain first)',
      given: () => failingOver().server(3, { in_recovery: false, wal_receiver_status: null }),
      code: 'end_operation',
      ending: 'abort',
      reason: 'node 3 (pg3) is running and accepting writes beside the operation\'s own nodes (split brain)',
    },
  ],

  'a failover whose promote may be in flight': [
    {
      name: 'never ends it on time alone: only the candidate\'s failure ends it',
      given: () => failingOver({ step: 'verify_promotion', data: { step_started_at: NOW - 10 * WINDOW } }),
      code: 'operation_in_progress',
      phase: 'promotion_in_flight',
      ending: null,
      reason: 'a promote may be in flight: from here the operation is never rolled back, only confirmed or ended with the candidate fenced',
    },
    {
      name: 'ends it with the candidate fenced when the candidate reports its server down',
      given: () => failingOver({ step: 'promote' }).server(2, { postmaster_running: false, accepting_connections: false }),
      code: 'end_operation',
      phase: 'promotion_in_flight',
      ending: 'abort',
      reason: 'a promote may be in flight: fence the candidate and end the round, and the engine decides again',
    },
  ],

  'a failover that has promoted': [
    {
      name: 'lets it finish while the new primary serves',
      given: () => promoted(),
      code: 'operation_in_progress',
      phase: 'promoted',
      ending: null,
      reason: 'its new primary node 2 (pg2) serves',
    },
    {
      name: 'hands the cluster over when the new primary reports its server down',
      given: () => promoted().server(2, { postmaster_running: false, accepting_connections: false, down_since: NOW - 1000 }),
      code: 'end_operation',
      phase: 'promoted',
      ending: 'hand_over',
      reason: 'its new primary node 2 (pg2) has failed since the failover promoted it (the primary node 2 (pg2) reports that its PostgreSQL server is not running',
    },
    {
      name: 'waits for the lease of a new primary that is only silent',
      given: () => promoted().silence(2, 30_000),
      code: 'operation_in_progress',
      ending: null,
      reason: 'is suspect: the primary node 2 (pg2) is silent but its lease has not expired',
    },
    {
      name: 'lets a saga on its way out finish',
      given: () => failingOver({ step: 'abort' }).server(2, { postmaster_running: false }),
      code: 'operation_in_progress',
      phase: 'ending',
      ending: null,
      reason: 'it is on its way out (step "abort") and is left to finish',
    },
  ],

  'a switchover': [
    {
      name: 'lets the demoted primary stay down while the candidate reports (its own pause is no maintenance)',
      given: () => switchingOver(),
      code: 'operation_in_progress',
      phase: 'before_promotion',
      ending: null,
      reason: 'its candidate node 2 (pg2) is reporting and has not failed',
    },
    {
      name: 'rolls it back when its candidate dies before the promote step, although it paused the cluster itself',
      given: () => switchingOver().server(2, { postmaster_running: false, accepting_connections: false }),
      code: 'end_operation',
      ending: 'rollback',
      reason: 'no promote has been sent: roll back to the old primary',
    },
    {
      name: 'ends it as incomplete, never rolled back, when its candidate dies after the promote step',
      given: () => switchingOver({ step: 'verify_promotion' }).server(2, { postmaster_running: false, accepting_connections: false }),
      code: 'end_operation',
      ending: 'incomplete',
      reason: 'a promote may be in flight: fence the candidate',
    },
    {
      name: 'never applies the operation window while the old primary still takes writes',
      given: () => clusterSnapshot().cluster({ term: 4, operation: op({ kind: 'switchover', step: 'demote_primary', data: { step_started_at: NOW - 10 * WINDOW } }) }),
      code: 'operation_in_progress',
      ending: null,
      reason: 'is reporting and has not failed',
    },
    {
      name: 'hands over, at a step an earlier version persisted, when the new primary fenced itself (the incident of a switchover waiting on siblings)',
      given: () =>
        promoted({ kind: 'switchover', step: 'siblings_follow' })
          .node(1, { type: 'standby', upstream_node_id: 2, active: true, fenced: false })
          .server(2, { postmaster_running: false, accepting_connections: false, fenced: true, down_since: NOW - 1000 }),
      code: 'end_operation',
      phase: 'promoted',
      ending: 'hand_over',
      reason: 'the switchover ends here and the engine decides again',
    },
  ],

  'one-node actions': [
    {
      name: 'releases a follow at once when the primary fails and a failover is due',
      given: () => clusterSnapshot().crashPrimary().cluster({ operation: op({ kind: 'follow', step: 'follow', candidate_node_id: 3, data: { upstream_node_id: 1 } }) }),
      code: 'end_operation',
      phase: 'node_action',
      ending: 'release',
      reason: 'the follow of node 3 (pg3) gives way to a more urgent decision: fail over from node 1 (pg1) to node 2 (pg2)',
    },
    {
      name: 'releases a rejoin whose upstream is no longer the primary',
      given: () => clusterSnapshot().cluster({ operation: op({ kind: 'rejoin', step: 'rejoin', candidate_node_id: 3, data: { upstream_node_id: 2 } }) }),
      code: 'end_operation',
      ending: 'release',
      reason: 'its upstream node 2 is no longer the primary (the record names node 1): a rejoin toward it is pointless',
    },
    {
      name: 'lets a rejoin toward the serving primary run',
      given: () => clusterSnapshot().cluster({ operation: op({ kind: 'rejoin', step: 'rejoin', candidate_node_id: 3, data: { upstream_node_id: 1 } }) }),
      code: 'operation_in_progress',
      ending: null,
      reason: 'a bounded one-node action; it gives way at once to a failover',
    },
    {
      name: 'releases the confirmation of a deferred fence when the new primary fails',
      given: () => clusterSnapshot().crashPrimary().cluster({ operation: op({ kind: 'fence', step: 'confirm_fence', candidate_node_id: 4, data: { pending_fences: [] } }) }),
      code: 'end_operation',
      ending: 'release',
      reason: 'gives way to a more urgent decision',
    },
  ],

  cooldowns: [
    {
      name: 'does not repeat the same failover before its deadline',
      given: () => failingOver({ step: 'cooldown', owner: 'cooldown', deadline: NOW + 5000 }),
      code: 'operation_in_progress',
      phase: 'cooldown',
      ending: null,
      reason: 'not repeating the failover of node 2 before',
    },
    {
      name: 'clears it at once for a failover to another candidate',
      given: () => failingOver({ step: 'cooldown', owner: 'cooldown', deadline: NOW + 5000 }).node(2, { priority: 0 }),
      code: 'end_operation',
      ending: 'clear_cooldown',
      reason: 'holds back only that same action, not this one: fail over from node 1 (pg1) to node 3 (pg3)',
    },
    {
      name: 'keeps a hard cooldown (the candidate\'s fence was not confirmed) even for another candidate',
      given: () => failingOver({ step: 'cooldown', owner: 'cooldown', deadline: NOW + 5000, data: { cooldown_hard: true } }).node(2, { priority: 0 }),
      code: 'operation_in_progress',
      ending: null,
      reason: 'no other failover before then either',
    },
    {
      name: 'clears it once its deadline has passed',
      given: () => failingOver({ step: 'cooldown', owner: 'cooldown', deadline: NOW - 1 }),
      code: 'end_operation',
      ending: 'clear_cooldown',
      reason: 'the cooldown after the failover of node 2 ended',
    },
    {
      name: 'clears the cooldown of a failed follow when the primary fails',
      given: () => clusterSnapshot().crashPrimary().cluster({ operation: op({ kind: 'follow', step: 'cooldown', owner: 'cooldown', candidate_node_id: 3, deadline: NOW + 10_000 }) }),
      code: 'end_operation',
      ending: 'clear_cooldown',
      reason: 'fail over from node 1 (pg1) to node 2 (pg2)',
    },
  ],

  pauses: [
    {
      name: 'reports, and does not end, an operation in a cluster an operator paused',
      given: () => failingOver().server(2, { postmaster_running: false }).cluster({ paused: true }),
      code: 'report_only',
      reason: 'the cluster is paused (maintenance): reporting only, end_operation suppressed',
      check: (d) => expect(d.actions).toEqual([]),
    },
    {
      name: 'reports, and does not end, an operation with failover=manual',
      given: () => failingOver().server(2, { postmaster_running: false }).settings({ failover: 'manual' }),
      code: 'report_only',
      reason: 'failover=manual: reporting only, end_operation suppressed',
    },
    {
      name: 'lifts a pause left by an operation that is gone',
      given: () => clusterSnapshot().cluster({ paused: true, paused_by: 'switchover-1' }),
      code: 'unpause',
      reason: 'the cluster was paused by operation switchover-1, which is no longer in flight',
      action: { kind: 'unpause', operation_id: 'switchover-1' },
    },
    {
      name: 'never lifts an operator\'s pause',
      given: () => clusterSnapshot().cluster({ paused: true, paused_by: null }),
      code: 'healthy',
      reason: 'the engine reports but does not act',
    },
  ],
};

/** Stuck states with no operation in flight (docs/controller.md, "Stuck states"). */
const stuck: Case[] = [
  {
    name: 'restarts a primary whose own agent reports it in recovery when no standby can be promoted',
    given: () => clusterSnapshot().server(1, { in_recovery: true }).expireLease().node(2, { priority: 0 }).node(3, { priority: 0 }),
    code: 'restart_primary',
    reason: 'restart node 1 (pg1) in place as the primary of a new term',
    action: { kind: 'restart_primary', node_id: 1 },
  },
  {
    name: 'fails a primary in recovery over to a standby when one can be promoted, without waiting for visibility consensus',
    given: () => clusterSnapshot().server(1, { in_recovery: true }).expireLease(),
    code: 'failover',
    reason: 'reports that its server runs in recovery and has not renewed its lease: the cluster has no writable primary',
  },
  {
    name: 'waits while a primary that reports itself in recovery still holds a fresh lease (it was just promoted)',
    given: () => clusterSnapshot().server(1, { in_recovery: true }),
    code: 'wait',
    reason: 'waiting for it to renew its lease as a primary',
  },
  {
    name: 'restarts a fenced primary in place when the only standby ran asynchronously under synchronous replication',
    given: () => clusterSnapshot({ standbys: 2 }).synchronous([2]).crashPrimary().server(1, { fenced: true }).server(2, { postmaster_running: false }),
    code: 'restart_primary',
    reason: 'its own agent reports (its server is not running) and no node is on a newer timeline than its 2',
  },
  {
    name: 'restarts, instead of the primary, the candidate a failover promoted and lost when it alone runs the newest timeline and holds everything',
    given: () =>
      clusterSnapshot()
        .crashPrimary()
        .node(2, { fenced: true, active: false })
        .server(2, { postmaster_running: false, accepting_connections: false, fenced: true, in_recovery: false, timeline: 3, current_lsn: '0/5000100' })
        .node(3, { priority: 0 }),
    code: 'restart_primary',
    reason: 'node 2 (pg2) is the candidate a failover promoted on timeline 3 before it was lost',
    action: { kind: 'restart_primary', node_id: 2 },
  },
  {
    name: 'does not restart a lost candidate that is behind the primary\'s last reported LSN',
    given: () =>
      clusterSnapshot()
        .crashPrimary()
        .server(2, { postmaster_running: false, fenced: true, in_recovery: false, timeline: 3, current_lsn: '0/4000000' })
        .node(2, { fenced: true })
        .node(3, { priority: 0 }),
    code: 'failover_cancelled',
    reason: "it cannot be shown to hold the primary's last reported LSN 0/5000060",
  },
  {
    name: 'does not restart the primary when a standby follows a newer timeline whose primary does not report',
    given: () => clusterSnapshot().crashPrimary().node(2, { priority: 0 }).server(3, { timeline: 3 }),
    code: 'failover_cancelled',
    reason: 'node 3 (pg3) follows timeline 3, newer than the primary\'s 2, whose primary does not report',
  },
  {
    name: 'does not restart a silent primary: nobody can carry it out or see it',
    given: () => clusterSnapshot().silencePrimary().expireLease().node(2, { priority: 0 }).node(3, { priority: 0 }),
    code: 'failover_cancelled',
    reason: 'no eligible candidate among 2 standbys',
  },
  {
    name: 'rejoins a switchover\'s demoted primary without a rewind, whatever auto_rejoin says',
    given: () =>
      clusterSnapshot()
        .node(1, { type: 'standby', upstream_node_id: 2, fenced: false })
        .cluster({ primary_node_id: 2 })
        .node(2, { type: 'primary', upstream_node_id: null })
        .server(2, { in_recovery: false, wal_receiver_status: null, wal_receiver_upstream_node_id: null })
        .server(1, { postmaster_running: false, accepting_connections: false, fenced: true, in_recovery: null }),
    code: 'rejoin',
    reason: "node 1 (pg1) is registered as a standby of node 2 (pg2) but its server is held down (a switchover's demoted primary): rejoin it, without a rewind",
    action: { kind: 'rejoin', node_id: 1, upstream_node_id: 2, force_rewind: false },
  },
  {
    name: 'leaves a standby fenced by hand alone without auto_rejoin',
    given: () => clusterSnapshot().node(3, { fenced: true }).server(3, { postmaster_running: false, fenced: true }),
    code: 'healthy',
    reason: 'auto_rejoin=false, so it stays fenced',
  },
  {
    name: 'makes a standby follow the primary before rejoining a fenced former primary, and says the rejoin comes next',
    given: () =>
      clusterSnapshot()
        .settings({ auto_rejoin: true })
        .addStandby(5)
        .node(5, { type: 'primary', fenced: true, active: false, upstream_node_id: null })
        .server(5, { fenced: true, postmaster_running: false, accepting_connections: false })
        .server(3, { wal_receiver_upstream_node_id: 2 }),
    code: 'follow',
    reason: 'auto_rejoin=true: rewind it',
    action: { kind: 'follow', node_id: 3, upstream_node_id: 1 },
    check: (d) => expect(d.actions).toEqual([{ kind: 'follow', node_id: 3, upstream_node_id: 1 }]),
  },
  {
    name: 'rejoins a fenced former primary once every standby streams from the primary',
    given: () =>
      clusterSnapshot()
        .settings({ auto_rejoin: true })
        .addStandby(5)
        .node(5, { type: 'primary', fenced: true, active: false, upstream_node_id: null })
        .server(5, { fenced: true, postmaster_running: false, accepting_connections: false }),
    code: 'rejoin',
    reason: 'auto_rejoin=true: rewind it',
    action: { kind: 'rejoin', node_id: 5, upstream_node_id: 1, force_rewind: true },
  },
];

function run(c: Case): void {
  it(c.name, () => {
    const b = c.given();
    const d = decide(b.build(), b.now);
    expect(d.code, d.reasons.join('\n')).toBe(c.code);
    expect(d.reasons.join('\n')).toContain(c.reason);
    if (c.phase !== undefined) expect(d.operation?.phase).toBe(c.phase);
    if (c.ending !== undefined) expect(d.operation?.ending ?? null).toBe(c.ending);
    if (c.ending) expect(d.actions).toEqual([expect.objectContaining({ kind: 'end_operation', operation_id: 'op-1', ending: c.ending })]);
    if (c.action) expect([...d.actions, ...d.suppressed_actions]).toContainEqual(c.action);
    c.check?.(d);
  });
}

describe('decide with an operation in flight', () => {
  for (const [what, list] of Object.entries(cases)) describe(what, () => list.forEach(run));

  it('says what it would decide without the operation, for cluster explain', () => {
    const b = promoted()
      .server(2, { postmaster_running: false, accepting_connections: false, down_since: NOW - 1000 })
      .server(3, { timeline: 3, wal_receiver_upstream_node_id: 2 })
      .observersLose(2, NOW - 2000);
    const d = decide(b.build(), b.now);
    expect(d.operation?.without_operation?.code).toBe('failover');
    expect(d.operation?.without_operation?.headline).toBe('fail over from node 2 (pg2) to node 3 (pg3)');
  });
});

describe('decide in the stuck states it leaves by itself', () => {
  stuck.forEach(run);
});
