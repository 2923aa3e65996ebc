/**
 * The control plane's state: the table (core/table.ts is the single source of its layout) and what
 * each cluster owns besides its items — its Elastic IP and the secret of its agents' API.
 */
import { Stack, Tags, Validations, aws_cloudwatch as cloudwatch, aws_dynamodb as dynamodb, aws_ec2 as ec2, aws_secretsmanager as secretsmanager, type RemovalPolicy } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { TABLE_DEFINITION } from '../core/table.js';
import { CLUSTER_TAG, logicalSuffix, type PgvigilControlPlaneProps, type PgvigilRoute53RecordProps } from './props.js';

/** What the control plane holds for one of its clusters. */
export interface ClusterResources {
  readonly clusterId: string;
  readonly vipAllocationId?: string;
  readonly vipArn?: string;
  readonly agentApiSecret: secretsmanager.ISecret;
  readonly route53Record?: PgvigilRoute53RecordProps;
  readonly failoverDataLossBudgetBytes: number | null;
  readonly alarms: cloudwatch.Alarm[];
}

/** The state table, with the sparse index of cluster records. */
export function stateTable(scope: Construct, tableName: string | undefined, removalPolicy: RemovalPolicy): dynamodb.Table {
  const table = new dynamodb.Table(scope, 'StateTable', {
    tableName,
    partitionKey: { name: TABLE_DEFINITION.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: TABLE_DEFINITION.sortKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: TABLE_DEFINITION.ttlAttribute,
    stream: dynamodb.StreamViewType[TABLE_DEFINITION.streamView],
    removalPolicy,
  });
  // Sparse: only cluster records carry gsi1pk, so the sweep lists clusters without a Scan.
  table.addGlobalSecondaryIndex({
    indexName: TABLE_DEFINITION.clustersIndex.name,
    partitionKey: { name: TABLE_DEFINITION.clustersIndex.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: TABLE_DEFINITION.clustersIndex.sortKey, type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.KEYS_ONLY,
  });
  return table;
}

/**
 * Each cluster's resources: an Elastic IP unless it brings one or has none (the VIP, docs/deploy.md),
 * and its agent API secret unless it brings one.
 */
export function clusterResources(
  scope: Construct,
  props: PgvigilControlPlaneProps,
  prefix: string,
  removalPolicy: RemovalPolicy,
): Map<string, ClusterResources> {
  const stack = Stack.of(scope);
  const resources = new Map<string, ClusterResources>();
  for (const cluster of props.clusters) {
    let allocationId = cluster.vipAllocationId;
    if (!allocationId && cluster.elasticIp !== false) {
      const eip = new ec2.CfnEIP(scope, `Vip${logicalSuffix(cluster.clusterId)}`, { domain: 'vpc' });
      Tags.of(eip).add(CLUSTER_TAG, cluster.clusterId);
      Tags.of(eip).add('Name', `pgvigil-${cluster.clusterId}-vip`);
      eip.applyRemovalPolicy(removalPolicy);
      allocationId = eip.attrAllocationId;
    }
    const agentApiSecret = cluster.agentApiSecret ?? newAgentApiSecret(scope, cluster.clusterId, prefix, removalPolicy);
    resources.set(cluster.clusterId, {
      clusterId: cluster.clusterId,
      ...(allocationId
        ? { vipAllocationId: allocationId, vipArn: stack.formatArn({ service: 'ec2', resource: 'elastic-ip', resourceName: allocationId }) }
        : {}),
      agentApiSecret,
      ...(cluster.route53Record ? { route53Record: cluster.route53Record } : {}),
      failoverDataLossBudgetBytes: cluster.failoverDataLossBudgetBytes === undefined ? 0 : cluster.failoverDataLossBudgetBytes,
      alarms: [],
    });
  }
  return resources;
}

function newAgentApiSecret(scope: Construct, clusterId: string, prefix: string, removalPolicy: RemovalPolicy): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, `AgentApiSecret${logicalSuffix(clusterId)}`, {
    secretName: `${prefix}/${clusterId}/agent-api`,
    description: `pgvigil ${clusterId}: shared secret of the agents' HTTP API (failsafe confirmations)`,
    generateSecretString: { passwordLength: 48, excludePunctuation: true },
    removalPolicy,
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SMG4',
    reason:
      "Every agent of the cluster reads this shared secret when it starts and must hold the same value: a rotation needs the " +
      'agents restarted with it together (docs/deploy.md), which a rotation Lambda cannot do.',
  });
  return secret;
}
