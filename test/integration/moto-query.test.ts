/**
 * The emulator (sandbox/moto_server.py) answers a Query from the queried partition's items alone
 * instead of sorting the whole table; the answers must be DynamoDB's: every key condition, both
 * orders, pages, filters, numeric sort keys (moto's own comparison) and index queries (untouched).
 */
import { CreateTableCommand, DynamoDBClient, PutItemCommand, QueryCommand, type AttributeValue, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';

let moto: Moto;
let dynamo: DynamoDBClient;
const STRINGS = 'query-strings';
const NUMBERS = 'query-numbers';
const SORT_KEYS = ['a', 'event#001', 'event#002', 'event#010', 'event#1', 'eventz', 'node#1', 'node#2', 'z'];

beforeAll(async () => {
  moto = await startMoto();
  dynamo = new DynamoDBClient(moto.clientConfig);
  await dynamo.send(
    new CreateTableCommand({
      TableName: STRINGS,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'kind', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [{ IndexName: 'by-kind', KeySchema: [{ AttributeName: 'kind', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await dynamo.send(
    new CreateTableCommand({
      TableName: NUMBERS,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'n', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'n', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  // Two partitions with the same sort keys, so an answer that leaks the other partition shows.
  for (const pk of ['cluster#a', 'cluster#b']) {
    for (const [i, sk] of SORT_KEYS.entries()) {
      await dynamo.send(new PutItemCommand({ TableName: STRINGS, Item: { pk: { S: pk }, sk: { S: sk }, kind: { S: sk.split('#')[0] as string }, i: { N: String(i) } } }));
    }
    for (const n of [-5, 2, 10, 100, 1.5]) await dynamo.send(new PutItemCommand({ TableName: NUMBERS, Item: { pk: { S: pk }, n: { N: String(n) } } }));
  }
});

afterAll(async () => {
  dynamo?.destroy();
  await moto?.stop();
});

/** Every page of a Query, as `pk sk` strings. */
async function query(input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<string[]> {
  const out: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of page.Items ?? []) out.push(`${item.pk?.S} ${item.sk?.S ?? item.n?.N}`);
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

const a = (...sks: string[]): string[] => sks.map((sk) => `cluster#a ${sk}`);

describe('Query on the emulated DynamoDB', () => {
  const on = (condition: string, values: Record<string, string>, extra: Partial<QueryCommandInput> = {}) =>
    query({
      TableName: STRINGS,
      KeyConditionExpression: `pk = :pk${condition ? ` AND ${condition}` : ''}`,
      ExpressionAttributeValues: { ':pk': { S: 'cluster#a' }, ...Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { S: v }])) },
      ...extra,
    });

  it('answers every key condition on a string sort key from the queried partition only, in key order', async () => {
    expect(await on('', {})).toEqual(a(...SORT_KEYS));
    expect(await on('sk = :v', { ':v': 'event#002' })).toEqual(a('event#002'));
    expect(await on('sk < :v', { ':v': 'event#002' })).toEqual(a('a', 'event#001'));
    expect(await on('sk <= :v', { ':v': 'event#002' })).toEqual(a('a', 'event#001', 'event#002'));
    expect(await on('sk > :v', { ':v': 'node#1' })).toEqual(a('node#2', 'z'));
    expect(await on('sk >= :v', { ':v': 'node#1' })).toEqual(a('node#1', 'node#2', 'z'));
    expect(await on('begins_with(sk, :v)', { ':v': 'event#' })).toEqual(a('event#001', 'event#002', 'event#010', 'event#1'));
    expect(await on('sk BETWEEN :lo AND :hi', { ':lo': 'event#002', ':hi': 'event#1' })).toEqual(a('event#002', 'event#010', 'event#1'));
    expect(await on('sk = :v', { ':v': 'missing' })).toEqual([]);
  });

  it('pages, reverses and filters as DynamoDB does', async () => {
    expect(await on('begins_with(sk, :v)', { ':v': 'event' }, { ScanIndexForward: false, Limit: 2 })).toEqual(a('eventz', 'event#1', 'event#010', 'event#002', 'event#001'));
    expect(
      await on('sk > :v', { ':v': 'a' }, { FilterExpression: 'i >= :min', ExpressionAttributeValues: { ':pk': { S: 'cluster#a' }, ':v': { S: 'a' }, ':min': { N: '6' } } }),
    ).toEqual(a('node#1', 'node#2', 'z'));
  });

  it('compares numeric sort keys as numbers', async () => {
    const numbers = (condition: string, v: string) =>
      query({ TableName: NUMBERS, KeyConditionExpression: `pk = :pk AND ${condition}`, ExpressionAttributeValues: { ':pk': { S: 'cluster#b' }, ':v': { N: v } } });
    expect(await numbers('n > :v', '1.5')).toEqual(['cluster#b 2', 'cluster#b 10', 'cluster#b 100']);
    expect(await numbers('n <= :v', '2')).toEqual(['cluster#b -5', 'cluster#b 1.5', 'cluster#b 2']);
  });

  it('answers an index query across partitions, as before', async () => {
    const byKind = await query({ TableName: STRINGS, IndexName: 'by-kind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': { S: 'node' } } });
    expect(byKind.sort()).toEqual(['cluster#a node#1', 'cluster#a node#2', 'cluster#b node#1', 'cluster#b node#2']);
  });
});
