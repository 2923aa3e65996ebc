import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { Heartbeat } from '../../core/model.js';
import { clusterRecord, nodeRecord } from '../support/cli-cluster.js';
import { keys } from '../../core/table.js';
import { startStore, type StoreFixture } from '../support/store.js';

const T0 = 1_760_000_000_000;

function heartbeat(clusterId: string, nodeId: number, overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    cluster_id: clusterId,
    node_id: nodeId,
    seq: 1,
    sent_at: T0,
    agent_version: '0.1.0',
    term: 1,
    server: {
      postmaster_running: true,
      accepting_connections: true,
      last_accepting_at: T0,
      down_since: null,
      in_recovery: nodeId !== 1,
      system_identifier: '7300000000000000001',
      timeline: 1,
      current_lsn: nodeId === 1 ? '0/3000060' : null,
      receive_lsn: nodeId === 1 ? null : '0/3000060',
      replay_lsn: nodeId === 1 ? null : '0/3000060',
      wal_receiver_status: nodeId === 1 ? null : 'streaming',
      wal_receiver_upstream_node_id: nodeId === 1 ? null : 1,
      replication: [],
      synchronous_standby_names: '',
      data_directory_writable: true,
      fenced: false,
    },
    reachability: [],
    ...overrides,
  };
}

describe('DynamoStateStore against the moto server', () => {
  let f: StoreFixture;
  let client: DynamoDBClient;
  let store: DynamoStateStore;
  const table = 'pgvigil-state';

  beforeAll(async () => {
    f = await startStore(table);
    ({ client, store } = f);
  });
  afterAll(async () => {
    await f?.stop();
  });

  it('creates a cluster once and refuses to create it again', async () => {
    expect(await store.createCluster(clusterRecord('c-create'))).toEqual({ ok: true });
    expect(await store.createCluster(clusterRecord('c-create', { term: 9 }))).toEqual({ ok: false, reason: 'condition_failed' });
    const loaded = await store.load('c-create');
    expect(loaded?.snapshot.cluster.term).toBe(1);
  });

  it('returns undefined for a cluster that does not exist', async () => {
    expect(await store.load('nobody')).toBeUndefined();
  });

  it('reads nodes and heartbeats of one cluster in one query, without other clusters or events', async () => {
    await store.createCluster(clusterRecord('c-read'));
    await store.createCluster(clusterRecord('c-other'));
    for (const id of [1, 2, 3]) {
      await store.putNode(nodeRecord('c-read', id));
      await store.putHeartbeat(heartbeat('c-read', id), false);
    }
    await store.putNode(nodeRecord('c-other', 7));
    await store.appendEvent({ cluster_id: 'c-read', node_id: 1, event: 'primary_register', successful: true, timestamp: T0, details: 'x', term: 1 });
    const loaded = await store.load('c-read');
    expect(loaded?.snapshot.nodes.map((n) => n.node_id)).toEqual([1, 2, 3]);
    expect(loaded?.snapshot.heartbeats.map((h) => h.node_id)).toEqual([1, 2, 3]);
    expect(loaded?.rejected).toEqual([]);
  });

  it('lists every cluster through the sparse index', async () => {
    const ids = await store.listClusters();
    expect(ids).toEqual(expect.arrayContaining(['c-create', 'c-read', 'c-other']));
  });

  it('follows every page of the index when listing clusters, one cluster per page', async () => {
    const whole = await store.listClusters();
    expect(whole.length).toBeGreaterThanOrEqual(3);
    const paged = new DynamoStateStore(client, table, { listPageSize: 1 });
    const send = vi.spyOn(client, 'send');
    try {
      expect(await paged.listClusters()).toEqual(whole);
      // One page per cluster, and one more that finds the end.
      expect(send.mock.calls.length).toBeGreaterThanOrEqual(whole.length);
    } finally {
      send.mockRestore();
    }
  });

  it('moves the cluster record forward only from the expected version', async () => {
    await store.createCluster(clusterRecord('c-cas'));
    expect(await store.updateCluster('c-cas', 0, { term: 2, primary_node_id: 2 }, T0 + 1)).toEqual({ ok: true });
    // A second evaluator that read version 0 loses the race.
    expect(await store.updateCluster('c-cas', 0, { term: 2, primary_node_id: 3 }, T0 + 2)).toEqual({ ok: false, reason: 'condition_failed' });
    const record = (await store.load('c-cas'))?.snapshot.cluster;
    expect(record).toMatchObject({ term: 2, primary_node_id: 2, version: 1, updated_at: T0 + 1 });
  });

  it('renews the lease only for the primary of the current term', async () => {
    await store.createCluster(clusterRecord('c-lease', { term: 3, primary_node_id: 1 }));
    expect(await store.renewLease('c-lease', 1, 3, 'rvn-a', T0)).toEqual({ ok: true });
    expect(await store.renewLease('c-lease', 2, 3, 'rvn-b', T0)).toEqual({ ok: false, reason: 'condition_failed' });
    expect(await store.renewLease('c-lease', 1, 2, 'rvn-c', T0)).toEqual({ ok: false, reason: 'condition_failed' });
    const record = (await store.load('c-lease'))?.snapshot.cluster;
    expect(record?.lease).toEqual({ holder_node_id: 1, term: 3, rvn: 'rvn-a', renewed_at: T0 });
  });

  it('lets the candidate of the failover or switchover that claimed the term renew before the record names it primary, and no one else', async () => {
    for (const kind of ['failover', 'switchover'] as const) {
      const id = `c-cand-${kind}`;
      const op = { id: 'op-1', kind, term: 4, candidate_node_id: 2, old_primary_node_id: 1, step: 'verify_promotion', owner: 'inv-a', deadline: T0 + 5000, started_at: T0, data: {} };
      await store.createCluster(clusterRecord(id, { term: 4, primary_node_id: 1, operation: op }));
      expect(await store.renewLease(id, 2, 4, 'rvn-cand', T0)).toEqual({ ok: true });
      expect(await store.renewLease(id, 3, 4, 'rvn-other', T0)).toEqual({ ok: false, reason: 'condition_failed' });
      expect(await store.renewLease(id, 2, 3, 'rvn-old-term', T0)).toEqual({ ok: false, reason: 'condition_failed' });
      expect((await store.load(id))?.snapshot.cluster.lease).toEqual({ holder_node_id: 2, term: 4, rvn: 'rvn-cand', renewed_at: T0 });
    }
    // A rejoin's or a follow's node, or a failover of an older term, is not a candidate for the lease.
    const rejoin = { id: 'op-2', kind: 'rejoin' as const, term: 4, candidate_node_id: 2, old_primary_node_id: null, step: 'rejoin', owner: 'inv-a', deadline: T0 + 5000, started_at: T0, data: {} };
    await store.createCluster(clusterRecord('c-cand-rejoin', { term: 4, primary_node_id: 1, operation: rejoin }));
    expect(await store.renewLease('c-cand-rejoin', 2, 4, 'rvn-x', T0)).toEqual({ ok: false, reason: 'condition_failed' });
    await store.createCluster(clusterRecord('c-cand-stale', { term: 5, primary_node_id: 1, operation: { ...rejoin, kind: 'failover', term: 4 } }));
    expect(await store.renewLease('c-cand-stale', 2, 5, 'rvn-y', T0)).toEqual({ ok: false, reason: 'condition_failed' });
  });

  it('stops renewals as soon as the controller claims a new term', async () => {
    await store.createCluster(clusterRecord('c-claim', { term: 1, primary_node_id: 1 }));
    expect(await store.renewLease('c-claim', 1, 1, 'r1', T0)).toEqual({ ok: true });
    expect(await store.updateCluster('c-claim', 0, { term: 2, primary_node_id: 2 }, T0)).toEqual({ ok: true });
    expect(await store.renewLease('c-claim', 1, 1, 'r2', T0)).toEqual({ ok: false, reason: 'condition_failed' });
  });

  it('claims with a lease guard only while the lease still carries the RVN that was read', async () => {
    await store.createCluster(clusterRecord('c-guard', { term: 1, primary_node_id: 1 }));
    // No lease at all: a guard of "no lease" holds; a guard naming an RVN does not.
    expect(await store.updateCluster('c-guard', 0, { reported_conditions: ['a'] }, T0, { leaseRvn: 'rvn-1' })).toEqual({ ok: false, reason: 'condition_failed' });
    expect(await store.updateCluster('c-guard', 0, { reported_conditions: ['a'] }, T0, { leaseRvn: null })).toEqual({ ok: true });
    await store.renewLease('c-guard', 1, 1, 'rvn-1', T0);
    // The claimer read rvn-1, then the primary renewed (rvn-2) before the claim landed.
    await store.renewLease('c-guard', 1, 1, 'rvn-2', T0 + 1);
    expect(await store.updateCluster('c-guard', 1, { term: 2, primary_node_id: 2 }, T0 + 2, { leaseRvn: 'rvn-1' })).toEqual({ ok: false, reason: 'condition_failed' });
    expect(await store.updateCluster('c-guard', 1, { term: 2, primary_node_id: 2 }, T0 + 2, { leaseRvn: null })).toEqual({ ok: false, reason: 'condition_failed' });
    expect(await store.updateCluster('c-guard', 1, { term: 2, primary_node_id: 2 }, T0 + 2, { leaseRvn: 'rvn-2' })).toEqual({ ok: true });
    expect((await store.load('c-guard'))?.snapshot.cluster).toMatchObject({ term: 2, primary_node_id: 2, version: 2 });
  });

  it("renews a saga owner's deadline without raising the version, only for that operation and owner and only before it has passed", async () => {
    await store.createCluster(clusterRecord('c-owner'));
    const op = { id: 'op-1', kind: 'failover' as const, term: 2, candidate_node_id: 2, old_primary_node_id: 1, step: 'promote', owner: 'inv-a', deadline: T0 + 1000, started_at: T0, data: {} };
    expect(await store.updateCluster('c-owner', 0, { term: 2, operation: op }, T0)).toEqual({ ok: true });
    expect(await store.renewOperation('c-owner', 'op-1', 'inv-a', T0 + 3000, T0 + 500)).toEqual({ ok: true });
    expect(await store.renewOperation('c-owner', 'op-1', 'inv-b', T0 + 9000, T0 + 500)).toEqual({ ok: false, reason: 'condition_failed' });
    expect(await store.renewOperation('c-owner', 'op-2', 'inv-a', T0 + 9000, T0 + 500)).toEqual({ ok: false, reason: 'condition_failed' });
    // Once the deadline has passed, someone may be taking over: the old owner cannot come back.
    expect(await store.renewOperation('c-owner', 'op-1', 'inv-a', T0 + 9000, T0 + 3001)).toEqual({ ok: false, reason: 'condition_failed' });
    const cluster = (await store.load('c-owner'))?.snapshot.cluster;
    expect(cluster?.version).toBe(1);
    expect(cluster?.operation).toMatchObject({ id: 'op-1', owner: 'inv-a', deadline: T0 + 3000 });
    // No operation at all: nothing to renew.
    await store.createCluster(clusterRecord('c-no-op'));
    expect(await store.renewOperation('c-no-op', 'op-1', 'inv-a', T0 + 3000, T0)).toEqual({ ok: false, reason: 'condition_failed' });
  });

  it('records a lease observation only while the lease still carries the observed RVN', async () => {
    await store.createCluster(clusterRecord('c-obs', { term: 1, primary_node_id: 1 }));
    // No lease yet: an observation of "no lease" is accepted.
    expect(await store.putLeaseObservation('c-obs', 1, { rvn: 'none', first_seen_at: T0 })).toEqual({ ok: true });
    await store.renewLease('c-obs', 1, 1, 'rvn-1', T0);
    expect(await store.putLeaseObservation('c-obs', 1, { rvn: 'rvn-1', first_seen_at: T0 + 5 })).toEqual({ ok: true });
    await store.renewLease('c-obs', 1, 1, 'rvn-2', T0);
    // A slow evaluator still holding rvn-1 cannot overwrite the newer state.
    expect(await store.putLeaseObservation('c-obs', 1, { rvn: 'rvn-1', first_seen_at: T0 })).toEqual({ ok: false, reason: 'condition_failed' });
    expect(await store.putLeaseObservation('c-obs', 2, { rvn: 'rvn-2', first_seen_at: T0 })).toEqual({ ok: false, reason: 'condition_failed' });
    expect((await store.load('c-obs'))?.snapshot.cluster.lease_observation).toEqual({ rvn: 'rvn-1', first_seen_at: T0 + 5 });
  });

  it('rejects malformed and foreign heartbeats instead of using them', async () => {
    await store.createCluster(clusterRecord('c-bad'));
    await store.putHeartbeat(heartbeat('c-bad', 1), false);
    // Written behind the store's back: a heartbeat with a broken LSN, and one from another cluster.
    const pk = keys.partition('c-bad');
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: marshall({ ...heartbeat('c-bad', 2), server: { ...heartbeat('c-bad', 2).server, receive_lsn: 'garbage' }, pk, sk: keys.heartbeat(2) }),
      }),
    );
    await client.send(new PutItemCommand({ TableName: table, Item: marshall({ ...heartbeat('elsewhere', 3), pk, sk: keys.heartbeat(3) }) }));
    const loaded = await store.load('c-bad');
    expect(loaded?.snapshot.heartbeats.map((h) => h.node_id)).toEqual([1]);
    expect(loaded?.rejected).toHaveLength(2);
    expect(loaded?.rejected.find((r) => r.node_id === 2)?.errors.join()).toMatch(/server\.receive_lsn/);
    expect(loaded?.rejected.find((r) => r.node_id === 3)?.errors.join()).toMatch(/cluster "elsewhere"/);
  });

  it('refuses to store a node record whose conninfo holds a password', async () => {
    await expect(store.putNode(nodeRecord('c-read', 9, { conninfo: 'host=x password=secret' }))).rejects.toThrow(/password/);
    await expect(store.putNode(nodeRecord('c-read', 9, { conninfo: 'postgresql://u:secret@x/db' }))).rejects.toThrow(/password/);
    expect((await store.load('c-read'))?.snapshot.nodes.map((n) => n.node_id)).not.toContain(9);
  });

  it('lists events oldest first or newest first, filtered by event and node, with a limit', async () => {
    await store.createCluster(clusterRecord('c-events'));
    const names = ['primary_register', 'standby_register', 'standby_register', 'standby_promote'] as const;
    for (const [i, event] of names.entries()) {
      await store.appendEvent({ cluster_id: 'c-events', node_id: i + 1, event, successful: true, timestamp: T0 + i * 1000, details: `e${i}`, term: 1 });
    }
    expect((await store.listEvents('c-events')).map((e) => e.details)).toEqual(['e0', 'e1', 'e2', 'e3']);
    expect((await store.listEvents('c-events', { newestFirst: true, limit: 2 })).map((e) => e.details)).toEqual(['e3', 'e2']);
    expect((await store.listEvents('c-events', { event: 'standby_register' })).map((e) => e.node_id)).toEqual([2, 3]);
    expect((await store.listEvents('c-events', { nodeId: 4 })).map((e) => e.event)).toEqual(['standby_promote']);
    expect((await store.listEvents('c-events', { sinceMs: T0 + 2000 })).map((e) => e.details)).toEqual(['e2', 'e3']);
  });

  it('deletes monitoring history older than the cut-off and keeps the rest', async () => {
    await store.createCluster(clusterRecord('c-mon'));
    for (let i = 0; i < 30; i++) {
      await store.putMonitoringSample(
        {
          cluster_id: 'c-mon',
          primary_node_id: 1,
          standby_node_id: 2,
          last_monitor_time: T0 + i * 60_000,
          last_apply_time: null,
          last_wal_primary_location: '0/1',
          last_wal_standby_location: '0/1',
          replication_lag: 0,
          apply_lag: 0,
        },
        86_400,
      );
    }
    expect(await store.deleteMonitoringBefore('c-mon', T0 + 27 * 60_000)).toBe(27);
    expect(await store.deleteMonitoringBefore('c-mon', T0 + 27 * 60_000)).toBe(0);
    expect(await store.deleteMonitoringBefore('c-mon', T0 + 100 * 60_000)).toBe(3);
  });
});
