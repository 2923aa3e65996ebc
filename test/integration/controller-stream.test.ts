import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot, Heartbeat } from '../../core/model.js';
import type { ClusterStateStore } from '../../core/ports.js';
import { keys } from '../../core/table.js';
import { evaluateCluster, handleStreamBatch, parseStreamBatch } from '../../functions/evaluator.js';
import { evaluatorHandler } from '../../functions/handlers/evaluator.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let counter = 0;
let seq = 100;

beforeAll(async () => {
  f = await ControllerFixture.start();
});
afterAll(async () => {
  await f?.stop();
});

async function healthyCluster(patch: (b: SnapshotBuilder) => SnapshotBuilder = (b) => b): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `stream-${counter}`;
  const built = patch(new SnapshotBuilder({ now: f.clock.now() })).build();
  const renamed = withClusterId(built, id);
  const snapshot: ClusterSnapshot = { ...renamed, cluster: { ...renamed.cluster, lease_observation: null } };
  await f.seed(snapshot);
  return { id, snapshot };
}

/** A stream record as Lambda delivers it (the image in DynamoDB JSON). */
function record(pk: string, sk: string, image: Record<string, unknown> | null, eventName: 'INSERT' | 'MODIFY' | 'REMOVE' = 'MODIFY'): DynamoDBRecord {
  seq += 1;
  return {
    eventID: `ev-${seq}`,
    eventName,
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: {
      Keys: { pk: { S: pk }, sk: { S: sk } },
      ...(image ? { NewImage: image as never } : {}),
      SequenceNumber: String(seq).padStart(21, '0'),
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

function heartbeatRecord(clusterKey: string, nodeId: number, hb: unknown): DynamoDBRecord {
  const image = marshall({ ...(hb as object), pk: keys.partition(clusterKey), sk: keys.heartbeat(nodeId), kind: 'heartbeat', attention: true }, { removeUndefinedValues: true });
  return record(keys.partition(clusterKey), keys.heartbeat(nodeId), image);
}

describe('stream batches', () => {
  it('rejects malformed and foreign heartbeat records with one heartbeat_rejected event each and never crashes', async () => {
    const { id, snapshot } = await healthyCluster();
    const good = snapshot.heartbeats.find((h) => h.node_id === 2) as Heartbeat;
    const records = [
      heartbeatRecord(id, 2, good),
      heartbeatRecord(id, 2, { ...good, seq: -1, server: { ...good.server, timeline: 'two' } }),
      heartbeatRecord(id, 3, { ...good, cluster_id: 'someone-else', node_id: 3 }),
      record(keys.partition(id), keys.heartbeat(4), { seq: { Q: '1' } }),
      record(keys.partition(id), 'S#HB#garbage', null),
      record('X#nope', 'S#HB#0000000001', null),
      { nonsense: true } as unknown as DynamoDBRecord,
    ];
    const out = await handleStreamBatch(f.deps(), invocation(), { Records: records });
    expect(out.batchItemFailures).toEqual([]);
    expect(out.results.map((r) => r.cluster_id)).toEqual([id]);
    const rejected = await f.store.listEvents(id, { event: 'heartbeat_rejected' });
    expect(rejected).toHaveLength(4);
    expect(rejected.map((e) => e.node_id).sort()).toEqual([0, 2, 3, 4]);
    const details = rejected.map((e) => e.details).join('\n');
    expect(details).toMatch(/seq: Too small|seq:/);
    expect(details).toMatch(/server\.timeline/);
    expect(details).toMatch(/heartbeat of cluster "someone-else" stored under cluster "stream-/);
    expect(details).toMatch(/malformed heartbeat key/);
  });

  it('evaluates each cluster once per batch, however many of its records the batch holds', async () => {
    const a = await healthyCluster();
    const b = await healthyCluster();
    let loads = 0;
    const store: ClusterStateStore = Object.create(f.store) as ClusterStateStore;
    store.load = async (cid) => {
      loads += 1;
      return f.store.load(cid);
    };
    const hb = (c: { id: string; snapshot: ClusterSnapshot }, n: number) => heartbeatRecord(c.id, n, c.snapshot.heartbeats.find((h) => h.node_id === n));
    const out = await handleStreamBatch(f.deps({ store }), invocation(), { Records: [hb(a, 1), hb(a, 2), hb(b, 1), hb(a, 3), hb(b, 2)] });
    expect(out.results.map((r) => r.cluster_id).sort()).toEqual([a.id, b.id].sort());
    expect(loads).toBe(2);
  });

  it('reports as failed only the records of the cluster whose evaluation threw', async () => {
    const a = await healthyCluster();
    const b = await healthyCluster();
    const store: ClusterStateStore = Object.create(f.store) as ClusterStateStore;
    store.load = async (cid) => {
      if (cid === b.id) throw new Error('DynamoDB unavailable');
      return f.store.load(cid);
    };
    const ra = heartbeatRecord(a.id, 2, a.snapshot.heartbeats[1]);
    const rb1 = heartbeatRecord(b.id, 2, b.snapshot.heartbeats[1]);
    const rb2 = heartbeatRecord(b.id, 3, b.snapshot.heartbeats[2]);
    const out = await handleStreamBatch(f.deps({ store }), invocation(), { Records: [rb1, ra, rb2] });
    expect(out.batchItemFailures.map((x) => x.itemIdentifier)).toEqual([rb1.dynamodb?.SequenceNumber, rb2.dynamodb?.SequenceNumber]);
  });

  it('groups records by cluster without touching AWS', () => {
    const parsed = parseStreamBatch([record('C#a', 'S#CLUSTER', null), record('C#b', 'S#NODE#0000000001', null, 'REMOVE'), record('C#a', 'S#HB#0000000002', null)]);
    expect([...parsed.clusters.keys()]).toEqual(['a', 'b']);
    expect(parsed.clusters.get('a')?.rejections).toEqual([{ node_id: 2, details: expect.stringContaining('no new image') as string }]);
  });
});

describe('the evaluator Lambda handler', () => {
  it('answers a stream batch with batchItemFailures and a schedule event with a sweep of every cluster', async () => {
    const { id } = await healthyCluster();
    const handler = evaluatorHandler(f.deps());
    const streamAnswer = await handler({ Records: [record(keys.partition(id), keys.cluster(), null)] });
    expect(streamAnswer).toEqual({ batchItemFailures: [] });
    const sweepAnswer = (await handler({ source: 'aws.scheduler', 'detail-type': 'Scheduled Event' })) as { clusters: number; results: { cluster_id: string; code: string }[] };
    expect(sweepAnswer.clusters).toBeGreaterThanOrEqual(1);
    expect(sweepAnswer.results.find((r) => r.cluster_id === id)?.code).toBe('healthy');
  });
});

describe('events for lasting conditions', () => {
  it('records an alarm once while it lasts and once more when it clears', async () => {
    const { id } = await healthyCluster((b) => b.server(3, { replication_lag_secs: 1000 }));
    for (let i = 0; i < 3; i++) await evaluateCluster(f.deps(), invocation(), id);
    let alarms = (await f.store.listEvents(id, { event: 'replication_alarm' })).filter((e) => e.details.startsWith('replication_lag_critical'));
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ node_id: 3, successful: false });

    await f.patchHeartbeat(id, 3, (hb) => ({ ...hb, server: hb.server && { ...hb.server, replication_lag_secs: 0 } }));
    await evaluateCluster(f.deps(), invocation(), id);
    await evaluateCluster(f.deps(), invocation(), id);
    alarms = (await f.store.listEvents(id, { event: 'replication_alarm' })).filter((e) => e.details.startsWith('replication_lag_critical'));
    expect(alarms.map((e) => e.successful)).toEqual([false, true]);
    expect(alarms[1]?.details).toBe('replication_lag_critical: cleared');
  });

  it('reports a malformed heartbeat item found by the sweep once, not on every sweep', async () => {
    const { id } = await healthyCluster();
    await f.ddb.send(
      new PutItemCommand({
        TableName: f.table,
        Item: marshall({ pk: keys.partition(id), sk: keys.heartbeat(3), kind: 'heartbeat', attention: false, cluster_id: id, node_id: 3, seq: 'x' }),
      }),
    );
    for (let i = 0; i < 3; i++) await evaluateCluster(f.deps(), invocation(), id);
    const rejected = await f.store.listEvents(id, { event: 'heartbeat_rejected' });
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.node_id).toBe(3);
  });
});
