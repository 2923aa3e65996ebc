import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../core/model.js';
import type { HostCommands } from '../../core/ports.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { FAILOVER_STEPS } from '../../functions/sagas/failover.js';
import { startNodeAction } from '../../functions/sagas/node-actions.js';
import { SWITCHOVER_STEPS } from '../../functions/sagas/switchover.js';
import { parseSwitchoverRequest } from '../../functions/switchover.js';
import { switchoverEntry } from '../../functions/switchover-entry.js';
import { ControllerFixture, invocation, reactingHosts } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

/**
 * The controller's liveness paths against moto (docs/controller.md, "Operations never blind the
 * engine" and "Stuck states"), each made to go wrong: the new primary of a failover or switchover
 * dies after every step, a live owner is ended by a rival, a rejoin's upstream dies before it acts,
 * a stale follow-up would stop the last candidate, racing evaluators end the same operation.
 */
let f: ControllerFixture;
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
});
afterAll(async () => {
  await f?.stop();
});

async function seed(prefix: string, build: (b: SnapshotBuilder) => SnapshotBuilder): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `${prefix}-${counter}`;
  const snapshot = withClusterId(build(new SnapshotBuilder({ now: f.clock.now() })).build(), id);
  await f.seed(snapshot);
  await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
  return { id, snapshot };
}

/** Node `n`'s server dies: its own agent says so, and every other agent fails to reach it. */
async function kill(id: string, n: number): Promise<void> {
  await f.patchHeartbeat(id, n, (hb) => ({ ...hb, server: hb.server && { ...hb.server, postmaster_running: false, accepting_connections: false, down_since: f.clock.now() - 100 } }));
  const loaded = (await f.store.load(id))?.snapshot;
  for (const hb of loaded?.heartbeats ?? []) {
    if (hb.node_id === n) continue;
    const now = f.clock.now();
    await f.patchHeartbeat(id, hb.node_id, (h) => ({
      ...h,
      reachability: [...h.reachability.filter((r) => r.node_id !== n), { node_id: n, ok: false, checked_at: now, last_ok_at: now - 5000, failures: 3 }],
    }));
  }
}

async function sent(id: string): Promise<string[]> {
  return (await f.commands()).filter((c) => c.parameters.ClusterId === id).map((c) => `${c.documentName.replace('pgvigil-', '')}:${c.parameters.NodeId}`);
}

/**
 * The agents report again, as they would a moment later: every heartbeat re-sent now, and each
 * agent's check of every other node made now (reached when that node's server runs).
 */
async function report(id: string): Promise<void> {
  const s = (await f.store.load(id))?.snapshot;
  const now = f.clock.now();
  const up = new Map((s?.heartbeats ?? []).map((h) => [h.node_id, h.server?.postmaster_running === true && h.server.accepting_connections]));
  for (const hb of s?.heartbeats ?? []) {
    const checks = [...up].filter(([n]) => n !== hb.node_id).map(([n, ok]) => {
      const before = hb.reachability.find((r) => r.node_id === n);
      return { node_id: n, ok, checked_at: now, last_ok_at: ok ? now : (before?.last_ok_at ?? null), failures: ok ? 0 : (before?.failures ?? 0) + 1 };
    });
    await f.store.putHeartbeat({ ...hb, seq: hb.seq + 1, sent_at: now, reachability: checks }, true);
  }
}

/** An invocation that dies after `step`, and node `n`'s server with it. */
function dyingWith(id: string, n: number, step: string) {
  return invocation({
    crashAfter: async (s) => {
      if (s !== step) return;
      await kill(id, n);
      throw new Error(`owner died after ${s}`);
    },
  });
}

/** Evaluates until the cluster has settled (no operation), the agents reporting in between, passing owners' deadlines when needed. */
async function settle(id: string): Promise<void> {
  for (let i = 0; i < 12; i++) {
    await report(id);
    const r = await evaluateCluster(f.deps(), invocation(), id);
    const op = (await f.store.load(id))?.snapshot.cluster.operation;
    if (!op && r.saga === null && r.code !== 'wait') return;
    if (r.saga === 'in_progress') f.clock.advance(25_000);
  }
}

/** The nodes whose own agent reports them writable, and the primary the record names. */
async function writable(id: string): Promise<{ nodes: number[]; recorded: number | null }> {
  const s = (await f.store.load(id))?.snapshot;
  const nodes = (s?.heartbeats ?? []).filter((h) => h.server?.postmaster_running && h.server.in_recovery === false && !h.server.fenced).map((h) => h.node_id);
  return { nodes, recorded: s?.cluster.primary_node_id ?? null };
}

describe('a failover whose candidate or new primary dies after each step', () => {
  for (const step of FAILOVER_STEPS.filter((s) => s !== 'finish')) {
    it(`ends with one writable primary when node 2 dies after "${step}" and the owner with it`, async () => {
      const { id } = await seed('fo-dies', (b) => b.crashPrimary());
      await expect(
        evaluateCluster(
          f.deps(),
          dyingWith(id, 2, step),
          id,
        ),
      ).rejects.toThrow(`owner died after ${step}`);
      await settle(id);
      const w = await writable(id);
      const promotes = (await sent(id)).filter((c) => c.startsWith('Promote'));
      // Node 2 was sent one promote at most (the round it was the candidate of).
      expect(promotes.filter((c) => c === 'Promote:2').length).toBeLessThanOrEqual(1);
      const events = (await f.store.listEvents(id)).map((e) => e.event);
      if (FAILOVER_STEPS.indexOf(step) < FAILOVER_STEPS.indexOf('verify_promotion')) {
        // Before node 2 was recorded primary: the engine ended the round at once, without waiting
        // for its owner's deadline, and the next round promoted node 3.
        expect(events).toContain('operation_ended');
        expect(w).toEqual({ nodes: [3], recorded: 3 });
        expect(promotes.filter((c) => c === 'Promote:3')).toHaveLength(1);
      } else {
        // Recorded primary and dead: node 3, which never followed it, is on the old timeline, so
        // node 2 itself is restarted in place (its agent reports and it holds every write).
        expect(w.nodes).toHaveLength(1);
        expect(w.recorded).toBe(w.nodes[0]);
        expect(events).toContain('stuck_state_recovery');
      }
    });
  }
});

describe('a switchover whose candidate or new primary dies after each step', () => {
  for (const step of SWITCHOVER_STEPS.filter((s) => s !== 'finish')) {
    it(`ends with one writable primary when node 2 dies after "${step}" and the owner with it`, async () => {
      const { id } = await seed('so-dies', (b) => b);
      await expect(
        switchoverEntry(
          f.deps(),
          dyingWith(id, 2, step),
          parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, siblings_follow: true }),
        ),
      ).rejects.toThrow(`owner died after ${step}`);
      await settle(id);
      const w = await writable(id);
      expect(w.nodes).toHaveLength(1);
      expect(w.recorded).toBe(w.nodes[0]);
      const cluster = (await f.store.load(id))?.snapshot.cluster;
      expect(cluster).toMatchObject({ paused: false, operation: null });
      // Before the promote step (after demote_primary the saga is at wait_catchup) it is rolled back
      // and the old primary restarted: nothing was promoted. From the promote step on it never is.
      if (step === 'demote_primary') {
        expect(w.nodes).toEqual([1]);
        expect((await sent(id)).filter((c) => c.startsWith('Promote'))).toEqual([]);
      }
    });
  }
});

describe('an operation whose live owner waits while its candidate dies', () => {
  it('is ended by a rival evaluator, whose next round promotes another standby, and the owner stops at its next write', async () => {
    const { id } = await seed('live-owner', (b) => b.crashPrimary());
    // Node 2 is sent promote but dies before it answers: its simulated host does not promote it.
    const base = reactingHosts(f.hosts(), f, (a) => !(a.action === 'promote' && a.nodeId === 2));
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let promoteSent: () => void = () => undefined;
    const promoteSeen = new Promise<void>((r) => (promoteSent = r));
    let promoteCommand = '';
    const hosts: HostCommands = {
      send: async (instance, action) => {
        const cmd = await base.send(instance, action);
        if (action.action === 'promote' && action.nodeId === 2) {
          promoteCommand = cmd;
          promoteSent();
        }
        return cmd;
      },
      // The owner's wait for node 2's promote answers only once released.
      wait: async (cmd, instance, timeout) => {
        if (cmd === promoteCommand) await held;
        return base.wait(cmd, instance, timeout);
      },
    };
    const owner = evaluateCluster(f.deps({ hosts }), invocation(), id);
    await promoteSeen;
    await kill(id, 2);
    const rival = await evaluateCluster(f.deps(), invocation(), id);
    expect(rival.code).toBe('end_operation');
    expect(rival.saga).toBe('ended');
    release();
    expect((await owner).saga).toBe('lost_ownership');
    const events = await f.store.listEvents(id);
    expect(events.filter((e) => e.event === 'operation_ended')).toHaveLength(1);
    expect(events.find((e) => e.event === 'operation_ended')?.details).toMatch(/its candidate node 2 \(pg2\) reports that its PostgreSQL server is not running; a promote may be in flight: fence the candidate/);
    // The candidate the promote may have reached is fenced before another standby is promoted.
    const docs = await sent(id);
    expect(docs.indexOf('Fence:2')).toBeGreaterThan(-1);
    expect(docs.indexOf('Promote:3')).toBeGreaterThan(docs.indexOf('Fence:2'));
    expect(await writable(id)).toEqual({ nodes: [3], recorded: 3 });
  });
});

describe('racing evaluators ending the same operation', () => {
  it('end it once, record it once and start one new round', async () => {
    const { id } = await seed('race-end', (b) => b.crashPrimary());
    await expect(evaluateCluster(f.deps(), dyingWith(id, 2, 'rerank'), id)).rejects.toThrow('owner died after rerank');
    const results = await Promise.all(Array.from({ length: 12 }, () => evaluateCluster(f.deps(), invocation(), id)));
    expect(results.filter((r) => r.saga === 'ended')).toHaveLength(1);
    const events = await f.store.listEvents(id);
    expect(events.filter((e) => e.event === 'operation_ended')).toHaveLength(1);
    expect(events.filter((e) => e.event === 'failover_started')).toHaveLength(2);
    expect((await sent(id)).filter((c) => c.startsWith('Promote'))).toEqual(['Promote:3']);
    expect(await writable(id)).toEqual({ nodes: [3], recorded: 3 });
  });
});

describe('follow-ups that must not act', () => {
  it('does not send a rejoin whose upstream died between the decision and the step, and leaves a cooldown for that rejoin only', async () => {
    const { id } = await seed('rejoin-upstream', (b) => b.settings({ auto_rejoin: true }).node(3, { fenced: true, active: false }).server(3, { fenced: true, postmaster_running: false, accepting_connections: false }));
    const deps = f.deps();
    const store = deps.store;
    deps.store = Object.assign(Object.create(store) as typeof store, {
      async updateCluster(...args: Parameters<typeof store.updateCluster>) {
        const r = await store.updateCluster(...args);
        // The primary dies right after the rejoin was claimed, before its step runs.
        if (r.ok && args[2].operation?.kind === 'rejoin' && args[2].operation.step === 'rejoin') await kill(id, 1);
        return r;
      },
    });
    const result = await evaluateCluster(deps, invocation(), id);
    expect(result.code).toBe('rejoin');
    expect((await sent(id)).filter((c) => c.startsWith('Rejoin'))).toEqual([]);
    const rejoin = (await f.store.listEvents(id, { event: 'node_rejoin' }))[0];
    expect(rejoin).toMatchObject({ node_id: 3, successful: false });
    expect(rejoin?.details).toMatch(/not sent: its upstream node 1 is not a live primary right now/);
    expect((await f.store.load(id))?.snapshot.cluster.operation).toMatchObject({ kind: 'rejoin', step: 'cooldown', candidate_node_id: 3 });
  });

  it('does not stop a running standby that is the last eligible candidate, even when a stale decision asks it to rejoin', async () => {
    const { id, snapshot } = await seed('last-candidate', (b) => b.node(3, { priority: 0 }));
    const outcome = await startNodeAction(f.deps(), invocation(), snapshot, { kind: 'rejoin', node_id: 2, upstream_node_id: 1, force_rewind: true });
    expect(outcome?.outcome).toBe('cooldown');
    expect(await sent(id)).toEqual([]);
    expect((await f.store.listEvents(id, { event: 'node_rejoin' }))[0]?.details).toMatch(/node 2 is running and is the last eligible candidate/);
  });

  it('does not stop the only synchronous standby either (the sync rule makes it the last eligible candidate too)', async () => {
    const { id, snapshot } = await seed('only-sync', (b) => b.synchronous([2]));
    const outcome = await startNodeAction(f.deps(), invocation(), snapshot, { kind: 'rejoin', node_id: 2, upstream_node_id: 1, force_rewind: true });
    expect(outcome?.outcome).toBe('cooldown');
    expect(await sent(id)).toEqual([]);
    expect((await f.store.listEvents(id, { event: 'node_rejoin' }))[0]?.details).toMatch(/node 2 is running and is the (last eligible candidate|only synchronous standby)/);
  });
});

describe('a fenced former primary already streaming from the primary', () => {
  it('is rejoined without a stop though it is the only synchronous standby: it would otherwise stay fenced, no failover candidate', async () => {
    const { id, snapshot } = await seed('attached-fenced', (b) =>
      b
        .synchronous([3])
        .node(3, { fenced: true, active: false })
        .server(3, { fenced: true, in_recovery: true, wal_receiver_status: 'streaming', wal_receiver_upstream_node_id: 1 }),
    );
    const outcome = await startNodeAction(f.deps(), invocation(), snapshot, { kind: 'rejoin', node_id: 3, upstream_node_id: 1, force_rewind: true });
    expect(outcome?.outcome).toBe('completed');
    expect(await sent(id)).toEqual(['Rejoin:3']);
    expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 3)).toMatchObject({ type: 'standby', upstream_node_id: 1, fenced: false, active: true });
    expect((await f.store.listEvents(id, { event: 'node_rejoin' }))[0]).toMatchObject({ node_id: 3, successful: true });
  });

  it('is still not stopped when it streams from another node than the rejoin\'s upstream (its agent would stop it)', async () => {
    const { id, snapshot } = await seed('attached-elsewhere', (b) =>
      b
        .synchronous([3])
        .node(3, { fenced: true, active: false })
        .server(3, { fenced: true, in_recovery: true, wal_receiver_status: 'streaming', wal_receiver_upstream_node_id: 2 }),
    );
    const outcome = await startNodeAction(f.deps(), invocation(), snapshot, { kind: 'rejoin', node_id: 3, upstream_node_id: 1, force_rewind: true });
    expect(outcome?.outcome).toBe('cooldown');
    expect(await sent(id)).toEqual([]);
    expect((await f.store.listEvents(id, { event: 'node_rejoin' }))[0]?.details).toMatch(/node 3 is running and is the only synchronous standby/);
  });
});

describe('stuck states the controller leaves by itself', () => {
  it('restarts a primary that fenced itself in place when no standby can be promoted, in a new term, and says why', async () => {
    const { id, snapshot } = await seed('restart', (b) => b.crashPrimary().server(1, { fenced: true }).node(2, { priority: 0 }).node(3, { priority: 0 }));
    const r = await evaluateCluster(f.deps(), invocation(), id);
    expect(r.code).toBe('restart_primary');
    expect(r.saga).toBe('completed');
    expect(await sent(id)).toEqual(['Unfence:1']);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ term: snapshot.cluster.term + 1, primary_node_id: 1, operation: null });
    const recovery = (await f.store.listEvents(id, { event: 'stuck_state_recovery' }))[0];
    expect(recovery?.details).toMatch(/^primary_down_no_candidate: restart node 1 \(pg1\) in place as the primary of a new term/);
    expect(await writable(id)).toEqual({ nodes: [1], recorded: 1 });
  });

  it('lifts a pause a switchover left behind, and records which and why', async () => {
    const { id } = await seed('pause-left', (b) => b.cluster({ paused: true, paused_by: 'switchover-gone' }));
    const r = await evaluateCluster(f.deps(), invocation(), id);
    expect(r.code).toBe('unpause');
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ paused: false, paused_by: null });
    expect((await f.store.listEvents(id, { event: 'cluster_unpaused' }))[0]?.details).toMatch(/^stuck state pause_outlived_operation: the cluster was paused by operation switchover-gone/);
  });

  it("never lifts an operator's pause", async () => {
    const { id } = await seed('pause-operator', (b) => b.cluster({ paused: true }));
    await evaluateCluster(f.deps(), invocation(), id);
    expect((await f.store.load(id))?.snapshot.cluster.paused).toBe(true);
  });

  it('puts the Elastic IP back on the serving primary in the sweep', async () => {
    const { id } = await seed('vip', (b) => b);
    await f.deps().vip.moveTo(f.allocationId, f.instances.get(3) ?? '');
    await evaluateCluster(f.deps(), invocation(), id, { sweep: true });
    expect(await f.deps().vip.current(f.allocationId)).toBe(f.instances.get(1));
    expect((await f.store.listEvents(id, { event: 'stuck_state_recovery' }))[0]?.details).toMatch(/^vip_elsewhere: Elastic IP .* led to i-/);
  });
});
