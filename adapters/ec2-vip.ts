/**
 * The virtual IP as an Elastic IP (docs/controller.md, docs/deploy.md): moving it is an AssociateAddress with
 * `AllowReassociation` passed explicitly (moto defaults it to false, AWS to false for VPC addresses
 * too), reading it is a DescribeAddresses by allocation id.
 */
import {
  AssociateAddressCommand,
  DescribeAddressesCommand,
  DisassociateAddressCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { PgvigilError } from '../core/errors.js';
import type { VipMover } from '../core/ports.js';

/** Where an Elastic IP is associated now. */
export interface AddressAssociation {
  allocationId: string;
  publicIp: string | null;
  instanceId: string | null;
  associationId: string | null;
  privateIpAddress: string | null;
}

export class Ec2VipMover implements VipMover {
  constructor(private readonly ec2: EC2Client) {}

  /** The full association of the address (the sandbox's proxy resolves it to a host). */
  async describe(allocationId: string): Promise<AddressAssociation> {
    let result;
    try {
      result = await this.ec2.send(new DescribeAddressesCommand({ AllocationIds: [allocationId] }));
    } catch (error) {
      throw awsError(`could not describe Elastic IP ${allocationId}`, error);
    }
    const address = result.Addresses?.find((a) => a.AllocationId === allocationId);
    if (!address) throw new PgvigilError('NOT_FOUND', `Elastic IP allocation ${allocationId} does not exist`);
    return {
      allocationId,
      publicIp: address.PublicIp ?? null,
      instanceId: address.InstanceId || null,
      associationId: address.AssociationId || null,
      privateIpAddress: address.PrivateIpAddress || null,
    };
  }

  async current(allocationId: string): Promise<string | null> {
    return (await this.describe(allocationId)).instanceId;
  }

  async moveTo(allocationId: string, instanceId: string): Promise<void> {
    try {
      await this.ec2.send(
        new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: true }),
      );
    } catch (error) {
      throw awsError(`could not associate Elastic IP ${allocationId} with instance ${instanceId}`, error);
    }
  }

  async detach(allocationId: string): Promise<void> {
    const { associationId } = await this.describe(allocationId);
    if (!associationId) return; // already detached: detaching is idempotent
    try {
      await this.ec2.send(new DisassociateAddressCommand({ AssociationId: associationId }));
    } catch (error) {
      // Lost a race with another mover: the association we saw is gone, which is what we wanted.
      if (errorName(error) === 'InvalidAssociationID.NotFound') return;
      throw awsError(`could not disassociate Elastic IP ${allocationId}`, error);
    }
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

function awsError(message: string, error: unknown): PgvigilError {
  const name = errorName(error);
  const retryable = /Throttl|RequestLimitExceeded|ServiceUnavailable|InternalError/.test(name);
  return new PgvigilError('AWS', message, {
    cause: error,
    detail: error instanceof Error ? `${name}: ${error.message}` : String(error),
    retryable,
  });
}
