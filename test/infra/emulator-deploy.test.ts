import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AllocateAddressCommand, DescribeAddressesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { EventBridgeClient, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, LambdaClient, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetTopicAttributesCommand, SNSClient } from '@aws-sdk/client-sns';
import { DescribeDocumentCommand, GetDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_EVENT_PATTERNS } from '../../core/host-events.js';
import { commandDocuments, SSM_ACTIONS } from '../../infra/ssm-documents.js';
import { deployToEmulator, forEmulator, type EmulatorDeployment } from '../../sandbox/deploy-to-emulator.js';
import { startMoto, type Moto } from '../support/moto.js';

let moto: Moto;
let deployment: EmulatorDeployment;
let importedAllocationId: string;

beforeAll(async () => {
  moto = await startMoto();
  // A cluster that brings its own Elastic IP: allocate it first, as an operator would.
  const ec2 = new EC2Client(moto.clientConfig);
  importedAllocationId = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId!;
  ec2.destroy();
  deployment = await deployToEmulator(moto.clientConfig, {
    stackName: 'pgvigil-test',
    controlPlane: {
      clusters: [
        // A Route 53 record: the controller policy's route53 condition keys must be accepted too.
        { clusterId: 'main', route53Record: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'primary.main.internal' } },
        { clusterId: 'other', vipAllocationId: importedAllocationId, failoverDataLossBudgetBytes: 16 * 1024 ** 2 },
        // Hosts in private subnets: the Route 53 record is its only moved route. No data-loss alarm.
        {
          clusterId: 'private',
          elasticIp: false,
          route53Record: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'primary.private.internal' },
          failoverDataLossBudgetBytes: null,
        },
      ],
    },
  });
});

afterAll(async () => {
  await moto?.stop();
});

describe('deployToEmulator', () => {
  it('creates the state table with its stream and clusters index, and turns on the TTL and point-in-time recovery moto’s CloudFormation ignores', async () => {
    const ddb = new DynamoDBClient(moto.clientConfig);
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: deployment.tableName }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(Table?.LatestStreamArn).toBe(deployment.tableStreamArn);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['clusters']);
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: deployment.tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'expires_at', TimeToLiveStatus: 'ENABLED' });
    const backups = await ddb.send(new DescribeContinuousBackupsCommand({ TableName: deployment.tableName }));
    expect(backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus).toBe('ENABLED');
    ddb.destroy();
  });

  it('creates the template’s alarms, which moto’s CloudFormation skips, with their intrinsics resolved and in INSUFFICIENT_DATA as CloudWatch starts them', async () => {
    const cloudwatch = new CloudWatchClient(moto.clientConfig);
    const { MetricAlarms } = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'pgvigil-test-' }));
    cloudwatch.destroy();
    // Two for the control plane, four per cluster (main, other, private), and the data-loss alarm
    // of the two clusters with a budget (main, other).
    expect(Object.keys(deployment.alarmNames)).toHaveLength(2 + 4 * 3 + 2);
    expect(MetricAlarms?.map((a) => a.AlarmName).sort()).toEqual(Object.values(deployment.alarmNames).sort());
    const byMetric = new Map(MetricAlarms?.map((a) => [`${a.MetricName} ${a.Dimensions?.[0]?.Value ?? ''}`, a]));
    expect(byMetric.get(`Errors ${deployment.evaluatorFunctionName}`)).toMatchObject({ Namespace: 'AWS/Lambda', Period: 300 });
    expect(byMetric.get(`ApproximateNumberOfMessagesVisible ${deployment.deadLetterQueueUrl.split('/').pop()}`)).toMatchObject({ Namespace: 'AWS/SQS' });
    expect(byMetric.get('Failovers other')).toMatchObject({
      Namespace: 'pgvigil',
      Statistic: 'Sum',
      Threshold: 1,
      AlarmActions: [deployment.topicArn],
      OKActions: [deployment.topicArn],
      StateValue: 'INSUFFICIENT_DATA',
    });
    expect(byMetric.get('FailoverDataLossBytes other')).toMatchObject({
      Namespace: 'pgvigil',
      Statistic: 'Maximum',
      Threshold: 16 * 1024 ** 2,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [deployment.topicArn],
    });
    expect(byMetric.get('FailoverDataLossBytes main')).toMatchObject({ Threshold: 0, AlarmActions: [deployment.topicArn] });
    expect(byMetric.has('FailoverDataLossBytes private')).toBe(false);
  });

  it('creates the encrypted topic', async () => {
    const sns = new SNSClient(moto.clientConfig);
    const { Attributes } = await sns.send(new GetTopicAttributesCommand({ TopicArn: deployment.topicArn }));
    expect(Attributes?.KmsMasterKeyId).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\//);
    sns.destroy();
  });

  it('creates every SSM document with the content the sandbox runs', async () => {
    const ssm = new SSMClient(moto.clientConfig);
    const docs = commandDocuments();
    for (const action of SSM_ACTIONS) {
      const name = deployment.commandDocumentNames[action];
      const { Document } = await ssm.send(new DescribeDocumentCommand({ Name: name }));
      expect(Document?.DocumentType, name).toBe('Command');
      const { Content } = await ssm.send(new GetDocumentCommand({ Name: name }));
      expect(JSON.parse(Content!)).toEqual(docs[action].content);
    }
    const { Document } = await ssm.send(new DescribeDocumentCommand({ Name: deployment.switchoverDocumentName }));
    expect(Document?.DocumentType).toBe('Automation');
    expect(Document?.Parameters?.map((p) => p.Name).sort()).toEqual(['AutomationAssumeRole', 'CandidateNodeId', 'ClusterId', 'DryRun', 'SiblingsFollow']);
    ssm.destroy();
  });

  it('allocates an Elastic IP for the cluster without one, tags it, reports the imported one, and none for the cluster that has none', async () => {
    const ec2 = new EC2Client(moto.clientConfig);
    const tagged = await ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'tag:pgvigil:cluster', Values: ['main'] }] }));
    expect(tagged.Addresses?.map((a) => a.AllocationId)).toEqual([deployment.vipAllocationIds.main]);
    expect(deployment.vipAllocationIds).toEqual({ main: expect.stringMatching(/^eipalloc-/), other: importedAllocationId });
    const none = await ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'tag:pgvigil:cluster', Values: ['private'] }] }));
    expect(none.Addresses).toEqual([]);
    expect(deployment.agentPolicyArns).toEqual({
      main: expect.stringMatching(/^arn:aws:iam::\d{12}:policy\//),
      other: expect.stringMatching(/^arn:aws:iam::\d{12}:policy\//),
      private: expect.stringMatching(/^arn:aws:iam::\d{12}:policy\//),
    });
    ec2.destroy();
  });

  it('creates each cluster’s agent API secret (which moto’s CloudFormation does not model) through Secrets Manager, with a generated value', async () => {
    const sm = new SecretsManagerClient(moto.clientConfig);
    expect(Object.keys(deployment.agentApiSecretArns).sort()).toEqual(['main', 'other', 'private']);
    for (const [cluster, arn] of Object.entries(deployment.agentApiSecretArns)) {
      expect(arn).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:pgvigil\/.+-[A-Za-z0-9]{6}$/);
      const { Name } = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
      expect(Name).toBe(`pgvigil/${cluster}/agent-api`);
      const { SecretString } = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
      expect(SecretString?.length).toBeGreaterThanOrEqual(40);
    }
    const values = await Promise.all(Object.values(deployment.agentApiSecretArns).map((arn) => sm.send(new GetSecretValueCommand({ SecretId: arn }))));
    expect(new Set(values.map((v) => v.SecretString)).size).toBe(values.length);
    sm.destroy();
  });

  it('creates both functions from the uploaded bundles with the controller environment, and the stream mapping', async () => {
    const lambda = new LambdaClient(moto.clientConfig);
    for (const name of [deployment.evaluatorFunctionName, deployment.switchoverFunctionName]) {
      const fn = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
      expect(fn.Runtime).toBe('nodejs24.x');
      expect(fn.Handler).toBe('index.handler');
      expect(fn.Environment?.Variables).toMatchObject({
        PGVIGIL_TABLE: deployment.tableName,
        PGVIGIL_TOPIC_ARN: deployment.topicArn,
        PGVIGIL_SSM_DOCUMENT_PREFIX: 'pgvigil',
      });
      // The real bundle (dist/functions/) was uploaded: a zip of a few hundred kilobytes at least.
      expect(fn.CodeSize).toBeGreaterThan(100_000);
    }
    const { EventSourceMappings } = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: deployment.evaluatorFunctionName }));
    expect(EventSourceMappings?.map((m) => m.EventSourceArn)).toEqual([deployment.tableStreamArn]);
    lambda.destroy();
  });

  it('creates the host-event rules with their patterns, each targeting the host-events function', async () => {
    const bridge = new EventBridgeClient(moto.clientConfig);
    const lambda = new LambdaClient(moto.clientConfig);
    const { Rules } = await bridge.send(new ListRulesCommand({}));
    const wanted = Object.values(HOST_EVENT_PATTERNS).map((p) => JSON.stringify(p));
    const rules = (Rules ?? []).filter((r) => r.EventPattern !== undefined && wanted.includes(JSON.stringify(JSON.parse(r.EventPattern))));
    expect(rules).toHaveLength(wanted.length);
    for (const rule of rules) {
      const { Targets } = await bridge.send(new ListTargetsByRuleCommand({ Rule: rule.Name }));
      expect(Targets).toHaveLength(1);
      const fn = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: Targets?.[0]?.Arn }));
      expect(fn.Description).toMatch(/^pgvigil host events: /);
      expect(fn.Environment?.Variables).toMatchObject({ PGVIGIL_TABLE: deployment.tableName, PGVIGIL_TOPIC_ARN: deployment.topicArn });
    }
    bridge.destroy();
    lambda.destroy();
  });
});

describe('forEmulator', () => {
  it('drops the alarms moto does not model and whatever refers to them, and keeps the rest', () => {
    const template = {
      Resources: {
        Alarm: { Type: 'AWS::CloudWatch::Alarm', Properties: {} },
        Dashboard: { Type: 'AWS::CloudWatch::Dashboard', Properties: { DashboardBody: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Alarm', 'Arn'] }]] } } },
        Table: { Type: 'AWS::DynamoDB::Table', Properties: {} },
      },
      Outputs: { AlarmArn: { Value: { 'Fn::GetAtt': ['Alarm', 'Arn'] } }, Table: { Value: { Ref: 'Table' } } },
    };
    const out = forEmulator(template);
    expect(Object.keys(out.Resources as object)).toEqual(['Table']);
    expect(Object.keys(out.Outputs as object)).toEqual(['Table']);
  });

  it('leaves out the resources created before the stack and puts their ids where the template refers to them', () => {
    const template = {
      Resources: {
        Secret: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'x' } },
        Policy: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: { Statement: [{ Resource: { Ref: 'Secret' } }] } } },
      },
      Outputs: { Arn: { Value: { 'Fn::Join': [',', [{ Ref: 'Secret' }]] } } },
    };
    const out = forEmulator(template, { Secret: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf' });
    expect(Object.keys(out.Resources as object)).toEqual(['Policy']);
    expect(JSON.stringify(out)).not.toContain('"Ref":"Secret"');
    expect((out.Outputs as Record<string, { Value: unknown }>).Arn?.Value).toEqual({ 'Fn::Join': [',', ['arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf']] });
  });

  it('gives SSM documents their content as JSON text, splicing intrinsics in with Fn::Join', () => {
    const content = { a: 1, fn: { Ref: 'Fn' }, list: ['x', { 'Fn::GetAtt': ['Role', 'Arn'] }] };
    const out = forEmulator({ Resources: { Doc: { Type: 'AWS::SSM::Document', Properties: { Content: content } } } });
    const joined = (out.Resources as Record<string, { Properties: { Content: unknown } }>).Doc!.Properties.Content;
    expect(joined).toEqual({ 'Fn::Join': ['', ['{"a":1,"fn":"', { Ref: 'Fn' }, '","list":["x","', { 'Fn::GetAtt': ['Role', 'Arn'] }, '"]}']] });
    const plain = forEmulator({ Resources: { Doc: { Type: 'AWS::SSM::Document', Properties: { Content: { a: [1] } } } } });
    expect((plain.Resources as Record<string, { Properties: { Content: unknown } }>).Doc!.Properties.Content).toBe('{"a":[1]}');
  });
});
