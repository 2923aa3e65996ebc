import { DescribeAddressesCommand, DescribeInstancesCommand, StartInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../core/model.js';
import { evaluateCluster } from '../../functions/evaluator.js';
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

async function cluster(patch: (b: SnapshotBuilder) => SnapshotBuilder): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `node-action-${counter}`;
  const built = patch(new SnapshotBuilder({ now: f.clock.now() })).build();
  const snapshot = withClusterId(built, id);
  await f.seed(snapshot);
  return { id, snapshot };
}

async function sent(id: string) {
  return (await f.commands()).filter((c) => c.parameters.ClusterId === id);
}

describe('split brain', () => {
  it('fences a standby that is accepting writes, keeps the term and puts the Elastic IP back on the term primary', async () => {
    const { id, snapshot } = await cluster((b) => b.server(3, { in_recovery: false, wal_receiver_status: null, wal_receiver_upstream_node_id: null }));
    await f.deps().vip.moveTo(f.allocationId, f.instances.get(3) ?? '');
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('fence');
    expect(result.saga).toBe('completed');
    const commands = await sent(id);
    expect(commands.map((c) => `${c.documentName}:${c.parameters.NodeId}:${c.parameters.Term}`)).toEqual([`pgvigil-Fence:3:${snapshot.cluster.term}`]);
    expect(commands[0]?.instanceId).toBe(f.instances.get(3));
    const address = await f.ec2.send(new DescribeAddressesCommand({ AllocationIds: [f.allocationId] }));
    expect(address.Addresses?.[0]?.InstanceId).toBe(f.instances.get(1));
    const after = (await f.store.load(id))?.snapshot;
    expect(after?.cluster).toMatchObject({ term: snapshot.cluster.term, primary_node_id: 1, operation: null });
    expect(after?.nodes.find((n) => n.node_id === 3)).toMatchObject({ fenced: true, active: false });
    const names = (await f.store.listEvents(id)).map((e) => `${e.event}:${e.node_id}`);
    expect(names).toEqual(expect.arrayContaining(['split_brain_detected:3', 'fence_applied:3', 'vip_moved:1']));
    expect(f.metrics.points.some((p) => p.name === 'SplitBrains' && p.dimensions.ClusterId === id)).toBe(true);
  });

  it('fences once when twenty evaluators see the split brain at the same time, and records the detection once', async () => {
    const { id } = await cluster((b) => b.server(3, { in_recovery: false, wal_receiver_status: null, wal_receiver_upstream_node_id: null }));
    await Promise.all(Array.from({ length: 20 }, () => evaluateCluster(f.deps(), invocation(), id)));
    expect((await sent(id)).map((c) => c.documentName)).toEqual(['pgvigil-Fence']);
    expect(await f.store.listEvents(id, { event: 'split_brain_detected' })).toHaveLength(1);
  });

  it('does not fence anything in a paused cluster, but records the split brain', async () => {
    const { id } = await cluster((b) => b.server(3, { in_recovery: false, wal_receiver_status: null }).cluster({ paused: true }));
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('report_only');
    expect(await sent(id)).toEqual([]);
    expect((await f.store.listEvents(id)).map((e) => e.event)).toContain('split_brain_detected');
  });
});

describe('rejoin and follow', () => {
  it('rejoins a fenced former primary with pg_rewind when auto_rejoin is on', async () => {
    const { id } = await cluster((b) => b.settings({ auto_rejoin: true }).node(3, { fenced: true, active: false }).server(3, { fenced: true, postmaster_running: false, accepting_connections: false }));
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('rejoin');
    expect(result.saga).toBe('completed');
    expect((await sent(id)).map((c) => c.parameters)).toEqual([expect.objectContaining({ NodeId: '3', UpstreamNodeId: '1', ForceRewind: 'true' })]);
    expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 3)).toMatchObject({ type: 'standby', upstream_node_id: 1, fenced: false, active: true });
    expect((await f.store.listEvents(id, { event: 'node_rejoin' }))[0]).toMatchObject({ node_id: 3, successful: true });
  });

  describe('a node whose instance a fence stopped (auto_rejoin)', () => {
    async function stoppedNode3(): Promise<string> {
      const stoppedAt = f.clock.now() - 60_000;
      const { id } = await cluster((b) =>
        b
          .settings({ auto_rejoin: true })
          .node(3, { type: 'primary', upstream_node_id: null, fenced: true, active: false, instance_stopped_at: stoppedAt })
          .server(3, { fenced: true, postmaster_running: false, accepting_connections: false })
          .silence(3),
      );
      await f.ec2.send(new StopInstancesCommand({ InstanceIds: [instance3()], Force: true }));
      return id;
    }
    const instance3 = (): string => f.instances.get(3) ?? '';
    async function instanceState(): Promise<string | undefined> {
      return (await f.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance3()] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
    }
    afterEach(async () => {
      await f.ec2.send(new StartInstancesCommand({ InstanceIds: [instance3()] }));
    });

    it('starts the instance, waits for its agent to report and rejoins it with pg_rewind', async () => {
      const id = await stoppedNode3();
      // The host boots once its instance runs, and its agent reports again.
      const boot = (async () => {
        for (let i = 0; i < 600; i++) {
          if ((await instanceState()) === 'running') {
            await f.patchHeartbeat(id, 3, (hb) => hb);
            return true;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        return false;
      })();
      const result = await evaluateCluster(f.deps(), invocation(), id);
      expect(await boot).toBe(true);
      expect(result.code).toBe('rejoin');
      expect(result.saga).toBe('completed');
      expect((await sent(id)).map((c) => c.parameters)).toEqual([expect.objectContaining({ NodeId: '3', UpstreamNodeId: '1', ForceRewind: 'true' })]);
      const events = (await f.store.listEvents(id)).filter((e) => e.node_id === 3).map((e) => `${e.event}:${e.successful}`);
      expect(events).toEqual(expect.arrayContaining(['instance_started:true', 'node_rejoin:true']));
      expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 3)).toMatchObject({ type: 'standby', upstream_node_id: 1, fenced: false, active: true, instance_stopped_at: null });
    });

    it('starts it only once: when its agent never reports, the rejoin fails and the node is left down', async () => {
      const id = await stoppedNode3();
      const result = await evaluateCluster(f.deps({ timings: { ...FAST_TIMINGS, bootWaitMs: 1500 } }), invocation(), id);
      expect(result.saga).toBe('cooldown');
      expect(await instanceState()).toBe('running');
      const rejoin = await f.store.listEvents(id, { event: 'node_rejoin' });
      expect(rejoin[0]).toMatchObject({ node_id: 3, successful: false });
      expect(rejoin[0]?.details).toMatch(/its agent did not report within 1.5 s of the instance's start/);
      expect(await sent(id)).toEqual([]);
      expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 3)).toMatchObject({ fenced: true, instance_stopped_at: null });
      // Not started again later: it is no longer recorded stopped, and a silent agent is not rejoined.
      expect(await f.store.listEvents(id, { event: 'instance_started' })).toHaveLength(1);
    });
  });

  it('leaves a fenced node alone without auto_rejoin', async () => {
    const { id } = await cluster((b) => b.node(3, { fenced: true, active: false }).server(3, { fenced: true, postmaster_running: false, accepting_connections: false }));
    await evaluateCluster(f.deps(), invocation(), id);
    expect(await sent(id)).toEqual([]);
  });

  it('makes a standby streaming from the wrong node follow the primary', async () => {
    const { id } = await cluster((b) => b.server(3, { wal_receiver_upstream_node_id: 2 }));
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result.code).toBe('follow');
    const commands = await sent(id);
    expect(commands.map((c) => `${c.documentName}:${c.parameters.NodeId}->${c.parameters.UpstreamNodeId}`)).toEqual(['pgvigil-Follow:3->1']);
    expect((await f.store.listEvents(id, { event: 'standby_follow' }))[0]).toMatchObject({ node_id: 3, successful: true });
    // Once it follows, the next evaluation is healthy and sends nothing.
    await f.refreshHeartbeats(id);
    expect((await evaluateCluster(f.deps(), invocation(), id)).code).toBe('healthy');
    expect(await sent(id)).toHaveLength(1);
  });
});
