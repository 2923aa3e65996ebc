/**
 * The emulator the tests and the sandbox run (sandbox/moto_server.py) applies DynamoDB conditional
 * writes atomically, as DynamoDB does: of many evaluators claiming the same cluster version at the
 * same moment, exactly one wins. Plain moto serves requests on parallel threads without a lock and,
 * with frequent thread switches (forced here), lets several of them win.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { clusterRecord } from '../support/cli-cluster.js';
import { startStore, type StoreFixture } from '../support/store.js';

let f: StoreFixture;
let store: DynamoStateStore;

beforeAll(async () => {
  f = await startStore('pgvigil-atomic', { env: { PGVIGIL_MOTO_SWITCH_INTERVAL: '0.000001' } });
  store = f.store;
});

afterAll(async () => {
  await f?.stop();
});

describe('the emulated DynamoDB', () => {
  it('lets exactly one of many simultaneous claims on the same version win', async () => {
    await store.createCluster(clusterRecord('race'));
    for (let round = 0; round < 5; round++) {
      const claims = Array.from({ length: 24 }, (_, i) => store.updateCluster('race', round, { term: round + 2, primary_node_id: i + 1 }, 1_760_000_000_000 + round));
      expect((await Promise.all(claims)).filter((r) => r.ok)).toHaveLength(1);
    }
    expect((await store.load('race'))?.snapshot.cluster).toMatchObject({ version: 5, term: 6 });
  });
});
