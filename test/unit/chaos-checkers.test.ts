/**
 * The chaos campaign's checkers on synthetic histories: for each invariant, a history that keeps it
 * and one that breaks it.
 */
import { describe, expect, it } from 'vitest';
import {
  checkHistory,
  gapsWithoutAck,
  longestGap,
  windowTimeline,
  type CampaignHistory,
  type InjectedFault,
  type LoggedEvent,
  type NodeSample,
} from '../../sandbox/chaos/checkers.js';
import type { FaultType } from '../../sandbox/chaos/schedule.js';
import type { ProbeAck, WriteAttempt } from '../../sandbox/writers.js';

const T0 = 1_000_000;
const s = (seconds: number): number => T0 + seconds * 1000;
const NODES = ['node1', 'node2', 'node3'];

/** VIP writes acknowledged every 100 ms over [from, to) seconds. */
function writes(ranges: [number, number][]): WriteAttempt[] {
  const out: WriteAttempt[] = [];
  let id = 1;
  for (const [from, to] of ranges) for (let t = s(from); t < s(to); t += 100) out.push({ id: id++, sentAt: t - 5, ackedAt: t, error: null });
  return out;
}

/** Probes of one node acknowledged every 200 ms over [from, to) seconds (server time 2 ms after the send). */
function probes(node: string, from: number, to: number): ProbeAck[] {
  const out: ProbeAck[] = [];
  for (let t = s(from); t < s(to); t += 200) out.push({ node, sentAt: t, serverAt: t + 2, ackedAt: t + 8 });
  return out;
}

/** One node sample per second over [from, to): `views` for every node. */
function samples(from: number, to: number, views: NodeSample['nodes']): NodeSample[] {
  const out: NodeSample[] = [];
  for (let t = from; t < to; t++) out.push({ at: s(t), nodes: { ...views } });
  return out;
}

function fault(type: FaultType, over: Partial<InjectedFault> = {}): InjectedFault {
  return {
    planned: { index: 1, type, gapMs: 5000, holdMs: 10_000, params: {} },
    description: type,
    targets: ['node1'],
    injectedAt: s(10),
    healedAt: s(20),
    windowEnd: s(60),
    justifies: null,
    blocksController: false,
    notes: [],
    ...over,
  };
}

const event = (at: number, node: string, name: string, details = ''): LoggedEvent => ({ at: s(at), node, event: name, successful: true, details });

/**
 * A crash of node1's server at +10 s: failover to node2 at +13 s (fence of node1, justified),
 * healed at +20 s (node1 rejoined and streaming at +30 s). Everything holds.
 */
function crashHistory(over: Partial<CampaignHistory> = {}): CampaignHistory {
  const healthy1 = { node1: 'primary', node2: 'standby_streaming', node3: 'standby_streaming' } as const;
  const afterFailover = { node1: 'down', node2: 'primary', node3: 'standby_streaming' } as const;
  const healthy2 = { node1: 'standby_streaming', node2: 'primary', node3: 'standby_streaming' } as const;
  return {
    seed: 7,
    startedAt: T0,
    endedAt: s(60),
    leaseMs: 4000,
    operationWindowMs: 20_000,
    nodes: NODES,
    faults: [
      fault('crash-primary', { justifies: { nodes: ['node1'], why: 'the primary crashed' } }),
    ],
    writes: writes([
      [0, 10],
      [13, 60],
    ]),
    probes: [...probes('node1', 0, 10), ...probes('node2', 13, 60)],
    cluster: [
      { at: s(0), term: 1, primary: 'node1', operation: null, paused: false },
      { at: s(11), term: 2, primary: 'node2', operation: 'failover', paused: false },
      { at: s(14), term: 2, primary: 'node2', operation: null, paused: false },
    ],
    vip: [
      { at: s(0), target: 'node1' },
      { at: s(13), target: 'node2' },
    ],
    nodeSamples: [...samples(0, 10, healthy1), ...samples(10, 30, afterFailover), ...samples(30, 60, healthy2)],
    events: [event(10.1, 'node1', 'repmgrd_local_disconnect'), event(11, 'node2', 'failover_started'), event(12, 'node1', 'fence_applied', 'ssm: fenced'), event(13, 'node2', 'repmgrd_failover_promote', 'node 2 promoted to primary of term 2')],
    lostWrites: [],
    ...over,
  };
}

describe('the gap helpers', () => {
  it('measure the longest time without an acknowledgement from a heal, not from before it', () => {
    const acks = [s(1), s(2), s(9), s(10)];
    expect(longestGap(acks, s(5), s(10))).toBe(4000); // 5 → 9, not 2 → 9
    expect(longestGap(acks, s(10), s(20))).toBe(10_000); // nothing after 10
    expect(gapsWithoutAck(acks, s(0), s(10), 3000)).toEqual([[s(2), s(9)]]);
  });
});

describe('checkHistory', () => {
  it('passes a crash that was failed over, fenced with cause, and recovered', () => {
    const v = checkHistory(crashHistory());
    expect(v.violations).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.figures).toMatchObject({ faults_injected: { 'crash-primary': 1 }, failovers: 1, promotions: 1, max_writable_primaries: 1, acked_writes_lost: 0, fences: 1, needless_fences: 0, stuck_states: 0 });
    expect(v.windows[0]).toMatchObject({ writable_after_heal_ms: 0, streaming_after_heal_ms: 10_000 });
  });

  it('reports acknowledged writes the final primary lacks, and a final primary that could not be asked', () => {
    const lost = checkHistory(crashHistory({ lostWrites: [3, 4] }));
    expect(lost.ok).toBe(false);
    expect(lost.violations.map((x) => x.kind)).toEqual(['acked_writes_lost']);
    expect(lost.violations[0]?.message).toMatch(/2 acknowledged writes .* \(ids 3, 4;/);
    expect(lost.figures.acked_writes_lost).toBe(2);
    const unknown = checkHistory(crashHistory({ lostWrites: null, lostWritesError: 'no writable primary at the end' }));
    expect(unknown.violations.map((x) => x.kind)).toEqual(['writes_unchecked']);
  });

  it('reports two nodes that acknowledged writes at overlapping moments, with the probes that show it', () => {
    const h = crashHistory({ probes: [...probes('node1', 0, 14), ...probes('node2', 13, 60)] });
    const v = checkHistory(h);
    expect(v.figures.max_writable_primaries).toBe(2);
    expect(v.violations.map((x) => x.kind)).toEqual(['two_writable_primaries']);
    expect(v.violations[0]?.message).toMatch(/node1 \[\+13\.0 s … \+13\.0 s\], node2 \[\+13\.0 s/);
  });

  it('does not count a write the client sent early but the server ran after the other node stopped', () => {
    const h = crashHistory({
      probes: [{ node: 'node1', sentAt: s(9), serverAt: s(9) + 2, ackedAt: s(9) + 10 }, { node: 'node2', sentAt: s(9), serverAt: s(13), ackedAt: s(13) + 5 }],
    });
    expect(checkHistory(h).figures.max_writable_primaries).toBe(1);
  });

  it('reports no writable primary for longer than lease + 10 s after the heal, and not for less', () => {
    const late = crashHistory({ writes: writes([[0, 10], [36, 60]]) });
    const v = checkHistory(late);
    expect(v.violations.map((x) => x.kind)).toContain('no_primary_after_heal');
    expect(v.windows[0]?.writable_after_heal_ms).toBe(16_000);
    expect(v.figures.longest_no_primary_after_heal_ms).toBe(16_000);
    const inTime = checkHistory(crashHistory({ writes: writes([[0, 10], [33, 60]]) }));
    expect(inTime.violations.map((x) => x.kind)).not.toContain('no_primary_after_heal');
    expect(inTime.windows[0]?.writable_after_heal_ms).toBe(13_000);
  });

  it('reports the controller idle with no primary, unless an operation runs or a fault keeps it from acting', () => {
    // No writes from +10 s to +40 s, no operation: stuck, even while the fault is still held.
    const idle = crashHistory({
      writes: writes([[0, 10], [40, 60]]),
      cluster: [{ at: s(0), term: 1, primary: 'node1', operation: null, paused: false }],
      faults: [fault('partition-primary', { healedAt: s(50), windowEnd: s(60), justifies: { nodes: ['node1'], why: 'cut off' } })],
    });
    expect(checkHistory(idle).violations.map((x) => x.kind)).toEqual(['stuck_idle']);
    const operating = { ...idle, cluster: [...idle.cluster, { at: s(11), term: 2, primary: 'node2', operation: 'failover', paused: false }, { at: s(39), term: 2, primary: 'node2', operation: null, paused: false }] };
    expect(checkHistory(operating).violations.map((x) => x.kind)).toEqual([]);
    const blocked = { ...idle, faults: [fault('aws-stall', { targets: [], healedAt: s(50), windowEnd: s(60), blocksController: true, justifies: { nodes: NODES, why: 'stalled' } })] };
    expect(checkHistory(blocked).violations.map((x) => x.kind)).toEqual([]);
  });

  it('reports a paused cluster with no primary as stuck once an operation has run longer than the operation window', () => {
    const h = crashHistory({ writes: writes([[0, 10]]), cluster: [{ at: s(0), term: 1, primary: 'node1', operation: null, paused: false }, { at: s(12), term: 2, primary: 'node2', operation: 'failover', paused: true }] });
    const stuck = checkHistory(h).violations.filter((x) => x.kind === 'stuck_idle');
    expect(stuck).toHaveLength(1);
    expect(stuck[0]?.message).toMatch(/with a failover in progress for longer than the operation window \(20\.0 s\) \(the cluster was paused\)/);
    expect(stuck[0]?.at).toBe(s(32));
    const noOperation = crashHistory({ writes: writes([[0, 10]]), cluster: [{ at: s(0), term: 1, primary: 'node1', operation: null, paused: true }] });
    expect(checkHistory(noOperation).violations.find((x) => x.kind === 'stuck_idle')?.message).toMatch(/with no operation in progress \(the cluster was paused\)/);
  });

  it('does not call a switchover that pauses the cluster idle while it is within the operation window', () => {
    // A switchover pauses the cluster while it runs: 18 s without a primary (a slow control plane)
    // is the operation working, not the controller idle.
    const h = crashHistory({
      writes: writes([[0, 10], [28, 60]]),
      cluster: [
        { at: s(0), term: 1, primary: 'node1', operation: null, paused: false },
        { at: s(10), term: 1, primary: 'node1', operation: 'switchover', paused: true },
        { at: s(28), term: 2, primary: 'node2', operation: null, paused: false },
      ],
    });
    expect(checkHistory(h).violations.map((x) => x.kind)).not.toContain('stuck_idle');
    // The same stretch counts when the history names no operation window (nothing excuses it).
    const { operationWindowMs: _, ...old } = h;
    expect(checkHistory(old).violations.map((x) => x.kind)).toContain('stuck_idle');
  });

  it('reports a fence that no injected fault justifies, and accepts one that a fault does', () => {
    const starvation = fault('cpu-starvation', { targets: [], justifies: null });
    const needless = crashHistory({ faults: [starvation], events: [event(15, 'node1', 'lease_lost', 'node 1 fenced itself: lease not renewed for 3.7 s')] });
    const v = checkHistory(needless);
    expect(v.figures.needless_fences).toBe(1);
    expect(v.violations.find((x) => x.kind === 'needless_fence')?.message).toMatch(/node1 fenced at \+15\.0 s \(lease_lost: .*\) and no injected fault justifies it; faults then: #1 cpu-starvation/);
    const justified = crashHistory({ events: [event(15, 'node1', 'lease_lost')] });
    expect(checkHistory(justified).figures.needless_fences).toBe(0);
    // The wrong node: a fault on node1 does not justify fencing node2.
    expect(checkHistory(crashHistory({ events: [event(15, 'node2', 'lease_lost')] })).figures.needless_fences).toBe(1);
  });

  it('justifies a fence within lease + 10 s of the heal, not later, and counts one fence per burst of events', () => {
    const h = (at: number) => checkHistory(crashHistory({ events: [event(at, 'node1', 'fence_applied'), event(at + 3, 'node1', 'fence_applied'), event(at + 5, 'node1', 'lease_lost')] }));
    expect(h(33).figures).toMatchObject({ fences: 1, needless_fences: 0 });
    expect(h(35).figures).toMatchObject({ fences: 1, needless_fences: 1 });
    expect(h(5).figures.needless_fences).toBe(1); // before the fault
  });

  it("counts the controller's later confirmation of a self-fence as the same fence, and a fence after the node came back as a new one", () => {
    const down = samples(0, 200, { node1: 'down', node2: 'primary', node3: 'standby_streaming' });
    const confirm = crashHistory({ nodeSamples: down, events: [event(15, 'node1', 'lease_lost'), event(40, 'node1', 'fence_applied', 'node 1 is already fenced; nothing to do')] });
    expect(checkHistory(confirm).figures.fences).toBe(1);
    const back = crashHistory({ events: [event(15, 'node1', 'lease_lost'), event(40, 'node1', 'lease_lost')] }); // node1 streams again from +30 s
    expect(checkHistory(back).figures.fences).toBe(2);
  });

  it('ignores a fence that failed to apply', () => {
    const h = crashHistory({ faults: [fault('cpu-starvation', { justifies: null })], events: [{ ...event(15, 'node1', 'fence_applied'), successful: false }] });
    expect(checkHistory(h).figures.fences).toBe(0);
  });

  it('reports nodes not streaming again within 2 minutes of the heal', () => {
    const never = crashHistory({
      endedAt: s(200),
      faults: [fault('crash-primary', { windowEnd: s(200), justifies: { nodes: ['node1'], why: 'crash' } })],
      writes: writes([[0, 10], [13, 200]]),
      nodeSamples: samples(0, 200, { node1: 'standby', node2: 'primary', node3: 'standby_streaming' }),
    });
    const v = checkHistory(never);
    expect(v.violations.map((x) => x.kind)).toEqual(['not_streaming_after_heal']);
    expect(v.violations[0]?.message).toMatch(/node1 standby, node2 primary, node3 standby_streaming/);
    expect(v.figures.longest_streaming_after_heal_ms).toBeNull();
  });

  it('does not call a primary that is not behind the VIP healthy', () => {
    const h = crashHistory({ vip: [{ at: s(0), target: 'node1' }] });
    expect(checkHistory(h).violations.map((x) => x.kind)).toContain('not_streaming_after_heal');
  });

  it('judges the recovery up to the campaign\'s own repair and nothing after it', () => {
    // node1 never rejoins by itself: the campaign repairs at +141 s; its repair interrupts writes.
    const h = crashHistory({
      endedAt: s(200),
      writes: writes([[0, 10], [13, 141]]),
      nodeSamples: samples(0, 200, { node1: 'standby', node2: 'primary', node3: 'standby_streaming' }),
      faults: [fault('crash-primary', { windowEnd: s(200), repairedAt: s(141), justifies: { nodes: ['node1'], why: 'crash' } })],
    });
    const v = checkHistory(h);
    expect(v.violations.map((x) => x.kind)).toEqual(['not_streaming_after_heal']);
    expect(v.windows[0]?.repaired).toBe(true);
    expect(v.figures.repairs).toBe(1);
  });
});

describe('windowTimeline', () => {
  it("tells the window's story in time order: the fault, events, VIP moves, cluster changes, write gaps", () => {
    const lines = windowTimeline(crashHistory(), 1);
    const text = lines.join('\n');
    const times = lines.map((l) => Number(/^\+ *([\d.]+) s/.exec(l)?.[1]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(text).toMatch(/\+ +10\.0 s {2}FAULT #1 injected: crash-primary/);
    expect(text).toMatch(/\+ +12\.0 s {2}event node1 fence_applied/);
    expect(text).toMatch(/\+ +13\.0 s {2}VIP → node2/);
    expect(text).toMatch(/cluster: term 2, primary node2, operation failover/);
    expect(text).toMatch(/writes: none acknowledged through the VIP for 3\.1 s/);
    expect(text.indexOf('FAULT #1 injected')).toBeLessThan(text.indexOf('FAULT #1 healed'));
  });
});
