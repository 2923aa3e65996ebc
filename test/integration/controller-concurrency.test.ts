import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControllerDeps } from '../../functions/controller.js';
import { evaluateCluster, sweep, type EvaluationResult } from '../../functions/evaluator.js';
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

describe('a failover claim that loses to a concurrent write', () => {
  type Change = Parameters<ControllerDeps['store']['updateCluster']>[2];

  /** A conditional write that claims a failover (the saga's own writes carry no term). */
  const isClaim = (change: Change): boolean => change.operation?.kind === 'failover' && change.term !== undefined;

  /** The store of `deps`, with `before` run once, right before its first failover claim; returns the claims it saw. */
  function beforeFirstClaim(deps: ControllerDeps, before: () => Promise<void>): Change[] {
    const store = deps.store;
    const claims: Change[] = [];
    deps.store = Object.assign(Object.create(store) as typeof store, {
      async updateCluster(...args: Parameters<typeof store.updateCluster>) {
        if (isClaim(args[2])) {
          claims.push(args[2]);
          if (claims.length === 1) await before();
        }
        return store.updateCluster(...args);
      },
    });
    return claims;
  }

  it('decides again at once when the write that won claimed nothing, and claims and completes the failover in the same evaluation', async () => {
    const { id, term } = await crashedCluster('lost-to-write');
    const deps = f.deps();
    const claims = beforeFirstClaim(deps, async () => {
      // Another evaluation, deciding from an older view, writes its reported conditions: the
      // version moves, nothing is claimed.
      const c = (await f.store.load(id))?.snapshot.cluster;
      if (!c) throw new Error('no cluster');
      expect(await f.store.updateCluster(id, c.version, { reported_conditions: ['alarm:replication_lag:3'] }, f.clock.now())).toEqual({ ok: true });
    });
    const result = await evaluateCluster(deps, invocation(), id);
    expect(claims.map((c) => c.term)).toEqual([term + 1, term + 1]);
    expect(result).toMatchObject({ code: 'failover', saga: 'completed' });
    await expectFailedOverOnce(id, term);
  });

  it('does not claim again when the write that won was another evaluation claiming the failover', async () => {
    const { id, term } = await crashedCluster('lost-to-claim');
    let rival: Promise<EvaluationResult> | undefined;
    const deps = f.deps();
    const claims = beforeFirstClaim(deps, async () => {
      // A rival evaluation claims the failover first (and runs its saga on).
      const rivalDeps = f.deps();
      const rivalStore = rivalDeps.store;
      let landed!: (ok: boolean) => void;
      const claimed = new Promise<boolean>((resolve) => (landed = resolve));
      rivalDeps.store = Object.assign(Object.create(rivalStore) as typeof rivalStore, {
        async updateCluster(...args: Parameters<typeof rivalStore.updateCluster>) {
          const written = await rivalStore.updateCluster(...args);
          if (isClaim(args[2])) landed(written.ok);
          return written;
        },
      });
      rival = evaluateCluster(rivalDeps, invocation(), id);
      expect(await claimed).toBe(true);
    });
    const result = await evaluateCluster(deps, invocation(), id);
    expect(claims).toHaveLength(1);
    expect(result).toMatchObject({ code: 'failover', saga: 'started_elsewhere' });
    expect((await rival)?.saga).toBe('completed');
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
