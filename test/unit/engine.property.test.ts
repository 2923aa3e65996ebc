import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECISION_CODES, type Action, type AlarmKind, type Decision } from '../../core/decision.js';
import { NO_LEASE_RVN, decide } from '../../core/engine/index.js';
import { EVENT_NAMES } from '../../core/events.js';
import { lsnDiff } from '../../core/lsn.js';
import { ClusterSnapshotSchema, type ClusterSnapshot, type Heartbeat } from '../../core/model.js';
import { BUILDER_NOW, clusterSnapshot } from '../support/snapshot-builder.js';

/**
 * Invariants of the decision engine over random schema-valid cluster states (docs/decision-engine.md). Two
 * generators: one draws every field at random (wide, finds crashes), the other applies random
 * faults to a healthy cluster (narrow, reaches failovers often enough to test their safety).
 * The checks below re-derive freshness and eligibility independently of the engine's code.
 */

const NOW = BUILDER_NOW;
const SYSIDS = ['7311234567890123456', '7300000000000000000'] as const;
const LSNS = ['0/1000000', '0/4F00000', '0/5000000', '0/5000060', '0/9000000', '1/0'] as const;
const ALARM_KINDS: AlarmKind[] = [
  'replication_broken', 'replication_lag_warning', 'replication_lag_critical', 'clock_skew', 'witness_dark',
  'two_node_no_witness', 'primary_unreachable', 'data_directory_not_writable', 'no_eligible_candidate', 'node_stale',
];

const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null });
const time = fc.integer({ min: NOW - 180_000, max: NOW + 20_000 });
const lsn = fc.constantFrom(...LSNS);
const name = (id: number): string => `pg${id}`;

const rowArb = fc.record({
  application_name: fc.integer({ min: 1, max: 8 }).map(name),
  client_addr: fc.constant(null),
  state: fc.constantFrom('streaming', 'catchup'),
  sync_state: fc.constantFrom('async', 'potential', 'sync', 'quorum'),
  sent_lsn: opt(lsn),
  write_lsn: opt(lsn),
  flush_lsn: opt(lsn),
  replay_lsn: opt(lsn),
});

const serverArb = fc.record({
  postmaster_running: fc.boolean(),
  accepting_connections: fc.boolean(),
  last_accepting_at: opt(time),
  down_since: opt(time),
  in_recovery: fc.constantFrom(true, false, null),
  system_identifier: opt(fc.constantFrom(...SYSIDS)),
  timeline: opt(fc.integer({ min: 1, max: 3 })),
  current_lsn: opt(lsn),
  receive_lsn: opt(lsn),
  replay_lsn: opt(lsn),
  wal_receiver_status: fc.constantFrom('streaming', 'stopping', null),
  wal_receiver_upstream_node_id: opt(fc.integer({ min: 1, max: 8 })),
  replication: fc.array(rowArb, { maxLength: 4 }),
  synchronous_standby_names: fc.constantFrom('', 'FIRST 1 (pg2)', 'ANY 1 (pg2, pg3)', null),
  data_directory_writable: fc.constantFrom(true, false, null),
  fenced: fc.boolean(),
  replication_lag_secs: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
});

const reachArb = fc.record({
  node_id: fc.integer({ min: 1, max: 8 }),
  ok: fc.boolean(),
  checked_at: time,
  last_ok_at: opt(time),
  failures: fc.integer({ min: 0, max: 10 }),
});

/** Every field at random. */
const randomSnapshot: fc.Arbitrary<ClusterSnapshot> = fc
  .record({
    ids: fc.uniqueArray(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 7 }),
    types: fc.array(fc.constantFrom('primary', 'standby', 'standby', 'witness'), { minLength: 7, maxLength: 7 }),
    nodeBits: fc.array(fc.record({ active: fc.boolean(), priority: fc.constantFrom(0, 50, 100), location: fc.constantFrom('a', 'b', 'c'), fenced: fc.boolean(), upstream: opt(fc.integer({ min: 1, max: 8 })) }), { minLength: 7, maxLength: 7 }),
    beats: fc.array(fc.option(fc.record({ sent_at: time, server: opt(serverArb), reachability: fc.array(reachArb, { maxLength: 5 }) })), { minLength: 7, maxLength: 7 }),
    primary: opt(fc.integer({ min: 1, max: 8 })),
    paused: fc.boolean(),
    operation: fc.option(fc.constant('op'), { freq: 8 }),
    lease: opt(fc.record({ holder_node_id: fc.integer({ min: 1, max: 8 }), term: fc.integer({ min: 0, max: 5 }), rvn: fc.constantFrom('a', 'b'), renewed_at: time })),
    observation: opt(fc.record({ rvn: fc.constantFrom('a', 'b', NO_LEASE_RVN), first_seen_at: fc.integer({ min: NOW - 90_000, max: NOW + 5000 }) })),
    settings: fc.record({
      failover: fc.constantFrom('automatic', 'manual'),
      node_timeout_secs: fc.integer({ min: 1, max: 30 }),
      lease_secs: fc.integer({ min: 1, max: 40 }),
      clock_skew_margin_ms: fc.integer({ min: 0, max: 3000 }),
      reconnect_attempts: fc.integer({ min: 0, max: 6 }),
      reconnect_interval: fc.integer({ min: 0, max: 10 }),
      maximum_lag_on_failover: fc.constantFrom(null, 0, 1_048_576),
      failover_on_location_loss: fc.boolean(),
      primary_visibility_consensus: fc.boolean(),
      auto_rejoin: fc.boolean(),
    }),
  })
  .map((g) => {
    const base = clusterSnapshot().build();
    const nodes = g.ids.map((id, i) => {
      const bits = g.nodeBits[i]!;
      return { ...base.nodes[0]!, node_id: id, node_name: name(id), type: g.types[i]!, active: bits.active, priority: bits.priority, location: bits.location, fenced: bits.fenced, upstream_node_id: bits.upstream };
    });
    const heartbeats: Heartbeat[] = [];
    g.ids.forEach((id, i) => {
      const b = g.beats[i];
      if (b) heartbeats.push({ cluster_id: base.cluster.cluster_id, node_id: id, seq: 1, sent_at: b.sent_at, agent_version: '0.1.0', term: 3, server: b.server, reachability: b.reachability });
    });
    const operation = g.operation
      ? { id: 'op-1', kind: 'failover' as const, term: 4, candidate_node_id: null, old_primary_node_id: null, step: 'claim', owner: 'x', deadline: NOW, started_at: NOW - 1000, data: {} }
      : null;
    return ClusterSnapshotSchema.parse({
      cluster: { ...base.cluster, primary_node_id: g.primary ?? (g.ids[0] ?? null), paused: g.paused, operation, lease: g.lease, lease_observation: g.observation, settings: { ...base.cluster.settings, ...g.settings } },
      nodes,
      heartbeats,
    });
  });

/** A healthy cluster with random faults applied (reaches failovers often). */
type Fault = (b: ReturnType<typeof clusterSnapshot>) => void;
const standbyId = fc.constantFrom(2, 3);
const anyId = fc.constantFrom(1, 2, 3, 4);
const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 120_000 }).map<Fault>((ms) => (b) => void b.crashPrimary(ms)), weight: 6 },
  // Ages around node_timeout_secs + margin (16 s by default), where freshness is decided.
  { arbitrary: fc.tuple(fc.constantFrom(2, 3), fc.integer({ min: 12_000, max: 22_000 })).map<Fault>(([id, ms]) => (b) => void b.silence(id, ms)), weight: 3 },
  fc.integer({ min: 0, max: 120_000 }).map<Fault>((ms) => (b) => void b.primaryNotAccepting(ms)),
  fc.integer({ min: 0, max: 120_000 }).map<Fault>((ms) => (b) => void b.silencePrimary(ms)),
  fc.constant<Fault>((b) => void b.expireLease()),
  fc.integer({ min: -5000, max: 60_000 }).map<Fault>((ms) => (b) => void b.leaseObservedFor(ms)),
  fc.constant<Fault>((b) => void b.renewLease('rvn-9')),
  fc.constant<Fault>((b) => void b.noLease()),
  fc.tuple(fc.constantFrom(1, 2, 3), lsn).map<Fault>(([id, l]) => (b) => void b.setLsn(id, l)),
  fc.tuple(standbyId, fc.constantFrom(0, 1, 200)).map<Fault>(([id, p]) => (b) => void b.node(id, { priority: p })),
  standbyId.map<Fault>((id) => (b) => void b.node(id, { active: false })),
  standbyId.map<Fault>((id) => (b) => void b.node(id, { fenced: true })),
  anyId.map<Fault>((id) => (b) => void b.node(id, { type: 'witness' })),
  standbyId.map<Fault>((id) => (b) => void b.server(id, { system_identifier: SYSIDS[1] })),
  standbyId.map<Fault>((id) => (b) => void b.server(id, { timeline: 1 })),
  standbyId.map<Fault>((id) => (b) => void b.server(id, { in_recovery: false })),
  fc.tuple(anyId, fc.integer({ min: 0, max: 90_000 })).map<Fault>(([id, ms]) => (b) => void b.silence(id, ms)),
  fc.tuple(anyId, fc.integer({ min: 0, max: 10_000 })).map<Fault>(([id, ms]) => (b) => void b.futureHeartbeat(id, ms)),
  fc.tuple(fc.constantFrom(2, 3, 4), fc.constantFrom<'ok' | 'failed'>('ok', 'failed')).map<Fault>(([id, r]) => (b) => void b.sees(id, 1, r)),
  fc.constantFrom(null, 0, 1_048_576).map<Fault>((m) => (b) => void b.settings({ maximum_lag_on_failover: m })),
  fc.subarray([2, 3], { minLength: 1 }).map<Fault>((ids) => (b) => void b.synchronous(ids)),
  fc.boolean().map<Fault>((v) => (b) => void b.settings({ failover_on_location_loss: v, primary_visibility_consensus: !v })),
  fc.constant<Fault>((b) => void b.cluster({ paused: true })),
);
const faultedSnapshot: fc.Arbitrary<ClusterSnapshot> = fc.array(faultArb, { maxLength: 7 }).map((faults) => {
  const b = clusterSnapshot();
  for (const f of faults) f(b);
  return b.build();
});

/**
 * Odd but schema-valid inputs, only for the "never throws / deterministic / well-formed" checks:
 * duplicated heartbeats and node records, heartbeats of another cluster or of unregistered nodes,
 * no nodes at all, times beyond what a Date can hold, and a controller time far off.
 */
const oddCase: fc.Arbitrary<[ClusterSnapshot, number]> = fc
  .tuple(
    randomSnapshot,
    fc.record({ duplicate: fc.boolean(), foreign: fc.boolean(), orphan: fc.boolean(), empty: fc.boolean(), huge: fc.boolean() }),
    fc.oneof(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.constant(NOW)),
  )
  .map(([s, odd, now]) => {
    const out = structuredClone(s);
    const first = out.heartbeats[0];
    if (odd.duplicate && first) out.heartbeats.push({ ...first, seq: first.seq, sent_at: first.sent_at + 1 });
    if (odd.duplicate && out.nodes[0]) out.nodes.push({ ...out.nodes[0], node_name: 'dup' });
    if (odd.foreign && first) out.heartbeats.push({ ...first, cluster_id: 'other', seq: 99 });
    if (odd.orphan && first) out.heartbeats.push({ ...first, node_id: 99 });
    if (odd.empty) out.nodes = [];
    if (odd.huge) {
      for (const h of out.heartbeats) h.sent_at = 2 ** 53 - 1;
      out.cluster.lease_observation = { rvn: out.cluster.lease?.rvn ?? NO_LEASE_RVN, first_seen_at: 2 ** 53 - 1 };
    }
    return [ClusterSnapshotSchema.parse(out), now];
  });

/** A snapshot and a controller time: wide for the random states, near the builder's time for the faulted ones. */
const anyCase: fc.Arbitrary<[ClusterSnapshot, number]> = fc.oneof(
  fc.tuple(randomSnapshot, fc.integer({ min: NOW - 5000, max: NOW + 60_000 })),
  fc.tuple(faultedSnapshot, fc.integer({ min: NOW - 2000, max: NOW + 3000 })),
);

// ---------------------------------------------------------------------- independent re-derivations

function latestBeat(s: ClusterSnapshot, id: number): Heartbeat | undefined {
  return s.heartbeats.filter((h) => h.node_id === id).sort((a, b) => b.seq - a.seq || b.sent_at - a.sent_at)[0];
}

function isFresh(s: ClusterSnapshot, id: number, now: number): boolean {
  const hb = latestBeat(s, id);
  const { node_timeout_secs, clock_skew_margin_ms: m } = s.cluster.settings;
  return hb !== undefined && hb.sent_at <= now + m && now - hb.sent_at <= node_timeout_secs * 1000 + m;
}

function leaseObservedLongEnough(s: ClusterSnapshot, now: number): boolean {
  const rvn = s.cluster.lease?.rvn ?? NO_LEASE_RVN;
  const o = s.cluster.lease_observation;
  const { lease_secs, clock_skew_margin_ms: m } = s.cluster.settings;
  return o !== null && o.rvn === rvn && now - o.first_seen_at >= lease_secs * 1000 + m;
}

function failovers(d: Decision): Extract<Action, { kind: 'failover' }>[] {
  return [...d.actions, ...d.suppressed_actions].filter((a): a is Extract<Action, { kind: 'failover' }> => a.kind === 'failover');
}

const RUNS = { numRuns: 400 };

describe('decide over random cluster states', () => {
  it('never throws and always returns a well-formed decision', () => {
    fc.assert(
      fc.property(fc.oneof(anyCase, oddCase), ([s, now]) => {
        const d = decide(s, now);
        expect(DECISION_CODES).toContain(d.code);
        expect(d.reasons.length).toBeGreaterThan(0);
        for (const r of d.reasons) expect(typeof r === 'string' && r.length > 0).toBe(true);
        for (const e of d.events) expect(EVENT_NAMES).toContain(e.event);
        for (const a of d.alarms) expect(ALARM_KINDS).toContain(a.kind);
        const ids = new Set(s.nodes.map((n) => n.node_id));
        for (const c of d.candidates) expect(ids.has(c.node_id)).toBe(true);
        if (d.code === 'report_only') expect(d.actions).toEqual([]);
        else expect(d.suppressed_actions).toEqual([]);
        expect(JSON.parse(JSON.stringify(d))).toEqual(d);
      }),
      RUNS,
    );
  });

  it('is deterministic and does not modify its input', () => {
    fc.assert(
      fc.property(fc.oneof(anyCase, oddCase), ([s, now]) => {
        const copy = structuredClone(s);
        const first = decide(s, now);
        expect(s).toEqual(copy);
        expect(decide(copy, now)).toEqual(first);
      }),
      RUNS,
    );
  });

  it('never picks a witness or an inactive, stale, fenced, priority-0, foreign, wrong-timeline or over-lag node', () => {
    let failoversSeen = 0;
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        for (const a of failovers(decide(s, now))) {
          failoversSeen++;
          const node = s.nodes.find((n) => n.node_id === a.candidate_node_id);
          const p = latestBeat(s, a.old_primary_node_id)?.server;
          const server = latestBeat(s, a.candidate_node_id)?.server;
          expect(node?.type).toBe('standby');
          expect(node?.active).toBe(true);
          expect(node?.fenced).toBe(false);
          expect(node?.priority).toBeGreaterThan(0);
          expect(isFresh(s, a.candidate_node_id, now)).toBe(true);
          expect(server?.in_recovery).toBe(true);
          expect(server?.system_identifier).toBe(p?.system_identifier);
          expect(p?.system_identifier).not.toBeNull();
          expect(server?.timeline).toBe(p?.timeline);
          const max = s.cluster.settings.maximum_lag_on_failover;
          const got = server?.receive_lsn ?? server?.replay_lsn;
          expect(got).toBeTruthy();
          if (max !== null) expect(lsnDiff(p?.current_lsn ?? '0/0', got ?? '0/0') <= BigInt(max)).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
    // The property means little if no failover was ever decided.
    expect(failoversSeen).toBeGreaterThan(50);
  });

  it('never fails over while the lease RVN is observed for less than lease_secs + margin and the primary reports itself healthy', () => {
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        const pid = s.cluster.primary_node_id;
        const p = pid === null ? undefined : latestBeat(s, pid)?.server;
        fc.pre(pid !== null && !leaseObservedLongEnough(s, now) && isFresh(s, pid, now) && p?.postmaster_running === true && p.accepting_connections);
        expect(failovers(decide(s, now))).toEqual([]);
      }),
      { numRuns: 600 },
    );
  });

  it('never fails over a silent primary before its lease RVN has been observed for lease_secs + margin', () => {
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        const pid = s.cluster.primary_node_id;
        fc.pre(pid !== null && !leaseObservedLongEnough(s, now) && !isFresh(s, pid, now));
        expect(failovers(decide(s, now))).toEqual([]);
      }),
      { numRuns: 600 },
    );
  });

  it('returns a new lease observation only for a changed RVN, first seen now', () => {
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        const d = decide(s, now);
        const rvn = s.cluster.lease?.rvn ?? NO_LEASE_RVN;
        const changed = s.cluster.lease_observation?.rvn !== rvn;
        expect(d.lease_observation).toEqual(changed ? { rvn, first_seen_at: now } : null);
      }),
      RUNS,
    );
  });

  it('takes no action in a paused cluster or with failover=manual', () => {
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        fc.pre(s.cluster.paused || s.cluster.settings.failover === 'manual');
        expect(decide(s, now).actions).toEqual([]);
      }),
      RUNS,
    );
  });

  it('promotes the first-ranked eligible candidate of its own assessment', () => {
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        const d = decide(s, now);
        for (const a of failovers(d)) {
          const eligible = d.candidates.filter((x) => x.eligible);
          expect(eligible.map((x) => x.node_id)).toContain(a.candidate_node_id);
          expect(d.candidates.find((x) => x.node_id === a.candidate_node_id)?.reasons[0]).toMatch(/^eligible, ranked 1 of /);
          for (const other of eligible) {
            if (other.receive_lsn && a.candidate_node_id !== other.node_id) {
              const mine = d.candidates.find((x) => x.node_id === a.candidate_node_id)?.receive_lsn ?? '0/0';
              expect(lsnDiff(mine, other.receive_lsn) >= 0n).toBe(true);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it("never fences the term's primary, a witness or a node whose heartbeat is not fresh", () => {
    fc.assert(
      fc.property(anyCase, ([s, now]) => {
        const d = decide(s, now);
        for (const a of [...d.actions, ...d.suppressed_actions]) {
          if (a.kind !== 'fence') continue;
          expect(a.node_id).not.toBe(s.cluster.primary_node_id);
          expect(s.nodes.find((n) => n.node_id === a.node_id)?.type).not.toBe('witness');
          expect(isFresh(s, a.node_id, now)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------- operations in flight

const OP_STEPS = {
  failover: ['fence_old_primary', 'disconnect_wal_receivers', 'rerank', 'promote', 'verify_promotion', 'move_vip', 'finish', 'abort', 'follow_siblings', 'confirm_fence', 'cooldown'],
  switchover: ['demote_primary', 'wait_catchup', 'promote', 'verify_promotion', 'move_vip', 'finish', 'rollback', 'incomplete', 'rejoin_old_primary', 'siblings_follow'],
  follow: ['follow', 'cooldown'],
  rejoin: ['rejoin', 'cooldown'],
  fence: ['fence', 'confirm_fence', 'cooldown'],
  restart: ['restart', 'move_vip', 'finish', 'cooldown'],
} as const;
type OpKind = keyof typeof OP_STEPS;

/** A faulted cluster with an operation of any kind at any step, owned or not, promoted or not. */
const operationCase: fc.Arbitrary<[ClusterSnapshot, number]> = fc
  .record({
    snapshot: faultedSnapshot,
    kind: fc.constantFrom<OpKind>('failover', 'switchover', 'follow', 'rejoin', 'fence', 'restart'),
    stepIndex: fc.nat(),
    candidate: fc.constantFrom(2, 3),
    promotedInRecord: fc.boolean(),
    deadlineOffset: fc.integer({ min: -60_000, max: 60_000 }),
    stepAge: fc.integer({ min: 0, max: 300_000 }),
    hard: fc.boolean(),
    upstream: fc.constantFrom(1, 2, 3),
    pausedBy: fc.constantFrom<'none' | 'self' | 'other'>('none', 'self', 'other'),
    now: fc.integer({ min: NOW - 2000, max: NOW + 3000 }),
  })
  .map((g) => {
    const steps = OP_STEPS[g.kind];
    const step = steps[g.stepIndex % steps.length] ?? steps[0];
    const s = structuredClone(g.snapshot);
    const promotion = g.kind === 'failover' || g.kind === 'switchover';
    s.cluster.term += promotion || g.kind === 'restart' ? 1 : 0;
    if (promotion && g.promotedInRecord) s.cluster.primary_node_id = g.candidate;
    s.cluster.operation = {
      id: 'op-9',
      kind: g.kind,
      term: s.cluster.term,
      candidate_node_id: g.candidate,
      old_primary_node_id: 1,
      step,
      owner: step === 'cooldown' ? 'cooldown' : 'req-9',
      deadline: NOW + g.deadlineOffset,
      started_at: NOW - g.stepAge - 1000,
      data: { step_started_at: NOW - g.stepAge, upstream_node_id: g.upstream, ...(g.hard ? { cooldown_hard: true } : {}) },
    };
    if (g.pausedBy !== 'none') Object.assign(s.cluster, { paused: true, paused_by: g.pausedBy === 'self' ? 'op-9' : 'op-gone' });
    return [ClusterSnapshotSchema.parse(s), g.now];
  });

/** The same, in a cluster an operator paused or with failover=manual. */
const pausedOperationCase = fc.tuple(operationCase, fc.boolean()).map(([[s, now], manual]): [ClusterSnapshot, number] => {
  const c = structuredClone(s);
  if (manual) c.cluster.settings.failover = 'manual';
  else Object.assign(c.cluster, { paused: true, paused_by: null });
  return [c, now];
});

/** The same, cooling down before its deadline after a failed round or node action. */
const cooldownCase = operationCase.map(([s, now]): [ClusterSnapshot, number] => {
  const c = structuredClone(s);
  const op = c.cluster.operation;
  if (op) Object.assign(op, { step: 'cooldown', owner: 'cooldown', deadline: Math.max(op.deadline, now + 1000) });
  return [c, now];
});

/** A failover or switchover whose record already names its candidate primary, at a step it may still be at. */
const promotedCase = fc.tuple(operationCase, fc.constantFrom('failover' as const, 'switchover' as const), fc.constantFrom('move_vip', 'verify_promotion', 'siblings_follow', 'confirm_fence')).map(
  ([[s, now], kind, step]): [ClusterSnapshot, number] => {
    const c = structuredClone(s);
    const op = c.cluster.operation;
    if (op) {
      Object.assign(op, { kind, step, owner: 'req-9' });
      c.cluster.primary_node_id = op.candidate_node_id;
    }
    return [c, now];
  },
);

function endings(d: Decision): Extract<Action, { kind: 'end_operation' }>[] {
  return [...d.actions, ...d.suppressed_actions].filter((a): a is Extract<Action, { kind: 'end_operation' }> => a.kind === 'end_operation');
}

describe('decide with an operation in flight, over random cluster states', () => {
  it('never throws, returns a well-formed decision, and judges the operation it was given', () => {
    fc.assert(
      fc.property(operationCase, ([s, now]) => {
        const d = decide(s, now);
        expect(DECISION_CODES).toContain(d.code);
        expect(d.operation?.id).toBe('op-9');
        expect(['continue', 'end']).toContain(d.operation?.verdict);
        expect(d.operation?.verdict === 'end').toBe(endings(d).length === 1);
      }),
      RUNS,
    );
  });

  it('runs one saga at a time: with an operation in flight it only lets it go on or ends it', () => {
    fc.assert(
      fc.property(operationCase, ([s, now]) => {
        for (const a of [...decide(s, now).actions, ...decide(s, now).suppressed_actions]) expect(a.kind).toBe('end_operation');
      }),
      RUNS,
    );
  });

  it('never rolls a switchover back once its promote step was reached', () => {
    fc.assert(
      fc.property(operationCase, ([s, now]) => {
        const op = s.cluster.operation;
        fc.pre(op?.kind === 'switchover' && !['demote_primary', 'wait_catchup'].includes(op.step));
        expect(endings(decide(s, now)).map((e) => e.ending)).not.toContain('rollback');
      }),
      RUNS,
    );
  });

  it('ends a failover or switchover whose record names the new primary only by handing the cluster over', () => {
    fc.assert(
      fc.property(promotedCase, ([s, now]) => {
        for (const e of endings(decide(s, now))) expect(e.ending).toBe('hand_over');
      }),
      RUNS,
    );
  });

  it('never ends an operation in a cluster an operator paused, or with failover=manual', () => {
    fc.assert(
      fc.property(pausedOperationCase, ([s, now]) => {
        expect(decide(s, now).actions).toEqual([]);
      }),
      RUNS,
    );
  });

  it('clears a cooldown before its deadline only for another action, and a hard one only for a fence', () => {
    let cleared = 0;
    fc.assert(
      fc.property(cooldownCase, ([s, now]) => {
        const op = s.cluster.operation;
        if (!op) return;
        const d = decide(s, now);
        if (endings(d).length === 0) return;
        cleared++;
        // What the engine judges the cooldown against: the cluster without it (its own pause is none).
        const own = s.cluster.paused_by === op.id ? { paused: false, paused_by: null } : {};
        const free = decide({ ...s, cluster: { ...s.cluster, ...own, operation: null } }, now);
        const next = [...free.actions, ...free.suppressed_actions].find((a) => a.kind !== 'unpause');
        expect(next).toBeDefined();
        const key = next?.kind === 'failover' ? `failover:${next.candidate_node_id}` : next && 'node_id' in next ? `${next.kind === 'restart_primary' ? 'restart' : next.kind}:${next.node_id}` : '';
        expect(key).not.toBe(`${op.kind}:${op.candidate_node_id}`);
        if (op.data.cooldown_hard === true) expect(next?.kind).toBe('fence');
      }),
      RUNS,
    );
    // The property means little if no cooldown was ever cleared early.
    expect(cleared).toBeGreaterThan(20);
  });
});

describe('decide with no operation in flight', () => {
  it('never decides to end an operation, and lifts only a pause an operation left', () => {
    fc.assert(
      fc.property(anyCase, fc.boolean(), ([s, now], leftover) => {
        const c = leftover ? { ...s, cluster: { ...s.cluster, operation: null, paused: true, paused_by: 'op-gone' } } : { ...s, cluster: { ...s.cluster, operation: null } };
        const d = decide(c, now);
        expect(endings(d)).toEqual([]);
        if (d.code === 'unpause') expect(c.cluster.paused_by).toBe('op-gone');
      }),
      RUNS,
    );
  });
});
