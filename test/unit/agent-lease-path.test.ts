/**
 * The lease path (agent/daemon/lease.ts) on fake timers with a scripted store: the renewer's own
 * loop, the time limit of each attempt, what a refused renewal leads to, and the guard's deadline.
 * The same path against moto and a real server: test/integration/agent-lease*.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseGuard, LeaseRenewer, MAX_IN_FLIGHT, type LeaseStore } from '../../agent/daemon/lease.js';
import type { LeaseTimings } from '../../agent/daemon/policy.js';
import type { Logger } from '../../agent/log.js';
import type { LoadedCluster, RequestOptions, WriteResult } from '../../core/ports.js';
import { clusterRecord } from '../support/cli-cluster.js';

const T: LeaseTimings = { leaseMs: 4000, fenceLeadMs: 500, renewEveryMs: 500, attemptLimitMs: 1300 };

interface Call {
  term: number;
  at: number;
  signal: AbortSignal | undefined;
}

/** A store whose every answer the test scripts; by default it renews at once. */
class ScriptedStore implements LeaseStore {
  renewals: Call[] = [];
  loads = 0;
  record = clusterRecord('c1', { term: 3, primary_node_id: 1, version: 7 });
  answer: (call: Call) => Promise<WriteResult> = async () => ({ ok: true });

  async renewLease(_c: string, _n: number, term: number, _rvn: string, _now: number, options?: RequestOptions): Promise<WriteResult> {
    const call = { term, at: Date.now(), signal: options?.abortSignal };
    this.renewals.push(call);
    return this.answer(call);
  }

  async load(): Promise<LoadedCluster | undefined> {
    this.loads++;
    return { snapshot: { cluster: this.record, nodes: [], heartbeats: [] }, rejected: [] };
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const quiet: Logger = { log: () => undefined };

let store: ScriptedStore;
let lost: Array<{ at: number; why: string }>;
let guard: LeaseGuard;
let renewer: LeaseRenewer;
let eligible: boolean;

function start(): void {
  guard = new LeaseGuard({ timings: T, monotonic: () => Date.now(), onLost: (why) => void lost.push({ at: Date.now(), why }) });
  renewer = new LeaseRenewer({
    store,
    clusterId: 'c1',
    nodeId: 1,
    timings: T,
    log: quiet,
    now: () => Date.now(),
    monotonic: () => Date.now(),
    eligible: () => eligible,
    onRenewed: (sent) => guard.extend('renewal', sent),
  });
  renewer.observe(store.record);
  guard.primaryAt(Date.now());
  renewer.start();
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  store = new ScriptedStore();
  lost = [];
  eligible = true;
});

afterEach(async () => {
  guard.stop();
  await renewer.stop();
  vi.useRealTimers();
});

describe('the lease renewer', () => {
  it('renews every renewEveryMs, counted from when each renewal was sent, and never fences while renewals succeed', async () => {
    store.answer = async () => {
      await new Promise((r) => setTimeout(r, 300)); // a slow but successful store
      return { ok: true };
    };
    start();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(lost).toEqual([]);
    const gaps = store.renewals.slice(1).map((c, i) => c.at - (store.renewals[i] as Call).at);
    expect(Math.max(...gaps)).toBe(T.renewEveryMs);
    expect(renewer.stats.renewals).toBeGreaterThanOrEqual(39);
    // The fence is set from the last renewal's sending, not from its answer.
    const last = store.renewals.at(-2) as Call;
    const v = guard.verdict();
    expect(v).toMatchObject({ state: 'held' });
    expect(v.state === 'held' && v.fenceAtMono).toBeGreaterThanOrEqual(last.at + T.leaseMs - T.fenceLeadMs);
  });

  it('does not let an attempt that never answers hold up the next one, and aborts it at its time limit', async () => {
    let n = 0;
    store.answer = () => (++n === 2 ? never() : Promise.resolve({ ok: true }));
    start();
    await vi.advanceTimersByTimeAsync(T.renewEveryMs); // the second attempt starts and hangs
    const hung = store.renewals[1] as Call;
    await vi.advanceTimersByTimeAsync(T.renewEveryMs);
    expect(store.renewals).toHaveLength(3);
    expect((store.renewals[2] as Call).at - hung.at).toBe(T.renewEveryMs);
    expect(hung.signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(T.attemptLimitMs - T.renewEveryMs);
    expect(hung.signal?.aborted).toBe(true);
    expect(renewer.stats).toMatchObject({ abandoned: 1, failures: 1 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lost).toEqual([]);
  });

  it('waits for a slow answer instead of abandoning it, and counts the renewal from when it was sent', async () => {
    let n = 0;
    store.answer = async () => {
      const call = ++n;
      if (call === 2) await new Promise((r) => setTimeout(r, T.attemptLimitMs - 100)); // then everything stalls
      return call <= 2 ? { ok: true } : never();
    };
    start();
    const slowSent = 1_000_000 + T.renewEveryMs;
    await vi.advanceTimersByTimeAsync(T.renewEveryMs + T.attemptLimitMs);
    expect(renewer.stats).toMatchObject({ renewals: 2, abandoned: 0, lastSentMono: slowSent });
    await vi.advanceTimersByTimeAsync(T.leaseMs);
    expect(lost[0]?.at).toBe(slowSent + T.leaseMs - T.fenceLeadMs);
  });

  it('keeps the lease through two lost attempts in a row', async () => {
    let n = 0;
    store.answer = () => (++n === 2 || n === 3 ? never() : Promise.resolve({ ok: true }));
    start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(renewer.stats.abandoned).toBe(2);
    expect(lost).toEqual([]);
  });

  it('fences on time when every attempt after a success hangs: lease_secs after that success was sent, less the fence lead', async () => {
    let n = 0;
    store.answer = () => (++n === 1 ? Promise.resolve({ ok: true }) : never());
    start();
    const firstSent = (store.renewals[0] as Call).at;
    await vi.advanceTimersByTimeAsync(T.leaseMs - T.fenceLeadMs - 1);
    expect(lost).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.at).toBe(firstSent + T.leaseMs - T.fenceLeadMs);
    expect(lost[0]?.why).toMatch(/^lease not renewed for 3\.5 s \(lease_secs=4;/);
    // Every attempt older than the time limit was aborted; a few at most were in flight at once.
    const live = store.renewals.slice(1).filter((c) => !c.signal?.aborted);
    expect(live.every((c) => Date.now() - c.at <= T.attemptLimitMs)).toBe(true);
    expect(live.length).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(store.renewals.length).toBeGreaterThanOrEqual(6);
  });

  it('fences on time when the store fails at once (DynamoDB refuses connections), trying every renewEveryMs', async () => {
    let n = 0;
    store.answer = () => (++n === 1 ? Promise.resolve({ ok: true }) : Promise.reject(new Error('connect ECONNREFUSED')));
    start();
    await vi.advanceTimersByTimeAsync(T.leaseMs);
    expect(lost[0]?.at).toBe(1_000_000 + T.leaseMs - T.fenceLeadMs);
    expect(renewer.stats.failures).toBeGreaterThanOrEqual(6);
    expect(renewer.stats.abandoned).toBe(0);
  });

  it('stops renewing when a refusal shows another primary at a newer term, and the lease runs out', async () => {
    start();
    await vi.advanceTimersByTimeAsync(800); // renewed at 0 and 500 ms
    const movedAt = Date.now();
    store.record = clusterRecord('c1', { term: 4, primary_node_id: 2, version: 8 });
    store.answer = async (call) => (call.term === 4 ? { ok: true } : { ok: false, reason: 'condition_failed' });
    await vi.advanceTimersByTimeAsync(T.leaseMs);
    expect(renewer.stats.refusals).toBe(1);
    expect(store.renewals.filter((c) => c.at >= movedAt).map((c) => c.term)).toEqual([3]);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.at).toBe(1_000_500 + T.leaseMs - T.fenceLeadMs);
  });

  it('renews at once at the new term when a refusal shows this node still primary (a switchover claim raised the term)', async () => {
    start();
    await vi.advanceTimersByTimeAsync(800); // renewed at 0 and 500 ms
    store.record = clusterRecord('c1', { term: 4, primary_node_id: 1, version: 8 });
    store.answer = async (call) => (call.term === 4 ? { ok: true } : { ok: false, reason: 'condition_failed' });
    await vi.advanceTimersByTimeAsync(T.renewEveryMs);
    const refused = store.renewals.findIndex((c) => c.term === 3 && c.at > 1_000_800);
    expect(store.renewals[refused + 1]).toMatchObject({ term: 4, at: (store.renewals[refused] as Call).at });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lost).toEqual([]);
    expect(renewer.stats.refusals).toBe(1);
  });

  it('does not renew while the server is not an eligible primary, and renews at once when poked after a promotion', async () => {
    eligible = false;
    store.record = clusterRecord('c1', { term: 3, primary_node_id: 2, version: 7 });
    start();
    guard.notPrimary();
    await vi.advanceTimersByTimeAsync(5000);
    expect(store.renewals).toEqual([]);
    // Promoted: the record now names this node at a newer term; the renewer's last view does not.
    store.record = clusterRecord('c1', { term: 4, primary_node_id: 1, version: 9 });
    eligible = true;
    guard.primaryAt(Date.now());
    renewer.poke();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.loads).toBeGreaterThanOrEqual(1);
    expect(store.renewals).toMatchObject([{ term: 4, at: Date.now() }]);
  });
});

describe('the lease guard', () => {
  beforeEach(() => {
    store.answer = never;
  });

  it('fences from its own timer, without anyone calling check', async () => {
    eligible = false;
    start();
    await vi.advanceTimersByTimeAsync(T.leaseMs - T.fenceLeadMs);
    expect(lost.map((l) => l.at)).toEqual([1_000_000 + T.leaseMs - T.fenceLeadMs]);
  });

  it('fences at once when it is checked after its deadline (a timer that could not run on time)', () => {
    eligible = false;
    start();
    guard.stop();
    vi.setSystemTime(1_000_000 + 60_000);
    guard = new LeaseGuard({ timings: T, monotonic: () => Date.now(), onLost: (why) => void lost.push({ at: Date.now(), why }) });
    guard.primaryAt(1_000_000);
    expect(lost).toHaveLength(1);
  });

  it('lets another ground hold the lease exactly like a renewal would', async () => {
    eligible = false;
    start();
    await vi.advanceTimersByTimeAsync(3000);
    guard.extend('failsafe confirmation', Date.now());
    await vi.advanceTimersByTimeAsync(T.leaseMs - T.fenceLeadMs - 1);
    expect(lost).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(lost[0]?.why).toMatch(/counted from the latest failsafe confirmation/);
  });

  it('has nothing to fence once the server is no longer a primary', async () => {
    eligible = false;
    start();
    guard.notPrimary();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lost).toEqual([]);
  });
});
