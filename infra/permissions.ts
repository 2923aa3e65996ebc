/**
 * Least-privilege IAM (docs/deploy.md): the policy both controller functions run with, scoped by the
 * `pgvigil:cluster` tag to the clusters this control plane serves, and each cluster's agent policy.
 */
import { Stack, Validations, aws_dynamodb as dynamodb, aws_events as events, aws_iam as iam, aws_kms as kms, aws_secretsmanager as secretsmanager, aws_sns as sns } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { normalizeRecordName } from '../core/routes.js';
import { TABLE_DEFINITION, keys } from '../core/table.js';
import { CLUSTER_TAG, logicalSuffix } from './props.js';
import type { ClusterResources } from './state.js';

/** What the controller's policy reaches. */
export interface ControllerPolicyTargets {
  readonly table: dynamodb.Table;
  readonly topic: sns.Topic;
  readonly topicKey: kms.Key;
  /** The Command documents it may send. */
  readonly documentArns: string[];
  readonly clusters: ClusterResources[];
  readonly eventBus?: events.IEventBus;
}

/** The controller's permissions (both functions run sagas: docs/controller.md). */
export function controllerPolicy(scope: Construct, { table, topic, topicKey, documentArns, clusters, eventBus }: ControllerPolicyTargets): iam.ManagedPolicy {
  const stack = Stack.of(scope);
  const clusterIds = clusters.map((c) => c.clusterId);
  const instanceArn = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
  const networkInterfaceArn = stack.formatArn({ service: 'ec2', resource: 'network-interface', resourceName: '*' });
  const clusterTagged = (key: string) => ({ StringEquals: { [key]: clusterIds } });
  const statements = [
    new iam.PolicyStatement({
      sid: 'StateTable',
      // What adapters/dynamo-state-store.ts calls (no Scan: the sweep lists clusters through the index).
      actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      resources: [table.tableArn, `${table.tableArn}/index/${TABLE_DEFINITION.clustersIndex.name}`],
    }),
    new iam.PolicyStatement({ sid: 'SendPgvigilDocuments', actions: ['ssm:SendCommand'], resources: documentArns }),
    new iam.PolicyStatement({
      sid: 'SendToClusterInstances',
      actions: ['ssm:SendCommand'],
      resources: [instanceArn],
      conditions: clusterTagged(`ssm:resourceTag/${CLUSTER_TAG}`),
    }),
    new iam.PolicyStatement({
      sid: 'ReadCommandResults',
      actions: ['ssm:GetCommandInvocation'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'StopClusterInstances',
      // Start: an instance a fence stopped comes back for auto_rejoin (docs/controller.md).
      actions: ['ec2:StopInstances', 'ec2:StartInstances'],
      resources: [instanceArn],
      conditions: clusterTagged(`aws:ResourceTag/${CLUSTER_TAG}`),
    }),
    new iam.PolicyStatement({ sid: 'DescribeAddresses', actions: ['ec2:DescribeAddresses'], resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'Notify', actions: ['sns:Publish'], resources: [topic.topicArn] }),
    new iam.PolicyStatement({
      sid: 'NotifyEncrypted',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [topicKey.keyArn],
    }),
  ];
  const vipArns = clusters.flatMap((c) => (c.vipArn ? [c.vipArn] : []));
  if (vipArns.length > 0) {
    statements.push(
      new iam.PolicyStatement({ sid: 'MoveClusterVips', actions: ['ec2:AssociateAddress', 'ec2:DisassociateAddress'], resources: vipArns }),
      new iam.PolicyStatement({
        sid: 'VipToClusterInstances',
        actions: ['ec2:AssociateAddress', 'ec2:DisassociateAddress'],
        resources: [instanceArn],
        conditions: clusterTagged(`aws:ResourceTag/${CLUSTER_TAG}`),
      }),
      // EC2 may also authorise a disassociation against the network interface the address is on.
      // That adds no reach: the same request must still be allowed on one of the clusters' Elastic IPs,
      // and a disassociation cannot send traffic anywhere. (Associations name the instance instead.)
      new iam.PolicyStatement({ sid: 'VipNetworkInterfaces', actions: ['ec2:DisassociateAddress'], resources: [networkInterfaceArn] }),
    );
  }
  const records = clusters.filter((c) => c.route53Record);
  for (const c of records) {
    const record = c.route53Record!;
    // Only this A record, only UPSERT (adapters/route53-vip.ts never deletes: see docs/deploy.md).
    statements.push(
      new iam.PolicyStatement({
        sid: `MoveRecord${logicalSuffix(c.clusterId).replace(/[^A-Za-z0-9]/g, '')}`,
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [hostedZoneArn(stack, record.hostedZoneId)],
        conditions: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': [normalizeRecordName(record.recordName)],
            'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
          },
        },
      }),
    );
  }
  if (records.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'ReadRecords',
        actions: ['route53:ListResourceRecordSets'],
        resources: [...new Set(records.map((c) => hostedZoneArn(stack, c.route53Record!.hostedZoneId)))],
      }),
      new iam.PolicyStatement({
        sid: 'RecordChanges',
        actions: ['route53:GetChange'],
        resources: [stack.formatArn({ service: 'route53', region: '', account: '', resource: 'change', resourceName: '*' })],
      }),
      // The record holds the primary's private address: the controller reads it from EC2.
      new iam.PolicyStatement({ sid: 'InstanceAddresses', actions: ['ec2:DescribeInstances'], resources: ['*'] }),
    );
  }
  if (eventBus) {
    statements.push(new iam.PolicyStatement({ sid: 'EventBus', actions: ['events:PutEvents'], resources: [eventBus.eventBusArn] }));
  }
  const policy = new iam.ManagedPolicy(scope, 'ControllerPolicy', {
    description: 'pgvigil controller: state table, its own SSM documents on its clusters, their Elastic IPs, the topic',
    statements,
  });
  Validations.of(policy).acknowledge(
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason:
        'Instances are chosen by tag, not by id: SendCommand, Associate/DisassociateAddress and StopInstances on instances are ' +
        `conditioned on the tag ${CLUSTER_TAG} being one of this deployment's cluster ids (ssm:resourceTag / aws:ResourceTag).`,
    },
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'ssm:GetCommandInvocation, ec2:DescribeAddresses and ec2:DescribeInstances support no resource-level permissions ' +
        '(metrics need no permission: the controller writes them as Embedded Metric Format logs).',
    },
  );
  if (vipArns.length > 0) {
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
      reason:
        'ec2:DisassociateAddress only: EC2 may authorise it against the network interface too; the same request must also be ' +
        "allowed on the Elastic IP, and only the clusters' Elastic IPs are, so this grants no further reach.",
    });
  }
  if (records.length > 0) {
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:route53:::change/*]',
      reason:
        'route53:GetChange only, to wait until an UPSERT of a cluster record is in sync: change ids are generated per request, ' +
        'so they cannot be named in advance, and reading a change status grants no access to any record.',
    });
  }
  return policy;
}

/**
 * The managed policy for the agents of one cluster: read the cluster's items and write only items
 * whose partition key is `C#<cluster>` — the `dynamodb:LeadingKeys` condition — and read its API secret.
 */
export function agentPolicy(scope: Construct, table: dynamodb.ITable, cluster: ClusterResources): iam.ManagedPolicy {
  const { clusterId } = cluster;
  const ownKeys = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [keys.partition(clusterId)] } };
  return new iam.ManagedPolicy(scope, `AgentPolicy${logicalSuffix(clusterId)}`, {
    description: `pgvigil agent of cluster ${clusterId}: only items under ${keys.partition(clusterId)}`,
    statements: [
      new iam.PolicyStatement({
        sid: 'ReadOwnCluster',
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
        resources: [table.tableArn],
        conditions: ownKeys,
      }),
      new iam.PolicyStatement({
        sid: 'WriteOwnCluster',
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        resources: [table.tableArn],
        conditions: ownKeys,
      }),
      ...agentApiSecretStatements(cluster.agentApiSecret),
    ],
  });
}

function hostedZoneArn(stack: Stack, hostedZoneId: string): string {
  return stack.formatArn({ service: 'route53', region: '', account: '', resource: 'hostedzone', resourceName: hostedZoneId });
}

/** Read on the agent API secret: GetSecretValue, and Decrypt when a customer managed key encrypts it. */
function agentApiSecretStatements(secret: secretsmanager.ISecret): iam.PolicyStatement[] {
  // A secret imported by name has a partial ARN; Secrets Manager appends six characters to it.
  const arn = secret.secretFullArn ?? `${secret.secretArn}-??????`;
  const statements = [new iam.PolicyStatement({ sid: 'ReadAgentApiSecret', actions: ['secretsmanager:GetSecretValue'], resources: [arn] })];
  if (secret.encryptionKey) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'DecryptAgentApiSecret',
        actions: ['kms:Decrypt'],
        resources: [secret.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(secret).region}.amazonaws.com` } },
      }),
    );
  }
  return statements;
}
