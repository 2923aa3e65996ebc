import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { runProgram } from '../../shell/framework.js';
import { program } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';
import { DEFAULT_CLUSTER_SETTINGS } from '../../core/model.js';
import { keys } from '../../core/table.js';

const env = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  PGVIGIL_TABLE: 'pgvigil',
  PGVIGIL_CLUSTER_ID: 'racy',
};

const clusterItem = marshall({
  pk: keys.partition('racy'),
  sk: keys.cluster(),
  kind: 'cluster',
  cluster_id: 'racy',
  term: 4,
  primary_node_id: 1,
  paused: false,
  operation: null,
  lease: null,
  lease_observation: null,
  settings: DEFAULT_CLUSTER_SETTINGS,
  version: 7,
  created_at: 1,
  updated_at: 1,
});

// moto cannot make a conditional write lose every race; this is what the mock is for.
describe('pgvigil service pause when the cluster record keeps changing', () => {
  const dynamo = mockClient(DynamoDBClient);
  afterEach(() => dynamo.reset());

  it('retries the conditional write, then exits 26 (ERR_REPMGRD_PAUSE) and records no event', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [clusterItem] });
    dynamo.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    const out = memoryOutput();
    const code = await runProgram(program, ['service', 'pause'], out, env, { now: () => 1_000 });
    expect(code).toBe(26);
    expect(out.stderr[0]).toBe('ERROR: unable to pause cluster "racy": the cluster record kept changing');
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(5);
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it('exits 26 when DynamoDB fails the write', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [clusterItem] });
    dynamo.on(UpdateItemCommand).rejects(Object.assign(new Error('Internal server error'), { name: 'InternalServerError' }));
    const out = memoryOutput();
    const code = await runProgram(program, ['service', 'unpause'], out, env);
    // Already unpaused: nothing to write, success.
    expect(code).toBe(0);
    const pause = memoryOutput();
    expect(await runProgram(program, ['service', 'pause'], pause, env)).toBe(26);
    expect(pause.stderr[0]).toBe('ERROR: unable to pause cluster "racy"');
    expect(pause.stderr[1]).toMatch(/^DETAIL: DynamoDB request on table "pgvigil" .* failed: InternalServerError: Internal server error$/);
  });
});
