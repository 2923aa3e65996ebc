/**
 * The emulator the tests and the sandbox run (sandbox/moto_server.py) keeps a table's stream
 * records for GetRecords even when an event source mapping points the stream at a Lambda function,
 * as the control plane's template does. Plain moto invokes the function itself on every record
 * (through Docker, absent here), then empties the shard and numbers the next records from the
 * start again: the sandbox's local runtime, which reads the stream as Lambda's event source would,
 * lost records that way.
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { CreateEventSourceMappingCommand, CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';

let moto: Moto;

beforeAll(async () => {
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
});

/** moto's IAM through its query API (the tests carry no IAM client): a role Lambda may assume. */
async function createRole(name: string): Promise<string> {
  const body = new URLSearchParams({
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  });
  const res = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body,
  });
  const text = await res.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (!res.ok || !arn) throw new Error(`CreateRole failed (${res.status}): ${text.slice(0, 300)}`);
  return arn;
}

describe('the emulated DynamoDB stream', () => {
  it('keeps every record for GetRecords while an event source mapping points it at a function', async () => {
    const dynamo = new DynamoDBClient(moto.clientConfig);
    const streams = new DynamoDBStreamsClient(moto.clientConfig);
    const lambda = new LambdaClient(moto.clientConfig);
    try {
      await dynamo.send(
        new CreateTableCommand({
          TableName: 'streamed',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
        }),
      );
      const streamArn = (await dynamo.send(new DescribeTableCommand({ TableName: 'streamed' }))).Table?.LatestStreamArn;
      expect(streamArn).toBeDefined();
      const role = await createRole('evaluator');
      await lambda.send(
        new CreateFunctionCommand({ FunctionName: 'evaluator', Runtime: 'nodejs22.x', Role: role, Handler: 'index.handler', Code: { ZipFile: new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]) } }),
      );
      await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: 'evaluator', EventSourceArn: streamArn, StartingPosition: 'TRIM_HORIZON' }));

      for (let i = 0; i < 5; i++) await dynamo.send(new PutItemCommand({ TableName: 'streamed', Item: { pk: { S: `item-${i}` } } }));

      const shard = (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription?.Shards?.[0]?.ShardId;
      const iterator = (await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
      const records = (await streams.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records ?? [];
      expect(records.map((r) => r.dynamodb?.Keys?.pk?.S)).toEqual(['item-0', 'item-1', 'item-2', 'item-3', 'item-4']);
      const sequence = records.map((r) => BigInt(r.dynamodb?.SequenceNumber ?? '0'));
      expect(new Set(sequence).size).toBe(5);
    } finally {
      dynamo.destroy();
      streams.destroy();
      lambda.destroy();
    }
  });
});
