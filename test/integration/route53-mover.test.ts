import { CreateHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Route53RecordMover } from '../../adapters/route53-vip.js';
import { systemClock } from '../../adapters/system-clock.js';
import { PgvigilError } from '../../core/errors.js';
import type { DnsRecord } from '../../core/routes.js';
import { startMoto, type Moto } from '../support/moto.js';

let moto: Moto;
let route53: Route53Client;
let ec2: EC2Client;
let mover: Route53RecordMover;
let zoneId: string;
const instances: Array<{ id: string; ip: string }> = [];

beforeAll(async () => {
  moto = await startMoto();
  route53 = new Route53Client(moto.clientConfig);
  ec2 = new EC2Client(moto.clientConfig);
  const imageId = (await ec2.send(new DescribeImagesCommand({}))).Images?.[0]?.ImageId ?? 'ami-12c6146b';
  for (let i = 0; i < 2; i++) {
    const run = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
    const instance = run.Instances?.[0];
    instances.push({ id: instance?.InstanceId ?? '', ip: instance?.PrivateIpAddress ?? '' });
  }
  const vpc = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.VpcId ?? '';
  const zone = await route53.send(
    new CreateHostedZoneCommand({
      Name: 'orders.internal',
      CallerReference: 'route53-mover-test',
      VPC: { VPCId: vpc, VPCRegion: 'us-east-1' },
      HostedZoneConfig: { PrivateZone: true, Comment: 'pgvigil test' },
    }),
  );
  zoneId = (zone.HostedZone?.Id ?? '').replace('/hostedzone/', '');
  mover = new Route53RecordMover(route53, ec2, { clock: systemClock, insyncTimeoutMs: 5000, pollIntervalMs: 50 });
});

afterAll(async () => {
  route53?.destroy();
  ec2?.destroy();
  await moto?.stop();
});

const record = (name = 'primary.orders.internal', ttl = 5): DnsRecord => ({ zoneId, name, ttl });

async function aRecords(): Promise<Array<{ name: string; ttl: number | undefined; values: string[] }>> {
  const { ResourceRecordSets } = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  return (ResourceRecordSets ?? [])
    .filter((r) => r.Type === 'A')
    .map((r) => ({ name: r.Name ?? '', ttl: r.TTL, values: (r.ResourceRecords ?? []).map((v) => v.Value ?? '') }));
}

describe('Route53RecordMover against moto', () => {
  it('finds no instance behind a record that does not exist yet', async () => {
    expect(await mover.address(record())).toBeNull();
    expect(await mover.current(record())).toBeNull();
  });

  it('creates the record on the first move: an A record with the instance’s private address and the short TTL, in sync', async () => {
    const [a] = instances;
    const change = await mover.moveTo(record(), a!.id);
    expect(change).toEqual({ address: a!.ip, changeId: expect.stringMatching(/.+/), insync: true });
    expect(await aRecords()).toEqual([{ name: 'primary.orders.internal.', ttl: 5, values: [a!.ip] }]);
    expect(await mover.current(record())).toBe(a!.id);
  });

  it('moves the record to another instance with an UPSERT, leaving one A record', async () => {
    const [, b] = instances;
    await mover.moveTo(record('Primary.Orders.internal.', 5), b!.id);
    expect(await aRecords()).toEqual([{ name: 'primary.orders.internal.', ttl: 5, values: [b!.ip] }]);
    expect(await mover.current(record())).toBe(b!.id);
  });

  it('sends nothing when the record already holds the instance’s address', async () => {
    const [, b] = instances;
    expect(await mover.moveTo(record(), b!.id)).toEqual({ address: b!.ip, changeId: null, insync: true });
  });

  it('does not mistake the next record of the zone for a missing one', async () => {
    expect(await mover.address(record('primarx.orders.internal'))).toBeNull();
    expect(await mover.address(record('a.orders.internal'))).toBeNull();
  });

  it('refuses an instance that does not exist, naming it, and changes nothing', async () => {
    const before = await aRecords();
    await expect(mover.moveTo(record(), 'i-0000000000000dead')).rejects.toThrow(PgvigilError);
    await expect(mover.moveTo(record(), 'i-0000000000000dead')).rejects.toThrow(/i-0000000000000dead/);
    expect(await aRecords()).toEqual(before);
  });

  it('names the record and zone when Route 53 refuses (a zone that does not exist)', async () => {
    const [a] = instances;
    await expect(mover.moveTo({ zoneId: 'ZNOSUCHZONE1', name: 'primary.orders.internal', ttl: 5 }, a!.id)).rejects.toThrow(
      /Route 53 record primary\.orders\.internal in zone ZNOSUCHZONE1/,
    );
  });

  it('still reads the record as leading to its instance once that instance is stopped (the fence), and to none once terminated', async () => {
    const [, b] = instances;
    await ec2.send(new StopInstancesCommand({ InstanceIds: [b!.id] }));
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [b!.id] }));
    expect(Reservations?.[0]?.Instances?.[0]?.State?.Name).toMatch(/^stop/);
    expect(await mover.current(record())).toBe(b!.id);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [b!.id] }));
    expect(await mover.current(record())).toBeNull();
  });
});
