/**
 * Events to SNS (docs/controller.md): the event record as JSON, with message attributes `event`, `cluster_id`,
 * `node_id` (Number) and `successful` ("true"/"false") so subscribers can filter without parsing.
 * Which events are published (`event_notifications`) is decided by the caller, who knows the
 * cluster's settings (functions/event-log.ts).
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { EventRecord } from '../core/model.js';
import type { Clock, Notifier } from '../core/ports.js';
import { awsFailure, withAwsRetry } from './aws-retry.js';
import { systemClock } from './system-clock.js';

export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async publish(event: EventRecord): Promise<void> {
    try {
      await withAwsRetry(this.clock, () =>
        this.sns.send(
          new PublishCommand({
            TopicArn: this.topicArn,
            Subject: `pgvigil ${event.cluster_id}: ${event.event}`.slice(0, 100),
            Message: JSON.stringify(event),
            MessageAttributes: {
              event: { DataType: 'String', StringValue: event.event },
              cluster_id: { DataType: 'String', StringValue: event.cluster_id },
              node_id: { DataType: 'Number', StringValue: String(event.node_id) },
              successful: { DataType: 'String', StringValue: String(event.successful) },
            },
          }),
        ),
      );
    } catch (error) {
      throw awsFailure(`could not publish event ${event.event} of cluster ${event.cluster_id}`, error);
    }
  }
}
