import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, RemovalPolicy, Stack, aws_events as events } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaCodeDir } from '../../build/artifacts.js';
import { CLUSTER_DIMENSION, METRICS, METRICS_NAMESPACE } from '../../core/metrics.js';
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
let ids: { table: string; topic: string; key: string; evaluator: string; switchover: string; dlq: string; vip: string; controller: string };

beforeAll(() => {
  app = apps.app();
  stack = new PgvigilControlPlaneStack(app, 'cp', {
    controlPlane: { clusters: [{ clusterId: 'main' }, { clusterId: 'b.2', vipAllocationId: IMPORTED_EIP }] },
  });
  stack.controlPlane.agentPolicy('main');
  const customStack = new Stack(app, 'custom');
  new PgvigilControlPlane(customStack, 'cp', {
    clusters: [{ clusterId: 'x' }],
    documentPrefix: 'acme-pg',
    evaluatorReservedConcurrency: 5,
    alarmThresholds: { staleHeartbeatSeconds: 12, replicationLagCriticalBytes: 4096 },
    eventBus: new events.EventBus(customStack, 'Bus', { eventBusName: 'pg-events' }),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  custom = Template.fromStack(customStack);
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
  });

  it.each(['main', 'b.2'])('alarms on a stale primary heartbeat, critical lag, a failover and a split brain of cluster %s', (clusterId) => {
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
  });

  it('alarms on evaluator errors and on records given up, notifying the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.evaluator } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: ids.topic }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.dlq, 'QueueName'] } }],
      AlarmActions: [{ Ref: ids.topic }],
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 4 * 2);
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

  it('is the only policy of both function roles besides their own log group (no AWS managed policy)', () => {
    for (const prefix of ['ControlPlaneEvaluatorRole', 'ControlPlaneSwitchoverRole']) {
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

  it('stops only instances tagged with one of its clusters', () => {
    expect(s.StopClusterInstances).toEqual({
      Sid: 'StopClusterInstances',
      Effect: 'Allow',
      Action: 'ec2:StopInstances',
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
    });
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
    // Only the evaluator's and the switchover function's roles hold that policy, and no other
    // statement anywhere lets anything put events (not the agents, not the Automation role).
    const holders = Object.entries(custom.findResources('AWS::IAM::Role'))
      .filter(([, r]) => JSON.stringify(r.Properties.ManagedPolicyArns ?? []).includes(`"${policy}"`))
      .map(([id]) => id);
    expect(holders.sort()).toEqual([logicalIdOf(custom, 'AWS::IAM::Role', 'cpEvaluatorRole'), logicalIdOf(custom, 'AWS::IAM::Role', 'cpSwitchoverRole')].sort());
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

  it('parses the clusters context value into ids and imported allocation ids', () => {
    expect(parseClusters(' main , b.2=eipalloc-0123456789abcdef0,,')).toEqual([
      { clusterId: 'main' },
      { clusterId: 'b.2', vipAllocationId: 'eipalloc-0123456789abcdef0' },
    ]);
  });
});
