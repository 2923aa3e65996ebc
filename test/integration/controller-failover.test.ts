import { DescribeAddressesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../core/model.js';
import type { HostCommandResult } from '../../core/ports.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
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

/** A cluster (primary 1, standbys 2 and 3, witness 4) whose primary's postmaster just crashed. */
async function crashedCluster(patch: (b: SnapshotBuilder) => SnapshotBuilder = (b) => b): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `failover-${counter}`;
  const b = patch(new SnapshotBuilder({ now: f.clock.now() })).crashPrimary();
  const built = b.build();
  const snapshot = withClusterId(built, id);
  await f.seed(snapshot);
  // The Elastic IP starts on the primary's instance.
  await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
  return { id, snapshot };
}

async function commandsFor(clusterId: string) {
  return (await f.commands()).filter((c) => c.parameters.ClusterId === clusterId);
}

describe('the failover saga against moto', () => {
  it('raises the term once, fences the old primary, promotes the best standby, moves the Elastic IP and makes the sibling follow', async () => {
    const { id, snapshot } = await crashedCluster();
    const before = snapshot.cluster.term;
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('failover');
    expect(result.saga).toBe('completed');

    const after = (await f.store.load(id))?.snapshot;
    expect(after?.cluster.term).toBe(before + 1);
    expect(after?.cluster.primary_node_id).toBe(2);
    expect(after?.cluster.operation).toBeNull();

    const sent = await commandsFor(id);
    const docs = sent.map((c) => `${c.documentName}:${c.parameters.NodeId}`);
    expect(docs).toEqual(['pgvigil-Fence:1', 'pgvigil-Promote:2', 'pgvigil-Follow:3']);
    const promote = sent.find((c) => c.documentName === 'pgvigil-Promote');
    expect(promote?.instanceId).toBe(f.instances.get(2));
    expect(promote?.parameters).toMatchObject({ ClusterId: id, NodeId: '2', Term: String(before + 1), ConfigFile: '/etc/pgvigil/repmgr.conf' });
    const follow = sent.find((c) => c.documentName === 'pgvigil-Follow');
    expect(follow?.parameters).toMatchObject({ NodeId: '3', UpstreamNodeId: '2', Term: String(before + 1) });
    expect(follow?.instanceId).toBe(f.instances.get(3));

    const address = await f.ec2.send(new DescribeAddressesCommand({ AllocationIds: [f.allocationId] }));
    expect(address.Addresses?.[0]?.InstanceId).toBe(f.instances.get(2));

    const nodes = new Map(after?.nodes.map((n) => [n.node_id, n]));
    expect(nodes.get(1)).toMatchObject({ active: false, fenced: true });
    expect(nodes.get(2)).toMatchObject({ type: 'primary', upstream_node_id: null, active: true });
    expect(nodes.get(3)).toMatchObject({ type: 'standby', upstream_node_id: 2 });

    const events = await f.store.listEvents(id);
    const names = events.map((e) => e.event);
    for (const e of ['failover_started', 'fence_applied', 'repmgrd_failover_promote', 'vip_moved', 'repmgrd_failover_follow']) expect(names).toContain(e);
    expect(names.indexOf('failover_started')).toBeLessThan(names.indexOf('repmgrd_failover_promote'));
    expect(events.every((e) => e.term === before + 1)).toBe(true);
    expect(events.find((e) => e.event === 'repmgrd_failover_promote')).toMatchObject({ node_id: 2, successful: true });

    const published = (await f.published()).filter((p) => p.attributes.cluster_id === id);
    const promoted = published.find((p) => p.attributes.event === 'repmgrd_failover_promote');
    expect(promoted?.attributes).toEqual({ event: 'repmgrd_failover_promote', cluster_id: id, node_id: '2', successful: 'true' });
    expect(promoted?.message).toMatchObject({ cluster_id: id, node_id: 2, event: 'repmgrd_failover_promote', term: before + 1 });
    expect(published.map((p) => p.attributes.event)).toEqual(expect.arrayContaining(['failover_started', 'fence_applied', 'vip_moved', 'repmgrd_failover_follow']));

    // The next evaluation finds a healthy cluster around the new primary and does nothing more.
    await f.refreshHeartbeats(id);
    const next = await evaluateCluster(f.deps(), invocation(), id);
    expect(next.saga).toBeNull();
    expect((await commandsFor(id)).length).toBe(3);
    expect((await f.store.load(id))?.snapshot.cluster.term).toBe(before + 1);
  });

  it('publishes only the events listed in event_notifications, but stores them all', async () => {
    const { id } = await crashedCluster((b) => b.settings({ event_notifications: ['repmgrd_failover_promote'] }));
    await evaluateCluster(f.deps(), invocation(), id);
    const published = (await f.published()).filter((p) => p.attributes.cluster_id === id);
    expect(published.map((p) => p.attributes.event)).toEqual(['repmgrd_failover_promote']);
    expect((await f.store.listEvents(id)).map((e) => e.event)).toContain('fence_applied');
  });

  it('stops the old primary instance when SSM does not confirm the fence (fence_mode=ssm-then-stop-instance)', async () => {
    const { id } = await crashedCluster();
    const deps = f.deps();
    const hosts = deps.hosts;
    deps.hosts = {
      send: (instance, action) => hosts.send(instance, action),
      wait: async (cmd, instance, timeout) =>
        instance === f.instances.get(1) ? { status: 'Undeliverable', exitCode: null, output: 'SSM: Undeliverable' } : hosts.wait(cmd, instance, timeout),
    };
    const result = await evaluateCluster(deps, invocation(), id);
    expect(result.saga).toBe('completed');
    const described = await f.ec2.send(new DescribeInstancesCommand({ InstanceIds: [f.instances.get(1) ?? ''] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toMatch(/stopping|stopped/);
    const fence = (await f.store.listEvents(id, { event: 'fence_applied' }))[0];
    expect(fence?.successful).toBe(true);
    expect(fence?.details).toMatch(/stop-instance.*StopInstances/);
    // Recorded, so that auto_rejoin can start it again once the new primary serves.
    expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 1)?.instance_stopped_at).toEqual(expect.any(Number));
  });

  it("moves the witness's upstream to the new primary, as `witness register` recorded it under the old one", async () => {
    const { id } = await crashedCluster((b) => b.node(4, { upstream_node_id: 1 }));
    expect((await evaluateCluster(f.deps(), invocation(), id)).saga).toBe('completed');
    const witness = (await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 4);
    expect(witness).toMatchObject({ type: 'witness', upstream_node_id: 2 });
  });

  it('leaves a cascaded standby (registered under another standby) on its upstream', async () => {
    const { id } = await crashedCluster((b) => b.addStandby(5, { upstream: 3, lsn: '0/5000000' }));
    await evaluateCluster(f.deps(), invocation(), id);
    const follows = (await commandsFor(id)).filter((c) => c.documentName === 'pgvigil-Follow').map((c) => c.parameters.NodeId);
    expect(follows).toEqual(['3']);
  });
});

/**
 * An invocation in whose round every standby leaves recovery while the old primary is being fenced
 * (patched right after disconnect_wal_receivers): the re-ranking finds no candidate and aborts.
 */
function noCandidateAfterFence(id: string) {
  return invocation({
    crashAfter: async (step) => {
      if (step !== 'disconnect_wal_receivers') return;
      for (const n of [2, 3]) await f.patchHeartbeat(id, n, (hb) => ({ ...hb, server: hb.server && { ...hb.server, in_recovery: false } }));
    },
  });
}

/** A cluster whose primary went silent 30 s ago with its lease expired (a dead or cut-off host). */
async function silentCluster(): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `failover-${counter}`;
  const snapshot = withClusterId(new SnapshotBuilder({ now: f.clock.now() }).silencePrimary(30_000).expireLease().build(), id);
  await f.seed(snapshot);
  await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
  return { id, snapshot };
}

/** The controller's host commands, with the old primary's (node 1's) SSM answer replaced. */
function withOldPrimaryAnswer(answer: (timeoutMs: number) => Promise<HostCommandResult>, order: string[]) {
  const deps = f.deps();
  const hosts = deps.hosts;
  deps.hosts = {
    async send(instance, action) {
      order.push(`send ${action.action}:${action.nodeId}`);
      return hosts.send(instance, action);
    },
    async wait(cmd, instance, timeout) {
      const r = instance === f.instances.get(1) ? await answer(timeout) : await hosts.wait(cmd, instance, timeout);
      order.push(`answer ${instance === f.instances.get(1) ? 'fence' : 'other'}:${r.status}`);
      return r;
    },
  };
  return deps;
}

describe('the fence of an old primary whose lease has expired', () => {
  it('is sent before the promotion, but the promotion does not wait for its answer; no answer in time stops the instance', async () => {
    const { id } = await silentCluster();
    const order: string[] = [];
    // The host is gone: SSM never answers, the wait runs out.
    const deps = withOldPrimaryAnswer(async (timeout) => {
      await new Promise((r) => setTimeout(r, Math.min(timeout, 200)));
      return { status: 'TimedOut', exitCode: null, output: 'still Pending' };
    }, order);
    const result = await evaluateCluster(deps, invocation(), id);
    expect(result.saga).toBe('completed');
    expect(order.indexOf('send fence:1')).toBe(0);
    expect(order.indexOf('send promote:2')).toBeGreaterThan(0);
    expect(order.indexOf('answer fence:TimedOut')).toBeGreaterThan(order.indexOf('send promote:2'));

    const described = await f.ec2.send(new DescribeInstancesCommand({ InstanceIds: [f.instances.get(1) ?? ''] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toMatch(/stopping|stopped/);
    const events = (await f.store.listEvents(id)).map((e) => e.event);
    expect(events.indexOf('fence_applied')).toBeGreaterThan(events.indexOf('repmgrd_failover_promote'));
    const fence = (await f.store.listEvents(id, { event: 'fence_applied' }))[0];
    expect(fence).toMatchObject({ node_id: 1, successful: true });
    expect(fence?.details).toMatch(/stop-instance: SSM did not confirm the fence.*lease had expired/);
    const after = (await f.store.load(id))?.snapshot;
    expect(after?.nodes.find((n) => n.node_id === 1)).toMatchObject({ active: false, fenced: true, instance_stopped_at: expect.any(Number) });
    expect(after?.cluster.primary_node_id).toBe(2);
  });

  it('records a confirmed SSM fence without stopping the instance when the agent answers', async () => {
    const { id } = await silentCluster();
    const order: string[] = [];
    const deps = withOldPrimaryAnswer(async () => ({ status: 'Success', exitCode: 0, output: 'NOTICE: node 1 fenced' }), order);
    const stopped: string[] = [];
    deps.fencer = { stop: async (instance) => void stopped.push(instance), start: async () => undefined };
    const result = await evaluateCluster(deps, invocation(), id);
    expect(result.saga).toBe('completed');
    expect(stopped).toEqual([]);
    const fence = (await f.store.listEvents(id, { event: 'fence_applied' }))[0];
    expect(fence).toMatchObject({ node_id: 1, successful: true });
    expect(fence?.details).toMatch(/^ssm: the agent confirmed the fence/);
    expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 1)?.instance_stopped_at).toBeNull();
  });

  it('is still collected when the round aborts before any promotion', async () => {
    const { id } = await silentCluster();
    const order: string[] = [];
    const deps = withOldPrimaryAnswer(async () => ({ status: 'Undeliverable', exitCode: null, output: 'SSM: Undeliverable' }), order);
    const stopped: string[] = [];
    deps.fencer = { stop: async (instance) => void stopped.push(instance), start: async () => undefined };
    const result = await evaluateCluster(deps, noCandidateAfterFence(id), id);
    expect(result.saga).toBe('cooldown');
    expect(order.filter((o) => o.startsWith('send promote'))).toEqual([]);
    expect(stopped).toEqual([f.instances.get(1)]);
    const events = (await f.store.listEvents(id)).map((e) => e.event);
    expect(events).toContain('fence_applied');
    expect(events).toContain('repmgrd_failover_aborted');
  });
});

describe('the fence of an old primary whose own agent reports its server down (lease not expired)', () => {
  it('is confirmed before the promotion is sent', async () => {
    const { id } = await crashedCluster();
    const order: string[] = [];
    const deps = withOldPrimaryAnswer(async () => ({ status: 'Success', exitCode: 0, output: 'NOTICE: node 1 fenced' }), order);
    await evaluateCluster(deps, invocation(), id);
    expect(order.slice(0, 3)).toEqual(['send fence:1', 'answer fence:Success', 'send promote:2']);
  });
});

describe('re-ranking after the fence', () => {
  it('promotes the standby that is ahead on fresh state, not the one chosen before fencing', async () => {
    const { id } = await crashedCluster();
    const deps = f.deps();
    const hosts = deps.hosts;
    deps.hosts = {
      async send(instance, action) {
        const cmd = await hosts.send(instance, action);
        // While the old primary was being fenced, node 3 received more WAL than node 2.
        if (action.action === 'fence') await f.patchHeartbeat(id, 3, (hb) => ({ ...hb, server: hb.server && { ...hb.server, receive_lsn: '0/5000F00', replay_lsn: '0/5000F00' } }));
        return cmd;
      },
      wait: (cmd, instance, timeout) => hosts.wait(cmd, instance, timeout),
    };
    const result = await evaluateCluster(deps, invocation(), id);
    expect(result.saga).toBe('completed');
    const docs = (await commandsFor(id)).map((c) => `${c.documentName.replace('pgvigil-', '')}:${c.parameters.NodeId}`);
    expect(docs).toEqual(['Fence:1', 'Promote:3', 'Follow:2']);
    expect((await f.store.load(id))?.snapshot.cluster.primary_node_id).toBe(3);
  });
});

describe('the re-ranking after the fence', () => {
  it('waits for a candidate whose heartbeat is only late (a loaded host), then promotes it: the round is not aborted', async () => {
    const { id, snapshot } = await crashedCluster();
    const s = snapshot.cluster.settings;
    let armed = false;
    let refreshed = false;
    const deps = f.deps();
    deps.clock = {
      now: () => f.clock.now(),
      async sleep(ms) {
        // The candidates' agents report again a moment into the re-ranking's wait.
        if (armed && !refreshed) {
          refreshed = true;
          for (const n of [2, 3]) await f.patchHeartbeat(id, n, (hb) => hb);
        }
        await f.clock.sleep(ms);
      },
    };
    const late = invocation({
      crashAfter: async (step) => {
        if (step !== 'disconnect_wal_receivers') return;
        // Both standbys' last heartbeats are a second past node_timeout_secs, within the silence limit.
        for (const n of [2, 3]) await f.patchHeartbeat(id, n, (hb) => ({ ...hb, sent_at: f.clock.now() - (s.node_timeout_secs * 1000 + s.clock_skew_margin_ms + 1000) }));
        armed = true;
      },
    });
    const result = await evaluateCluster(deps, late, id);
    expect(result.saga).toBe('completed');
    expect(refreshed).toBe(true);
    expect((await f.store.load(id))?.snapshot.cluster.primary_node_id).toBe(2);
    expect(await f.store.listEvents(id, { event: 'repmgrd_failover_aborted' })).toEqual([]);
  });
});

describe('standby_disconnect_on_failover', () => {
  it('stops every standby\'s WAL receiver and waits for the LSNs to settle before re-ranking and promoting', async () => {
    const { id } = await crashedCluster((b) => b.settings({ standby_disconnect_on_failover: true, sibling_nodes_disconnect_timeout: 5 }));
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.saga).toBe('completed');
    const docs = (await commandsFor(id)).map((c) => `${c.documentName.replace('pgvigil-', '')}:${c.parameters.NodeId}`);
    expect(docs[0]).toBe('Fence:1');
    expect(docs.slice(1, 3).sort()).toEqual(['DisconnectWalReceiver:2', 'DisconnectWalReceiver:3']);
    expect(docs.slice(3)).toEqual(['Promote:2', 'Follow:3']);
  });
});

describe('standby_disconnect_on_failover, aborted round', () => {
  it('reconnects the WAL receivers it stopped when the round aborts before any promotion', async () => {
    const { id } = await crashedCluster((b) => b.settings({ standby_disconnect_on_failover: true, sibling_nodes_disconnect_timeout: 5 }));
    const result = await evaluateCluster(f.deps(), noCandidateAfterFence(id), id);
    expect(result.saga).toBe('cooldown');
    const docs = (await commandsFor(id)).map((c) => `${c.documentName.replace('pgvigil-', '')}:${c.parameters.NodeId}`);
    expect(docs.filter((d) => d.startsWith('Promote'))).toEqual([]);
    expect(docs.filter((d) => d.startsWith('ReconnectWalReceiver')).sort()).toEqual(['ReconnectWalReceiver:2', 'ReconnectWalReceiver:3']);
    expect(docs.indexOf('ReconnectWalReceiver:2')).toBeGreaterThan(docs.indexOf('DisconnectWalReceiver:2'));
  });
});

describe('promotions that must not happen', () => {
  it('does not fail over while a silent primary holds a fresh lease', async () => {
    counter += 1;
    const id = `failover-${counter}`;
    const built = new SnapshotBuilder({ now: f.clock.now() }).silencePrimary(30_000).build();
    await f.seed({
      cluster: { ...built.cluster, cluster_id: id, lease_observation: { rvn: 'rvn-0001', first_seen_at: f.clock.now() - 1000 } },
      nodes: built.nodes.map((n) => ({ ...n, cluster_id: id })),
      heartbeats: built.heartbeats.map((h) => ({ ...h, cluster_id: id })),
    });
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('wait');
    expect(await commandsFor(id)).toEqual([]);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ term: built.cluster.term, operation: null });
  });

  it('does not fail over when the primary renews its lease between the read and the claim', async () => {
    const { id, snapshot } = await silentCluster();
    const deps = f.deps();
    const store = deps.store;
    let claims = 0;
    deps.store = Object.assign(Object.create(store) as typeof store, {
      async updateCluster(...args: Parameters<typeof store.updateCluster>) {
        // The "silent" primary was only slow: its renewal lands just before the claim.
        if (args[2].operation && ++claims === 1) {
          expect(await store.renewLease(id, 1, snapshot.cluster.term, 'rvn-late', f.clock.now())).toEqual({ ok: true });
        }
        return store.updateCluster(...args);
      },
    });
    const result = await evaluateCluster(deps, invocation(), id);
    // The claim lost to the renewal; deciding again at once, the evaluation sees the renewed lease
    // (and records its observation) and waits.
    expect(claims).toBe(1);
    expect(result).toMatchObject({ code: 'wait', saga: null });
    expect(await commandsFor(id)).toEqual([]);
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after).toMatchObject({ term: snapshot.cluster.term, primary_node_id: 1, operation: null });
    expect(after?.lease_observation?.rvn).toBe('rvn-late');
  });

  it("writes none of the evaluation's own writes a claim carried when it loses to a renewal, then decides again on the renewed lease", async () => {
    // A lease not observed yet (an observation to write) and a stale alarm (a condition to clear):
    // both ride in the claim's conditional write, which must still lose to the renewal.
    const { id, snapshot } = await crashedCluster((b) => b.renewLease('rvn-0002').cluster({ reported_conditions: ['alarm:replication_lag:3'] }));
    const deps = f.deps();
    const store = deps.store;
    const claims: Parameters<typeof store.updateCluster>[2][] = [];
    let loads = 0;
    let afterLostClaim: { cluster: ClusterSnapshot['cluster'] | undefined; events: string[] } | undefined;
    deps.store = Object.assign(Object.create(store) as typeof store, {
      async updateCluster(...args: Parameters<typeof store.updateCluster>) {
        if (args[2].operation?.kind === 'failover' && args[2].term !== undefined) {
          claims.push(args[2]);
          if (claims.length === 1) expect(await store.renewLease(id, 1, snapshot.cluster.term, 'rvn-late', f.clock.now())).toEqual({ ok: true });
        }
        return store.updateCluster(...args);
      },
      async load(...args: Parameters<typeof store.load>) {
        // The second read is the evaluation deciding again: what the lost claim's round left.
        if (++loads === 2) afterLostClaim = { cluster: (await store.load(id))?.snapshot.cluster, events: (await store.listEvents(id)).map((e) => e.event) };
        return store.load(...args);
      },
    });
    const result = await evaluateCluster(deps, invocation(), id);
    expect(claims[0]).toMatchObject({ term: snapshot.cluster.term + 1, lease_observation: { rvn: 'rvn-0002' }, reported_conditions: expect.not.arrayContaining(['alarm:replication_lag:3']) });
    expect(afterLostClaim?.cluster).toMatchObject({ term: snapshot.cluster.term, operation: null, reported_conditions: ['alarm:replication_lag:3'], lease_observation: snapshot.cluster.lease_observation });
    expect(afterLostClaim?.events).not.toContain('failover_started');
    expect(afterLostClaim?.events).not.toContain('replication_alarm');
    // The renewal changed nothing the engine fails over for (the postmaster is down): the second
    // claim, on the renewed lease, carries the observation of it and wins.
    expect(claims).toHaveLength(2);
    expect(claims[1]).toMatchObject({ term: snapshot.cluster.term + 1, lease_observation: { rvn: 'rvn-late' } });
    expect(result).toMatchObject({ code: 'failover', saga: 'completed' });
    const events = (await f.store.listEvents(id)).map((e) => e.event);
    expect(events.filter((e) => e === 'failover_started')).toHaveLength(1);
    expect(events.filter((e) => e === 'replication_alarm')).toHaveLength(1);
  });

  it('claims a failover with the first write of its evaluation, then records what the evaluation reported', async () => {
    const { id, snapshot } = await crashedCluster((b) => b.renewLease('rvn-0002').cluster({ reported_conditions: ['alarm:replication_lag:3'] }));
    const deps = f.deps();
    const store = deps.store;
    const writes: string[] = [];
    const record = (what: string) => writes.push(what);
    deps.store = Object.assign(Object.create(store) as typeof store, {
      async updateCluster(...args: Parameters<typeof store.updateCluster>) {
        record(args[2].operation ? `claim:${args[2].operation.step}` : 'cluster');
        return store.updateCluster(...args);
      },
      async putLeaseObservation(...args: Parameters<typeof store.putLeaseObservation>) {
        record('lease_observation');
        return store.putLeaseObservation(...args);
      },
      async appendEvent(...args: Parameters<typeof store.appendEvent>) {
        record(`event:${args[0].event}`);
        return store.appendEvent(...args);
      },
    });
    const stop = new Error('stop after the claim');
    await expect(evaluateCluster(deps, invocation({ crashAfter: () => { throw stop; } }), id)).rejects.toBe(stop);
    expect(writes[0]).toBe('claim:fence_old_primary');
    expect(writes).not.toContain('lease_observation');
    expect(writes.filter((w) => w === 'event:replication_alarm')).toHaveLength(1);
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.term).toBe(snapshot.cluster.term + 1);
    expect(after?.lease_observation?.rvn).toBe('rvn-0002');
    expect(after?.reported_conditions).not.toContain('alarm:replication_lag:3');
    const cleared = await f.store.listEvents(id, { event: 'replication_alarm' });
    expect(cleared.map((e) => e.details)).toEqual(['replication_lag: cleared']);
  });

  it('does not fail over a paused cluster: the decision is reported, nothing is sent', async () => {
    const { id, snapshot } = await crashedCluster((b) => b.cluster({ paused: true }));
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('report_only');
    expect(await commandsFor(id)).toEqual([]);
    expect((await f.store.load(id))?.snapshot.cluster.term).toBe(snapshot.cluster.term);
  });

  it('does not promote when another writer changed the cluster record between two steps (lost ownership)', async () => {
    const { id } = await crashedCluster();
    const result = await evaluateCluster(
      f.deps(),
      invocation({
        crashAfter: async (step) => {
          if (step !== 'rerank') return;
          const c = (await f.store.load(id))?.snapshot.cluster;
          if (c) await f.store.updateCluster(id, c.version, { reported_conditions: ['operator-touched'] }, f.clock.now());
        },
      }),
      id,
    );
    expect(result.saga).toBe('lost_ownership');
    expect((await commandsFor(id)).filter((c) => c.documentName === 'pgvigil-Promote')).toEqual([]);
  });

  it('does not promote for a stale term when it takes over a saga whose term was overtaken', async () => {
    const { id, snapshot } = await crashedCluster();
    await expect(
      evaluateCluster(f.deps(), invocation({ crashAfter: (step) => { if (step === 'rerank') throw new Error('crash'); } }), id),
    ).rejects.toThrow('crash');
    const c = (await f.store.load(id))?.snapshot.cluster;
    if (!c) throw new Error('no cluster');
    await f.store.updateCluster(id, c.version, { term: c.term + 1 }, f.clock.now());
    f.clock.advance(10 * 60_000);
    await f.refreshHeartbeats(id);
    const resumed = await evaluateCluster(f.deps(), invocation(), id);
    expect(resumed.saga).toBe('cooldown');
    expect((await commandsFor(id)).filter((x) => x.documentName === 'pgvigil-Promote')).toEqual([]);
    const aborted = await f.store.listEvents(id, { event: 'repmgrd_failover_aborted' });
    expect(aborted[0]?.details).toMatch(new RegExp(`cluster is at term ${snapshot.cluster.term + 2}.*stale term`));
  });
});
