import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../core/table.js';
import { startMoto, type Moto } from '../support/moto.js';
import { NOW, cliHarness, clusterRecord, nodeRecord, type CliHarness } from '../support/cli-cluster.js';

const DAY = 86_400_000;
const ID = 'history';

describe('pgvigil cluster cleanup', () => {
  let moto: Moto;
  let h: CliHarness;

  async function remaining(): Promise<number[]> {
    const page = await h.client.send(
      new QueryCommand({
        TableName: h.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :mon)',
        ExpressionAttributeValues: { ':pk': { S: keys.partition(ID) }, ':mon': { S: keys.prefix.monitoring } },
      }),
    );
    return (page.Items ?? []).map((i) => Math.round((NOW - Number(i.last_monitor_time?.N)) / DAY)).sort((a, b) => a - b);
  }

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    await h.write({ cluster: clusterRecord(ID), nodes: [nodeRecord(ID, 1), nodeRecord(ID, 2)], heartbeats: [] });
    for (const daysAgo of [0, 1, 5, 10, 40]) {
      await h.store.putMonitoringSample(
        {
          cluster_id: ID,
          primary_node_id: 1,
          standby_node_id: 2,
          last_monitor_time: NOW - daysAgo * DAY,
          last_apply_time: null,
          last_wal_primary_location: '0/5000000',
          last_wal_standby_location: '0/5000000',
          replication_lag: 0,
          apply_lag: 0,
        },
        365 * 86_400,
      );
    }
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('deletes monitoring history older than --keep-history days and records cluster_cleanup', async () => {
    const result = await h.run(ID, ['cluster', 'cleanup', '--keep-history=7']);
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([
      'INFO: deleting monitoring history older than 7 day(s)',
      'NOTICE: 2 monitoring history records older than 7 day(s) deleted',
    ]);
    expect(await remaining()).toEqual([0, 1, 5]);
    const events = await h.store.listEvents(ID, { event: 'cluster_cleanup' });
    expect(events.map((e) => [e.node_id, e.successful, e.details])).toEqual([[1, true, '2 monitoring history records older than 7 day(s) deleted']]);
  });

  it('deletes all history without --keep-history', async () => {
    const result = await h.run(ID, ['cluster', 'cleanup']);
    expect(result.code).toBe(0);
    expect(result.stderr[1]).toBe('NOTICE: 3 monitoring history records deleted');
    expect(await remaining()).toEqual([]);
  });

  it('exits 1 for a negative number of days and changes nothing', async () => {
    const result = await h.run(ID, ['cluster', 'cleanup', '--keep-history=-1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual(['ERROR: option --keep-history expects a number of days (0 or more), got -1']);
    expect(await h.store.listEvents(ID, { event: 'cluster_cleanup' })).toHaveLength(2);
  });
});
