import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AllocateAddressCommand, DescribeAddressesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetFunctionConfigurationCommand, LambdaClient, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { GetTopicAttributesCommand, SNSClient } from '@aws-sdk/client-sns';
import { DescribeDocumentCommand, GetDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandDocuments, SSM_ACTIONS } from '../../infra/ssm-documents.js';
import { deployToEmulator, forEmulator, type EmulatorDeployment } from '../../infra/deploy-to-emulator.js';
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
    controlPlane: { clusters: [{ clusterId: 'main' }, { clusterId: 'other', vipAllocationId: importedAllocationId }] },
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

  it('allocates an Elastic IP for the cluster without one, tags it, and reports the imported one', async () => {
    const ec2 = new EC2Client(moto.clientConfig);
    const tagged = await ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'tag:pgvigil:cluster', Values: ['main'] }] }));
    expect(tagged.Addresses?.map((a) => a.AllocationId)).toEqual([deployment.vipAllocationIds.main]);
    expect(deployment.vipAllocationIds).toEqual({ main: expect.stringMatching(/^eipalloc-/), other: importedAllocationId });
    expect(deployment.agentPolicyArns).toEqual({
      main: expect.stringMatching(/^arn:aws:iam::\d{12}:policy\//),
      other: expect.stringMatching(/^arn:aws:iam::\d{12}:policy\//),
    });
    ec2.destroy();
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

  it('gives SSM documents their content as JSON text, splicing intrinsics in with Fn::Join', () => {
    const content = { a: 1, fn: { Ref: 'Fn' }, list: ['x', { 'Fn::GetAtt': ['Role', 'Arn'] }] };
    const out = forEmulator({ Resources: { Doc: { Type: 'AWS::SSM::Document', Properties: { Content: content } } } });
    const joined = (out.Resources as Record<string, { Properties: { Content: unknown } }>).Doc!.Properties.Content;
    expect(joined).toEqual({ 'Fn::Join': ['', ['{"a":1,"fn":"', { Ref: 'Fn' }, '","list":["x","', { 'Fn::GetAtt': ['Role', 'Arn'] }, '"]}']] });
    const plain = forEmulator({ Resources: { Doc: { Type: 'AWS::SSM::Document', Properties: { Content: { a: [1] } } } } });
    expect((plain.Resources as Record<string, { Properties: { Content: unknown } }>).Doc!.Properties.Content).toBe('{"a":[1]}');
  });
});
