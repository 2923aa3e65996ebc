/**
 * A private moto server with one pgvigil state table, for the test files that talk to the store
 * (and, through `client`, to the raw table).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { createStateTable } from '../../adapters/dynamo-table.js';
import { startMoto, type Moto } from './moto.js';

export interface StoreFixture {
  moto: Moto;
  client: DynamoDBClient;
  store: DynamoStateStore;
  stop(): Promise<void>;
}

export async function startStore(table: string, options: Parameters<typeof startMoto>[0] = {}): Promise<StoreFixture> {
  const moto = await startMoto(options);
  const client = new DynamoDBClient(moto.clientConfig);
  await createStateTable(client, table);
  return {
    moto,
    client,
    store: new DynamoStateStore(client, table),
    async stop() {
      client.destroy();
      await moto.stop();
    },
  };
}
