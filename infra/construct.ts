/**
 * `PgvigilControlPlane`: everything pgvigil runs in AWS, as one construct for your own CDK app.
 *
 * Tagging convention (docs/deploy.md): every EC2 instance of a cluster and the cluster's Elastic
 * IP carry the tag `pgvigil:cluster` = cluster id. IAM keys on it: the controller may send
 * pgvigil's SSM documents to, move the Elastic IP to, and stop only instances tagged with one of the
 * clusters this construct was given, and an agent's policy lets it write only its cluster's items.
 */
import { RemovalPolicy, aws_cloudwatch as cloudwatch, aws_dynamodb as dynamodb, aws_events as events, aws_iam as iam, aws_kms as kms, aws_lambda as lambda, aws_secretsmanager as secretsmanager, aws_sns as sns, aws_sqs as sqs } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { commandDocumentResources, switchoverAutomation } from './documents.js';
import { controllerEnvironment, evaluatorDeadLetterQueue, evaluatorFunction, hostEventsFunction, switchoverFunction } from './functions.js';
import { monitoring } from './monitoring.js';
import { notificationTopic } from './notifications.js';
import { agentPolicy, controllerPolicy } from './permissions.js';
import { validateProps, type PgvigilControlPlaneProps } from './props.js';
import { DEFAULT_DOCUMENT_PREFIX, type SsmAction } from './ssm-documents.js';
import { clusterResources, stateTable, type ClusterResources } from './state.js';

export { CLUSTER_TAG } from './props.js';
export type { PgvigilAlarmThresholds, PgvigilClusterProps, PgvigilControlPlaneProps, PgvigilRoute53RecordProps } from './props.js';

/**
 * The serverless control plane of pgvigil (docs/architecture.md): state table, evaluator (DynamoDB stream +
 * sweep), switchover function, SSM documents, SNS topic, alarms, dashboard and least-privilege IAM.
 */
export class PgvigilControlPlane extends Construct {
  readonly table: dynamodb.Table;
  readonly topic: sns.Topic;
  readonly topicKey: kms.Key;
  readonly evaluator: lambda.Function;
  readonly switchover: lambda.Function;
  /** Stream records the evaluator gave up on (after retries and bisection). */
  readonly deadLetterQueue: sqs.Queue;
  readonly sweepRule: events.Rule;
  /** The policy both controller functions run with. */
  readonly controllerPolicy: iam.ManagedPolicy;
  readonly documentPrefix: string;
  readonly commandDocumentNames: Readonly<Record<SsmAction, string>>;
  readonly switchoverDocumentName: string;
  readonly switchoverAutomationRole: iam.Role;
  /** Moves a primary off an instance AWS means to take (docs/operations.md, "When AWS takes the host"). */
  readonly hostEvents: lambda.Function;
  /** AWS Health scheduled changes of EC2 instances; EC2 Spot interruption warnings and rebalance recommendations. */
  readonly hostEventRules: events.Rule[];
  readonly dashboard: cloudwatch.Dashboard;
  /** Evaluator errors and records given up, plus every cluster's alarms. */
  readonly alarms: cloudwatch.Alarm[];
  private readonly clusterResources: Map<string, ClusterResources>;
  private readonly agentPolicies = new Map<string, iam.ManagedPolicy>();

  constructor(scope: Construct, id: string, props: PgvigilControlPlaneProps) {
    super(scope, id);
    validateProps(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const prefix = props.documentPrefix ?? DEFAULT_DOCUMENT_PREFIX;
    this.documentPrefix = prefix;

    // In this order: a resource's place in the template follows it.
    this.table = stateTable(this, props.tableName, removalPolicy);
    ({ topic: this.topic, topicKey: this.topicKey } = notificationTopic(this, removalPolicy));
    this.deadLetterQueue = evaluatorDeadLetterQueue(this);
    const documents = commandDocumentResources(this, prefix, props.agentCommand);
    this.commandDocumentNames = documents.names;
    this.clusterResources = clusterResources(this, props, prefix, removalPolicy);
    this.controllerPolicy = controllerPolicy(this, {
      table: this.table,
      topic: this.topic,
      topicKey: this.topicKey,
      documentArns: documents.arns,
      clusters: [...this.clusterResources.values()],
      eventBus: props.eventBus,
    });

    const base = {
      policy: this.controllerPolicy,
      environment: controllerEnvironment(this.table, this.topic, prefix, props.eventBus),
      logRetention: props.logRetention,
      removalPolicy,
    };
    ({ evaluator: this.evaluator, sweepRule: this.sweepRule } = evaluatorFunction(this, base, this.table, this.deadLetterQueue, props));
    this.switchover = switchoverFunction(this, base);
    ({ role: this.switchoverAutomationRole, documentName: this.switchoverDocumentName } = switchoverAutomation(this, prefix, this.switchover));
    ({ hostEvents: this.hostEvents, hostEventRules: this.hostEventRules } = hostEventsFunction(this, base));

    ({ alarms: this.alarms, dashboard: this.dashboard } = monitoring(this, {
      topic: this.topic,
      evaluator: this.evaluator,
      deadLetterQueue: this.deadLetterQueue,
      clusters: this.clusterResources.values(),
      thresholds: props.alarmThresholds,
    }));
  }

  /** The cluster ids this control plane serves. */
  get clusterIds(): string[] {
    return [...this.clusterResources.keys()];
  }

  /** Allocation id of a cluster's Elastic IP (a token when the construct allocated it); none with `elasticIp: false`. */
  vipAllocationId(clusterId: string): string | undefined {
    return this.cluster(clusterId).vipAllocationId;
  }

  /** The secret of a cluster's agent API (`rest_api_secret_arn`). */
  agentApiSecret(clusterId: string): secretsmanager.ISecret {
    return this.cluster(clusterId).agentApiSecret;
  }

  /** The alarms of one cluster (stale primary heartbeat, critical lag, failover, split brain, failover data loss). */
  clusterAlarms(clusterId: string): cloudwatch.Alarm[] {
    return [...this.cluster(clusterId).alarms];
  }

  /**
   * The managed policy for the agents of one cluster (attach it to their instance role): read the
   * cluster's items and write only items whose partition key is `C#<cluster>` — the
   * `dynamodb:LeadingKeys` condition. One policy per cluster, created on first use.
   */
  agentPolicy(clusterId: string): iam.ManagedPolicy {
    const cluster = this.cluster(clusterId);
    let policy = this.agentPolicies.get(clusterId);
    if (!policy) {
      policy = agentPolicy(this, this.table, cluster);
      this.agentPolicies.set(clusterId, policy);
    }
    return policy;
  }

  /** Attaches {@link agentPolicy} of `clusterId` to an agent's role. */
  grantAgent(role: iam.IRole, clusterId: string): void {
    role.addManagedPolicy(this.agentPolicy(clusterId));
  }

  private cluster(clusterId: string): ClusterResources {
    const c = this.clusterResources.get(clusterId);
    if (!c) throw new Error(`pgvigil: cluster "${clusterId}" is not one of this control plane's clusters (${this.clusterIds.join(', ')})`);
    return c;
  }
}
