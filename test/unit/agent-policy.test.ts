/**
 * The agent daemon's decisions (agent/daemon/policy.ts) with plain numbers for clocks: the lease's
 * timings and judgement, synchronous replication downgrade and restore, what a heartbeat reports,
 * when it is due and when it deserves attention.
 */
import { describe, expect, it } from 'vitest';
import {
  attention,
  heartbeatDue,
  judgeLease,
  judgeSync,
  leaseTimings,
  leaseView,
  mayRenewOn,
  localTransition,
  newerView,
  nextBackoffMs,
  nextReachability,
  serverState,
  STREAMING_SETTLE_MS,
  signature,
  startupFenceReason,
  superseded,
  watchdogDeadlineMono,
  type LeaseTimings,
  type SyncFacts,
} from '../../agent/daemon/policy.js';
import { MAX_IN_FLIGHT } from '../../agent/daemon/lease.js';
import { NO_SERVER_FACTS, type LocalProbe } from '../../agent/pg/local.js';
import type { Operation, ReplicationRow } from '../../core/model.js';
import { NOW, primaryServer, reach, standbyServer } from '../support/cli-cluster.js';

const T: LeaseTimings = { leaseMs: 4000, fenceLeadMs: 500, renewEveryMs: 500, attemptLimitMs: 1333 };

describe('leaseTimings', () => {
  it.each([0.2, 1, 2, 4, 5, 8, 20, 60, 3600])('gives three attempts after a success their whole time limit before the fence, with lease_secs=%s', (lease_secs) => {
    const t = leaseTimings({ lease_secs });
    const fenceAt = t.leaseMs - t.fenceLeadMs;
    // Attempts start every renewEveryMs after a success sent at 0; count those answered in full in time.
    let whole = 0;
    for (let k = 1; k * t.renewEveryMs + t.attemptLimitMs <= fenceAt; k++) whole++;
    expect(whole).toBeGreaterThanOrEqual(3);
    expect(Math.floor(fenceAt / t.renewEveryMs)).toBeGreaterThanOrEqual(6);
    // Even when every attempt hangs, the cap on attempts in flight never holds up the next one.
    expect(Math.ceil(t.attemptLimitMs / t.renewEveryMs)).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(t.fenceLeadMs).toBeGreaterThan(0);
  });

  it('starts the fence early enough for a server to stop, but never takes more than a quarter of a short lease', () => {
    expect(leaseTimings({ lease_secs: 5 })).toEqual({ leaseMs: 5000, fenceLeadMs: 750, renewEveryMs: 625, attemptLimitMs: 5000 / 3 });
    expect(leaseTimings({ lease_secs: 4 }).fenceLeadMs).toBe(600);
    expect(leaseTimings({ lease_secs: 20 }).fenceLeadMs).toBe(2000);
    expect(leaseTimings({ lease_secs: 1 }).fenceLeadMs).toBe(250);
  });
});

describe('judgeLease', () => {
  it('has nothing to judge while the server is not a primary', () => {
    expect(judgeLease({ primarySinceMono: null, grounds: [{ source: 'renewal', sinceMono: 0 }] }, T, 1e9)).toEqual({ state: 'not_primary' });
  });

  it('holds until the fence lead before lease_secs after the renewal was sent, and is lost from then on', () => {
    const facts = { primarySinceMono: 0, grounds: [{ source: 'renewal', sinceMono: 10_000 }] };
    expect(judgeLease(facts, T, 13_499)).toEqual({ state: 'held', fenceAtMono: 13_500, basis: 'the latest renewal' });
    const lost = judgeLease(facts, T, 13_500);
    expect(lost).toMatchObject({ state: 'lost', heldForMs: 3500 });
    expect(lost.state === 'lost' && lost.why).toBe('lease not renewed for 3.5 s (lease_secs=4; counted from the latest renewal)');
  });

  it('counts a new primary from when it became one until its first renewal', () => {
    const facts = { primarySinceMono: 5000, grounds: [] };
    expect(judgeLease(facts, T, 8499)).toMatchObject({ state: 'held', fenceAtMono: 8500, basis: 'the server became primary' });
    expect(judgeLease(facts, T, 8500)).toMatchObject({ state: 'lost' });
  });

  it('does not count a renewal sent before the server became primary (it renewed another incarnation)', () => {
    expect(judgeLease({ primarySinceMono: 5000, grounds: [{ source: 'renewal', sinceMono: 4000 }] }, T, 8000)).toMatchObject({ state: 'held', fenceAtMono: 8500 });
  });

  it('moves the fence for another ground exactly as for a renewal (a reason not to fence yet plugs in here)', () => {
    const facts = { primarySinceMono: 0, grounds: [{ source: 'renewal', sinceMono: 1000 }, { source: 'failsafe confirmation', sinceMono: 3000 }] };
    expect(judgeLease(facts, T, 6000)).toEqual({ state: 'held', fenceAtMono: 6500, basis: 'the latest failsafe confirmation' });
    expect(judgeLease(facts, T, 6500)).toMatchObject({ state: 'lost', heldForMs: 3500 });
  });
});

describe('watchdogDeadlineMono (the lease watchdog)', () => {
  it("stops a primary half the fence lead after the agent's own fence would start, still before lease_secs", () => {
    // T: lease 4 s, fence lead 0.5 s: the agent fences at ground + 3.5 s, the watchdog at + 3.75 s.
    const deadline = watchdogDeadlineMono(10_000, 12_000, T);
    expect(deadline).toBe(13_750);
    const agentFence = judgeLease({ primarySinceMono: 0, grounds: [{ source: 'renewal', sinceMono: 10_000 }] }, T, 10_000);
    expect(agentFence.state === 'held' && agentFence.fenceAtMono).toBeLessThan(deadline);
    expect(deadline).toBeLessThan(10_000 + T.leaseMs);
  });

  it('vouches from now for a server the agent does not hold a lease for (a standby, or one promoted since its last tick)', () => {
    expect(watchdogDeadlineMono(null, 50_000, T)).toBe(53_750);
  });
});

describe('leaseView and mayRenewOn', () => {
  const op = (kind: Operation['kind'], term: number, candidate: number): Operation => ({
    id: 'op-1', kind, term, candidate_node_id: candidate, old_primary_node_id: 1, step: 'promote', owner: 'x', deadline: 0, started_at: 0, data: {},
  });
  it('lets the candidate of the failover or switchover that claimed the term renew before the record names it primary', () => {
    for (const kind of ['failover', 'switchover'] as const) {
      const view = leaseView({ term: 5, primary_node_id: 1, operation: op(kind, 5, 2), version: 9 });
      expect(view.candidateNodeId).toBe(2);
      expect(mayRenewOn(view, 2)).toBe(true);
      expect(mayRenewOn(view, 1)).toBe(true);
      expect(mayRenewOn(view, 3)).toBe(false);
    }
  });
  it('grants nothing for other operations, for an operation of another term, or with no operation', () => {
    for (const operation of [op('rejoin', 5, 2), op('follow', 5, 2), op('fence', 5, 2), op('failover', 4, 2), null]) {
      const view = leaseView({ term: 5, primary_node_id: 1, operation, version: 9 });
      expect(view.candidateNodeId).toBeNull();
      expect(mayRenewOn(view, 2)).toBe(false);
    }
    expect(mayRenewOn(null, 1)).toBe(false);
  });
});

describe('superseded and startupFenceReason (the startup rule)', () => {
  const op = (kind: Operation['kind'], term: number, candidate: number): Operation => ({
    id: 'op-1', kind, term, candidate_node_id: candidate, old_primary_node_id: 1, step: 'promote', owner: 'x', deadline: 0, started_at: 0, data: {},
  });
  const cluster = (primary: number | null, operation: Operation | null = null) => ({ term: 5, primary_node_id: primary, operation, version: 3 });
  const config = { cluster_id: 'main', node_id: 1 };

  it.each([
    ['the cluster names another node as primary', cluster(2), true],
    ['a rejoin in flight acts on this node while another is primary', cluster(2, op('rejoin', 5, 1)), true],
    ['a fence in flight acts on this node while another is primary', cluster(2, op('fence', 5, 1)), true],
    ['this node was the candidate of a failover of an earlier term', cluster(2, op('failover', 4, 1)), true],
    ['the cluster names this node as primary', cluster(1), false],
    ['a failover of this term is promoting this node', cluster(2, op('failover', 5, 1)), false],
    ['a switchover of this term is promoting this node', cluster(2, op('switchover', 5, 1)), false],
    ['the cluster has no primary', cluster(null), false],
  ] as const)('when %s: superseded is %s', (_, record, expected) => {
    expect(superseded(record, 1)).toBe(expected);
  });

  it('gives the fence marker as the reason first, then the primary that replaced this node, and null when the node may start as it is', () => {
    expect(startupFenceReason({ reason: 'lease_lost', term: 4 }, cluster(1), config)).toBe('it carries a fence marker (lease_lost, term 4)');
    expect(startupFenceReason(undefined, cluster(2), config)).toBe('cluster "main" has node 2 as primary at term 5');
    expect(startupFenceReason(undefined, cluster(1), config)).toBeNull();
    expect(startupFenceReason(undefined, undefined, config)).toBeNull();
  });
});

describe('newerView', () => {
  it('keeps the read with the higher term, and within a term the higher version', () => {
    const a = { term: 3, primaryNodeId: 1, candidateNodeId: null, version: 10 };
    const b = { term: 4, primaryNodeId: 1, candidateNodeId: 2, version: 11 };
    const c = { term: 4, primaryNodeId: 2, candidateNodeId: null, version: 12 };
    expect(newerView(a, b)).toBe(b);
    expect(newerView(b, a)).toBe(b);
    expect(newerView(b, c)).toBe(c);
    expect(newerView(c, b)).toBe(c);
    expect(newerView(null, a)).toBe(a);
    expect(newerView(a, null)).toBe(a);
  });
});

const probe = (overrides: Partial<LocalProbe> = {}): LocalProbe => ({
  ...NO_SERVER_FACTS,
  postmaster_running: true,
  accepting_connections: true,
  in_recovery: false,
  system_identifier: '7300000000000000001',
  timeline: 2,
  current_lsn: '0/6000000',
  synchronous_standby_names: 'ANY 1 (node2, node3)',
  data_directory_writable: true,
  error: null,
  ...overrides,
});

const down: LocalProbe = { ...NO_SERVER_FACTS, postmaster_running: false, accepting_connections: false, data_directory_writable: null, error: 'connection refused' };

describe('serverState', () => {
  it('reports a crashed server with what it last said of its identity and position, down since the first report of the outage', () => {
    const before = primaryServer({ timeline: 2, current_lsn: '0/6000000', synchronous_standby_names: 'ANY 1 (node2, node3)' });
    const first = serverState(down, before, before, NOW, false);
    expect(first).toMatchObject({ postmaster_running: false, accepting_connections: false, down_since: NOW, last_accepting_at: before.last_accepting_at });
    expect(first).toMatchObject({ system_identifier: before.system_identifier, timeline: 2, current_lsn: '0/6000000', synchronous_standby_names: 'ANY 1 (node2, node3)' });
    expect(serverState(down, first, first, NOW + 5000, false).down_since).toBe(NOW);
  });

  it('keeps what a primary last said of itself when it accepts a connection but its state query fails (a loaded host)', () => {
    const before = serverState(probe(), null, null, NOW, false);
    const slow: LocalProbe = { ...NO_SERVER_FACTS, postmaster_running: true, accepting_connections: true, data_directory_writable: true, error: 'reading the server state: timeout' };
    const s = serverState(slow, before, before, NOW + 1000, false);
    expect(s).toMatchObject({ accepting_connections: true, in_recovery: false, system_identifier: '7300000000000000001', timeline: 2, current_lsn: '0/6000000' });
    // With nothing known before, nothing is made up.
    expect(serverState(slow, null, null, NOW, false)).toMatchObject({ in_recovery: null, system_identifier: null });
  });

  it('reports a running server as it answers, and the fence as the daemon knows it', () => {
    const s = serverState(probe(), null, null, NOW, true);
    expect(s).toMatchObject({ accepting_connections: true, last_accepting_at: NOW, down_since: null, in_recovery: false, timeline: 2, fenced: true });
  });

  it('says since when a running standby has not streamed, keeps it while that lasts, and clears it when it stops being a running standby', () => {
    const standby = (status: string | null): LocalProbe => probe({ in_recovery: true, wal_receiver_status: status });
    const first = serverState(standby('waiting'), null, null, NOW, false);
    expect(first.not_streaming_since).toBe(NOW);
    const still = serverState(standby(null), first, first, NOW + 30_000, false);
    expect(still.not_streaming_since).toBe(NOW);
    // A probe that could not ask the server keeps the stretch going; a stopped server ends it.
    const slow: LocalProbe = { ...NO_SERVER_FACTS, postmaster_running: true, accepting_connections: false, data_directory_writable: true, error: 'timeout' };
    expect(serverState(slow, still, still, NOW + 31_000, false).not_streaming_since).toBe(NOW);
    expect(serverState(down, still, still, NOW + 31_000, false).not_streaming_since).toBeNull();
    // Streaming again ends the stretch only once it has lasted (the next test).
    expect(serverState(standby('streaming'), still, still, NOW + 32_000, false).not_streaming_since).toBe(NOW);
    expect(serverState(probe(), still, still, NOW + 32_000, false).not_streaming_since).toBeNull();
  });

  it('keeps the stretch without streaming through "streaming" blips, and ends it once streaming has lasted 30 s', () => {
    const standby = (status: string | null): LocalProbe => probe({ in_recovery: true, wal_receiver_status: status });
    let s = serverState(standby('waiting'), null, null, NOW, false);
    // A receiver that cannot follow the new timeline: connects, reads the history, drops; for minutes.
    for (let t = 2_000; t < 120_000; t += 4_000) {
      s = serverState(standby(t % 8_000 === 2_000 ? 'streaming' : 'waiting'), s, s, NOW + t, false);
      expect(s.not_streaming_since, `at +${t} ms`).toBe(NOW);
    }
    // Then it really streams: the stretch ends once that has lasted STREAMING_SETTLE_MS, not before.
    const start = NOW + 120_000;
    s = serverState(standby('streaming'), s, s, start, false);
    expect(s).toMatchObject({ streaming_since: start, not_streaming_since: NOW });
    s = serverState(standby('streaming'), s, s, start + STREAMING_SETTLE_MS - 1, false);
    expect(s.not_streaming_since).toBe(NOW);
    s = serverState(standby('streaming'), s, s, start + STREAMING_SETTLE_MS, false);
    expect(s).toMatchObject({ streaming_since: start, not_streaming_since: null });
    // A standby that streams from the start never had a stretch to keep.
    expect(serverState(standby('streaming'), null, null, NOW, false)).toMatchObject({ streaming_since: NOW, not_streaming_since: null });
    expect(serverState(probe(), s, s, NOW, false)).toMatchObject({ streaming_since: null, not_streaming_since: null });
  });

  it('names the local server events only when availability changes', () => {
    const up = serverState(probe(), null, null, NOW, false);
    const gone = serverState(down, up, up, NOW, false);
    expect(localTransition(null, up)).toBeNull();
    expect(localTransition(up, gone)).toBe('disconnected');
    expect(localTransition(gone, gone)).toBeNull();
    expect(localTransition(gone, up)).toBe('reconnected');
  });
});

describe('nextReachability', () => {
  const node2 = { node_id: 2, node_name: 'node2' };
  const node3 = { node_id: 3, node_name: 'node3' };

  it('counts consecutive failures and keeps the last success', () => {
    const first = nextReachability(new Map(), [{ node: node2, ok: true, detail: '' }], new Set([2]), NOW);
    const second = nextReachability(first.reach, [{ node: node2, ok: false, detail: 'timeout' }], new Set([2]), NOW + 1000);
    const third = nextReachability(second.reach, [{ node: node2, ok: false, detail: 'timeout' }], new Set([2]), NOW + 2000);
    expect(third.reach.get(2)).toEqual({ node_id: 2, ok: false, checked_at: NOW + 2000, last_ok_at: NOW, failures: 2 });
  });

  it('reports a disconnect and a reconnect of the upstream or primary only, and never for a first check', () => {
    const first = nextReachability(new Map(), [{ node: node2, ok: false, detail: 'refused' }, { node: node3, ok: true, detail: '' }], new Set([2]), NOW);
    expect(first.changes).toEqual([]);
    const ok = nextReachability(first.reach, [{ node: node2, ok: true, detail: '' }, { node: node3, ok: false, detail: 'refused' }], new Set([2]), NOW + 1000);
    expect(ok.changes).toEqual([{ node: node2, change: 'reconnected', detail: '' }]);
    const lost = nextReachability(ok.reach, [{ node: node2, ok: false, detail: 'timeout' }, { node: node3, ok: false, detail: 'refused' }], new Set([2]), NOW + 2000);
    expect(lost.changes).toEqual([{ node: node2, change: 'disconnected', detail: 'timeout' }]);
  });
});

describe('what a heartbeat reports and when', () => {
  it('is due when the report changed or the interval passed, not otherwise', () => {
    const sig = signature(primaryServer(), [reach(2, true)]);
    expect(heartbeatDue(sig, sig, 10_000, 9_000, 5000)).toBe(false);
    expect(heartbeatDue(sig, sig, 14_000, 9_000, 5000)).toBe(true);
    expect(heartbeatDue(signature(primaryServer(), [reach(2, false)]), sig, 10_000, 9_000, 5000)).toBe(true);
    // Times and LSNs move every tick; they alone do not make a heartbeat due.
    expect(signature(primaryServer({ current_lsn: '0/7000000', last_accepting_at: NOW }), [reach(2, true, NOW)])).toBe(sig);
  });

  it.each([
    ['a healthy primary', primaryServer(), [reach(2, true)], 'primary', 1, false],
    ['a healthy standby', standbyServer(1), [reach(1, true)], 'standby', 1, false],
    ['a server that is down', primaryServer({ postmaster_running: false, accepting_connections: false }), [], 'primary', 1, true],
    ['a fenced server', standbyServer(1, { fenced: true }), [], 'standby', 1, true],
    ['an unwritable data directory', primaryServer({ data_directory_writable: false }), [], 'primary', 1, true],
    ['a failed check of another node', standbyServer(1), [reach(1, false)], 'standby', 1, true],
    ['a primary record whose server is in recovery', standbyServer(2), [], 'primary', 1, true],
    ['a server out of recovery that the cluster does not name primary', primaryServer(), [], 'standby', 2, true],
  ] as const)('flags attention for %s: %s', (_what, server, reachability, type, clusterPrimary, expected) => {
    expect(attention(server, reachability, { type }, { primary_node_id: clusterPrimary }, type === 'primary' ? 1 : 3)).toBe(expected);
  });

  it('backs off from 500 ms, doubling, to a quarter of the lease on a primary and 30 s elsewhere', () => {
    const steps = (primary: boolean): number[] => {
      const out: number[] = [];
      let ms = 0;
      for (let i = 0; i < 8; i++) out.push((ms = nextBackoffMs(ms, primary, 20_000)));
      return out;
    };
    expect(steps(true)).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    expect(steps(false)).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(nextBackoffMs(500, true, 2000)).toBe(1000);
  });
});

describe('judgeSync', () => {
  const row = (name: string, sync_state: ReplicationRow['sync_state'], flush_lsn = '0/6000000'): ReplicationRow => ({
    application_name: name,
    client_addr: '10.0.0.2',
    state: 'streaming',
    sync_state,
    sent_lsn: flush_lsn,
    write_lsn: flush_lsn,
    flush_lsn,
    replay_lsn: flush_lsn,
  });
  const facts = (overrides: Partial<SyncFacts> = {}): SyncFacts => ({
    server: primaryServer({ synchronous_standby_names: 'ANY 1 (node2, node3)', current_lsn: '0/6000000', replication: [] }),
    fenced: false,
    saved: undefined,
    justPromoted: false,
    noSyncSinceMono: null,
    progress: new Map(),
    nowMono: 100_000,
    downgradeAfterMs: 10_000,
    ...overrides,
  });

  it('waits sync_downgrade_after_secs with no synchronous standby before switching to asynchronous replication', () => {
    const first = judgeSync(facts());
    expect(first).toMatchObject({ action: 'none', noSyncSinceMono: 100_000 });
    expect(judgeSync(facts({ noSyncSinceMono: 100_000, nowMono: 109_999 }))).toMatchObject({ action: 'none', noSyncSinceMono: 100_000 });
    expect(judgeSync(facts({ noSyncSinceMono: 100_000, nowMono: 110_000 }))).toMatchObject({ action: 'downgrade', names: 'ANY 1 (node2, node3)', justPromoted: false, noSyncSinceMono: null });
  });

  it('switches a just-promoted primary at once: nothing can follow it yet', () => {
    expect(judgeSync(facts({ justPromoted: true }))).toMatchObject({ action: 'downgrade', names: 'ANY 1 (node2, node3)', justPromoted: true, noSyncSinceMono: null });
  });

  it('does nothing while a synchronous standby is connected, on a standby, on a fenced server, or with asynchronous replication configured', () => {
    const withSync = primaryServer({ synchronous_standby_names: 'ANY 1 (node2, node3)', replication: [row('node2', 'quorum')] });
    expect(judgeSync(facts({ server: withSync, noSyncSinceMono: 1 }))).toMatchObject({ action: 'none', noSyncSinceMono: null });
    expect(judgeSync(facts({ server: standbyServer(1), noSyncSinceMono: 1 }))).toMatchObject({ action: 'none', noSyncSinceMono: null });
    expect(judgeSync(facts({ fenced: true, justPromoted: true }))).toMatchObject({ action: 'none', noSyncSinceMono: null });
    expect(judgeSync(facts({ server: primaryServer({ synchronous_standby_names: '' }), justPromoted: true }))).toMatchObject({ action: 'none', noSyncSinceMono: null });
  });

  it('restores the saved setting once a standby it names is streaming and caught up, not before', () => {
    const behind = primaryServer({ synchronous_standby_names: '', current_lsn: '0/9000000', replication: [row('node2', 'async', '0/6000000')] });
    expect(judgeSync(facts({ server: behind, saved: 'ANY 1 (node2, node3)', noSyncSinceMono: 5 }))).toMatchObject({ action: 'none', noSyncSinceMono: 5 });
    const other = primaryServer({ synchronous_standby_names: '', current_lsn: '0/6000000', replication: [row('node4', 'async')] });
    expect(judgeSync(facts({ server: other, saved: 'ANY 1 (node2, node3)' }))).toMatchObject({ action: 'none' });
    const caught = primaryServer({ synchronous_standby_names: '', current_lsn: '0/6000000', replication: [row('node3', 'async')] });
    expect(judgeSync(facts({ server: caught, saved: 'ANY 1 (node2, node3)' }))).toMatchObject({ action: 'restore', names: 'ANY 1 (node2, node3)', noSyncSinceMono: null });
  });

  it('counts a synchronous standby that stays connected but acknowledges nothing as gone (a frozen standby holds every commit)', () => {
    // node3 is connected as a quorum standby, behind the primary, its flush LSN standing still.
    const stalled = primaryServer({ synchronous_standby_names: 'ANY 1 (node2, node3)', current_lsn: '0/6100000', replication: [row('node3', 'quorum', '0/6000000')] });
    const t0 = judgeSync(facts({ server: stalled }));
    expect(t0).toMatchObject({ action: 'none', noSyncSinceMono: null });
    const t5 = judgeSync(facts({ server: stalled, progress: t0.progress, nowMono: 105_000 }));
    expect(t5).toMatchObject({ action: 'none', noSyncSinceMono: null });
    // Ten seconds after its flush LSN last moved: gone, and gone since then, so no second wait.
    const t10 = judgeSync(facts({ server: stalled, progress: t5.progress, nowMono: 110_000 }));
    expect(t10).toMatchObject({ action: 'downgrade', names: 'ANY 1 (node2, node3)', justPromoted: false });
    // Flushing further, or caught up with the primary, is acknowledging.
    const moving = primaryServer({ synchronous_standby_names: 'ANY 1 (node2, node3)', current_lsn: '0/6100000', replication: [row('node3', 'quorum', '0/6080000')] });
    expect(judgeSync(facts({ server: moving, progress: t5.progress, nowMono: 110_000 }))).toMatchObject({ action: 'none', noSyncSinceMono: null });
    const idle = primaryServer({ synchronous_standby_names: 'ANY 1 (node2, node3)', current_lsn: '0/6000000', replication: [row('node3', 'quorum', '0/6000000')] });
    expect(judgeSync(facts({ server: idle, progress: t5.progress, nowMono: 500_000 }))).toMatchObject({ action: 'none', noSyncSinceMono: null });
  });
});
