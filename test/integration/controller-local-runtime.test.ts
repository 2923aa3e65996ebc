import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../core/model.js';
import { keys } from '../../core/table.js';
import { handler, setControllerDeps } from '../../functions/handlers/evaluator.js';
import { LocalRuntime } from '../../sandbox/local-runtime.js';
import { silentLogger } from '../../functions/log.js';
import { ControllerFixture } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let streams: DynamoDBStreamsClient;
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
  streams = new DynamoDBStreamsClient(f.moto.clientConfig);
});
afterAll(async () => {
  setControllerDeps(undefined);
  await f?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function snapshotFor(id: string, b: SnapshotBuilder): ClusterSnapshot {
  return withClusterId(b.build(), id);
}

describe('the local Lambda runtime', () => {
  it('delivers real stream records in the Lambda event shape, filtered like the CDK event source', async () => {
    counter += 1;
    const id = `local-${counter}`;
    const snapshot = snapshotFor(id, new SnapshotBuilder({ now: f.clock.now() }));
    const delivered: DynamoDBStreamEvent[] = [];
    const runtime = new LocalRuntime({
      streams,
      dynamodb: f.ddb,
      tableName: f.table,
      startingPosition: 'LATEST',
      pollIntervalMs: 100,
      sweepIntervalMs: 0,
      log: silentLogger,
      handler: async (event) => {
        delivered.push(event as DynamoDBStreamEvent);
        return { batchItemFailures: [] };
      },
    });
    await runtime.start();
    try {
      await f.seed(snapshot); // cluster record (no operation), node records, heartbeats with attention
      const hb = snapshot.heartbeats.find((h) => h.node_id === 2);
      if (!hb) throw new Error('no heartbeat');
      await f.store.putHeartbeat({ ...hb, seq: hb.seq + 1 }, false); // a healthy periodic heartbeat: filtered out
      await f.store.renewLease(id, 1, snapshot.cluster.term, 'rvn-next', f.clock.now()); // lease renewal: filtered out
      const records = await until('heartbeat records', () => {
        const all = delivered.flatMap((e) => e.Records).filter((r) => r.dynamodb?.Keys?.pk?.S === keys.partition(id));
        return all.length >= snapshot.heartbeats.length ? all : undefined;
      });
      await new Promise((r) => setTimeout(r, 500)); // anything filtered out would have arrived by now
      const ours = delivered.flatMap((e) => e.Records).filter((r) => r.dynamodb?.Keys?.pk?.S === keys.partition(id));
      expect(ours.map((r) => r.dynamodb?.Keys?.sk?.S)).toEqual(snapshot.heartbeats.map((h) => keys.heartbeat(h.node_id)));
      const first = records[0];
      expect(first).toMatchObject({
        eventName: 'INSERT',
        eventSource: 'aws:dynamodb',
        eventSourceARN: f.streamArn,
        dynamodb: {
          Keys: { pk: { S: keys.partition(id) }, sk: { S: keys.heartbeat(1) } },
          NewImage: { kind: { S: 'heartbeat' }, attention: { BOOL: true }, cluster_id: { S: id }, node_id: { N: '1' } },
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      });
      expect(typeof first?.dynamodb?.SequenceNumber).toBe('string');
      expect(typeof first?.dynamodb?.ApproximateCreationDateTime).toBe('number');
    } finally {
      await runtime.stop();
    }
  });

  it('drives the real evaluator handler: a crash reported through the stream ends in a completed failover', async () => {
    counter += 1;
    const id = `local-${counter}`;
    await f.seed(snapshotFor(id, new SnapshotBuilder({ now: f.clock.now() })));
    setControllerDeps(f.deps());
    const runtime = new LocalRuntime({ streams, streamArn: f.streamArn, handler, pollIntervalMs: 100, sweepIntervalMs: 0, log: silentLogger });
    await runtime.start();
    try {
      // The primary's agent reports its postmaster gone; the standbys and witness fail to reach it.
      const now = f.clock.now();
      await f.patchHeartbeat(id, 1, (hb) => ({ ...hb, server: hb.server && { ...hb.server, postmaster_running: false, accepting_connections: false, down_since: now - 2000 } }));
      for (const n of [2, 3, 4]) {
        await f.patchHeartbeat(id, n, (hb) => ({
          ...hb,
          reachability: [{ node_id: 1, ok: false, checked_at: now, last_ok_at: now - 4000, failures: 2 }],
        }));
      }
      const cluster = await until('the failover', async () => {
        const c = (await f.store.load(id))?.snapshot.cluster;
        return c?.primary_node_id === 2 && c.operation === null ? c : undefined;
      });
      expect(cluster.term).toBe(4);
      expect((await f.store.listEvents(id, { event: 'repmgrd_failover_promote' })).length).toBe(1);
    } finally {
      await runtime.stop();
    }
  });

  it('fires the sweep on its timer and redelivers a batch whose handler failed', async () => {
    const sweeps: unknown[] = [];
    let streamCalls = 0;
    const batches: string[][] = [];
    const runtime = new LocalRuntime({
      streams,
      streamArn: f.streamArn,
      pollIntervalMs: 100,
      sweepIntervalMs: 200,
      log: silentLogger,
      handler: async (event) => {
        if ((event as { Records?: unknown }).Records === undefined) {
          sweeps.push(event);
          return {};
        }
        streamCalls += 1;
        const records = (event as DynamoDBStreamEvent).Records;
        batches.push(records.map((r) => r.dynamodb?.SequenceNumber ?? ''));
        // Fail the first delivery entirely; accept the retry.
        return { batchItemFailures: streamCalls === 1 ? records.map((r) => ({ itemIdentifier: r.dynamodb?.SequenceNumber ?? '' })) : [] };
      },
    });
    await runtime.start();
    try {
      counter += 1;
      await f.seed(snapshotFor(`local-${counter}`, new SnapshotBuilder({ now: f.clock.now() })));
      await until('two deliveries', () => (streamCalls >= 2 ? true : undefined));
      await until('a sweep', () => (sweeps.length >= 1 ? true : undefined));
      expect(batches[1]?.slice(0, batches[0]?.length)).toEqual(batches[0]);
      expect(sweeps[0]).toMatchObject({ source: 'pgvigil.local-runtime', 'detail-type': 'Scheduled Event' });
    } finally {
      await runtime.stop();
    }
  });
});
