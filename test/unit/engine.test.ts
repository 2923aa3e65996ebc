import { describe, expect, it } from 'vitest';
import type { Action, AlarmKind, Decision, DecisionCode } from '../../core/decision.js';
import type { EventName } from '../../core/events.js';
import { decide, NO_LEASE_RVN } from '../../core/engine/index.js';
import { BUILDER_NOW, clusterSnapshot, type SnapshotBuilder } from '../support/snapshot-builder.js';

/**
 * Table-driven scenarios for the rules of docs/decision-engine.md: every rule has a case where it lets the engine act and one
 * where it stops it. Each case asserts the decision code, the failover candidate (or none) and a
 * sentence of the reasons.
 */
interface Scenario {
  name: string;
  given: () => SnapshotBuilder;
  code: DecisionCode;
  /** The failover candidate in actions or suppressed actions; null when no failover is decided. */
  candidate: number | null;
  /** A substring of one of the reasons. */
  reason: string;
  /** The reason must be the headline (first reason). */
  headline?: boolean;
  alarm?: AlarmKind;
  noAlarm?: AlarmKind;
  event?: EventName;
  action?: Action;
  check?: (d: Decision, b: SnapshotBuilder) => void;
}

const c = clusterSnapshot;

/**
 * Right after a failover from node 1 to node 2 (term 4, timeline 3): node 1 fenced in the record,
 * node 3 still registered under it and receiving no WAL (its server still points at node 1).
 */
function afterFailover(): SnapshotBuilder {
  return c()
    .cluster({ primary_node_id: 2, term: 4 })
    .node(1, { type: 'primary', fenced: true, active: false, upstream_node_id: null })
    .node(2, { type: 'primary', upstream_node_id: null })
    .server(2, { in_recovery: false, timeline: 3, current_lsn: '0/5000100', wal_receiver_status: null, wal_receiver_upstream_node_id: null })
    .server(3, { wal_receiver_status: null, wal_receiver_upstream_node_id: null });
}
const LEASE_EXPIRY_MS = 20_000 + 1000; // default lease_secs=20, clock_skew_margin_ms=1000

function failoverCandidate(d: Decision): number | null {
  const a = [...d.actions, ...d.suppressed_actions].find((x) => x.kind === 'failover');
  return a && a.kind === 'failover' ? a.candidate_node_id : null;
}

const scenarios: Record<string, Scenario[]> = {
  freshness: [
    { name: 'reports a healthy cluster as healthy with nothing to do', given: () => c(), code: 'healthy', candidate: null, reason: 'nothing to do', headline: true, check: (d) => expect(d.actions).toEqual([]) },
    {
      name: 'counts a primary heartbeat as fresh up to node_timeout plus the skew margin',
      given: () => c().silence(1, 15_000 + 1000),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
      noAlarm: 'primary_unreachable',
    },
    {
      name: 'counts a primary heartbeat one millisecond past node_timeout plus margin as silent',
      given: () => c().silence(1, 15_000 + 1001),
      code: 'wait',
      candidate: null,
      reason: 'is silent but its lease has not expired',
      alarm: 'primary_unreachable',
    },
    { name: 'raises node_stale for a standby whose heartbeat is old', given: () => c().silence(2), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'node_stale' },
    {
      name: 'does not promote a standby whose heartbeat is stale',
      given: () => c().silence(2).crashPrimary(),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best eligible candidate',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons.join()).toContain('last sent a heartbeat 60 s ago'),
    },
    {
      name: 'marks a heartbeat from beyond the skew margin in the future as clock_skew and records the event',
      given: () => c().futureHeartbeat(2, 5000),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
      alarm: 'clock_skew',
      event: 'clock_skew',
    },
    {
      name: 'accepts a heartbeat from the future within the skew margin',
      given: () => c().futureHeartbeat(2, 900),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
      noAlarm: 'clock_skew',
    },
    {
      name: 'does not use the evidence of a clock-skewed standby, so it is never the candidate',
      given: () => c().crashPrimary().futureHeartbeat(2, 5000),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best eligible candidate',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons.join()).toContain('in the future'),
    },
    {
      name: 'ignores a crash report in a clock-skewed primary heartbeat while the lease is fresh',
      given: () => c().crashPrimary().futureHeartbeat(1, 10_000),
      code: 'wait',
      candidate: null,
      reason: 'its evidence is not used',
      alarm: 'clock_skew',
    },
  ],

  lease: [
    {
      name: 'returns a new lease observation when the RVN changed and never treats it as expired',
      given: () => c().silencePrimary().expireLease().renewLease('rvn-0002'),
      code: 'wait',
      candidate: null,
      reason: 'newly observed',
      check: (d, b) => expect(d.lease_observation).toEqual({ rvn: 'rvn-0002', first_seen_at: b.now }),
    },
    {
      name: 'returns no lease observation when the stored one still holds',
      given: () => c(),
      code: 'healthy',
      candidate: null,
      reason: 'first seen 2 s ago',
      check: (d) => expect(d.lease_observation).toBeNull(),
    },
    {
      name: 'does not treat a lease observed 1 ms short of lease_secs plus margin as expired',
      given: () => c().silencePrimary().leaseObservedFor(LEASE_EXPIRY_MS - 1),
      code: 'wait',
      candidate: null,
      reason: 'the lease is not expired',
    },
    {
      name: 'treats a lease observed for exactly lease_secs plus margin as expired',
      given: () => c().silencePrimary().leaseObservedFor(LEASE_EXPIRY_MS),
      code: 'failover',
      candidate: 2,
      reason: 'the lease has expired',
    },
    {
      name: 'treats a missing lease as expired once "no lease" has been observed long enough',
      given: () => c().silencePrimary().noLease().expireLease(),
      code: 'failover',
      candidate: 2,
      reason: 'no lease is recorded has not changed',
      check: (d) => expect(d.lease_observation).toBeNull(),
    },
    {
      name: 'does not treat a missing lease as expired when it is first observed',
      given: () => c().silencePrimary().noLease(),
      code: 'wait',
      candidate: null,
      reason: 'no lease is recorded is newly observed',
      check: (d, b) => expect(d.lease_observation).toEqual({ rvn: NO_LEASE_RVN, first_seen_at: b.now }),
    },
    {
      name: 'does not treat the lease as expired when the controller clock stepped back',
      given: () => c().silencePrimary().leaseObservedFor(-5000),
      code: 'wait',
      candidate: null,
      reason: 'the lease is not expired',
    },
    {
      name: "ages a lease left by another term's holder like any RVN",
      given: () => c().silencePrimary().cluster({ lease: { holder_node_id: 9, term: 1, rvn: 'rvn-0001', renewed_at: 0 } }).expireLease(),
      code: 'failover',
      candidate: 2,
      reason: "not by the term's primary",
    },
  ],

  evidence: [
    { name: 'fails over at once when the primary reports its postmaster stopped, even with a fresh lease', given: () => c().crashPrimary(), code: 'failover', candidate: 2, reason: 'reports that its PostgreSQL server is not running' },
    {
      name: 'waits while the primary refuses connections for less than the reconnect window',
      given: () => c().primaryNotAccepting(30_000),
      code: 'wait',
      candidate: null,
      reason: 'less than the reconnect window',
    },
    {
      name: 'fails over when the primary has refused connections for reconnect_attempts × reconnect_interval',
      given: () => c().primaryNotAccepting(60_000),
      code: 'failover',
      candidate: 2,
      reason: 'has not accepted connections for 60 s',
    },
    {
      name: 'never fails over a primary that reports itself healthy, even with an expired lease',
      given: () => c().expireLease().observersLose(1, 0),
      code: 'healthy',
      candidate: null,
      reason: 'may be failing to renew',
    },
    {
      name: 'never fails over a primary that reports itself healthy when no other node can reach it',
      given: () => c().observersLose(1, 0),
      code: 'healthy',
      candidate: null,
      reason: 'node 2 (pg2), node 3 (pg3), node 4 (witness) cannot reach the primary, but it reports itself healthy',
    },
    { name: 'does not fail over while the primary is silent but holds a fresh lease', given: () => c().silencePrimary(), code: 'wait', candidate: null, reason: 'waiting (a primary holding its lease may still be serving)', headline: true },
    { name: 'fails over a silent primary once its lease has expired', given: () => c().silencePrimary().expireLease(), code: 'failover', candidate: 2, reason: 'is silent and its lease has expired' },
    {
      name: 'refuses to promote anyone when a silent primary never reported its system identifier',
      given: () => c().silencePrimary().expireLease().noHeartbeat(1),
      code: 'failover_cancelled',
      candidate: null,
      reason: "the primary's system identifier is unknown",
      alarm: 'no_eligible_candidate',
    },
    {
      name: 'waits when the primary agent reports no server state',
      given: () => c().heartbeat(1, { server: null }),
      code: 'wait',
      candidate: null,
      reason: 'reports no state for its PostgreSQL server',
    },
  ],

  'R1 visibility consensus': [
    {
      name: 'cancels the failover when the witness still reaches the primary after the failure began',
      given: () => c().silencePrimary().expireLease().sees(4, 1, 'ok'),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'node 4 (witness) reached the primary',
      event: 'failover_cancelled',
    },
    {
      name: 'treats a last success within the skew margin of the failure as part of the outage',
      given: () => c().crashPrimary(3000).sees(2, 1, { ok: false, last_ok_at: clusterSnapshot().now - 3000 + 1000 }),
      code: 'failover',
      candidate: 2,
      reason: 'R1: no fresh standby or witness has reached the primary',
    },
    {
      name: 'takes no evidence from an observer whose last check is older than the failure',
      given: () => c().crashPrimary(3000).sees(3, 1, { ok: true, checked_at: clusterSnapshot().now - 10_000, last_ok_at: clusterSnapshot().now - 10_000 }),
      code: 'failover',
      candidate: 2,
      reason: 'R3: 2 of 3 voters',
    },
    {
      name: 'does not let a success just before a silent primary died block the failover for good',
      given: () =>
        c()
          .silencePrimary()
          .expireLease()
          .sees(2, 1, { ok: false, checked_at: clusterSnapshot().now - 500, last_ok_at: clusterSnapshot().now - 8000 })
          .sees(3, 1, { ok: false, checked_at: clusterSnapshot().now - 500 })
          .sees(4, 1, { ok: false, checked_at: clusterSnapshot().now - 500 }),
      code: 'failover',
      candidate: 2,
      reason: 'last reached the primary at',
    },
    {
      name: 'waits rather than count failed checks made before the last time an observer reached the primary',
      given: () =>
        c()
          .silencePrimary()
          .expireLease()
          .sees(2, 1, { ok: false, checked_at: clusterSnapshot().now - 500, last_ok_at: clusterSnapshot().now - 1000 })
          .sees(3, 1, { ok: false, checked_at: clusterSnapshot().now - 5000 })
          .sees(4, 1, { ok: false, checked_at: clusterSnapshot().now - 5000 }),
      code: 'wait',
      candidate: null,
      reason: 'waiting for quorum',
    },
    {
      name: 'ignores what other nodes see when primary_visibility_consensus is off',
      given: () => c().silencePrimary().expireLease().sees(4, 1, 'ok').settings({ primary_visibility_consensus: false }),
      code: 'failover',
      candidate: 2,
      reason: 'primary_visibility_consensus is off',
    },
    {
      name: 'takes no evidence from a stale observer that once reached the primary',
      given: () => c().crashPrimary().sees(3, 1, 'ok').silence(3),
      code: 'failover',
      candidate: 2,
      reason: 'R3: 2 of 3 voters',
    },
  ],

  'R2 location rule': [
    {
      name: "fails over when the primary's location is dark and failover_on_location_loss is on",
      given: () => c().darkenLocation('eu-west-1a').expireLease(),
      code: 'failover',
      candidate: 2,
      reason: 'is dark (node 3 (pg3) is silent too); failover_on_location_loss=true',
    },
    {
      name: "cancels the failover when the primary's location is dark and failover_on_location_loss is off",
      given: () => c().darkenLocation('eu-west-1a').expireLease().settings({ failover_on_location_loss: false }),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'location dark',
      event: 'failover_cancelled',
    },
    {
      name: 'fails over with failover_on_location_loss off when a node in the primary location still reports',
      given: () => c().silencePrimary().expireLease().settings({ failover_on_location_loss: false }),
      code: 'failover',
      candidate: 2,
      reason: 'confirms the location is reachable',
    },
    {
      name: 'does not fail over into a dark location before the lease has expired',
      given: () => c().darkenLocation('eu-west-1a'),
      code: 'wait',
      candidate: null,
      reason: 'its lease has not expired',
    },
  ],

  'R3 quorum': [
    { name: 'fails over when more than half of the voters confirm the primary unreachable', given: () => c().crashPrimary(), code: 'failover', candidate: 2, reason: 'R3: 3 of 3 voters' },
    {
      name: 'waits for quorum while fresh voters have not yet checked the primary since the failure',
      given: () =>
        c()
          .crashPrimary(3000)
          .sees(3, 1, { ok: true, checked_at: clusterSnapshot().now - 20_000, last_ok_at: clusterSnapshot().now - 20_000 })
          .sees(4, 1, { ok: true, checked_at: clusterSnapshot().now - 20_000, last_ok_at: clusterSnapshot().now - 20_000 }),
      code: 'wait',
      candidate: null,
      reason: 'waiting for quorum: 1 of 3 voters',
    },
    {
      name: 'cancels the failover when too few voters are fresh to form a quorum',
      given: () => c().crashPrimary().silence(3).silence(4),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'no quorum (only 1 of 3 voters',
      event: 'failover_cancelled',
    },
    {
      name: 'lets one primary and one standby without a witness fail over on the expired lease alone',
      given: () => c({ standbys: 1, witness: false }).silencePrimary().expireLease().sees(2, 1, { ok: true, checked_at: 0, last_ok_at: 0 }),
      code: 'failover',
      candidate: 2,
      reason: 'on the expired lease alone',
      alarm: 'two_node_no_witness',
    },
    {
      name: 'keeps a two-node cluster waiting while the silent primary still holds its lease',
      given: () => c({ standbys: 1, witness: false }).silencePrimary().sees(2, 1, { ok: true, checked_at: 0, last_ok_at: 0 }),
      code: 'wait',
      candidate: null,
      reason: 'its lease has not expired',
      alarm: 'two_node_no_witness',
    },
    {
      name: 'does not let a three-node cluster without a witness fail over on one vote of two',
      given: () => c({ witness: false }).crashPrimary().silence(3),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'no quorum (only 1 of 2 voters',
      noAlarm: 'two_node_no_witness',
    },
  ],

  candidates: [
    {
      name: 'skips the most advanced standby when its priority is 0',
      given: () => c().crashPrimary().node(2, { priority: 0 }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best eligible candidate',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons).toContain('has priority 0 (never promote this node)'),
    },
    {
      name: 'never promotes an inactive standby',
      given: () => c().crashPrimary().node(2, { active: false }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons).toContain('is marked inactive (failed)'),
    },
    {
      name: 'never promotes a standby of another system identifier',
      given: () => c().crashPrimary().server(2, { system_identifier: '7300000000000000000' }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons.join()).toContain("differs from the primary's 7311234567890123456"),
    },
    {
      name: "never promotes a standby that is not on the cluster's current timeline",
      given: () => c().crashPrimary().server(2, { timeline: 1 }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons.join()).toContain("is on timeline 1, not the cluster's current timeline 2"),
    },
    {
      name: 'never promotes a standby whose server is not running',
      given: () => c().crashPrimary().server(2, { postmaster_running: false, accepting_connections: false }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best',
      alarm: 'replication_broken',
    },
    {
      name: 'never promotes a fenced standby',
      given: () => c().crashPrimary().node(2, { fenced: true }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best',
    },
    {
      name: 'cancels the failover when every standby is beyond maximum_lag_on_failover',
      given: () => c().silencePrimary().expireLease().setLsn(1, '0/9000000').settings({ maximum_lag_on_failover: 1_048_576 }),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'maximum_lag_on_failover=1048576',
      alarm: 'no_eligible_candidate',
      event: 'failover_cancelled',
    },
    {
      name: 'restarts a crashed primary in place, promoting nobody, when every standby is beyond maximum_lag_on_failover',
      given: () => c().crashPrimary().setLsn(1, '0/9000000').settings({ maximum_lag_on_failover: 1_048_576 }),
      code: 'restart_primary',
      candidate: null,
      reason: 'maximum_lag_on_failover=1048576',
      alarm: 'no_eligible_candidate',
      action: { kind: 'restart_primary', node_id: 1 },
    },
    {
      name: 'promotes a standby within maximum_lag_on_failover',
      given: () => c().crashPrimary().setLsn(2, '0/4F00000').setLsn(3, '0/4FF0000').settings({ maximum_lag_on_failover: 1_048_576 }),
      code: 'failover',
      candidate: 3,
      reason: 'is 65632 bytes behind',
    },
    {
      name: 'promotes only a synchronous standby when the primary ran synchronous replication',
      given: () => c().synchronous([3]).crashPrimary(),
      code: 'failover',
      candidate: 3,
      reason: 'reported it as synchronous',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons.join()).toContain('last reported this node as asynchronous'),
    },
    {
      name: 'accepts quorum standbys as synchronous',
      given: () => c().synchronous([2, 3], 'quorum').crashPrimary(),
      code: 'failover',
      candidate: 2,
      reason: 'reported it as synchronous',
    },
    {
      name: 'treats synchronous_standby_names without any sync row as asynchronous replication',
      given: () => c().crashPrimary().server(1, { synchronous_standby_names: 'FIRST 1 (pg9)' }),
      code: 'failover',
      candidate: 2,
      reason: 'has everything the primary last reported',
    },
    {
      name: 'prefers the higher priority between standbys at the same receive LSN',
      given: () => c().crashPrimary().setLsn(3, '0/5000060').node(3, { priority: 150 }),
      code: 'failover',
      candidate: 3,
      reason: 'node 3 (pg3) is the best',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 2)?.reasons.join()).toContain('lower priority 100'),
    },
    {
      name: 'prefers the lowest node_id between standbys at the same LSN and priority',
      given: () => c().crashPrimary().setLsn(3, '0/5000060'),
      code: 'failover',
      candidate: 2,
      reason: 'node 2 (pg2) is the best',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 3)?.reasons.join()).toContain('higher node_id'),
    },
    {
      name: 'never picks a witness, even when it is the only fresh node',
      given: () => c().silencePrimary().expireLease().removeNode(3).server(2, { in_recovery: null }),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'no eligible candidate among 1 standby',
      check: (d) => expect(d.candidates.find((a) => a.node_id === 4)).toMatchObject({ eligible: false, reasons: ['is a witness: a vote, never a candidate'] }),
    },
    {
      name: 'cancels the failover with the reasons of every standby when none is eligible',
      given: () => c().silencePrimary().expireLease().node(2, { priority: 0 }).node(3, { priority: 0 }),
      code: 'failover_cancelled',
      candidate: null,
      reason: 'no eligible candidate among 2 standbys',
      headline: true,
      event: 'failover_cancelled',
    },
    {
      name: 'keeps cascaded standbys on their upstream and tells the others to follow',
      given: () => c({ standbys: 3 }).node(4, { upstream_node_id: 3 }).server(4, { wal_receiver_upstream_node_id: 3 }).crashPrimary(),
      code: 'failover',
      candidate: 2,
      reason: 'fail over from node 1 (pg1) to node 2 (pg2)',
      action: { kind: 'failover', old_primary_node_id: 1, candidate_node_id: 2, follower_node_ids: [3] },
    },
  ],

  'failover followers': [
    {
      name: 'does not ask a fenced standby to follow the new primary',
      given: () => c().crashPrimary().node(3, { fenced: true }),
      code: 'failover',
      candidate: 2,
      reason: 'fail over from node 1 (pg1) to node 2 (pg2)',
      action: { kind: 'failover', old_primary_node_id: 1, candidate_node_id: 2, follower_node_ids: [] },
    },
    {
      name: 'asks every other active standby to follow the new primary',
      given: () => c({ standbys: 3 }).crashPrimary(),
      code: 'failover',
      candidate: 2,
      reason: 'fail over from node 1 (pg1) to node 2 (pg2)',
      action: { kind: 'failover', old_primary_node_id: 1, candidate_node_id: 2, follower_node_ids: [3, 4] },
    },
  ],

  follow: [
    {
      name: 'tells a standby streaming from a sibling to follow the primary',
      given: () => c().server(3, { wal_receiver_upstream_node_id: 2 }),
      code: 'follow',
      candidate: null,
      reason: 'streams from node 2, not from the current primary',
      action: { kind: 'follow', node_id: 3, upstream_node_id: 1 },
    },
    {
      name: 'leaves a cascaded standby registered under another standby alone',
      given: () => c().node(3, { upstream_node_id: 2 }).server(3, { wal_receiver_upstream_node_id: 2 }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      name: 'tells a cascaded standby that receives no WAL from its registered upstream to follow the primary',
      given: () => c().node(3, { upstream_node_id: 2 }).server(3, { wal_receiver_status: null, wal_receiver_upstream_node_id: null }),
      code: 'follow',
      candidate: null,
      reason: 'is registered under standby node 2 but receives no WAL (no WAL receiver running): make it follow the primary',
      action: { kind: 'follow', node_id: 3, upstream_node_id: 1 },
    },
    {
      name: 'leaves a standby of the primary with no WAL receiver where it is (PostgreSQL reconnects by itself)',
      given: () => c().server(3, { wal_receiver_status: null, wal_receiver_upstream_node_id: null }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      name: 'leaves a cascaded standby that streams from the primary there (a follow goes only toward the primary)',
      given: () => c().node(3, { upstream_node_id: 2 }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      name: 'tells a cascaded standby streaming from a third node to follow the primary, never another standby',
      given: () => c({ standbys: 3 }).node(3, { upstream_node_id: 2 }).server(3, { wal_receiver_upstream_node_id: 5 }),
      code: 'follow',
      candidate: null,
      reason: 'streams from node 5, neither its registered upstream node 2 nor the current primary node 1 (pg1): make it follow the primary',
      action: { kind: 'follow', node_id: 3, upstream_node_id: 1 },
    },
    {
      name: 'tells a standby registered under the former primary to follow the new one',
      given: () =>
        c().addStandby(5, { upstream: 1 }).cluster({ primary_node_id: 2, term: 4 }).node(1, { fenced: true }).node(2, { type: 'primary', upstream_node_id: null }).server(2, { in_recovery: false, current_lsn: '0/5000060', wal_receiver_status: null, wal_receiver_upstream_node_id: null }).server(1, { postmaster_running: false, accepting_connections: false, fenced: true }).server(3, { wal_receiver_upstream_node_id: 2 }).node(3, { upstream_node_id: 2 }).server(5, { wal_receiver_upstream_node_id: 2 }),
      code: 'follow',
      candidate: null,
      reason: 'node 5 (pg5) is registered under node 1',
      action: { kind: 'follow', node_id: 5, upstream_node_id: 2 },
    },
    {
      name: 'makes a sibling left under a crashed former primary follow the new primary before the former primary is rejoined',
      given: () =>
        afterFailover().server(1, { postmaster_running: false, accepting_connections: false, fenced: true, in_recovery: null }).settings({ auto_rejoin: true }),
      code: 'follow',
      candidate: null,
      reason: 'node 3 (pg3) is registered under node 1, which is not the current primary node 2 (pg2): make it follow the primary',
      headline: true,
      check: (d) => expect(d.actions).toEqual([{ kind: 'follow', node_id: 3, upstream_node_id: 2 }]),
    },
    {
      name: 'makes a sibling follow the new primary before the instance a fence stopped is started and rejoined',
      given: () => afterFailover().node(1, { instance_stopped_at: BUILDER_NOW - 20_000 }).silence(1).settings({ auto_rejoin: true }),
      code: 'follow',
      candidate: null,
      reason: 'node 3 (pg3) is registered under node 1',
      check: (d) => expect(d.actions).toEqual([{ kind: 'follow', node_id: 3, upstream_node_id: 2 }]),
    },
    {
      name: 'makes a sibling streaming from the former primary, back up read-only, follow the new primary before that one is rejoined',
      given: () => afterFailover().server(1, { fenced: true, in_recovery: true, wal_receiver_status: null }).server(3, { wal_receiver_status: 'streaming', wal_receiver_upstream_node_id: 1 }).settings({ auto_rejoin: true }),
      code: 'follow',
      candidate: null,
      reason: 'node 3 (pg3) streams from node 1, not from the current primary node 2 (pg2)',
      check: (d) => expect(d.actions).toEqual([{ kind: 'follow', node_id: 3, upstream_node_id: 2 }]),
    },
    {
      name: "rejoins a switchover's demoted primary before the standbys cascaded under it, which stream through it once it is back",
      given: () =>
        afterFailover()
          .node(1, { type: 'standby', upstream_node_id: 2, fenced: false, active: true })
          .server(1, { postmaster_running: false, accepting_connections: false, fenced: true, in_recovery: null }),
      code: 'rejoin',
      candidate: null,
      reason: "node 1 (pg1) is registered as a standby of node 2 (pg2) but its server is held down (a switchover's demoted primary)",
      check: (d) => expect(d.actions).toEqual([{ kind: 'rejoin', node_id: 1, upstream_node_id: 2, force_rewind: false }]),
    },
    {
      name: 'does not tell standbys to follow a primary that is not serving',
      given: () => c().primaryNotAccepting(10_000).server(3, { wal_receiver_upstream_node_id: 2 }),
      code: 'wait',
      candidate: null,
      reason: 'less than the reconnect window',
    },
  ],

  'split brain': [
    {
      name: "fences a second writable node and keeps the term's primary",
      given: () => c().server(3, { in_recovery: false }),
      code: 'fence',
      candidate: null,
      reason: 'split brain: node 3 (pg3) is running and not in recovery',
      action: { kind: 'fence', node_id: 3, reason: 'split_brain' },
      event: 'split_brain_detected',
    },
    {
      name: 'does not fence a writable node whose heartbeat is stale',
      given: () => c().server(3, { in_recovery: false }).silence(3),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
      alarm: 'node_stale',
    },
    {
      name: 'fences a former primary that is back up and writable',
      given: () => c().addStandby(5).node(5, { type: 'primary', upstream_node_id: null }).server(5, { in_recovery: false }),
      code: 'fence',
      candidate: null,
      reason: 'a former primary, is back up and accepting writes',
      action: { kind: 'fence', node_id: 5, reason: 'superseded_primary' },
    },
    {
      name: 'fences a writable intruder even while the primary has crashed, instead of failing over',
      given: () => c().crashPrimary().server(2, { in_recovery: false }),
      code: 'fence',
      candidate: null,
      reason: 'split brain: node 2 (pg2)',
    },
    {
      name: 'never treats a witness running its own PostgreSQL as an intruder',
      given: () => c().heartbeat(4, { server: { postmaster_running: true, accepting_connections: true, last_accepting_at: 0, down_since: null, in_recovery: false, system_identifier: '1', timeline: 1, current_lsn: '0/1', receive_lsn: null, replay_lsn: null, wal_receiver_status: null, wal_receiver_upstream_node_id: null, replication: [], synchronous_standby_names: null, data_directory_writable: true, fenced: false } }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
  ],

  rejoin: [
    {
      name: 'rejoins a standby stranded on an older timeline, not streaming for longer than primary_follow_timeout, when auto_rejoin is on',
      given: () => c().node(3, { upstream_node_id: 2 }).server(3, { timeline: 1, wal_receiver_status: null, wal_receiver_upstream_node_id: 1, not_streaming_since: BUILDER_NOW - 1000 - 61_000 }).settings({ auto_rejoin: true }),
      code: 'rejoin',
      candidate: null,
      reason: 'node 3 (pg3) has not streamed for 61 s (more than primary_follow_timeout=60 s) and is on timeline 1, behind the primary\'s 2',
      action: { kind: 'rejoin', node_id: 3, upstream_node_id: 1, force_rewind: true },
    },
    {
      name: 'rejoins a stranded standby whose receiver blips to "streaming" (its agent keeps the stretch without streaming going)',
      given: () => c().server(3, { timeline: 1, wal_receiver_status: 'streaming', wal_receiver_upstream_node_id: 2, streaming_since: BUILDER_NOW - 2000, not_streaming_since: BUILDER_NOW - 1000 - 61_000 }).settings({ auto_rejoin: true }),
      code: 'rejoin',
      candidate: null,
      reason: 'node 3 (pg3) has not streamed for 61 s (more than primary_follow_timeout=60 s) and is on timeline 1, behind the primary\'s 2',
      action: { kind: 'rejoin', node_id: 3, upstream_node_id: 1, force_rewind: true },
    },
    {
      name: 'says how to rejoin a stranded standby when auto_rejoin is off, and acts on nothing',
      given: () => c().server(3, { timeline: 1, wal_receiver_status: null, wal_receiver_upstream_node_id: null, not_streaming_since: BUILDER_NOW - 1000 - 61_000 }),
      code: 'healthy',
      candidate: null,
      reason: 'auto_rejoin=false: run "pgvigil node rejoin --force-rewind" on it',
    },
    {
      name: 'gives a standby on an older timeline primary_follow_timeout to stream before it is rejoined',
      given: () => c().server(3, { timeline: 1, wal_receiver_status: 'waiting', wal_receiver_upstream_node_id: 1, not_streaming_since: BUILDER_NOW - 1000 - 59_000 }).settings({ auto_rejoin: true }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      name: 'does not rejoin a standby on the primary\'s timeline that has not streamed for long (PostgreSQL reconnects by itself)',
      given: () => c().server(3, { wal_receiver_status: null, wal_receiver_upstream_node_id: null, not_streaming_since: BUILDER_NOW - 600_000 }).settings({ auto_rejoin: true }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      // A drills-in-a-row run: the fenced former primary's rejoin (instance booted first) went first,
      // and the stranded standby, still pointed at it, then streamed through it, cascaded for good.
      name: 'rejoins a stranded standby before a fenced former primary',
      given: () =>
        c()
          .addStandby(5)
          .node(5, { type: 'primary', fenced: true, upstream_node_id: null })
          .server(5, { fenced: true, postmaster_running: false, accepting_connections: false })
          .node(3, { upstream_node_id: 5 })
          .server(3, { timeline: 1, wal_receiver_status: null, wal_receiver_upstream_node_id: null, not_streaming_since: BUILDER_NOW - 1000 - 61_000 })
          .settings({ auto_rejoin: true }),
      code: 'rejoin',
      candidate: null,
      reason: 'node 3 (pg3) has not streamed for 61 s',
      check: (d) =>
        expect(d.actions).toEqual([
          { kind: 'rejoin', node_id: 3, upstream_node_id: 1, force_rewind: true },
          { kind: 'rejoin', node_id: 5, upstream_node_id: 1, force_rewind: true },
        ]),
    },
    {
      name: 'rejoins a fenced former primary when auto_rejoin is on',
      given: () => c().addStandby(5).node(5, { type: 'primary', fenced: true, upstream_node_id: null }).server(5, { fenced: true, postmaster_running: false, accepting_connections: false }).settings({ auto_rejoin: true }),
      code: 'rejoin',
      candidate: null,
      reason: 'auto_rejoin=true',
      action: { kind: 'rejoin', node_id: 5, upstream_node_id: 1, force_rewind: true },
    },
    {
      name: 'leaves a fenced former primary fenced when auto_rejoin is off',
      given: () => c().addStandby(5).node(5, { type: 'primary', fenced: true, upstream_node_id: null }).server(5, { fenced: true, postmaster_running: false, accepting_connections: false }),
      code: 'healthy',
      candidate: null,
      reason: 'stays fenced until "pgvigil node rejoin"',
    },
    {
      name: 'does not rejoin a fenced node whose agent is silent',
      given: () => c().addStandby(5).node(5, { fenced: true }).server(5, { fenced: true, postmaster_running: false }).silence(5).settings({ auto_rejoin: true }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      name: 'rejoins a fenced node whose instance the fence stopped, though its agent is silent, when auto_rejoin is on',
      given: () => c().addStandby(5).node(5, { type: 'primary', fenced: true, upstream_node_id: null, instance_stopped_at: 1000 }).server(5, { fenced: true, postmaster_running: false }).silence(5).settings({ auto_rejoin: true }),
      code: 'rejoin',
      candidate: null,
      reason: 'its instance was stopped by the fence; auto_rejoin=true: start the instance, rewind it',
      action: { kind: 'rejoin', node_id: 5, upstream_node_id: 1, force_rewind: true },
    },
    {
      name: 'leaves a node whose instance the fence stopped stopped when auto_rejoin is off',
      given: () => c().addStandby(5).node(5, { type: 'primary', fenced: true, upstream_node_id: null, instance_stopped_at: 1000 }).server(5, { fenced: true, postmaster_running: false }).silence(5),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
    {
      name: 'does not start an instance that has no instance id registered',
      given: () => c().addStandby(5).node(5, { fenced: true, instance_stopped_at: 1000, instance_id: null }).server(5, { fenced: true, postmaster_running: false }).silence(5).settings({ auto_rejoin: true }),
      code: 'healthy',
      candidate: null,
      reason: 'nothing to do',
    },
  ],

  'pause and manual': [
    {
      name: 'reports but does not fail over a paused cluster',
      given: () => c().crashPrimary().cluster({ paused: true }),
      code: 'report_only',
      candidate: 2,
      reason: 'the cluster is paused (maintenance): reporting only, failover suppressed — fail over from node 1 (pg1) to node 2 (pg2)',
      headline: true,
      check: (d) => expect(d.actions).toEqual([]),
    },
    {
      name: 'reports but does not fence in failover=manual',
      given: () => c().server(3, { in_recovery: false }).settings({ failover: 'manual' }),
      code: 'report_only',
      candidate: null,
      reason: 'failover=manual',
      event: 'split_brain_detected',
      check: (d) => expect(d.suppressed_actions).toEqual([{ kind: 'fence', node_id: 3, reason: 'split_brain' }]),
    },
    {
      name: 'keeps a healthy paused cluster healthy and says it is paused',
      given: () => c().cluster({ paused: true }),
      code: 'healthy',
      candidate: null,
      reason: 'the engine reports but does not act',
    },
  ],

  operation: [
    {
      name: 'lets an in-flight saga run instead of deciding again',
      given: () => c().crashPrimary().cluster({ operation: { id: 'op-1', kind: 'failover', term: 4, candidate_node_id: 2, old_primary_node_id: 1, step: 'promote', owner: 'req-1', deadline: clusterSnapshot().now + 60_000, started_at: clusterSnapshot().now - 5000, data: {} } }),
      code: 'operation_in_progress',
      candidate: null,
      reason: 'a failover (operation op-1, term 4) is in progress at step "promote"',
    },
    {
      name: "says the next evaluator takes over a saga past its owner's deadline",
      given: () => c().cluster({ operation: { id: 'op-2', kind: 'switchover', term: 4, candidate_node_id: 3, old_primary_node_id: 1, step: 'demote', owner: 'req-2', deadline: clusterSnapshot().now - 1, started_at: clusterSnapshot().now - 90_000, data: {} } }),
      code: 'operation_in_progress',
      candidate: null,
      reason: 'the next evaluator takes it over from step "demote"',
    },
  ],

  'no primary': [
    { name: 'reports no_primary when the cluster record names none', given: () => c().cluster({ primary_node_id: null }), code: 'no_primary', candidate: null, reason: 'names no primary' },
    { name: 'reports no_primary when the named primary is not registered', given: () => c().cluster({ primary_node_id: 77 }), code: 'no_primary', candidate: null, reason: 'no such node is registered' },
  ],

  alarms: [
    { name: 'raises replication_broken when a standby has no WAL receiver', given: () => c().server(2, { wal_receiver_status: null }), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'replication_broken' },
    { name: 'raises replication_lag_warning above the warning threshold', given: () => c().server(2, { replication_lag_secs: 400 }), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'replication_lag_warning', noAlarm: 'replication_lag_critical' },
    { name: 'raises replication_lag_critical above the critical threshold', given: () => c().server(2, { replication_lag_secs: 601 }), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'replication_lag_critical', noAlarm: 'replication_lag_warning' },
    { name: 'raises no lag alarm below the warning threshold', given: () => c().server(2, { replication_lag_secs: 10 }), code: 'healthy', candidate: null, reason: 'nothing to do', noAlarm: 'replication_lag_warning' },
    { name: 'raises witness_dark when the witness stops reporting', given: () => c().silence(4), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'witness_dark' },
    { name: 'raises data_directory_not_writable from a node report', given: () => c().server(3, { data_directory_writable: false }), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'data_directory_not_writable' },
    { name: 'warns about a two-node cluster without a witness even when healthy', given: () => c({ standbys: 1, witness: false }), code: 'healthy', candidate: null, reason: 'nothing to do', alarm: 'two_node_no_witness' },
  ],
};

describe('decide', () => {
  for (const [rule, cases] of Object.entries(scenarios)) {
    describe(rule, () => {
      for (const s of cases) {
        it(s.name, () => {
          const b = s.given();
          const d = decide(b.build(), b.now);
          expect(d.code, d.reasons.join('\n')).toBe(s.code);
          expect(failoverCandidate(d)).toBe(s.candidate);
          if (s.headline) expect(d.reasons[0]).toContain(s.reason);
          else expect(d.reasons.join('\n')).toContain(s.reason);
          if (s.alarm) expect(d.alarms.map((a) => a.kind)).toContain(s.alarm);
          if (s.noAlarm) expect(d.alarms.map((a) => a.kind)).not.toContain(s.noAlarm);
          if (s.event) expect(d.events.map((e) => e.event)).toContain(s.event);
          if (s.action) expect([...d.actions, ...d.suppressed_actions]).toContainEqual(s.action);
          s.check?.(d, b);
        });
      }
    });
  }

  it('covers more than 40 scenarios', () => {
    const all = Object.values(scenarios).flat();
    expect(all.length).toBeGreaterThan(40);
  });
});
