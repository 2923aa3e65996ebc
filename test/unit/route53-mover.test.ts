import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { Route53RecordMover } from '../../adapters/route53-vip.js';
import { PgvigilError } from '../../core/errors.js';
import type { Clock } from '../../core/ports.js';

// moto applies every Route 53 change at once (INSYNC); a change that stays PENDING, and a throttled
// change, need a mocked client.

class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

const record = { zoneId: 'Z0123456789ABCDEFGHIJ', name: 'primary.orders.internal', ttl: 5 };

describe('Route53RecordMover (mocked Route 53)', () => {
  const route53 = mockClient(Route53Client);
  const ec2 = mockClient(EC2Client);
  let clock: FakeClock;
  let mover: Route53RecordMover;

  beforeEach(() => {
    route53.reset();
    ec2.reset();
    clock = new FakeClock();
    mover = new Route53RecordMover(new Route53Client({ region: 'us-east-1' }), new EC2Client({ region: 'us-east-1' }), {
      clock,
      insyncTimeoutMs: 10_000,
      pollIntervalMs: 1000,
    });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0000000000000000b', PrivateIpAddress: '10.0.2.7' }] }] });
    route53.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [{ Name: 'primary.orders.internal.', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '10.0.1.5' }] }],
      IsTruncated: false,
      MaxItems: 1,
    });
  });

  it('waits for a PENDING change until Route 53 reports it INSYNC', async () => {
    route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } });
    route53
      .on(GetChangeCommand)
      .resolvesOnce({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } })
      .resolves({ ChangeInfo: { Id: '/change/C1', Status: 'INSYNC', SubmittedAt: new Date() } });
    expect(await mover.moveTo(record, 'i-0000000000000000b')).toEqual({ address: '10.0.2.7', changeId: '/change/C1', insync: true });
    expect(route53.commandCalls(GetChangeCommand)).toHaveLength(2);
    expect(clock.t).toBe(2000);
    const change = route53.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input;
    expect(change.ChangeBatch?.Changes).toEqual([
      { Action: 'UPSERT', ResourceRecordSet: { Name: 'primary.orders.internal', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '10.0.2.7' }] } },
    ]);
  });

  it('gives up waiting after its bound and reports the change as accepted but not yet in sync', async () => {
    route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C2', Status: 'PENDING', SubmittedAt: new Date() } });
    route53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C2', Status: 'PENDING', SubmittedAt: new Date() } });
    expect(await mover.moveTo(record, 'i-0000000000000000b')).toEqual({ address: '10.0.2.7', changeId: '/change/C2', insync: false });
    expect(clock.t).toBe(10_000);
    expect(route53.commandCalls(GetChangeCommand)).toHaveLength(10);
  });

  it('keeps waiting through a failed poll: the change was accepted', async () => {
    route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C3', Status: 'PENDING', SubmittedAt: new Date() } });
    route53
      .on(GetChangeCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }))
      .resolves({ ChangeInfo: { Id: '/change/C3', Status: 'INSYNC', SubmittedAt: new Date() } });
    expect((await mover.moveTo(record, 'i-0000000000000000b')).insync).toBe(true);
  });

  it('reports a throttled change as a retryable AWS error naming the record, the address and the instance', async () => {
    route53.on(ChangeResourceRecordSetsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    const error = await mover.moveTo(record, 'i-0000000000000000b').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgvigilError);
    expect((error as PgvigilError).retryable).toBe(true);
    expect((error as PgvigilError).message).toBe(
      'could not point Route 53 record primary.orders.internal (zone Z0123456789ABCDEFGHIJ) at 10.0.2.7 (instance i-0000000000000000b)',
    );
  });
});
