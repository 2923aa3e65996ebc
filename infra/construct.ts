/**
 * `PgvigilControlPlane`: everything pgvigil runs in AWS, as one construct for your own CDK app.
 *
 * Tagging convention (docs/deploy.md): every EC2 instance of a cluster and the cluster's Elastic
 * IP carry the tag `pgvigil:cluster` = cluster id. IAM keys on it: the controller may send
 * pgvigil's SSM documents to, move the Elastic IP to, and stop only instances tagged with one of the
 * clusters this construct was given, and an agent's policy lets it write only its cluster's items.
 */
import {
  Aws,
  Duration,
  RemovalPolicy,
  Stack,
  Tags,
  Token,
  Validations,
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  aws_dynamodb as dynamodb,
  aws_ec2 as ec2,
  aws_events as events,
  aws_events_targets as targets,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_lambda_event_sources as sources,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
  aws_sns as sns,
  aws_sqs as sqs,
  aws_ssm as ssm,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { LAMBDA_NODE_MAJOR, lambdaCodeDir, type LambdaHandler } from '../build/artifacts.js';
import { CLUSTER_DIMENSION, METRICS, METRICS_NAMESPACE, type MetricDefinition } from '../core/metrics.js';
import { HOST_EVENT_PATTERNS } from '../core/host-events.js';
import { isDnsName, normalizeRecordName } from '../core/routes.js';
import { STREAM_FILTER_PATTERNS } from '../core/stream-filter.js';
import { TABLE_DEFINITION, keys } from '../core/table.js';
import {
  DEFAULT_DOCUMENT_PREFIX,
  PARAMETER_PATTERNS,
  SSM_ACTIONS,
  SWITCHOVER_DOCUMENT,
  commandDocuments,
  documentName,
  switchoverAutomationContent,
  type SsmAction,
} from './ssm-documents.js';

/** The tag every instance and Elastic IP of a cluster carries; its value is the cluster id. */
export const CLUSTER_TAG = 'pgvigil:cluster';

const CLUSTER_ID_RE = new RegExp(PARAMETER_PATTERNS.ClusterId);

/** One cluster served by the control plane. */
export interface PgvigilClusterProps {
  /** The cluster's `cluster_id` (as in repmgr.conf); also the value of the `pgvigil:cluster` tag. */
  readonly clusterId: string;
  /**
   * Allocation id of an existing Elastic IP to use as the cluster's virtual IP. The address must
   * carry the tag `pgvigil:cluster` = cluster id (CloudFormation cannot tag an imported address).
   * @default a new Elastic IP is allocated and tagged
   */
  readonly vipAllocationId?: string;
  /**
   * Whether the cluster has an Elastic IP route at all. `false` for hosts in private subnets: an
   * Elastic IP can only be associated in a VPC with an internet gateway, so such a cluster reaches
   * its primary through the Route 53 record or a load balancer (docs/deploy.md, "Routes to the primary").
   * @default true
   */
  readonly elasticIp?: boolean;
  /**
   * A Route 53 record that follows the primary besides (or instead of) the Elastic IP: the cluster's
   * `route53_zone_id` and `route53_record_name`. The controller may UPSERT this A record only.
   * @default none
   */
  readonly route53Record?: PgvigilRoute53RecordProps;
  /**
   * The shared secret of the agents' HTTP API (`rest_api_secret_arn`): failsafe confirmations and
   * anything else that is not a read-only probe must carry it. The cluster's agent policy may read it.
   * @default a new secret, named `<documentPrefix>/<clusterId>/agent-api`
   */
  readonly agentApiSecret?: secretsmanager.ISecret;
  /**
   * The failover data-loss budget, in bytes of WAL: an alarm (`FailoverDataLoss<cluster>`) when a
   * failover's data-loss record (metric `FailoverDataLossBytes`, docs/operations.md) exceeds it.
   * `null` creates no such alarm.
   * @default 0 — any loss alarms: a failover with synchronous replication records 0 by construction,
   * so a breach means the guarantee did not hold; with asynchronous replication it tells whenever a
   * failover lost writes (raise the budget to what the cluster accepts)
   */
  readonly failoverDataLossBudgetBytes?: number | null;
}

/** A record in a (private) hosted zone that the controller points at the primary's private address. */
export interface PgvigilRoute53RecordProps {
  /** The hosted zone id (`Z…`; a token such as `zone.hostedZoneId` is fine). */
  readonly hostedZoneId: string;
  /** The record's fully qualified name, as written in `route53_record_name` (not a token: IAM names it). */
  readonly recordName: string;
}

/** Alarm thresholds (docs/controller.md). */
export interface PgvigilAlarmThresholds {
  /**
   * Seconds after which the primary's latest heartbeat counts as stale.
   * @default 30 (twice the default node_timeout of 3 × heartbeat_interval_secs 5)
   */
  readonly staleHeartbeatSeconds?: number;
  /**
   * Replication lag, in bytes of WAL, that is critical.
   * @default 1 GiB
   */
  readonly replicationLagCriticalBytes?: number;
}

export interface PgvigilControlPlaneProps {
  /** The clusters this deployment serves (at least one). IAM and alarms are scoped to them. */
  readonly clusters: readonly PgvigilClusterProps[];
  /**
   * Name of the state table.
   * @default a name generated by CloudFormation
   */
  readonly tableName?: string;
  /**
   * Prefix of the SSM document names (`<prefix>-Promote` …). Must be unique in the account and Region.
   * @default 'pgvigil'
   */
  readonly documentPrefix?: string;
  /**
   * The agent's executable on the hosts, as the SSM documents run it.
   * @default 'pgvigil-agent' (on PATH; the example stack links it into /usr/local/bin)
   */
  readonly agentCommand?: string;
  /**
   * What happens to the state table, the Elastic IPs and the log groups when the stack is deleted.
   * @default RemovalPolicy.RETAIN (they hold the cluster's state and the address clients use)
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Retention of the functions' log groups.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserved concurrency of the evaluator. Not needed for safety: sagas are serialised by
   * conditional writes on the cluster record (term CAS + owner), never by Lambda concurrency.
   * Reserving capacity also fails in new accounts whose concurrency limit is 10.
   * @default no reservation (the stream mapping uses one concurrent batch per shard, plus one sweep a minute)
   */
  readonly evaluatorReservedConcurrency?: number;
  /**
   * How long one evaluator invocation may run (a saga step waits for SSM commands, bounded).
   * @default Duration.minutes(5)
   */
  readonly evaluatorTimeout?: Duration;
  /**
   * Schedule of the safety sweep, which evaluates every cluster even when no stream record arrived.
   * @default events.Schedule.rate(Duration.minutes(1))
   */
  readonly sweepSchedule?: events.Schedule;
  /**
   * Alarm thresholds.
   * @default see {@link PgvigilAlarmThresholds}
   */
  readonly alarmThresholds?: PgvigilAlarmThresholds;
  /**
   * An EventBridge bus the controller also publishes events to (`PGVIGIL_EVENT_BUS`).
   * @default none: events go to the table and the SNS topic only
   */
  readonly eventBus?: events.IEventBus;
}

interface ClusterResources {
  readonly clusterId: string;
  readonly vipAllocationId?: string;
  readonly vipArn?: string;
  readonly agentApiSecret: secretsmanager.ISecret;
  readonly route53Record?: PgvigilRoute53RecordProps;
  readonly failoverDataLossBudgetBytes: number | null;
  readonly alarms: cloudwatch.Alarm[];
}

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
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly clusterResources = new Map<string, ClusterResources>();
  private readonly agentPolicies = new Map<string, iam.ManagedPolicy>();

  constructor(scope: Construct, id: string, props: PgvigilControlPlaneProps) {
    super(scope, id);
    validateProps(props);
    const stack = Stack.of(this);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const prefix = props.documentPrefix ?? DEFAULT_DOCUMENT_PREFIX;
    this.documentPrefix = prefix;
    const clusterIds = props.clusters.map((c) => c.clusterId);

    // ---- state table (core/table.ts is the single source of the layout)
    this.table = new dynamodb.Table(this, 'StateTable', {
      tableName: props.tableName,
      partitionKey: { name: TABLE_DEFINITION.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_DEFINITION.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_DEFINITION.ttlAttribute,
      stream: dynamodb.StreamViewType[TABLE_DEFINITION.streamView],
      removalPolicy,
    });
    // Sparse: only cluster records carry gsi1pk, so the sweep lists clusters without a Scan.
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE_DEFINITION.clustersIndex.name,
      partitionKey: { name: TABLE_DEFINITION.clustersIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_DEFINITION.clustersIndex.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });

    // ---- notifications: a customer managed key, because CloudWatch alarms cannot publish to a
    // topic encrypted with the AWS managed aws/sns key.
    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'pgvigil: encrypts the notification topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        // No aws:SourceAccount condition: AWS's own example for alarms on encrypted topics has none,
        // and a condition the service does not populate would silently stop every alarm notification.
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'pgvigil events and alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'EvaluatorDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: "This queue is itself the dead-letter queue (the stream mapping's on-failure destination); a DLQ of a DLQ has no reader.",
    });

    // ---- SSM Command documents (content shared with the sandbox, see ssm-documents.ts)
    const docs = commandDocuments({ prefix, agentCommand: props.agentCommand });
    const names = {} as Record<SsmAction, string>;
    const documentArns: string[] = [];
    for (const action of SSM_ACTIONS) {
      const doc = docs[action];
      new ssm.CfnDocument(this, `${action}Document`, {
        name: doc.name,
        documentType: 'Command',
        documentFormat: 'JSON',
        updateMethod: 'NewVersion',
        content: doc.content,
      });
      names[action] = doc.name;
      documentArns.push(stack.formatArn({ service: 'ssm', resource: 'document', resourceName: doc.name }));
    }
    this.commandDocumentNames = names;

    // ---- Elastic IPs, one per cluster unless it has none (the VIP, docs/deploy.md)
    for (const cluster of props.clusters) {
      let allocationId = cluster.vipAllocationId;
      if (!allocationId && cluster.elasticIp !== false) {
        const eip = new ec2.CfnEIP(this, `Vip${logicalSuffix(cluster.clusterId)}`, { domain: 'vpc' });
        Tags.of(eip).add(CLUSTER_TAG, cluster.clusterId);
        Tags.of(eip).add('Name', `pgvigil-${cluster.clusterId}-vip`);
        eip.applyRemovalPolicy(removalPolicy);
        allocationId = eip.attrAllocationId;
      }
      const agentApiSecret = cluster.agentApiSecret ?? this.newAgentApiSecret(cluster.clusterId, prefix, removalPolicy);
      this.clusterResources.set(cluster.clusterId, {
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

    // ---- the controller's permissions (both functions run sagas: docs/controller.md)
    const instanceArn = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
    const networkInterfaceArn = stack.formatArn({ service: 'ec2', resource: 'network-interface', resourceName: '*' });
    const clusterTagged = (key: string) => ({ StringEquals: { [key]: clusterIds } });
    const statements = [
      new iam.PolicyStatement({
        sid: 'StateTable',
        // What adapters/dynamo-state-store.ts calls (no Scan: the sweep lists clusters through the index).
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        resources: [this.table.tableArn, `${this.table.tableArn}/index/${TABLE_DEFINITION.clustersIndex.name}`],
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
      new iam.PolicyStatement({ sid: 'Notify', actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
      new iam.PolicyStatement({
        sid: 'NotifyEncrypted',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.topicKey.keyArn],
      }),
    ];
    const vipArns = [...this.clusterResources.values()].flatMap((c) => (c.vipArn ? [c.vipArn] : []));
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
    const records = [...this.clusterResources.values()].filter((c) => c.route53Record);
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
    if (props.eventBus) {
      statements.push(new iam.PolicyStatement({ sid: 'EventBus', actions: ['events:PutEvents'], resources: [props.eventBus.eventBusArn] }));
    }
    this.controllerPolicy = new iam.ManagedPolicy(this, 'ControllerPolicy', {
      description: 'pgvigil controller: state table, its own SSM documents on its clusters, their Elastic IPs, the topic',
      statements,
    });
    Validations.of(this.controllerPolicy).acknowledge(
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
      Validations.of(this.controllerPolicy).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
        reason:
          'ec2:DisassociateAddress only: EC2 may authorise it against the network interface too; the same request must also be ' +
          "allowed on the Elastic IP, and only the clusters' Elastic IPs are, so this grants no further reach.",
      });
    }
    if (records.length > 0) {
      Validations.of(this.controllerPolicy).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:route53:::change/*]',
        reason:
          'route53:GetChange only, to wait until an UPSERT of a cluster record is in sync: change ids are generated per request, ' +
          'so they cannot be named in advance, and reading a change status grants no access to any record.',
      });
    }

    const environment: Record<string, string> = {
      PGVIGIL_TABLE: this.table.tableName,
      PGVIGIL_TOPIC_ARN: this.topic.topicArn,
      PGVIGIL_SSM_DOCUMENT_PREFIX: prefix,
      NODE_OPTIONS: '--enable-source-maps',
      ...(props.eventBus ? { PGVIGIL_EVENT_BUS: props.eventBus.eventBusName } : {}),
    };

    // ---- evaluator: stream-triggered and swept
    this.evaluator = this.controllerFunction('Evaluator', {
      handler: 'evaluator',
      description: 'pgvigil evaluator: decides and drives failover sagas (DynamoDB stream + sweep)',
      timeout: props.evaluatorTimeout ?? Duration.minutes(5),
      reservedConcurrentExecutions: props.evaluatorReservedConcurrency,
      environment,
      logRetention: props.logRetention,
      removalPolicy,
    });
    this.evaluator.addEventSource(
      new sources.DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: 100,
        // Failover latency matters more than batching: no batching window.
        parallelizationFactor: 1,
        bisectBatchOnError: true,
        // A stuck record blocks its shard; the sweep re-evaluates every minute anyway, so a record
        // older than a few minutes is worth nothing and goes to the dead-letter queue.
        retryAttempts: 3,
        maxRecordAge: Duration.minutes(5),
        reportBatchItemFailures: true,
        onFailure: new sources.SqsDlq(this.deadLetterQueue),
        filters: STREAM_FILTER_PATTERNS.map((p) => lambda.FilterCriteria.filter(p)),
      }),
    );
    Validations.of(this.evaluator.role ?? this.evaluator).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'dynamodb:ListStreams (added by the stream event source) supports no resource-level permissions; the other stream actions are scoped to the table stream.',
    });
    this.sweepRule = new events.Rule(this, 'SweepSchedule', {
      description: 'pgvigil safety sweep: evaluates every cluster',
      schedule: props.sweepSchedule ?? events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.evaluator, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    // ---- switchover: invoked synchronously by the Automation document (15 min is Lambda's ceiling)
    this.switchover = this.controllerFunction('Switchover', {
      handler: 'switchover',
      description: 'pgvigil switchover: planned role swap (SSM Automation entry point)',
      timeout: Duration.minutes(15),
      environment,
      logRetention: props.logRetention,
      removalPolicy,
    });

    this.switchoverAutomationRole = new iam.Role(this, 'SwitchoverAutomationRole', {
      description: 'pgvigil: role SSM Automation assumes to run the switchover document',
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      inlinePolicies: {
        InvokeSwitchover: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.switchover.functionArn] }),
          ],
        }),
      },
    });
    this.switchoverDocumentName = documentName(prefix, SWITCHOVER_DOCUMENT);
    new ssm.CfnDocument(this, 'SwitchoverDocument', {
      name: this.switchoverDocumentName,
      documentType: 'Automation',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: switchoverAutomationContent(this.switchover.functionName, this.switchoverAutomationRole.roleArn),
    });

    // ---- host events: AWS announces it takes an instance; a primary on it is switched over first
    this.hostEvents = this.controllerFunction('HostEvents', {
      handler: 'host-events',
      description: 'pgvigil host events: moves a primary off an instance AWS retires, reboots or interrupts',
      // It runs the switchover in-process, with the switchover function's bound.
      timeout: Duration.minutes(15),
      environment,
      logRetention: props.logRetention,
      removalPolicy,
    });
    // Instance ids are not known at deployment (hosts come and go): the rules take every EC2
    // instance of the account and region, and the function ignores those no node runs on.
    this.hostEventRules = Object.entries(HOST_EVENT_PATTERNS).map(
      ([name, pattern]) =>
        new events.Rule(this, `HostEvents${name[0]?.toUpperCase()}${name.slice(1)}Rule`, {
          description: `pgvigil host events (${name}): moves a primary off an instance AWS takes`,
          eventPattern: { source: [...pattern.source], detailType: [...pattern['detail-type']], ...('detail' in pattern ? { detail: pattern.detail } : {}) },
          targets: [new targets.LambdaFunction(this.hostEvents, { retryAttempts: 2, maxEventAge: Duration.hours(1) })],
        }),
    );

    // ---- alarms and dashboard
    const thresholds = {
      staleHeartbeatSeconds: props.alarmThresholds?.staleHeartbeatSeconds ?? 30,
      replicationLagCriticalBytes: props.alarmThresholds?.replicationLagCriticalBytes ?? 1024 ** 3,
    };
    const notify = new cloudwatchActions.SnsAction(this.topic);
    const alarm = (idPart: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const a = new cloudwatch.Alarm(this, idPart, alarmProps);
      a.addAlarmAction(notify);
      a.addOkAction(notify); // "resolved" too, so an operator learns the alarm cleared
      this.alarms.push(a);
      return a;
    };
    alarm('EvaluatorErrorsAlarm', {
      alarmDescription: 'pgvigil: the evaluator function failed (see its log group); the sweep retries every minute',
      metric: this.evaluator.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('EvaluatorDeadLettersAlarm', {
      alarmDescription: 'pgvigil: stream records were given up after retries (the sweep still evaluates every cluster)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const widgets: cloudwatch.IWidget[][] = [];
    for (const c of this.clusterResources.values()) {
      const suffix = logicalSuffix(c.clusterId);
      // Alarms get the plain metric (a label would turn it into a metric-math alarm); graphs get a label.
      const alarmMetric = (def: MetricDefinition, statistic: string) =>
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: def.name,
          dimensionsMap: { [CLUSTER_DIMENSION]: c.clusterId },
          statistic,
          period: Duration.minutes(1),
        });
      const m = (def: MetricDefinition, statistic: string) => alarmMetric(def, statistic).with({ label: `${c.clusterId} ${def.name}` });
      c.alarms.push(
        alarm(`StalePrimaryHeartbeat${suffix}`, {
          alarmDescription: `pgvigil ${c.clusterId}: the primary's heartbeat is older than ${thresholds.staleHeartbeatSeconds} s`,
          metric: alarmMetric(METRICS.heartbeatAge, 'Maximum'),
          threshold: thresholds.staleHeartbeatSeconds,
          evaluationPeriods: 2,
          datapointsToAlarm: 2,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.MISSING,
        }),
        alarm(`ReplicationLagCritical${suffix}`, {
          alarmDescription: `pgvigil ${c.clusterId}: a standby lags more than ${thresholds.replicationLagCriticalBytes} bytes`,
          metric: alarmMetric(METRICS.replicationLag, 'Maximum'),
          threshold: thresholds.replicationLagCriticalBytes,
          evaluationPeriods: 3,
          datapointsToAlarm: 3,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.MISSING,
        }),
        alarm(`FailoverHappened${suffix}`, {
          alarmDescription: `pgvigil ${c.clusterId}: a failover promoted a new primary (see cluster event)`,
          metric: alarmMetric(METRICS.failovers, 'Sum'),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        alarm(`SplitBrain${suffix}`, {
          alarmDescription: `pgvigil ${c.clusterId}: two nodes ran as primary; the intruder was fenced`,
          metric: alarmMetric(METRICS.splitBrains, 'Sum'),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      if (c.failoverDataLossBudgetBytes !== null) {
        c.alarms.push(
          alarm(`FailoverDataLoss${suffix}`, {
            alarmDescription: `pgvigil ${c.clusterId}: a failover's new primary lacked more than ${c.failoverDataLossBudgetBytes} bytes of the old primary's WAL (see the repmgrd_failover_promote event)`,
            metric: alarmMetric(METRICS.failoverDataLoss, 'Maximum'),
            threshold: c.failoverDataLossBudgetBytes,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
        );
      }
      widgets.push([
        new cloudwatch.TextWidget({ markdown: `## pgvigil cluster \`${c.clusterId}\``, width: 24, height: 1 }),
      ]);
      widgets.push([
        new cloudwatch.GraphWidget({
          title: `${c.clusterId}: primary heartbeat age / lease age (s)`,
          left: [m(METRICS.heartbeatAge, 'Maximum'), m(METRICS.leaseAge, 'Maximum')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${c.clusterId}: replication lag (bytes / s)`,
          left: [m(METRICS.replicationLag, 'Maximum')],
          right: [m(METRICS.replicationLagSeconds, 'Maximum')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${c.clusterId}: failovers, split brains, saga step failures / failover data loss (bytes)`,
          left: [m(METRICS.failovers, 'Sum'), m(METRICS.splitBrains, 'Sum'), m(METRICS.sagaStepFailures, 'Sum')],
          right: [m(METRICS.failoverDataLoss, 'Maximum')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: `${c.clusterId}: decision latency / failover duration (ms)`,
          left: [m(METRICS.decisionLatency, 'p99')],
          right: [m(METRICS.failoverDuration, 'Maximum')],
          width: 6,
        }),
      ]);
    }
    widgets.push([
      new cloudwatch.GraphWidget({
        title: 'evaluator invocations / errors',
        left: [this.evaluator.metricInvocations(), this.evaluator.metricErrors()],
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: 'evaluator duration (ms)', left: [this.evaluator.metricDuration({ statistic: 'p99' })], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'stream iterator age (ms)',
        left: [
          new cloudwatch.Metric({
            namespace: 'AWS/Lambda',
            metricName: 'IteratorAge',
            dimensionsMap: { FunctionName: this.evaluator.functionName },
            statistic: 'Maximum',
          }),
        ],
        width: 8,
      }),
    ]);
    widgets.push([new cloudwatch.AlarmStatusWidget({ title: 'pgvigil alarms', alarms: this.alarms, width: 24 })]);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { widgets });
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
    this.cluster(clusterId);
    let policy = this.agentPolicies.get(clusterId);
    if (!policy) {
      const ownKeys = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [keys.partition(clusterId)] } };
      policy = new iam.ManagedPolicy(this, `AgentPolicy${logicalSuffix(clusterId)}`, {
        description: `pgvigil agent of cluster ${clusterId}: only items under ${keys.partition(clusterId)}`,
        statements: [
          new iam.PolicyStatement({
            sid: 'ReadOwnCluster',
            actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
            resources: [this.table.tableArn],
            conditions: ownKeys,
          }),
          new iam.PolicyStatement({
            sid: 'WriteOwnCluster',
            actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
            resources: [this.table.tableArn],
            conditions: ownKeys,
          }),
          ...agentApiSecretStatements(this.cluster(clusterId).agentApiSecret),
        ],
      });
      this.agentPolicies.set(clusterId, policy);
    }
    return policy;
  }

  /** Attaches {@link agentPolicy} of `clusterId` to an agent's role. */
  grantAgent(role: iam.IRole, clusterId: string): void {
    role.addManagedPolicy(this.agentPolicy(clusterId));
  }

  private newAgentApiSecret(clusterId: string, prefix: string, removalPolicy: RemovalPolicy): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, `AgentApiSecret${logicalSuffix(clusterId)}`, {
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

  private cluster(clusterId: string): ClusterResources {
    const c = this.clusterResources.get(clusterId);
    if (!c) throw new Error(`pgvigil: cluster "${clusterId}" is not one of this control plane's clusters (${this.clusterIds.join(', ')})`);
    return c;
  }

  private controllerFunction(
    id: string,
    options: {
      handler: LambdaHandler;
      description: string;
      timeout: Duration;
      environment: Record<string, string>;
      reservedConcurrentExecutions?: number;
      logRetention?: logs.RetentionDays;
      removalPolicy: RemovalPolicy;
    },
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: options.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: options.removalPolicy,
    });
    // An explicit role: no AWS managed policy, logs only to its own log group.
    const role = new iam.Role(this, `${id}Role`, {
      description: `pgvigil ${id.toLowerCase()} function`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [this.controllerPolicy],
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    return new lambda.Function(this, id, {
      // What `npm run build` bundled from functions/handlers/<name>.ts (build/index.ts), with the AWS
      // SDK versions of package-lock.json: nothing is bundled at synthesis, so a CDK app needs no esbuild.
      code: lambda.Code.fromAsset(lambdaCodeDir(options.handler)),
      handler: 'index.handler',
      description: options.description,
      runtime: new lambda.Runtime(`nodejs${LAMBDA_NODE_MAJOR}.x`, lambda.RuntimeFamily.NODEJS),
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: options.timeout,
      reservedConcurrentExecutions: options.reservedConcurrentExecutions,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: options.environment,
    });
  }
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

function validateProps(props: PgvigilControlPlaneProps): void {
  const problems: string[] = [];
  if (props.clusters.length === 0) problems.push('clusters: at least one cluster is required');
  const seen = new Set<string>();
  props.clusters.forEach((c, i) => {
    if (!CLUSTER_ID_RE.test(c.clusterId)) problems.push(`clusters[${i}].clusterId "${c.clusterId}" does not match ${PARAMETER_PATTERNS.ClusterId}`);
    if (seen.has(c.clusterId)) problems.push(`clusters[${i}].clusterId "${c.clusterId}" is listed twice`);
    seen.add(c.clusterId);
    if (c.vipAllocationId !== undefined && !/^eipalloc-[0-9a-f]{8,17}$/.test(c.vipAllocationId)) {
      problems.push(`clusters[${i}].vipAllocationId "${c.vipAllocationId}" is not an allocation id (eipalloc-…)`);
    }
    if (c.elasticIp === false && c.vipAllocationId !== undefined) {
      problems.push(`clusters[${i}]: vipAllocationId "${c.vipAllocationId}" given with elasticIp: false`);
    }
    const budget = c.failoverDataLossBudgetBytes;
    if (budget !== undefined && budget !== null && !(Number.isSafeInteger(budget) && budget >= 0)) {
      problems.push(`clusters[${i}].failoverDataLossBudgetBytes ${budget} is not a whole number of bytes >= 0 (null: no alarm)`);
    }
    const record = c.route53Record;
    if (record && (Token.isUnresolved(record.recordName) || !isDnsName(record.recordName))) {
      problems.push(`clusters[${i}].route53Record.recordName "${record.recordName}" is not a fully qualified DNS name (IAM needs it written out, not a token)`);
    }
    if (record && !Token.isUnresolved(record.hostedZoneId) && !/^[A-Z0-9]{4,32}$/.test(record.hostedZoneId)) {
      problems.push(`clusters[${i}].route53Record.hostedZoneId "${record.hostedZoneId}" is not a hosted zone id (Z…)`);
    }
  });
  if (problems.length > 0) throw new Error(`PgvigilControlPlane: invalid props:\n  ${problems.join('\n  ')}`);
}

/** A construct-id-safe form of a cluster id (ids may contain . _ -). */
function logicalSuffix(clusterId: string): string {
  return clusterId.replace(/[^A-Za-z0-9]/g, (ch) => `x${ch.charCodeAt(0).toString(16)}`);
}
