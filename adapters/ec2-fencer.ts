/**
 * The cloud's STONITH (`fence_mode=ssm-then-stop-instance`, docs/configuration.md): EC2 StopInstances with Force,
 * used only when a failover is under way and the host did not confirm its own fencing. Stopping an
 * instance that is already stopping, stopped or gone is success: it is fenced either way. With
 * `auto_rejoin`, the controller starts the instance again once a new primary serves, so that the
 * node can be rewound and rejoin (docs/controller.md, "A fence that stopped the instance").
 */
import { StartInstancesCommand, StopInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { Clock, InstanceFencer } from '../core/ports.js';
import { awsErrorName, awsFailure, withAwsRetry } from './aws-retry.js';
import { systemClock } from './system-clock.js';

export class Ec2InstanceFencer implements InstanceFencer {
  constructor(
    private readonly ec2: EC2Client,
    private readonly clock: Clock = systemClock,
  ) {}

  async stop(instanceId: string): Promise<void> {
    try {
      // Force: no graceful OS shutdown — a fence must not wait for a hung host.
      await withAwsRetry(this.clock, () => this.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: true })));
    } catch (error) {
      const name = awsErrorName(error);
      if (name === 'IncorrectInstanceState' || name === 'InvalidInstanceID.NotFound') return;
      throw awsFailure(`could not stop instance ${instanceId}`, error);
    }
  }

  /**
   * Starts an instance a fence stopped (auto_rejoin). One that is still stopping is not yet
   * startable: the error says so and the caller tries again after its cooldown.
   */
  async start(instanceId: string): Promise<void> {
    try {
      await withAwsRetry(this.clock, () => this.ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] })));
    } catch (error) {
      throw awsFailure(`could not start instance ${instanceId}`, error);
    }
  }
}
