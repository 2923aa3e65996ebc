import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateCluster, sweep } from '../../functions/evaluator.js';
import { FAILOVER_STEPS } from '../../functions/sagas/failover.js';
import { ControllerFixture, FAST_TIMINGS, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
});
afterAll(async () => {
  await f?.stop();
});

async function crashedCluster(prefix: string): Promise<{ id: string; term: number }> {
  counter += 1;
  const id = `${prefix}-${counter}`;
  const built = new SnapshotBuilder({ now: f.clock.now() }).crashPrimary().build();
  const snapshot = withClusterId(built, id);
  await f.seed(snapshot);
  return { id, term: snapshot.cluster.term };
}

async function sentFor(id: string, document: string) {
  return (await f.commands()).filter((c) => c.parameters.ClusterId === id && c.documentName === document);
}

async function expectFailedOverOnce(id: string, term: number): Promise<void> {
  const cluster = (await f.store.load(id))?.snapshot.cluster;
  expect(cluster).toMatchObject({ term: term + 1, primary_node_id: 2, operation: null });
  expect(await sentFor(id, 'pgvigil-Promote')).toHaveLength(1);
  expect(await sentFor(id, 'pgvigil-Follow')).toHaveLength(1);
  const events = await f.store.listEvents(id);
  expect(events.filter((e) => e.event === 'failover_started')).toHaveLength(1);
  expect(events.filter((e) => e.event === 'repmgrd_failover_promote')).toHaveLength(1);
}

describe('concurrent evaluators', () => {
  it('twenty invocations racing on one failing cluster run exactly one saga and send exactly one promote', async () => {
    const { id, term } = await crashedCluster('race');
    const results = await Promise.all(Array.from({ length: 20 }, () => evaluateCluster(f.deps(), invocation(), id)));
    const outcomes = results.map((r) => r.saga);
    expect(outcomes.filter((o) => o === 'completed')).toHaveLength(1);
    expect(outcomes.filter((o) => !(o === 'completed' || o === 'started_elsewhere' || o === 'in_progress' || o === null))).toEqual([]);
    await expectFailedOverOnce(id, term);
  });

  it('a sweep racing stream invocations on the same cluster still fails over once', async () => {
    const { id, term } = await crashedCluster('sweep-race');
    await Promise.all([sweep(f.deps(), invocation()), ...Array.from({ length: 5 }, () => evaluateCluster(f.deps(), invocation(), id))]);
    await expectFailedOverOnce(id, term);
  });
});

describe('an evaluator that dies in the middle of the failover saga', () => {
  for (const step of FAILOVER_STEPS) {
    it(`is replaced after its deadline and the failover completes exactly once (crash after "${step}")`, async () => {
      const { id, term } = await crashedCluster(`crash-${step.replaceAll('_', '-')}`);
      await expect(
        evaluateCluster(
          f.deps(),
          invocation({
            crashAfter: (s) => {
              if (s === step) throw new Error(`simulated crash after ${s}`);
            },
          }),
          id,
        ),
      ).rejects.toThrow(`simulated crash after ${step}`);

      // Before the owner's deadline nobody takes the saga over.
      const early = await evaluateCluster(f.deps(), invocation(), id);
      if (step !== 'finish') expect(early.saga).toBe('in_progress');

      f.clock.advance(10 * 60_000);
      await f.refreshHeartbeats(id); // the agents kept reporting meanwhile
      const resumed = await evaluateCluster(f.deps(), invocation(), id);
      if (step !== 'finish') expect(resumed.saga).toBe('completed');
      else expect(resumed.saga).toBeNull();
      await expectFailedOverOnce(id, term);
    });
  }
});

describe("the saga owner's lease", () => {
  const LEASE_MS = 1500;
  const timings = { ...FAST_TIMINGS, ownerLeaseMs: LEASE_MS };

  /** Host commands whose promote takes `ms` to answer (a slow promotion on a live owner). */
  function slowPromote(ms: number, deps = f.deps({ timings })) {
    const hosts = deps.hosts;
    deps.hosts = {
      send: (instance, action) => hosts.send(instance, action),
      async wait(cmd, instance, timeout) {
        if (instance === f.instances.get(2)) await new Promise((r) => setTimeout(r, ms));
        return hosts.wait(cmd, instance, timeout);
      },
    };
    return deps;
  }

  it('keeps a live owner whose step outlasts the lease: nobody takes the saga over while it renews', async () => {
    const { id, term } = await crashedCluster('owner-live');
    const running = evaluateCluster(slowPromote(4 * LEASE_MS), invocation(), id);
    const rivals: (string | null)[] = [];
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, LEASE_MS / 2));
      rivals.push((await evaluateCluster(f.deps({ timings }), invocation(), id)).saga);
    }
    expect((await running).saga).toBe('completed');
    expect(rivals.filter((r) => r !== 'in_progress' && r !== null)).toEqual([]);
    expect(rivals).toContain('in_progress');
    await expectFailedOverOnce(id, term);
  });

  it('hands the saga of an owner that stopped renewing to the next evaluator once the lease runs out, not after the step bound', async () => {
    const { id, term } = await crashedCluster('owner-dead');
    // An owner whose process froze right after the claim: none of its calls ever return again.
    let frozen = false;
    const deps = f.deps({ timings });
    const never = new Promise<never>(() => undefined);
    const store = deps.store;
    deps.store = new Proxy(store, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (frozen ? never : (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
    const owner = evaluateCluster(deps, invocation({ crashAfter: () => void (frozen = true) }), id);
    void owner.catch(() => undefined);
    for (let i = 0; i < 50 && !frozen; i++) await new Promise((r) => setTimeout(r, 20));
    expect(frozen).toBe(true);
    const early = await evaluateCluster(f.deps({ timings }), invocation(), id);
    expect(early.saga).toBe('in_progress');
    // The fence step's bound is seconds (fenceWaitMs + 30 s); the lease is 1.5 s.
    await new Promise((r) => setTimeout(r, LEASE_MS + 200));
    const next = await evaluateCluster(f.deps({ timings }), invocation(), id);
    expect(next.saga).toBe('completed');
    await expectFailedOverOnce(id, term);
  });
});
