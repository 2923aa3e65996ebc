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
import { DEFAULT_CLUSTER_SETTINGS, type ClusterSettings, type EventRecord, type Heartbeat, type NodeRecord } from '../../core/model.js';
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

describe('the state store at the boundary', () => {
  it('refuses a record with a key the model does not know, naming it, and writes nothing', async () => {
    await store.createCluster(clusterRecord('v-strict'));
    const extra = { ...heartbeat('v-strict', 1, primaryServer()), servr: null } as unknown as Heartbeat;
    await expect(store.putHeartbeat(extra, false)).rejects.toThrow('the heartbeat of node 1 is not valid: servr: unknown key (did you mean "server"?)');
    const node = { ...nodeRecord('v-strict', 2), prority: 0 } as unknown as NodeRecord;
    await expect(store.putNode(node)).rejects.toThrow('node record is not valid: prority: unknown key (did you mean "priority"?)');
    const loaded = await store.load('v-strict');
    expect([loaded?.snapshot.heartbeats, loaded?.snapshot.nodes]).toEqual([[], []]);
  });

  it('refuses a change to the cluster record with a bad or unknown setting, and changes nothing', async () => {
    await store.createCluster(clusterRecord('v-update'));
    const before = (await store.load('v-update'))?.snapshot.cluster;
    const settings = { ...DEFAULT_CLUSTER_SETTINGS, lease_secs: 0, maximum_lag_on_failure: 16 } as unknown as ClusterSettings;
    await expect(store.updateCluster('v-update', before?.version ?? 0, { settings }, T0)).rejects.toThrow(
      'the change to the cluster record of "v-update" is not valid: settings.lease_secs: expected a number >= 0.2, got 0; settings.maximum_lag_on_failure: unknown key (did you mean "maximum_lag_on_failover"?)',
    );
    expect((await store.load('v-update'))?.snapshot.cluster).toEqual(before);
  });

  it('refuses a monitoring sample with a bad field', async () => {
    const sample = { cluster_id: 'v-mon', primary_node_id: 1, standby_node_id: 2, last_monitor_time: T0, last_apply_time: null, last_wal_primary_location: '0/5000000', last_wal_standby_location: 'behind', replication_lag: 0, apply_lag: 0 };
    await expect(store.putMonitoringSample(sample, 60)).rejects.toThrow('monitoring sample is not valid: last_wal_standby_location: expected a WAL position such as 0/3000060');
  });

  it('reads back records carrying a key written by another version of pgvigil, dropping the key', async () => {
    const pk = keys.partition('v-newer');
    const later = { written_by_a_later_version: 'x' };
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...clusterRecord('v-newer'), ...later, pk, sk: keys.cluster() }) }));
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...nodeRecord('v-newer', 1), ...later, pk, sk: keys.node(1) }) }));
    const hb = heartbeat('v-newer', 1, primaryServer());
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...hb, ...later, server: { ...hb.server, ...later }, pk, sk: keys.heartbeat(1) }) }));
    const loaded = await store.load('v-newer');
    expect(loaded?.rejected).toEqual([]);
    expect(loaded?.snapshot).toEqual({ cluster: clusterRecord('v-newer'), nodes: [nodeRecord('v-newer', 1)], heartbeats: [hb] });
  });
});
