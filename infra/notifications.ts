/**
 * The notification topic: every event the controller publishes and every alarm's change (docs/operations.md).
 */
import { aws_iam as iam, aws_kms as kms, aws_sns as sns, type RemovalPolicy } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * The topic, encrypted with a customer managed key: CloudWatch alarms cannot publish to a topic
 * encrypted with the AWS managed aws/sns key.
 */
export function notificationTopic(scope: Construct, removalPolicy: RemovalPolicy): { topic: sns.Topic; topicKey: kms.Key } {
  const topicKey = new kms.Key(scope, 'TopicKey', {
    description: 'pgvigil: encrypts the notification topic',
    enableKeyRotation: true,
    removalPolicy,
  });
  topicKey.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['*'],
      // No aws:SourceAccount condition: AWS's own example for alarms on encrypted topics has none,
      // and a condition the service does not populate would silently stop every alarm notification.
    }),
  );
  const topic = new sns.Topic(scope, 'Topic', {
    displayName: 'pgvigil events and alarms',
    masterKey: topicKey,
    enforceSSL: true,
  });
  return { topic, topicKey };
}
