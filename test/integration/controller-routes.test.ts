import { CreateHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { DescribeAddressesCommand, DescribeInstancesCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Route53RecordMover } from '../../adapters/route53-vip.js';
import type { ClusterSettings, ClusterSnapshot } from '../../core/model.js';
import type { DnsRecord } from '../../core/routes.js';
import type { ControllerDeps } from '../../functions/controller.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { parseSwitchoverRequest } from '../../functions/switchover.js';
import { switchoverEntry } from '../../functions/switchover-entry.js';
import { ControllerFixture, FAST_TIMINGS, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let route53: Route53Client;
let mover: Route53RecordMover;
let zoneId: string;
const addresses = new Map<number, string>();
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
  for (const [nodeId, instanceId] of f.instances) {
    const { Reservations } = await f.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    addresses.set(nodeId, Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? '');
  }
  route53 = new Route53Client(f.moto.clientConfig);
  const vpc = (await f.ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? '';
  const zone = await route53.send(
    new CreateHostedZoneCommand({ Name: 'db.internal', CallerReference: 'controller-routes', VPC: { VPCId: vpc, VPCRegion: 'us-east-1' }, HostedZoneConfig: { PrivateZone: true } }),
  );
  zoneId = (zone.HostedZone?.Id ?? '').replace('/hostedzone/', '');
  mover = new Route53RecordMover(route53, f.ec2, { clock: f.clock, pollIntervalMs: 20, insyncTimeoutMs: 2000 });
});

afterAll(async () => {
  route53?.destroy();
  await f?.stop();
});

/** A cluster whose routes lead to node 1: the Elastic IP (unless `elasticIp` is false) and a Route 53 record. */
async function cluster(kind: 'crashed' | 'healthy', options: { elasticIp?: boolean } = {}): Promise<{ id: string; snapshot: ClusterSnapshot; record: DnsRecord }> {
  counter += 1;
  const id = `routes-${counter}`;
  const b = new SnapshotBuilder({ now: f.clock.now() });
  const snapshot = withClusterId((kind === 'crashed' ? b.crashPrimary() : b).build(), id);
  const record: DnsRecord = { zoneId, name: `${id}.db.internal`, ttl: 5 };
  const routeSettings: Partial<ClusterSettings> = { route53_zone_id: zoneId, route53_record_name: record.name, route53_ttl: record.ttl };
  await f.seed({ ...snapshot, cluster: { ...snapshot.cluster, settings: { ...snapshot.cluster.settings, ...routeSettings } } });
  if (options.elasticIp === false) {
    const loaded = (await f.store.load(id))!.snapshot.cluster;
    await f.store.updateCluster(id, loaded.version, { settings: { ...loaded.settings, vip_allocation_id: null } }, f.clock.now());
  } else {
    await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
  }
  await mover.moveTo(record, f.instances.get(1) ?? '');
  return { id, snapshot, record };
}

async function recordValues(record: DnsRecord): Promise<{ ttl: number | undefined; values: string[] }> {
  const { ResourceRecordSets } = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  const found = ResourceRecordSets?.find((r) => r.Type === 'A' && r.Name === `${record.name}.`);
  return { ttl: found?.TTL, values: (found?.ResourceRecords ?? []).map((r) => r.Value ?? '') };
}

async function eipInstance(): Promise<string | undefined> {
  const r = await f.ec2.send(new DescribeAddressesCommand({ AllocationIds: [f.allocationId] }));
  return r.Addresses?.[0]?.InstanceId || undefined;
}

const deps = (overrides: Partial<ControllerDeps> = {}): ControllerDeps => f.deps({ route53: mover, ...overrides });

describe('the routes to the primary in the sagas', () => {
  it('failover: takes the Elastic IP away at the fence, leaves the record alone until the promotion, then points both at the new primary', async () => {
    const { id, record } = await cluster('crashed');
    const seenAfterFence: Array<{ eip: string | undefined; record: string[] }> = [];
    const inv = invocation({
      crashAfter: async (step) => {
        if (step === 'fence_old_primary') seenAfterFence.push({ eip: await eipInstance(), record: (await recordValues(record)).values });
      },
    });
    const result = await evaluateCluster(deps(), inv, id);
    expect(result).toMatchObject({ code: 'failover', saga: 'completed' });
    expect(seenAfterFence).toEqual([{ eip: undefined, record: [addresses.get(1)] }]);
    expect(await recordValues(record)).toEqual({ ttl: 5, values: [addresses.get(2)] });
    expect(await eipInstance()).toBe(f.instances.get(2));
    const events = await f.store.listEvents(id);
    const moved = events.filter((e) => e.event === 'vip_moved');
    expect(moved.map((e) => [e.node_id, e.successful, e.details])).toEqual([
      [2, true, `Elastic IP ${f.allocationId} associated with instance ${f.instances.get(2)} (node 2)`],
      [2, true, `Route 53 record ${id}.db.internal points at ${addresses.get(2)}, instance ${f.instances.get(2)} (node 2), TTL 5 s`],
    ]);
    const names = events.map((e) => e.event);
    expect(names.indexOf('repmgrd_failover_promote')).toBeLessThan(names.indexOf('vip_moved'));
  });

  it('switchover: moves a Route 53 record (a cluster without an Elastic IP) to the new primary', async () => {
    const { id, snapshot, record } = await cluster('healthy', { elasticIp: false });
    const r = await switchoverEntry(deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, siblings_follow: true, dry_run: false }));
    expect(r).toMatchObject({ ok: true, outcome: 'completed', term: snapshot.cluster.term + 1 });
    expect(await recordValues(record)).toEqual({ ttl: 5, values: [addresses.get(2)] });
    const moved = (await f.store.listEvents(id, { event: 'vip_moved' })).map((e) => e.details);
    expect(moved).toEqual([`Route 53 record ${id}.db.internal points at ${addresses.get(2)}, instance ${f.instances.get(2)} (node 2), TTL 5 s`]);
  });

  it('switchover --dry-run names every route that will move', async () => {
    const { id } = await cluster('healthy');
    const r = await switchoverEntry(deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, siblings_follow: false, dry_run: true }));
    expect(r.checks.find((c) => c.name === 'vip')?.detail).toBe(
      `Elastic IP ${f.allocationId} and Route 53 record ${id}.db.internal (zone ${zoneId}, TTL 5 s) will move to node 2`,
    );
  });

  it('failover without a Route 53 client: the record is reported not moved, the Elastic IP still moves and the failover completes', async () => {
    const { id, record } = await cluster('crashed');
    const result = await evaluateCluster(f.deps(), invocation(), id);
    expect(result).toMatchObject({ code: 'failover', saga: 'completed' });
    expect(await eipInstance()).toBe(f.instances.get(2));
    expect(await recordValues(record)).toEqual({ ttl: 5, values: [addresses.get(1)] });
    const moved = (await f.store.listEvents(id, { event: 'vip_moved' })).map((e) => [e.successful, e.details]);
    expect(moved).toEqual([
      [true, `Elastic IP ${f.allocationId} associated with instance ${f.instances.get(2)} (node 2)`],
      [false, `Route 53 record ${id}.db.internal (zone ${zoneId}, TTL 5 s) not moved: this controller has no Route 53 client`],
    ]);
  });

  it('a Route 53 failure does not stop the Elastic IP from moving; the step is retried and, when it keeps failing, skipped with the reason', async () => {
    const { id } = await cluster('crashed');
    const broken = new Route53RecordMover(route53, f.ec2, { clock: f.clock });
    let attempts = 0;
    const failing: ControllerDeps['route53'] = {
      current: (r) => {
        attempts += 1;
        return broken.current({ ...r, zoneId: 'ZNOSUCHZONE1' });
      },
      moveTo: (r, i) => broken.moveTo({ ...r, zoneId: 'ZNOSUCHZONE1' }, i),
    };
    const result = await evaluateCluster(deps({ route53: failing }), invocation(), id);
    expect(result).toMatchObject({ code: 'failover', saga: 'completed' });
    expect(await eipInstance()).toBe(f.instances.get(2));
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.primary_node_id).toBe(2);
    const failed = (await f.store.listEvents(id, { event: 'saga_step_failed' })).map((e) => e.details).join('\n');
    expect(failed).toMatch(/move_vip/);
    expect(failed).toMatch(/ZNOSUCHZONE1/);
    expect(attempts).toBe(FAST_TIMINGS.maxStepAttempts);
  });

  it('the sweep points a Route 53 record left on another instance back at the serving primary, and leaves a right one alone', async () => {
    const { id, record } = await cluster('healthy');
    await mover.moveTo(record, f.instances.get(3) ?? '');
    await evaluateCluster(deps(), invocation(), id, { sweep: true });
    expect((await recordValues(record)).values).toEqual([addresses.get(1)]);
    const repaired = (await f.store.listEvents(id, { event: 'stuck_state_recovery' })).map((e) => e.details);
    expect(repaired).toEqual([expect.stringMatching(new RegExp(`^vip_elsewhere: Route 53 record ${record.name} .* led to ${f.instances.get(3)}, not to instance ${f.instances.get(1)}`))]);
    // Nothing to repair the next time round.
    await evaluateCluster(deps(), invocation(), id, { sweep: true });
    expect(await f.store.listEvents(id, { event: 'stuck_state_recovery' })).toHaveLength(1);
  });
});
