import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterListRow } from '../../cli/render/cluster-list.js';
import { CLUSTERS_INDEX_PK, CLUSTERS_INDEX_PK_VALUE, keys } from '../../core/table.js';
import { startMoto, type Moto } from '../support/moto.js';
import {
  NOW,
  cliHarness,
  clusterRecord,
  golden,
  heartbeat,
  nodeRecord,
  primaryServer,
  reach,
  standbyServer,
  type CliHarness,
  type ClusterState,
} from '../support/cli-cluster.js';

/** Primary, standby and witness, all reporting, in term `term`. */
function healthy(id: string, term = 1): ClusterState {
  return {
    cluster: clusterRecord(id, { term }),
    nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3, { node_name: 'witness', type: 'witness', location: 'eu-west-1c', priority: 0 })],
    heartbeats: [
      heartbeat(id, 1, primaryServer(), { term }),
      heartbeat(id, 2, standbyServer(1), { term, reachability: [reach(1, true)] }),
      heartbeat(id, 3, null, { term, reachability: [reach(1, true), reach(2, true)] }),
    ],
  };
}

/** After a failover to node2 (term 2), whose old primary's PostgreSQL is down. */
function primaryDown(id: string): ClusterState {
  const state = healthy(id, 2);
  state.cluster = clusterRecord(id, { term: 2, primary_node_id: 2 });
  state.nodes = [
    nodeRecord(id, 1, { type: 'standby', upstream_node_id: 2 }),
    nodeRecord(id, 2, { node_name: 'db-b', type: 'primary', upstream_node_id: null }),
    nodeRecord(id, 3, { node_name: 'witness', type: 'witness', upstream_node_id: 2, location: 'eu-west-1c', priority: 0 }),
  ];
  state.heartbeats = [
    heartbeat(id, 1, standbyServer(2, { postmaster_running: false, accepting_connections: false, down_since: NOW - 8_000, in_recovery: null }), { term: 2 }),
    heartbeat(id, 2, primaryServer({ timeline: 2 }), { term: 2 }),
    heartbeat(id, 3, null, { term: 2, reachability: [reach(2, true)] }),
  ];
  return state;
}

/** Paused during a switchover to node2 in term 3. */
function pausedInSwitchover(id: string): ClusterState {
  const state = healthy(id, 3);
  state.cluster = clusterRecord(id, {
    term: 3,
    paused: true,
    operation: {
      id: 'op-1',
      kind: 'switchover',
      term: 3,
      candidate_node_id: 2,
      old_primary_node_id: 1,
      step: 'wait_for_lsn',
      owner: 'cli-test',
      deadline: NOW + 60_000,
      started_at: NOW - 5_000,
      data: {},
    },
  });
  return state;
}


describe('pgvigil cluster list', () => {
  let moto: Moto;
  let h: CliHarness;
  let empty: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto, 'pgvigil-many');
    empty = await cliHarness(moto, 'pgvigil-none');
    await h.write(healthy('orders'));
    await h.write(primaryDown('billing'));
    await h.write(pausedInSwitchover('reports'));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('prints one row per cluster with its term, primary, health, pause and operation, marking the selected one', async () => {
    const result = await h.run('orders', ['cluster', 'list']);
    expect(result.stdout.slice(0, 5)).toEqual([
      ' Cluster   | Term | Primary       | Health  | Paused? | Operation',
      '-----------+------+---------------+---------+---------+-------------------------------------------',
      '   billing | 2    | db-b (ID: 2)  | 1 issue | no      |',
      ' * orders  | 1    | node1 (ID: 1) | ok      | no      |',
      '   reports | 3    | node1 (ID: 1) | ok      | yes     | switchover (wait_for_lsn, candidate ID 2)',
    ]);
    // The issue is the one `cluster show` finds, named with its cluster.
    expect(result.stdout).toContainEqual(expect.stringMatching(/^ {2}- cluster "billing": node "node1" \(ID: 1\)/));
    expect(result.stderr).toContain('WARNING: following issues were detected');
    expect(result.code).toBe(25);
    const { actual, expected } = golden('cluster-list/three-clusters.txt', result);
    expect(actual).toBe(expected);
  });

  it('judges health as cluster show does: ok exactly when cluster show exits 0', async () => {
    const listed = JSON.parse((await h.run('orders', ['cluster', 'list', '--json'])).stdout.join('\n')) as { clusters: ClusterListRow[] };
    for (const c of listed.clusters) {
      const show = await h.run(c.cluster_id, ['cluster', 'show', '--json']);
      const shown = JSON.parse(show.stdout.join('\n')) as { issues: string[] };
      expect([c.cluster_id, c.health === 'ok', c.issues]).toEqual([c.cluster_id, show.code === 0, shown.issues]);
    }
  });

  it('prints --json that parses, with every cluster and the table it read', async () => {
    const result = await h.run('reports', ['cluster', 'list', '--json']);
    expect(result.code).toBe(25);
    const parsed = JSON.parse(result.stdout.join('\n')) as { table: string; clusters: ClusterListRow[] };
    expect(parsed.table).toBe('pgvigil-many');
    expect(parsed.clusters.map((c) => [c.cluster_id, c.selected, c.term, c.primary_node_id, c.primary_node_name, c.health, c.paused, c.operation?.kind ?? null])).toEqual([
      ['billing', false, 2, 2, 'db-b', '1 issue', false, null],
      ['orders', false, 1, 1, 'node1', 'ok', false, null],
      ['reports', true, 3, 1, 'node1', 'ok', true, 'switchover'],
    ]);
    expect(result.stdout.join('\n')).not.toMatch(/password/i);
  });

  it('prints --csv, one line per cluster', async () => {
    const result = await h.run('orders', ['cluster', 'list', '--csv']);
    expect(result.stdout).toEqual(['billing,2,2,db-b,1,0,', 'orders,1,1,node1,0,0,', 'reports,3,1,node1,0,1,switchover']);
  });

  it('exits 0 with a notice when the table holds no cluster', async () => {
    const result = await empty.run('default', ['cluster', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual([]);
    expect(result.stderr).toEqual(['NOTICE: no cluster in table "pgvigil-none" yet: register a primary first ("pgvigil primary register" on the primary host)']);
    const json = await empty.run('default', ['cluster', 'list', '--json']);
    expect([json.code, JSON.parse(json.stdout.join('\n'))]).toEqual([0, { table: 'pgvigil-none', clusters: [] }]);
  });

  it('lists a cluster whose stored record is not valid as unreadable, with the reason, and the others as usual', async () => {
    const other = await cliHarness(moto, 'pgvigil-tampered');
    await other.write(healthy('fine'));
    const bad = { ...clusterRecord('broken'), term: -1 };
    await other.client.send(
      new PutItemCommand({
        TableName: other.table,
        Item: marshall({ ...bad, pk: keys.partition('broken'), sk: keys.cluster(), kind: 'cluster', [CLUSTERS_INDEX_PK]: CLUSTERS_INDEX_PK_VALUE }),
      }),
    );
    const result = await other.run('fine', ['cluster', 'list', '--json']);
    expect(result.code).toBe(25);
    const parsed = JSON.parse(result.stdout.join('\n')) as { clusters: ClusterListRow[] };
    expect(parsed.clusters.map((c) => [c.cluster_id, c.health])).toEqual([
      ['broken', 'unreadable'],
      ['fine', 'ok'],
    ]);
    expect(parsed.clusters[0]?.issues[0]).toMatch(/^the cluster record of "broken" in table pgvigil-tampered is not valid: .*term/);
  });

  it('takes --cluster over PGVIGIL_CLUSTER_ID for cluster show, service status and the mark of cluster list', async () => {
    const show = await h.run('orders', ['cluster', 'show', '--cluster', 'billing', '--json']);
    expect((JSON.parse(show.stdout.join('\n')) as { cluster_id: string; term: number }).term).toBe(2);
    expect(show.code).toBe(25);
    const status = await h.run('orders', ['service', 'status', '--cluster', 'reports', '--json']);
    expect(JSON.parse(status.stdout.join('\n'))).toMatchObject({ cluster_id: 'reports', paused: true });
    const list = await h.run('orders', ['cluster', 'list', '--cluster', 'billing', '--json']);
    const marked = (JSON.parse(list.stdout.join('\n')) as { clusters: ClusterListRow[] }).clusters.filter((c) => c.selected);
    expect(marked.map((c) => c.cluster_id)).toEqual(['billing']);
  });

  it('rejects an invalid --cluster before touching AWS', async () => {
    const result = await h.run('orders', ['cluster', 'list', '--cluster', 'bad id!']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe('ERROR: invalid cluster id "bad id!"');
  });
});
