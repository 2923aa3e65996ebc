/**
 * A route to the primary as an A record in a private Route 53 hosted zone (docs/deploy.md, "Routes
 * to the primary"): moving it is an UPSERT of the record to the instance's private address, with
 * the record's short TTL, followed by a bounded wait until Route 53 reports the change INSYNC.
 *
 * Unlike an Elastic IP, a DNS name cannot be taken away from clients that have resolved it, and
 * deleting the record would make resolvers cache the name's absence for the zone's negative TTL,
 * well past the failover. So this mover has no `detach`: the record keeps pointing at the old
 * primary, which the fence stops, until it is moved to the new one.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { PgvigilError } from '../core/errors.js';
import type { Clock, RouteMover } from '../core/ports.js';
import { normalizeRecordName, type DnsRecord, type RecordChange } from '../core/routes.js';
import { awsFailure } from './aws-retry.js';

export interface Route53RecordMoverOptions {
  clock: Clock;
  /**
   * How long a move waits for Route 53 to report the change INSYNC. Route 53 applies an accepted
   * change anyway; waiting longer only delays the saga's next step.
   * @default 30_000
   */
  insyncTimeoutMs?: number;
  /** @default 1000 */
  pollIntervalMs?: number;
}

export class Route53RecordMover implements RouteMover<DnsRecord, RecordChange> {
  private readonly insyncTimeoutMs: number;
  private readonly pollIntervalMs: number;

  constructor(
    private readonly route53: Route53Client,
    private readonly ec2: EC2Client,
    private readonly options: Route53RecordMoverOptions,
  ) {
    this.insyncTimeoutMs = options.insyncTimeoutMs ?? 30_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  /** The address the record holds now; null when there is no such A record. */
  async address(record: DnsRecord): Promise<string | null> {
    const name = normalizeRecordName(record.name);
    let result;
    try {
      result = await this.route53.send(
        new ListResourceRecordSetsCommand({ HostedZoneId: record.zoneId, StartRecordName: name, StartRecordType: 'A', MaxItems: 1 }),
      );
    } catch (error) {
      throw awsFailure(`could not read Route 53 record ${name} in zone ${record.zoneId}`, error);
    }
    // The listing starts at the name but may return the next record when this one does not exist.
    const found = result.ResourceRecordSets?.find((r) => r.Type === 'A' && normalizeRecordName(r.Name ?? '') === name);
    return found?.ResourceRecords?.[0]?.Value ?? null;
  }

  async current(record: DnsRecord): Promise<string | null> {
    const address = await this.address(record);
    if (address === null) return null;
    let result;
    try {
      result = await this.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'private-ip-address', Values: [address] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
        }),
      );
    } catch (error) {
      throw awsFailure(`could not find the instance with private address ${address}`, error);
    }
    const instances = (result.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    return instances.length === 1 ? (instances[0]?.InstanceId ?? null) : null;
  }

  async moveTo(record: DnsRecord, instanceId: string): Promise<RecordChange> {
    const address = await this.privateAddressOf(instanceId);
    const name = normalizeRecordName(record.name);
    if ((await this.address(record)) === address) return { address, changeId: null, insync: true };
    let changeId: string;
    try {
      const result = await this.route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: record.zoneId,
          ChangeBatch: {
            Comment: `pgvigil: primary is ${instanceId}`,
            Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: name, Type: 'A', TTL: record.ttl, ResourceRecords: [{ Value: address }] } }],
          },
        }),
      );
      changeId = result.ChangeInfo?.Id ?? '';
      if (result.ChangeInfo?.Status === 'INSYNC') return { address, changeId, insync: true };
    } catch (error) {
      throw awsFailure(`could not point Route 53 record ${name} (zone ${record.zoneId}) at ${address} (instance ${instanceId})`, error);
    }
    return { address, changeId, insync: await this.waitInsync(changeId) };
  }

  /** Polls GetChange until INSYNC or the bound passes; a failed poll is not a failed move. */
  private async waitInsync(changeId: string): Promise<boolean> {
    const { clock } = this.options;
    const deadline = clock.now() + this.insyncTimeoutMs;
    for (;;) {
      const left = deadline - clock.now();
      if (left <= 0) return false;
      await clock.sleep(Math.min(this.pollIntervalMs, left));
      try {
        const { ChangeInfo } = await this.route53.send(new GetChangeCommand({ Id: changeId }));
        if (ChangeInfo?.Status === 'INSYNC') return true;
      } catch {
        // The change was accepted; Route 53 applies it whether or not this poll succeeds.
      }
    }
  }

  private async privateAddressOf(instanceId: string): Promise<string> {
    let result;
    try {
      result = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    } catch (error) {
      throw awsFailure(`could not read the private address of instance ${instanceId}`, error);
    }
    const instance = (result.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
    if (!instance?.PrivateIpAddress) throw new PgvigilError('NOT_FOUND', `instance ${instanceId} has no private address (terminated?)`);
    return instance.PrivateIpAddress;
  }
}
