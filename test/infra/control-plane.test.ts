import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, RemovalPolicy, Stack, aws_events as events, aws_kms as kms, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaCodeDir } from '../../build/artifacts.js';
import { CLUSTER_DIMENSION, METRICS, METRICS_NAMESPACE } from '../../core/metrics.js';
import { HOST_EVENT_PATTERNS } from '../../core/host-events.js';
import { STREAM_FILTER_PATTERNS } from '../../core/stream-filter.js';
import { SSM_DOCUMENT_ACTIONS } from '../../core/ssm-parameters.js';
import { TABLE_DEFINITION } from '../../core/table.js';
import { CLUSTER_TAG, PgvigilControlPlane, commandDocuments, PARAMETER_PATTERNS, SSM_ACTIONS } from '../../infra/index.js';
import { PgvigilControlPlaneStack, parseClusters } from '../../infra/control-plane-stack.js';
import { actionsOf, identityStatements, logicalIdOf, resourcesOf, statementsBySid, testApps, type Statement } from './helpers.js';

const IMPORTED_EIP = 'eipalloc-0123456789abcdef0';

const apps = testApps();
afterAll(apps.cleanup);

// One synthesis for the whole file.
let app: App;
let stack: PgvigilControlPlaneStack;
let template: Template;
// Non-default props, in the same app so the bundles are reused.
let custom: Template;
// Clusters with Route 53 records, and secrets brought by the user.
let routed: Template;
let ids: { table: string; topic: string; key: string; evaluator: string; switchover: string; dlq: string; vip: string; controller: string };

beforeAll(() => {
  app = apps.app();
  stack = new PgvigilControlPlaneStack(app, 'cp', {
    controlPlane: { clusters: [{ clusterId: 'main' }, { clusterId: 'b.2', vipAllocationId: IMPORTED_EIP }] },
  });
  stack.controlPlane.agentPolicy('main');
  const customStack = new Stack(app, 'custom');
  new PgvigilControlPlane(customStack, 'cp', {
    clusters: [{ clusterId: 'x', failoverDataLossBudgetBytes: 16 * 1024 ** 2 }],
    documentPrefix: 'acme-pg',
    evaluatorReservedConcurrency: 5,
    alarmThresholds: { staleHeartbeatSeconds: 12, replicationLagCriticalBytes: 4096 },
    eventBus: new events.EventBus(customStack, 'Bus', { eventBusName: 'pg-events' }),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const routedStack = new Stack(app, 'routed');
  const routedPlane = new PgvigilControlPlane(routedStack, 'cp', {
    clusters: [
      { clusterId: 'orders', route53Record: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'Primary.Orders.internal.' } },
      {
        clusterId: 'pay',
        route53Record: { hostedZoneId: 'Z9876543210ZYXWVUTSRQ', recordName: 'primary.pay.internal' },
        agentApiSecret: secretsmanager.Secret.fromSecretAttributes(routedStack, 'PaySecret', {
          secretCompleteArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pay/api-AbCdEf',
          encryptionKey: kms.Key.fromKeyArn(routedStack, 'PayKey', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
        }),
      },
      { clusterId: 'logs', agentApiSecret: secretsmanager.Secret.fromSecretNameV2(routedStack, 'LogsSecret', 'logs/api'), failoverDataLossBudgetBytes: null },
    ],
  });
  for (const id of ['pay', 'logs']) routedPlane.agentPolicy(id);
  custom = Template.fromStack(customStack);
  routed = Template.fromStack(routedStack);
  template = Template.fromStack(stack);
  ids = {
    table: logicalIdOf(template, 'AWS::DynamoDB::Table', 'ControlPlaneStateTable'),
    topic: logicalIdOf(template, 'AWS::SNS::Topic', 'ControlPlaneTopic'),
    key: logicalIdOf(template, 'AWS::KMS::Key', 'ControlPlaneTopicKey'),
    evaluator: logicalIdOf(template, 'AWS::Lambda::Function', 'ControlPlaneEvaluator'),
    switchover: logicalIdOf(template, 'AWS::Lambda::Function', 'ControlPlaneSwitchover'),
    dlq: logicalIdOf(template, 'AWS::SQS::Queue', 'ControlPlaneEvaluatorDeadLetters'),
    vip: logicalIdOf(template, 'AWS::EC2::EIP', 'ControlPlaneVipmain'),
    controller: logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneControllerPolicy'),
  };
});

const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const instanceArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':instance/*']] };

describe('the state table', () => {
  it('uses the core/table.ts key schema, on demand, with point-in-time recovery, TTL and a NEW_AND_OLD_IMAGES stream', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE_DEFINITION.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_DEFINITION.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
  });

  it('has the sparse clusters index keyed by gsi1pk then pk, projecting keys only', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: 'clusters',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'pk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    });
  });

  it('is retained when the stack is deleted, by default', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('the evaluator function', () => {
  it('runs the bundled evaluator handler on Node.js 24 (ARM64) with the controller environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('evaluator'),
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 300,
      Role: arnOf(logicalIdOf(template, 'AWS::IAM::Role', 'ControlPlaneEvaluatorRole')),
      Environment: {
        Variables: {
          PGVIGIL_TABLE: { Ref: ids.table },
          PGVIGIL_TOPIC_ARN: { Ref: ids.topic },
          PGVIGIL_SSM_DOCUMENT_PREFIX: 'pgvigil',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logicalIdOf(template, 'AWS::Logs::LogGroup', 'ControlPlaneEvaluatorLogs') } },
    });
  });

  it('reserves no concurrency by default: sagas are serialised by conditional writes, not by Lambda', () => {
    const props = template.findResources('AWS::Lambda::Function')[ids.evaluator]!.Properties;
    expect(props.ReservedConcurrentExecutions).toBeUndefined();
  });

  it("ships the build's bundle of the handler (dist/functions/evaluator), an ES module exporting handler", () => {
    const assembly = app.synth();
    const artifact = assembly.getStackByName(stack.stackName);
    const key: string = template.findResources('AWS::Lambda::Function')[ids.evaluator]!.Properties.Code.S3Key;
    const hash = key.replace(/\.zip$/, '');
    const entry = join(assembly.directory, `asset.${hash}`, 'index.mjs');
    expect(existsSync(entry), `${entry} (stack ${artifact.stackName})`).toBe(true);
    const code = readFileSync(entry, 'utf8');
    expect(code).toBe(readFileSync(join(lambdaCodeDir('evaluator'), 'index.mjs'), 'utf8'));
    expect(code.startsWith("import { createRequire as __pgvigilCreateRequire } from 'node:module';")).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*\bas handler\b|export\s*\{[^}]*\bhandler\b/);
    // Self-contained: it loads as an ES module from a directory with no node_modules around it.
    const url = pathToFileURL(entry).href;
    const loaded = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); console.log(typeof m.handler);`], {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(loaded.status, loaded.stderr).toBe(0);
    expect(loaded.stdout.trim()).toBe('function');
  });

  it('is triggered by the table stream with the core stream filter, partial batch responses, bisection, bounded retries and a dead-letter queue', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: ids.evaluator },
      EventSourceArn: { 'Fn::GetAtt': [ids.table, 'StreamArn'] },
      StartingPosition: 'LATEST',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 300,
      ParallelizationFactor: 1,
      DestinationConfig: { OnFailure: { Destination: arnOf(ids.dlq) } },
      FilterCriteria: { Filters: STREAM_FILTER_PATTERNS.map((p) => ({ Pattern: JSON.stringify(p) })) },
    });
  });

  it('filters on heartbeats needing attention and on cluster records carrying an operation', () => {
    const filters: Array<{ Pattern: string }> = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0]!.Properties
      .FilterCriteria.Filters;
    const patterns = filters.map((f) => JSON.parse(f.Pattern));
    expect(patterns).toContainEqual({
      eventName: ['INSERT', 'MODIFY'],
      dynamodb: { NewImage: { kind: { S: ['heartbeat'] }, attention: { BOOL: [true] } } },
    });
    expect(patterns).toContainEqual({
      eventName: ['INSERT', 'MODIFY'],
      dynamodb: { NewImage: { kind: { S: ['cluster'] }, operation: { M: { kind: { S: [{ exists: true }] } } } } },
    });
    // Lambda accepts at most five filters per event source mapping by default.
    expect(patterns.length).toBeLessThanOrEqual(5);
  });

  it('sends given-up records to an encrypted queue that only accepts TLS', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.dlq }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('is swept every minute by an EventBridge rule', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: arnOf(ids.evaluator), RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: arnOf(ids.evaluator),
    });
  });
});

describe('the switchover function', () => {
  it('runs the bundled switchover handler with the same environment and a 15-minute ceiling', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('switchover'),
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({ PGVIGIL_TABLE: { Ref: ids.table }, PGVIGIL_TOPIC_ARN: { Ref: ids.topic }, PGVIGIL_SSM_DOCUMENT_PREFIX: 'pgvigil' }),
      },
    });
  });
});

describe('the host-events function', () => {
  it('runs the bundled host-events handler with the controller environment and policy, and the switchover’s 15-minute ceiling', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('host events'),
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Timeout: 900,
      Role: arnOf(logicalIdOf(template, 'AWS::IAM::Role', 'ControlPlaneHostEventsRole')),
      Environment: { Variables: Match.objectLike({ PGVIGIL_TABLE: { Ref: ids.table }, PGVIGIL_TOPIC_ARN: { Ref: ids.topic } }) },
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: 'pgvigil hostevents function',
      ManagedPolicyArns: [{ Ref: ids.controller }],
    });
  });

  it('is the target of one rule per event pattern of core/host-events.ts, retried twice within an hour', () => {
    const fn = logicalIdOf(template, 'AWS::Lambda::Function', 'ControlPlaneHostEvents');
    const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((r) =>
      (r.Properties.Targets as { Arn: unknown }[]).some((t) => JSON.stringify(t.Arn) === JSON.stringify(arnOf(fn))),
    );
    expect(rules.map((r) => r.Properties.EventPattern)).toEqual(Object.values(HOST_EVENT_PATTERNS));
    for (const r of rules) {
      expect(r.Properties.State).toBe('ENABLED');
      expect(r.Properties.Targets).toEqual([expect.objectContaining({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } })]);
    }
    template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', FunctionName: arnOf(fn), Principal: 'events.amazonaws.com' });
  });
});

describe('the notification topic', () => {
  it('is encrypted with a rotating customer managed key that CloudWatch alarms may use', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf(ids.key) });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowCloudWatchAlarmsToPublish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: '*',
          }),
        ]),
      },
    });
  });

  it('refuses publishing without TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: ids.topic }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('alarms and dashboard', () => {
  const clusterAlarm = (clusterId: string, metric: string, statistic: string, threshold: number, operator: string, missing: string) => ({
    Namespace: METRICS_NAMESPACE,
    MetricName: metric,
    Dimensions: [{ Name: CLUSTER_DIMENSION, Value: clusterId }],
    Statistic: statistic,
    Period: 60,
    Threshold: threshold,
    ComparisonOperator: operator,
    TreatMissingData: missing,
    AlarmActions: [{ Ref: ids.topic }],
    OKActions: [{ Ref: ids.topic }],
  });

  it.each(['main', 'b.2'])('alarms on a stale primary heartbeat, critical lag, a failover, a split brain and any failover data loss of cluster %s', (clusterId) => {
    template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      clusterAlarm(clusterId, METRICS.heartbeatAge.name, 'Maximum', 30, 'GreaterThanThreshold', 'missing'),
    );
    template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      clusterAlarm(clusterId, METRICS.replicationLag.name, 'Maximum', 1024 ** 3, 'GreaterThanThreshold', 'missing'),
    );
    template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      clusterAlarm(clusterId, METRICS.failovers.name, 'Sum', 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'),
    );
    template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      clusterAlarm(clusterId, METRICS.splitBrains.name, 'Sum', 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'),
    );
    // The default budget is 0 bytes: any failover that lost WAL alarms.
    template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      clusterAlarm(clusterId, METRICS.failoverDataLoss.name, 'Maximum', 0, 'GreaterThanThreshold', 'notBreaching'),
    );
  });

  it('alarms on evaluator errors and on records given up, notifying the topic when they are raised and when they clear', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.evaluator } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: ids.topic }],
      OKActions: [{ Ref: ids.topic }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.dlq, 'QueueName'] } }],
      AlarmActions: [{ Ref: ids.topic }],
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 5 * 2);
  });

  it('has a dashboard graphing every pgvigil metric of every cluster', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!.Properties.DashboardBody);
    for (const m of Object.values(METRICS)) {
      for (const clusterId of ['main', 'b.2']) {
        expect(body).toContain(`\\"${METRICS_NAMESPACE}\\",\\"${m.name}\\",\\"${CLUSTER_DIMENSION}\\",\\"${clusterId}\\"`);
      }
    }
  });
});

describe('the SSM documents', () => {
  it('has a Command document for every host action, with exactly the content of commandDocuments()', () => {
    const docs = commandDocuments();
    template.resourceCountIs('AWS::SSM::Document', SSM_ACTIONS.length + 1);
    expect(new Set(SSM_ACTIONS)).toEqual(new Set(Object.values(SSM_DOCUMENT_ACTIONS)));
    for (const action of SSM_ACTIONS) {
      template.hasResourceProperties('AWS::SSM::Document', {
        Name: `pgvigil-${action}`,
        DocumentType: 'Command',
        DocumentFormat: 'JSON',
        UpdateMethod: 'NewVersion',
        Content: docs[action].content,
      });
    }
  });

  it('puts an allowedPattern on every parameter of every document', () => {
    const documents = Object.values(template.findResources('AWS::SSM::Document'));
    expect(documents).toHaveLength(SSM_ACTIONS.length + 1);
    for (const doc of documents) {
      const parameters = Object.entries(doc.Properties.Content.parameters as Record<string, { allowedPattern?: string }>);
      expect(parameters.length).toBeGreaterThan(0);
      for (const [name, p] of parameters) {
        expect(p.allowedPattern, `${doc.Properties.Name}.${name}`).toMatch(/^\^.*\$$/);
      }
    }
  });

  it('runs pgvigil-agent with the term in every Command document', () => {
    for (const action of SSM_ACTIONS) {
      const script = commandDocuments()[action].content.mainSteps[0]!.inputs.runCommand.join('\n');
      expect(script).toMatch(new RegExp(`exec pgvigil-agent ${commandDocuments()[action].agentAction} -f "\\$conf" --term '\\{\\{Term\\}\\}'`));
    }
  });

  it('has an Automation document for the manual switchover that invokes the switchover function', () => {
    const automationRole = logicalIdOf(template, 'AWS::IAM::Role', 'ControlPlaneSwitchoverAutomationRole');
    template.hasResourceProperties('AWS::SSM::Document', {
      Name: 'pgvigil-Switchover',
      DocumentType: 'Automation',
      Content: {
        schemaVersion: '0.3',
        assumeRole: '{{AutomationAssumeRole}}',
        parameters: {
          ClusterId: Match.objectLike({ allowedPattern: PARAMETER_PATTERNS.ClusterId }),
          CandidateNodeId: Match.objectLike({ allowedPattern: '^[0-9]{1,10}$' }),
          SiblingsFollow: Match.objectLike({ allowedPattern: '^(true|false)$', default: 'true' }),
          DryRun: Match.objectLike({ allowedPattern: '^(true|false)$', default: 'false' }),
          AutomationAssumeRole: Match.objectLike({ allowedPattern: PARAMETER_PATTERNS.AutomationAssumeRole, default: arnOf(automationRole) }),
        },
        mainSteps: [
          Match.objectLike({
            action: 'aws:invokeLambdaFunction',
            inputs: {
              FunctionName: { Ref: ids.switchover },
              InvocationType: 'RequestResponse',
              Payload:
                '{"cluster_id":"{{ClusterId}}","candidate_node_id":{{CandidateNodeId}},"siblings_follow":{{SiblingsFollow}},"dry_run":{{DryRun}}}',
            },
          }),
          Match.objectLike({ name: 'checkResult', action: 'aws:executeScript', inputs: Match.objectLike({ InputPayload: { payload: '{{switchover.Payload}}' } }) }),
        ],
      },
    });
  });

  it('lets Automation assume its role only for this account, and only to invoke the switchover function', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { Service: 'ssm.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
      Policies: [
        {
          PolicyName: 'InvokeSwitchover',
          PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: arnOf(ids.switchover) }] },
        },
      ],
    });
  });
});

describe('the Elastic IPs', () => {
  it('allocates a tagged Elastic IP for a cluster without one, and none for a cluster that brings its own', () => {
    template.resourceCountIs('AWS::EC2::EIP', 1);
    template.hasResourceProperties('AWS::EC2::EIP', {
      Domain: 'vpc',
      Tags: Match.arrayWith([{ Key: 'Name', Value: 'pgvigil-main-vip' }, { Key: CLUSTER_TAG, Value: 'main' }]),
    });
    template.hasResource('AWS::EC2::EIP', { DeletionPolicy: 'Retain' });
    expect(stack.controlPlane.vipAllocationId('b.2')).toBe(IMPORTED_EIP);
  });

  it('publishes the agent policy of every cluster as a stack output', () => {
    const main = logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneAgentPolicymain');
    const other = logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneAgentPolicyb');
    template.hasOutput('AgentPolicyArns', {
      Value: { 'Fn::Join': [',', [{ 'Fn::Join': ['=', ['main', { Ref: main }]] }, { 'Fn::Join': ['=', ['b.2', { Ref: other }]] }]] },
    });
  });

  it('publishes every cluster id with its allocation id as a stack output', () => {
    template.hasOutput('VipAllocationIds', {
      Value: {
        'Fn::Join': [',', [{ 'Fn::Join': ['=', ['main', { 'Fn::GetAtt': [ids.vip, 'AllocationId'] }]] }, `b.2=${IMPORTED_EIP}`]],
      },
    });
  });
});

describe("the controller's IAM policy", () => {
  let s: Record<string, Statement>;
  beforeAll(() => {
    s = statementsBySid(template, ids.controller);
  });

  it('is the only policy of the function roles besides their own log group (no AWS managed policy)', () => {
    for (const prefix of ['ControlPlaneEvaluatorRole', 'ControlPlaneSwitchoverRole', 'ControlPlaneHostEventsRole']) {
      const role = template.findResources('AWS::IAM::Role')[logicalIdOf(template, 'AWS::IAM::Role', prefix)]!;
      expect(role.Properties.ManagedPolicyArns).toEqual([{ Ref: ids.controller }]);
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
    expect(Object.keys(s).sort()).toEqual(
      [
        'StateTable',
        'SendPgvigilDocuments',
        'SendToClusterInstances',
        'ReadCommandResults',
        'MoveClusterVips',
        'VipToClusterInstances',
        'VipNetworkInterfaces',
        'StopClusterInstances',
        'DescribeAddresses',
        'Notify',
        'NotifyEncrypted',
      ].sort(),
    );
  });

  it("adds to each function's own role only its log group; the evaluator's also reads the stream and fills the dead-letter queue", () => {
    const evaluatorPolicy = logicalIdOf(template, 'AWS::IAM::Policy', 'ControlPlaneEvaluatorRoleDefaultPolicy');
    const switchoverPolicy = logicalIdOf(template, 'AWS::IAM::Policy', 'ControlPlaneSwitchoverRoleDefaultPolicy');
    const logs = (prefix: string) => ({
      Sid: 'OwnLogGroup',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: arnOf(logicalIdOf(template, 'AWS::Logs::LogGroup', prefix)),
    });
    const stmts = (id: string) => identityStatements(template).filter((x) => x.logicalId === id).map((x) => x.statement);
    expect(stmts(switchoverPolicy)).toEqual([logs('ControlPlaneSwitchoverLogs')]);
    expect(stmts(logicalIdOf(template, 'AWS::IAM::Policy', 'ControlPlaneHostEventsRoleDefaultPolicy'))).toEqual([logs('ControlPlaneHostEventsLogs')]);
    expect(stmts(evaluatorPolicy)).toEqual([
      logs('ControlPlaneEvaluatorLogs'),
      { Effect: 'Allow', Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'], Resource: arnOf(ids.dlq) },
      { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: '*' },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: { 'Fn::GetAtt': [ids.table, 'StreamArn'] },
      },
    ]);
  });

  it("sends commands only with pgvigil's own documents", () => {
    expect(s.SendPgvigilDocuments!.Action).toBe('ssm:SendCommand');
    const resources = resourcesOf(s.SendPgvigilDocuments!).map((r) => JSON.stringify(r));
    expect(resources).toHaveLength(SSM_ACTIONS.length);
    for (const action of SSM_ACTIONS) expect(resources.some((r) => r.endsWith(`:document/pgvigil-${action}"]]}`))).toBe(true);
    expect(s.SendPgvigilDocuments!.Condition).toBeUndefined();
  });

  it('sends commands only to instances tagged with one of its clusters (ssm:resourceTag condition)', () => {
    expect(s.SendToClusterInstances).toEqual({
      Sid: 'SendToClusterInstances',
      Effect: 'Allow',
      Action: 'ssm:SendCommand',
      Resource: instanceArn,
      Condition: { StringEquals: { 'ssm:resourceTag/pgvigil:cluster': ['main', 'b.2'] } },
    });
  });

  it('moves only the clusters’ Elastic IPs, and only to tagged instances', () => {
    expect(s.MoveClusterVips!.Action).toEqual(['ec2:AssociateAddress', 'ec2:DisassociateAddress']);
    expect(resourcesOf(s.MoveClusterVips!)).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':elastic-ip/', { 'Fn::GetAtt': [ids.vip, 'AllocationId'] }]] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:elastic-ip/${IMPORTED_EIP}`]] },
    ]);
    expect(s.VipToClusterInstances).toEqual({
      Sid: 'VipToClusterInstances',
      Effect: 'Allow',
      Action: ['ec2:AssociateAddress', 'ec2:DisassociateAddress'],
      Resource: instanceArn,
      Condition: { StringEquals: { 'aws:ResourceTag/pgvigil:cluster': ['main', 'b.2'] } },
    });
  });

  it('allows the network-interface side of detaching an Elastic IP only (the Elastic IP grant is still needed)', () => {
    expect(s.VipNetworkInterfaces).toEqual({
      Sid: 'VipNetworkInterfaces',
      Effect: 'Allow',
      Action: 'ec2:DisassociateAddress',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':network-interface/*']] },
    });
    // No other statement grants ec2:*Address on the elastic-ip resource type.
    const eipGrants = Object.values(s).filter((st) => JSON.stringify(st.Resource).includes(':elastic-ip/'));
    expect(eipGrants.map((st) => st.Sid)).toEqual(['MoveClusterVips']);
  });

  it('stops (fence) and starts (auto_rejoin) only instances tagged with one of its clusters', () => {
    expect(s.StopClusterInstances).toEqual({
      Sid: 'StopClusterInstances',
      Effect: 'Allow',
      Action: ['ec2:StopInstances', 'ec2:StartInstances'],
      Resource: instanceArn,
      Condition: { StringEquals: { 'aws:ResourceTag/pgvigil:cluster': ['main', 'b.2'] } },
    });
  });

  it('uses a wildcard resource only for the actions that have no resource-level permissions', () => {
    expect(s.ReadCommandResults).toMatchObject({ Action: 'ssm:GetCommandInvocation', Resource: '*' });
    expect(s.DescribeAddresses).toMatchObject({ Action: 'ec2:DescribeAddresses', Resource: '*' });
    const wildcard = Object.values(s).filter((st) => st.Resource === '*').map((st) => st.Sid);
    expect(wildcard.sort()).toEqual(['DescribeAddresses', 'ReadCommandResults']);
  });

  it('publishes only to its topic, with its key', () => {
    expect(s.Notify).toMatchObject({ Action: 'sns:Publish', Resource: { Ref: ids.topic } });
    expect(s.NotifyEncrypted).toMatchObject({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: arnOf(ids.key) });
  });

  it('reads and writes the state table and its clusters index, without Scan', () => {
    expect(resourcesOf(s.StateTable!)).toEqual([arnOf(ids.table), { 'Fn::Join': ['', [arnOf(ids.table), '/index/clusters']] }]);
    expect(actionsOf(s.StateTable!)).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
    ]);
  });
});

describe("the agents' IAM policy", () => {
  it('lets an agent read and write only items whose partition key is its cluster (dynamodb:LeadingKeys)', () => {
    const id = logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneAgentPolicymain');
    const s = statementsBySid(template, id);
    const ownKeys = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['C#main'] } };
    expect(s).toEqual({
      ReadOwnCluster: {
        Sid: 'ReadOwnCluster',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
        Resource: arnOf(ids.table),
        Condition: ownKeys,
      },
      WriteOwnCluster: {
        Sid: 'WriteOwnCluster',
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        Resource: arnOf(ids.table),
        Condition: ownKeys,
      },
      ReadAgentApiSecret: {
        Sid: 'ReadAgentApiSecret',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: logicalIdOf(template, 'AWS::SecretsManager::Secret', 'ControlPlaneAgentApiSecretmain') },
      },
    });
  });

  it("creates one agent API secret per cluster, readable only through that cluster's agent policy, and publishes their ARNs", () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'pgvigil/main/agent-api',
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
    template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
    const secret = logicalIdOf(template, 'AWS::SecretsManager::Secret', 'ControlPlaneAgentApiSecretmain');
    const readers = identityStatements(template).filter(({ statement }) => JSON.stringify(statement.Resource ?? '').includes(secret));
    expect(readers.map((r) => r.logicalId)).toEqual([logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneAgentPolicymain')]);
    const output = template.findOutputs('AgentApiSecretArns').AgentApiSecretArns;
    expect(JSON.stringify(output?.Value)).toContain(`{"Ref":"${secret}"}`);
    expect(JSON.stringify(output?.Value)).toContain('"b.2"');
  });

  it('creates one policy per cluster asked for, and refuses a cluster the control plane does not serve', () => {
    expect(stack.controlPlane.agentPolicy('main')).toBe(stack.controlPlane.agentPolicy('main'));
    expect(() => stack.controlPlane.agentPolicy('other')).toThrow(/cluster "other" is not one of this control plane's clusters \(main, b\.2\)/);
  });
});

describe('no wildcard admin', () => {
  it('grants no statement with a wildcard action, and no AWS managed policy, anywhere in the control plane', () => {
    const statements = identityStatements(template);
    expect(statements.length).toBeGreaterThan(10);
    for (const { logicalId, statement } of statements) {
      for (const action of actionsOf(statement)) {
        expect(action, `${logicalId} ${statement.Sid ?? ''}`).not.toMatch(/^\*$|:\*$/);
      }
      expect(statement.Effect).toBe('Allow');
    }
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      for (const arn of role.Properties.ManagedPolicyArns ?? []) expect(JSON.stringify(arn)).not.toContain(':iam::aws:policy/');
    }
  });
});

describe('Route 53 records and agent API secrets given as props', () => {
  let s: Record<string, Statement>;
  const zoneArn = (id: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:route53:::hostedzone/${id}`]] });
  beforeAll(() => {
    s = statementsBySid(routed, logicalIdOf(routed, 'AWS::IAM::ManagedPolicy', 'cpControllerPolicy'));
  });

  it("lets the controller UPSERT only each cluster's own A record, by normalised name, in its own zone", () => {
    expect(s.MoveRecordorders).toEqual({
      Sid: 'MoveRecordorders',
      Effect: 'Allow',
      Action: 'route53:ChangeResourceRecordSets',
      Resource: zoneArn('Z0123456789ABCDEFGHIJ'),
      Condition: {
        'ForAllValues:StringEquals': {
          'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['primary.orders.internal'],
          'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
          'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
        },
      },
    });
    expect(s.MoveRecordpay?.Resource).toEqual(zoneArn('Z9876543210ZYXWVUTSRQ'));
    expect(s.MoveRecordpay?.Condition?.['ForAllValues:StringEquals']?.['route53:ChangeResourceRecordSetsNormalizedRecordNames']).toEqual(['primary.pay.internal']);
    const changers = identityStatements(routed).filter(({ statement }) => actionsOf(statement).some((a) => a.startsWith('route53:Change')));
    expect(changers.map((c) => c.statement.Sid).sort()).toEqual(['MoveRecordorders', 'MoveRecordpay']);
  });

  it('lets the controller read those zones, wait for its changes and read instances’ private addresses, nothing more', () => {
    expect(s.ReadRecords).toMatchObject({ Action: 'route53:ListResourceRecordSets', Resource: [zoneArn('Z0123456789ABCDEFGHIJ'), zoneArn('Z9876543210ZYXWVUTSRQ')] });
    expect(s.RecordChanges).toMatchObject({
      Action: 'route53:GetChange',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::change/*']] },
    });
    expect(s.InstanceAddresses).toMatchObject({ Action: 'ec2:DescribeInstances', Resource: '*' });
  });

  it('adds no Route 53 or DescribeInstances grant to a control plane whose clusters have no record', () => {
    const plain = statementsBySid(template, ids.controller);
    expect(Object.values(plain).flatMap(actionsOf).filter((a) => a.startsWith('route53:') || a === 'ec2:DescribeInstances')).toEqual([]);
  });

  it('creates no secret for a cluster that brings its own, and grants its agents that one (partial ARNs with the six-character suffix, the key through Secrets Manager only)', () => {
    routed.resourceCountIs('AWS::SecretsManager::Secret', 1);
    const pay = statementsBySid(routed, logicalIdOf(routed, 'AWS::IAM::ManagedPolicy', 'cpAgentPolicypay'));
    expect(pay.ReadAgentApiSecret?.Resource).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:pay/api-AbCdEf');
    expect(pay.DecryptAgentApiSecret).toEqual({
      Sid: 'DecryptAgentApiSecret',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
    });
    const logs = statementsBySid(routed, logicalIdOf(routed, 'AWS::IAM::ManagedPolicy', 'cpAgentPolicylogs'));
    expect(JSON.stringify(logs.ReadAgentApiSecret?.Resource)).toMatch(/:secret:logs\/api-\?\?\?\?\?\?"/);
  });

  it('allocates no Elastic IP and grants no address move for clusters without one (elasticIp: false), and says so in the output', () => {
    const plain = new PgvigilControlPlaneStack(apps.app(), 'private', {
      controlPlane: { clusters: [{ clusterId: 'orders', elasticIp: false, route53Record: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'primary.orders.internal' } }] },
    });
    const t = Template.fromStack(plain);
    t.resourceCountIs('AWS::EC2::EIP', 0);
    expect(plain.controlPlane.vipAllocationId('orders')).toBeUndefined();
    const controller = statementsBySid(t, logicalIdOf(t, 'AWS::IAM::ManagedPolicy', 'ControlPlaneControllerPolicy'));
    expect(Object.values(controller).flatMap(actionsOf).filter((a) => /^ec2:(Associate|Disassociate)Address$/.test(a))).toEqual([]);
    expect(controller.MoveRecordorders).toBeDefined();
    expect(Object.values(t.findOutputs('VipAllocationIds'))[0]?.Value).toBe('orders=');
  });

  it('refuses an allocation id for a cluster that has no Elastic IP', () => {
    expect(
      () => new PgvigilControlPlane(new Stack(apps.app(), 'bad'), 'cp', { clusters: [{ clusterId: 'x', elasticIp: false, vipAllocationId: IMPORTED_EIP }] }),
    ).toThrow(/clusters\[0\]: vipAllocationId "eipalloc-0123456789abcdef0" given with elasticIp: false/);
  });

  it('refuses a record name that is not a written-out DNS name and a zone id that is not one', () => {
    const build = (recordName: string, hostedZoneId = 'Z0123456789ABCDEFGHIJ') => () =>
      new PgvigilControlPlane(new Stack(apps.app(), 'bad'), 'cp', { clusters: [{ clusterId: 'x', route53Record: { hostedZoneId, recordName } }] });
    expect(build('primary')).toThrow(/route53Record\.recordName "primary" is not a fully qualified DNS name/);
    expect(build('primary.x.internal', 'zone-1')).toThrow(/route53Record\.hostedZoneId "zone-1" is not a hosted zone id/);
  });
});

describe('construct props', () => {
  it('names the documents with the given prefix and hands it to the functions', () => {
    custom.hasResourceProperties('AWS::SSM::Document', { Name: 'acme-pg-Promote' });
    custom.hasResourceProperties('AWS::SSM::Document', { Name: 'acme-pg-Switchover', DocumentType: 'Automation' });
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PGVIGIL_SSM_DOCUMENT_PREFIX: 'acme-pg' }) },
    });
  });

  it('reserves evaluator concurrency and uses the alarm thresholds when asked', () => {
    custom.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('evaluator'), ReservedConcurrentExecutions: 5 });
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: METRICS.heartbeatAge.name, Threshold: 12 });
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: METRICS.replicationLag.name, Threshold: 4096 });
  });

  it('alarms on failover data loss over a cluster’s own budget, and not at all for a cluster whose budget is null', () => {
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: METRICS.failoverDataLoss.name, Threshold: 16 * 1024 ** 2 });
    const lossAlarms = Object.values(routed.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: METRICS.failoverDataLoss.name } }));
    const clustersAlarmed = lossAlarms.map((a) => (a.Properties.Dimensions as { Value: string }[])[0]?.Value).sort();
    expect(clustersAlarmed).toEqual(['orders', 'pay']);
    // The cluster without the alarm keeps its other four.
    const logsAlarms = Object.values(routed.findResources('AWS::CloudWatch::Alarm')).filter((a) => JSON.stringify(a.Properties.Dimensions ?? []).includes('"logs"'));
    expect(logsAlarms).toHaveLength(4);
  });

  it('publishes to an EventBridge bus when given one: environment and a PutEvents grant on that bus only', () => {
    const bus = logicalIdOf(custom, 'AWS::Events::EventBus', 'Bus');
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PGVIGIL_EVENT_BUS: { Ref: bus } }) },
    });
    const policy = logicalIdOf(custom, 'AWS::IAM::ManagedPolicy', 'cpControllerPolicy');
    expect(statementsBySid(custom, policy).EventBus).toEqual({
      Sid: 'EventBus',
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: { 'Fn::GetAtt': [bus, 'Arn'] },
    });
    expect(statementsBySid(template, ids.controller).EventBus).toBeUndefined();
    // Only the controller functions' roles hold that policy, and no other
    // statement anywhere lets anything put events (not the agents, not the Automation role).
    const holders = Object.entries(custom.findResources('AWS::IAM::Role'))
      .filter(([, r]) => JSON.stringify(r.Properties.ManagedPolicyArns ?? []).includes(`"${policy}"`))
      .map(([id]) => id);
    expect(holders.sort()).toEqual(['cpEvaluatorRole', 'cpSwitchoverRole', 'cpHostEventsRole'].map((r) => logicalIdOf(custom, 'AWS::IAM::Role', r)).sort());
    expect(custom.findResources('AWS::IAM::ManagedPolicy')[policy]?.Properties).not.toHaveProperty('Roles');
    const putters = identityStatements(custom).filter(({ statement }) => actionsOf(statement).some((a) => /^(events:(PutEvents|\*)|\*)$/.test(a)));
    expect(putters.map((p) => [p.logicalId, p.statement.Sid])).toEqual([[policy, 'EventBus']]);
  });

  it('lets the state to be destroyed with the stack only when asked', () => {
    custom.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    custom.hasResource('AWS::EC2::EIP', { DeletionPolicy: 'Delete' });
  });

  const make = (props: ConstructorParameters<typeof PgvigilControlPlane>[2]) => () =>
    new PgvigilControlPlane(new Stack(apps.app(), 's'), 'cp', props);

  it('refuses an empty cluster list, a bad cluster id, a duplicate and a malformed allocation id, naming each', () => {
    expect(make({ clusters: [] })).toThrow(/clusters: at least one cluster is required/);
    expect(make({ clusters: [{ clusterId: 'bad id;rm' }, { clusterId: 'a' }, { clusterId: 'a', vipAllocationId: 'eip-1' }] })).toThrow(
      /clusters\[0\]\.clusterId "bad id;rm" does not match[\s\S]*clusters\[2\]\.clusterId "a" is listed twice[\s\S]*clusters\[2\]\.vipAllocationId "eip-1" is not an allocation id/,
    );
  });

  it('refuses a failover data-loss budget that is not a whole number of bytes, naming the cluster', () => {
    expect(make({ clusters: [{ clusterId: 'a', failoverDataLossBudgetBytes: -1 }] })).toThrow(/clusters\[0\]\.failoverDataLossBudgetBytes -1 is not a whole number of bytes >= 0 \(null: no alarm\)/);
    expect(make({ clusters: [{ clusterId: 'a' }, { clusterId: 'b', failoverDataLossBudgetBytes: 1.5 }] })).toThrow(/clusters\[1\]\.failoverDataLossBudgetBytes 1\.5 is not/);
  });

  it('parses the clusters context value into ids and imported allocation ids', () => {
    expect(parseClusters(' main , b.2=eipalloc-0123456789abcdef0,,')).toEqual([
      { clusterId: 'main' },
      { clusterId: 'b.2', vipAllocationId: 'eipalloc-0123456789abcdef0' },
    ]);
  });

  it('parses each cluster’s routes from the clusters context value: a new or existing Elastic IP, a Route 53 record, both, or the record alone', () => {
    const record = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'primary.orders.internal' };
    expect(
      parseClusters('orders=route53:Z0123456789ABCDEFGHIJ/primary.orders.internal, pay=eip+route53:Z0123456789ABCDEFGHIJ/primary.orders.internal,logs=eipalloc-0123456789abcdef0+eip'),
    ).toEqual([
      { clusterId: 'orders', elasticIp: false, route53Record: record },
      { clusterId: 'pay', route53Record: record },
      { clusterId: 'logs', vipAllocationId: 'eipalloc-0123456789abcdef0' },
    ]);
    expect(() => parseClusters('main,orders=route53:Z0123456789ABCDEFGHIJ')).toThrow(
      'pgvigil:clusters: "route53:Z0123456789ABCDEFGHIJ" in "orders=route53:Z0123456789ABCDEFGHIJ" is not a route (eip, eipalloc-…, route53:<zone id>/<record name>)',
    );
    expect(() => parseClusters('orders=')).toThrow(/"" in "orders=" is not a route/);
  });
});
