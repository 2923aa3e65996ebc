/**
 * Creates the state table outside CDK, for development, tests and the sandbox. The layout comes
 * from core/table.ts, the same definition the CDK construct uses.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { TABLE_DEFINITION } from '../core/table.js';

export interface CreatedTable {
  tableName: string;
  streamArn: string | undefined;
}

export async function createStateTable(client: DynamoDBClient, tableName: string): Promise<CreatedTable> {
  const { partitionKey, sortKey, clustersIndex, ttlAttribute } = TABLE_DEFINITION;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: partitionKey, AttributeType: 'S' },
          { AttributeName: sortKey, AttributeType: 'S' },
          { AttributeName: clustersIndex.partitionKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: clustersIndex.name,
            KeySchema: [
              { AttributeName: clustersIndex.partitionKey, KeyType: 'HASH' },
              { AttributeName: clustersIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE_DEFINITION.streamView },
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let i = 0; ; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
        }),
      ).catch((error: unknown) => {
        // Enabling TTL twice is refused; the table already has it.
        if (!/already enabled/i.test(String(error))) throw error;
      });
      return { tableName, streamArn: Table.LatestStreamArn };
    }
    if (i > 100) throw new Error(`table ${tableName} did not become ACTIVE`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
