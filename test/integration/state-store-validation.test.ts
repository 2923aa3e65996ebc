/**
 * The state store validates every record it writes and every item it reads back with the schemas
 * of core/model.ts. Against moto: a bad record (a bad field, an unknown key) is refused with an
 * error naming it and nothing is written; a bad item read back is named too, and a key written by
 * another version of pgvigil is dropped on reading, not refused.
 */
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { PgvigilError } from '../../core/errors.js';
import type { EventRecord } from '../../core/model.js';
import { keys } from '../../core/table.js';
import { clusterRecord, heartbeat, nodeRecord, primaryServer } from '../support/cli-cluster.js';
import { startStore, type StoreFixture } from '../support/store.js';

const T0 = 1_760_000_000_000;
let f: StoreFixture;
let client: DynamoDBClient;
let store: DynamoStateStore;
const table = 'pgvigil-state-validation';

beforeAll(async () => {
  f = await startStore(table);
  ({ client, store } = f);
});

afterAll(async () => {
  await f?.stop();
});

describe('the state store on the agent path', () => {
  it('refuses a heartbeat with a bad field, naming it, and writes nothing', async () => {
    await store.createCluster(clusterRecord('v-hb'));
    const bad = heartbeat('v-hb', 1, primaryServer({ timeline: 0, current_lsn: 'garbage' }));
    const error = await store.putHeartbeat(bad, true).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgvigilError);
    expect((error as PgvigilError).code).toBe('BAD_INPUT');
    expect((error as Error).message).toBe(
      'the heartbeat of node 1 is not valid: server.timeline: expected a number > 0, got 0; server.current_lsn: expected a WAL position such as 0/3000060',
    );
    expect((await store.load('v-hb'))?.snapshot.heartbeats).toEqual([]);
    await store.putHeartbeat(heartbeat('v-hb', 1, primaryServer()), false);
    expect((await store.load('v-hb'))?.snapshot.heartbeats.map((h) => h.node_id)).toEqual([1]);
  });

  it('refuses an event with a bad field, naming it, and writes nothing', async () => {
    const bad = { cluster_id: 'v-ev', node_id: 1, event: 'no_such_event', successful: true, timestamp: T0, details: 'x', term: 1 } as unknown as EventRecord;
    await expect(store.appendEvent(bad)).rejects.toThrow(/^the event "no_such_event" is not valid: event: expected one of /);
    await expect(store.appendEvent({ ...bad, event: 'standby_promote', term: -1 })).rejects.toThrow('the event "standby_promote" is not valid: term: expected a number >= 0, got -1');
    expect(await store.listEvents('v-ev')).toEqual([]);
  });

  it('names the bad field of a cluster record or node record read back, and rejects a malformed heartbeat', async () => {
    await store.createCluster(clusterRecord('v-read'));
    await store.putNode(nodeRecord('v-read', 1));
    const pk = keys.partition('v-read');
    const good = heartbeat('v-read', 2, primaryServer());
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...good, reachability: [{ node_id: 1, ok: 'yes' }], pk, sk: keys.heartbeat(2) }) }));
    const loaded = await store.load('v-read');
    expect(loaded?.rejected).toEqual([{ node_id: 2, errors: ['reachability.0.ok: expected a boolean, got string', 'reachability.0.checked_at: expected a number, got undefined', 'reachability.0.last_ok_at: expected a number, got undefined', 'reachability.0.failures: expected a number, got undefined'] }]);
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...nodeRecord('v-read', 3), priority: -5, pk, sk: keys.node(3) }) }));
    await expect(store.load('v-read')).rejects.toMatchObject({ code: 'BAD_INPUT', message: 'node record S#NODE#0000000003 of cluster "v-read" is not valid', detail: 'priority: expected a number >= 0, got -5' });
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...clusterRecord('v-read2'), settings: { lease_secs: 'twenty' }, pk: keys.partition('v-read2'), sk: keys.cluster() }) }));
    await expect(store.load('v-read2')).rejects.toMatchObject({ code: 'BAD_INPUT', detail: 'settings.lease_secs: expected a number, got string' });
  });
});

