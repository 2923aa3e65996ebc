import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLUSTER_SETTINGS } from '../../core/model.js';
import { startMoto, type Moto } from '../support/moto.js';
import { cliHarness, clusterRecord, golden, nodeRecord, type CliHarness, type ClusterState } from '../support/cli-cluster.js';

/** Primary 1, standbys 2 and 3 (3 preferred), a witness; the conninfo is repmgr's (user repmgr, database repmgr). */
function plain(id: string): ClusterState {
  return {
    cluster: clusterRecord(id),
    nodes: [
      nodeRecord(id, 1),
      nodeRecord(id, 2),
      nodeRecord(id, 3, { location: 'eu-west-1b', priority: 150, conninfo: 'host=10.0.0.3 port=5433 user=repmgr dbname=repmgr' }),
      nodeRecord(id, 4, { node_name: 'witness', type: 'witness', location: 'eu-west-1c', priority: 0 }),
    ],
    heartbeats: [],
  };
}

/** The same cluster with every route: Elastic IP, NLB writer and reader listeners, a Route 53 record. */
function routed(id: string): ClusterState {
  const state = plain(id);
  state.cluster = clusterRecord(id, {
    settings: {
      ...DEFAULT_CLUSTER_SETTINGS,
      vip_allocation_id: 'eipalloc-0123456789abcdef0',
      writer_endpoint: 'pgvigil-orders-0123456789.elb.eu-west-1.amazonaws.com:5432',
      reader_endpoint: 'pgvigil-orders-0123456789.elb.eu-west-1.amazonaws.com:5433',
      route53_zone_id: 'Z0123456789ABCDEFGHIJ',
      route53_record_name: 'primary.orders.internal',
      route53_ttl: 5,
    },
  });
  return state;
}

/** After a failover to node 2 (node 1 fenced); node 3 registered through a local socket. */
function afterFailover(id: string): ClusterState {
  return {
    cluster: clusterRecord(id, { term: 2, primary_node_id: 2 }),
    nodes: [
      nodeRecord(id, 1, { active: false, fenced: true }),
      nodeRecord(id, 2, { type: 'primary', upstream_node_id: null }),
      nodeRecord(id, 3, { upstream_node_id: 2, conninfo: 'host=/var/run/postgresql user=repmgr dbname=repmgr' }),
    ],
    heartbeats: [],
  };
}

describe('pgvigil cluster uri', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    await h.write(plain('plain'));
    await h.write(routed('routed'));
    await h.write(afterFailover('after-failover'));
    await h.write({ cluster: clusterRecord('sockets'), nodes: [nodeRecord('sockets', 1, { conninfo: 'dbname=repmgr' })], heartbeats: [] });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it.each([
    ['plain', [], 'plain.txt'],
    ['routed', ['--dbname=orders', '--user=app'], 'routed.txt'],
    ['after-failover', [], 'after-failover.txt'],
  ])('prints cluster %s %j as in its golden file', async (cluster, extra, file) => {
    const result = await h.run(cluster, ['cluster', 'uri', ...extra]);
    const { actual, expected } = golden(`cluster-uri/${file}`, result);
    expect(actual).toBe(expected);
    expect(result.code).toBe(0);
  });

  it('never copies the user, database or anything else of the nodes’ conninfo but host and port', async () => {
    const result = await h.run('routed', ['cluster', 'uri']);
    expect(result.stdout.join('\n')).not.toMatch(/repmgr|connect_timeout|password/);
  });

  it('prints the same strings for cluster show --uri', async () => {
    const uri = await h.run('routed', ['cluster', 'uri']);
    const show = await h.run('routed', ['cluster', 'show', '--uri']);
    expect(show).toEqual(uri);
  });

  it('prints --json with every string, its kind and route, and the nodes left out', async () => {
    const result = await h.run('after-failover', ['cluster', 'uri', '--json']);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout.join('\n')) as { cluster_id: string; dbname: string; uris: Array<{ kind: string; route: string; uri: string }>; skipped: unknown[] };
    expect(parsed).toEqual({
      cluster_id: 'after-failover',
      dbname: 'postgres',
      uris: [
        { kind: 'writers', route: '2 hosts', uri: 'postgresql://10.0.0.2:5432,10.0.0.1:5432/postgres?target_session_attrs=read-write' },
        { kind: 'readers', route: '2 hosts', uri: 'postgresql://10.0.0.1:5432,10.0.0.2:5432/postgres?target_session_attrs=prefer-standby&load_balance_hosts=random' },
      ],
      skipped: [{ node_id: 3, node_name: 'node3', reason: 'its conninfo host "/var/run/postgresql" is a Unix-domain socket, which clients elsewhere cannot reach' }],
    });
  });

  it('exits 1 (ERR_BAD_CONFIG) with the reason when no node has a host clients can reach', async () => {
    const result = await h.run('sockets', ['cluster', 'uri']);
    expect(result.code).toBe(1);
    expect(result.stdout).toEqual([]);
    expect(result.stderr).toEqual([
      'ERROR: no connection string for cluster "sockets": no PostgreSQL node has a host clients can reach',
      'DETAIL: node "node1" (ID: 1): its conninfo names no host (a local socket connection)',
      'HINT: register the nodes with a conninfo that names their host (host=10.0.1.5 …), as the other nodes reach them',
    ]);
  });

  it('exits 1 on an empty --dbname and on an unknown cluster, printing nothing on stdout', async () => {
    const empty = await h.run('plain', ['cluster', 'uri', '--dbname=']);
    expect([empty.code, empty.stdout, empty.stderr]).toEqual([1, [], ['ERROR: option --dbname expects a name of 1-63 printable characters, got ""']]);
    const unknown = await h.run('no-such-cluster', ['cluster', 'uri']);
    expect([unknown.code, unknown.stdout]).toEqual([1, []]);
  });
});
