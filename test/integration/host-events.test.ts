import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostEvent } from '../../core/host-events.js';
import type { ClusterSnapshot, EventRecord } from '../../core/model.js';
import { handler, setControllerDeps } from '../../functions/handlers/host-events.js';
import { handleHostEvent } from '../../functions/host-events.js';
import { jsonLogger } from '../../functions/log.js';
import { cliHarness, type CliHarness } from '../support/cli-cluster.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { hostEvent, type HostEventFixture } from '../support/host-events.js';
import { PRIMARY_LSN, SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let h: CliHarness;
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  h = await cliHarness(f.moto);
});
afterAll(async () => {
  setControllerDeps(undefined);
  await f?.stop();
});

/** A healthy cluster on instances of its own (the handler looks at every cluster of the table). */
async function healthyCluster(patch: (b: SnapshotBuilder) => SnapshotBuilder = (b) => b): Promise<{ id: string; snapshot: ClusterSnapshot; instance: (node: number) => string }> {
  counter += 1;
  const id = `host-events-${counter}`;
  await f.createInstances([1, 2, 3, 4]);
  const instances = new Map(f.instances);
  const snapshot = withClusterId(patch(new SnapshotBuilder({ now: f.clock.now() })).build(), id);
  await f.seed(snapshot);
  return { id, snapshot, instance: (node) => instances.get(node) ?? '' };
}

const deliver = (name: HostEventFixture, instanceId: string) => handleHostEvent(f.deps(), invocation(), parseHostEvent(hostEvent(name, instanceId)));
const cli = (id: string, argv: string[]) => h.run(id, argv, { clock: () => f.clock.now(), env: { ...h.env(id), PGVIGIL_TABLE: f.table } });

async function events(id: string): Promise<EventRecord[]> {
  return f.store.listEvents(id);
}

describe('an AWS notice for the primary’s instance', () => {
  it('switches over to the best standby after the dry-run checks, with an event that is published', async () => {
    const { id, snapshot, instance } = await healthyCluster();
    await f.published(); // drain what earlier tests published
    const result = await deliver('health-retirement', instance(1));
    expect(result.outcomes).toEqual([expect.objectContaining({ cluster_id: id, node_id: 1, action: 'switched_over', candidate_node_id: 2 })]);
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.primary_node_id).toBe(2);
    expect(after?.term).toBe(snapshot.cluster.term + 1);
    const log = await events(id);
    const notice = log.find((e) => e.event === 'aws_scheduled_event');
    expect(notice).toMatchObject({
      node_id: 1,
      successful: true,
      info: { aws_event: 'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED', instance_id: instance(1), deadline: Date.UTC(2026, 11, 21, 10), action: 'switchover_started', candidate_node_id: 2 },
    });
    expect(notice?.details).toBe(
      `AWS scheduled AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED for 2026-12-21T10:00:00.000Z on instance ${instance(1)} of primary node "pg1" (ID: 1): ` +
        'the switchover checks passed: switching over to node 2',
    );
    expect(log.map((e) => e.event)).toContain('switchover_started');
    const published = (await f.published()).map((p) => p.message);
    expect(published).toContainEqual(expect.objectContaining({ event: 'aws_scheduled_event', cluster_id: id, node_id: 1 }));
  });

  it('leaves out a standby whose own instance AWS is taking too', async () => {
    const { id, instance } = await healthyCluster((b) => b.setLsn(3, PRIMARY_LSN));
    await deliver('health-reboot-maintenance', instance(2));
    const result = await deliver('spot-interruption-warning', instance(1));
    expect(result.outcomes).toEqual([expect.objectContaining({ node_id: 1, action: 'switched_over', candidate_node_id: 3 })]);
    expect((await f.store.load(id))?.snapshot.cluster.primary_node_id).toBe(3);
    expect((await events(id)).filter((e) => e.event === 'spot_interruption').map((e) => e.info?.action)).toEqual(['switchover_started']);
  });

  it('records a second event when the switchover it started does not complete', async () => {
    // Node 3 lags behind: it refuses to promote without the demoted primary's final LSN, and the switchover rolls back.
    const { id, snapshot, instance } = await healthyCluster();
    await deliver('health-reboot-maintenance', instance(2));
    const result = await deliver('spot-interruption-warning', instance(1));
    expect(result.outcomes).toEqual([expect.objectContaining({ node_id: 1, action: 'switchover_failed', candidate_node_id: 3 })]);
    expect((await f.store.load(id))?.snapshot.cluster.primary_node_id).toBe(1);
    expect((await f.store.load(id))?.snapshot.cluster.term).toBeGreaterThan(snapshot.cluster.term);
    const notices = (await events(id)).filter((e) => e.event === 'spot_interruption');
    expect(notices.map((e) => `${e.info?.action}:${e.successful}`)).toEqual(['switchover_started:true', 'switchover_failed:false']);
    expect(notices[1]?.details).toMatch(/: the switchover to node 3 did not complete: the switchover did not complete; see "pgvigil cluster event" for why$/);
    expect((await events(id)).map((e) => e.event)).toContain('switchover_rolled_back');
  });

  it('does not switch over when the checks fail, and records why', async () => {
    const { id, snapshot, instance } = await healthyCluster();
    for (const node of [2, 3]) await f.patchHeartbeat(id, node, (hb) => ({ ...hb, server: hb.server && { ...hb.server, wal_receiver_status: null } }));
    const result = await deliver('health-retirement', instance(1));
    expect(result.outcomes).toEqual([expect.objectContaining({ node_id: 1, action: 'checks_failed', candidate_node_id: 2 })]);
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.primary_node_id).toBe(1);
    expect(after?.term).toBe(snapshot.cluster.term);
    const notice = (await events(id)).filter((e) => e.event === 'aws_scheduled_event');
    expect(notice).toHaveLength(1);
    expect(notice[0]?.successful).toBe(false);
    expect(notice[0]?.details).toMatch(/: the primary stays: switchover not possible: candidate_streaming \(node 2 is not fresh, not in recovery or not streaming from the primary\)/);
    expect((await events(id)).map((e) => e.event)).not.toContain('switchover_started');
  });

  it('does not switch over a paused cluster or one with failover=manual, and says so', async () => {
    const paused = await healthyCluster((b) => b.cluster({ paused: true }));
    const manual = await healthyCluster((b) => b.settings({ failover: 'manual' }));
    expect((await deliver('health-retirement', paused.instance(1))).outcomes).toEqual([expect.objectContaining({ action: 'paused' })]);
    expect((await deliver('health-retirement', manual.instance(1))).outcomes).toEqual([expect.objectContaining({ action: 'manual' })]);
    for (const c of [paused, manual]) {
      expect((await f.store.load(c.id))?.snapshot.cluster.primary_node_id).toBe(1);
      expect((await f.store.load(c.id))?.snapshot.cluster.term).toBe(c.snapshot.cluster.term);
      expect((await events(c.id)).map((e) => e.event)).toEqual(['aws_scheduled_event']);
    }
    expect((await events(paused.id))[0]?.details).toMatch(/: the cluster is paused, so pgvigil does not switch over: move the primary with "pgvigil standby switchover"$/);
    expect((await events(manual.id))[0]?.details).toMatch(/: failover=manual, so pgvigil does not switch over/);
  });
});

describe('an AWS notice for a standby’s instance', () => {
  it('records an event and cluster show warns about the node until AWS closes it', async () => {
    const { id, instance } = await healthyCluster();
    const result = await deliver('health-reboot-maintenance', instance(3));
    expect(result.outcomes).toEqual([expect.objectContaining({ node_id: 3, action: 'noted' })]);
    expect((await f.store.load(id))?.snapshot.cluster.primary_node_id).toBe(1);
    expect((await events(id)).map((e) => `${e.event}:${e.node_id}:${e.successful}`)).toEqual(['aws_scheduled_event:3:true']);
    const show = await cli(id, ['cluster', 'show']);
    expect(show.stderr).toContain(
      `WARNING: standby node "pg3" (ID: 3) runs on instance ${instance(3)}, which AWS will take at 2026-12-14T03:00:00.000Z ` +
        `(AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED, recorded ${new Date((await events(id))[0]?.timestamp ?? 0).toISOString()}): move the node to another instance`,
    );
    const closed = hostEvent('health-reboot-maintenance', instance(3));
    closed.detail.statusCode = 'closed';
    await handleHostEvent(f.deps(), invocation(), parseHostEvent(closed));
    expect((await cli(id, ['cluster', 'show'])).stderr.some((l) => l.includes('which AWS will take'))).toBe(false);
  });

  it('warns about the old primary once it was moved away, since it still runs on the instance', async () => {
    const { id, instance } = await healthyCluster();
    await deliver('health-retirement', instance(1));
    const show = await cli(id, ['cluster', 'show']);
    expect(show.stderr.filter((l) => l.includes('which AWS will take'))).toEqual([expect.stringMatching(/^WARNING: \w+ node "pg1" \(ID: 1\) runs on instance /)]);
  });
});

describe('the host-events handler', () => {
  it('changes nothing for an instance no node runs on', async () => {
    const { id } = await healthyCluster();
    const before = await f.items();
    setControllerDeps(f.deps());
    const result = await handler(hostEvent('spot-interruption-warning', 'i-0fedcba9876543210'));
    expect(result).toEqual({ aws_event: 'EC2 Spot Instance Interruption Warning', outcomes: [], unmatched: ['i-0fedcba9876543210'] });
    expect(await f.items()).toEqual(before);
    expect(await events(id)).toEqual([]);
  });

  it('rejects an event it does not know with a clear error and changes nothing', async () => {
    await healthyCluster();
    const before = await f.items();
    const logged: Record<string, unknown>[] = [];
    setControllerDeps(f.deps({ log: jsonLogger({}, 'INFO', (line) => logged.push(JSON.parse(line) as Record<string, unknown>)) }));
    const result = await handler(hostEvent('ec2-state-change'));
    expect(result).toEqual({ rejected: 'not an event of the host-event rules: source "aws.ec2", detail-type "EC2 Instance State-change Notification": expected an AWS Health "AWS Health Event" or an aws.ec2 Spot interruption warning or rebalance recommendation' });
    expect(logged).toEqual([expect.objectContaining({ level: 'ERROR', message: 'host event rejected', error: expect.stringMatching(/^not an event of the host-event rules/) })]);
    expect(await f.items()).toEqual(before);
  });
});
