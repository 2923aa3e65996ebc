import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keys } from '../../core/table.js';
import { startMoto, freePort, type Moto } from '../support/moto.js';
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

/** Primary, two standbys (one lagging 64 kB, in another AZ) and a witness without PostgreSQL. */
function healthy(id: string): ClusterState {
  return {
    cluster: clusterRecord(id),
    nodes: [
      nodeRecord(id, 1),
      nodeRecord(id, 2),
      nodeRecord(id, 3, { location: 'eu-west-1b', priority: 50 }),
      nodeRecord(id, 4, { node_name: 'witness', type: 'witness', location: 'eu-west-1c', priority: 0 }),
    ],
    heartbeats: [
      heartbeat(id, 1, primaryServer({
        replication: [
          { application_name: 'node2', client_addr: '10.0.0.2', state: 'streaming', sync_state: 'async', sent_lsn: '0/5000000', write_lsn: '0/5000000', flush_lsn: '0/5000000', replay_lsn: '0/5000000' },
          { application_name: 'node3', client_addr: '10.0.0.3', state: 'streaming', sync_state: 'async', sent_lsn: '0/5000000', write_lsn: '0/5000000', flush_lsn: '0/4FF0000', replay_lsn: '0/4FF0000' },
        ],
      })),
      heartbeat(id, 2, standbyServer(1), { reachability: [reach(1, true)] }),
      heartbeat(id, 3, standbyServer(1, { replay_lsn: '0/4FF0000', receive_lsn: '0/4FF0000', replication_lag_secs: 3 }), { sent_at: NOW - 4_500, reachability: [reach(1, true)] }),
      heartbeat(id, 4, null, { reachability: [reach(1, true), reach(2, true), reach(3, true)] }),
    ],
  };
}

/** The primary's agent reports PostgreSQL stopped; standbys and witness cannot reach it. */
function primaryDown(id: string): ClusterState {
  const state = healthy(id);
  const lost = { wal_receiver_status: null, wal_receiver_upstream_node_id: null };
  state.heartbeats = [
    heartbeat(id, 1, primaryServer({ postmaster_running: false, accepting_connections: false, down_since: NOW - 8_000, in_recovery: null })),
    heartbeat(id, 2, standbyServer(1, lost), { reachability: [reach(1, false)] }),
    heartbeat(id, 3, standbyServer(1, lost), { reachability: [reach(1, false)] }),
    heartbeat(id, 4, null, { reachability: [reach(1, false), reach(2, true), reach(3, true)] }),
  ];
  return state;
}

/** The primary went silent a minute ago, one standby's clock runs ahead, one never reported. */
function silent(id: string): ClusterState {
  const state = healthy(id);
  state.heartbeats = [
    heartbeat(id, 1, primaryServer(), { sent_at: NOW - 61_000 }),
    heartbeat(id, 2, standbyServer(1), { sent_at: NOW + 30_000 }),
    heartbeat(id, 4, null, { reachability: [reach(1, false)] }),
  ];
  return state;
}

/** After a failover: node1 marked failed and fenced, node2 primary on timeline 2, node3 following it. */
function afterFailover(id: string): ClusterState {
  return {
    cluster: clusterRecord(id, { term: 2, primary_node_id: 2 }),
    nodes: [
      nodeRecord(id, 1, { active: false, fenced: true }),
      nodeRecord(id, 2, { type: 'primary', upstream_node_id: null }),
      nodeRecord(id, 3, { upstream_node_id: 2 }),
      nodeRecord(id, 4, { node_name: 'witness', type: 'witness', upstream_node_id: 2, location: 'eu-west-1c', priority: 0 }),
    ],
    heartbeats: [
      heartbeat(id, 1, primaryServer({ postmaster_running: false, accepting_connections: false, in_recovery: null, fenced: true }), { term: 2 }),
      heartbeat(id, 2, primaryServer({ timeline: 2, current_lsn: '0/6000000' }), { term: 2 }),
      heartbeat(id, 3, standbyServer(2, { timeline: 2, receive_lsn: '0/6000000', replay_lsn: '0/6000000' }), { term: 2 }),
      heartbeat(id, 4, null, { term: 2, reachability: [reach(2, true)] }),
    ],
  };
}

/** Every remaining marker: roles swapped, unknown recovery, wrong upstream, rejected, inactive, witness states. */
function confused(id: string): ClusterState {
  return {
    cluster: clusterRecord(id),
    nodes: [
      nodeRecord(id, 1),
      nodeRecord(id, 2),
      nodeRecord(id, 3),
      nodeRecord(id, 4),
      nodeRecord(id, 5),
      nodeRecord(id, 6, { active: false }),
      nodeRecord(id, 7, { node_name: 'witness-a', type: 'witness', location: 'eu-west-1c' }),
      nodeRecord(id, 8, { node_name: 'witness-b', type: 'witness', location: 'eu-west-1c' }),
      nodeRecord(id, 9, { active: false, node_name: 'old-witness', type: 'witness' }),
    ],
    heartbeats: [
      heartbeat(id, 1, standbyServer(2)),
      heartbeat(id, 2, primaryServer({ timeline: 2 })),
      heartbeat(id, 3, primaryServer({ in_recovery: null })),
      heartbeat(id, 4, standbyServer(3)),
      heartbeat(id, 5, primaryServer({ accepting_connections: false, in_recovery: null, data_directory_writable: false })),
      heartbeat(id, 6, standbyServer(1)),
      heartbeat(id, 7, primaryServer({ accepting_connections: false, in_recovery: null }), { reachability: [reach(1, true)] }),
      heartbeat(id, 8, null, { sent_at: NOW - 600_000 }),
    ],
  };
}

/** One primary, one standby, no witness; paused during a switchover. */
function twoNodesPaused(id: string): ClusterState {
  return {
    cluster: clusterRecord(id, {
      paused: true,
      term: 3,
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
    }),
    nodes: [nodeRecord(id, 1), nodeRecord(id, 2)],
    heartbeats: [heartbeat(id, 1, primaryServer(), { term: 3 }), heartbeat(id, 2, standbyServer(1), { term: 3 })],
  };
}

describe('pgvigil cluster show', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    await h.write(healthy('healthy'));
    await h.write(primaryDown('primary-down'));
    await h.write(silent('silent'));
    await h.write(afterFailover('after-failover'));
    await h.write(confused('confused'));
    await h.write(twoNodesPaused('two-nodes'));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it.each([
    ['healthy', [], 'healthy.txt'],
    ['healthy', ['--compact'], 'healthy-compact.txt'],
    ['primary-down', [], 'primary-down.txt'],
    ['silent', [], 'silent.txt'],
    ['silent', ['--verbose'], 'silent-verbose.txt'],
    ['after-failover', [], 'after-failover.txt'],
    ['confused', [], 'confused.txt'],
    ['two-nodes', [], 'two-nodes-paused.txt'],
  ])('prints cluster %s %j as in its golden file', async (cluster, extra, file) => {
    const result = await h.run(cluster, ['cluster', 'show', ...extra]);
    const { actual, expected } = golden(`cluster-show/${file}`, result);
    expect(actual).toBe(expected);
  });

  it('exits 0 for a healthy cluster and 25 (ERR_NODE_STATUS) when issues are detected', async () => {
    expect((await h.run('healthy', ['cluster', 'show'])).code).toBe(0);
    expect((await h.run('primary-down', ['cluster', 'show'])).code).toBe(25);
    expect((await h.run('confused', ['cluster', 'show'])).code).toBe(25);
    const terse = await h.run('primary-down', ['cluster', 'show', '--terse']);
    expect([terse.code, terse.stdout.length, terse.stderr]).toEqual([25, 6, []]);
    // A risk of the topology is a warning, not a node issue.
    expect((await h.run('two-nodes', ['cluster', 'show'])).code).toBe(0);
  });

  it("prints repmgr's --csv: node id, connection status and recovery type per node", async () => {
    const result = await h.run('primary-down', ['cluster', 'show', '--csv']);
    expect(result.code).toBe(25);
    const rows = result.stdout.map((l) => l.split(',').map(Number));
    expect(rows).toEqual([
      [1, -1, -1],
      [2, 0, 1],
      [3, 0, 1],
      [4, 0, -1],
    ]);
  });

  it('prints --json that parses and carries every row, the issues and no password', async () => {
    const result = await h.run('after-failover', ['cluster', 'show', '--json']);
    const parsed = JSON.parse(result.stdout.join('\n')) as {
      term: number;
      primary_node_id: number;
      rows: { node_id: number; status: string; upstream: string; timeline: number | null; lag_bytes: number | null }[];
      issues: string[];
    };
    expect(parsed.term).toBe(2);
    expect(parsed.primary_node_id).toBe(2);
    expect(parsed.rows.map((r) => [r.node_id, r.status, r.upstream])).toEqual([
      [1, '- failed (fenced)', ''],
      [2, '* running', ''],
      [3, '  running', 'node2'],
      [4, '* running', 'node2'],
    ]);
    expect(parsed.rows[2]?.lag_bytes).toBe(0);
    expect(parsed.issues).toEqual([]);
    expect(result.stdout.join('\n')).not.toMatch(/password/i);
  });

  it('exits 1 with the known clusters named when the cluster does not exist', async () => {
    const result = await h.run('nope', ['cluster', 'show']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe('ERROR: cluster "nope" not found in table "pgvigil-cli"');
    expect(result.stderr.join('\n')).toContain('DETAIL: clusters in this table: after-failover, confused, healthy, primary-down, silent, two-nodes');
    expect(result.stderr.join('\n')).toContain('HINT: choose one with --cluster or PGVIGIL_CLUSTER_ID');
  });

  it('takes --cluster over PGVIGIL_CLUSTER_ID', async () => {
    const result = await h.run('nope', ['cluster', 'show', '--cluster', 'healthy', '--csv']);
    expect(result.code).toBe(0);
    expect(result.stdout).toHaveLength(4);
  });

  it('exits 1 naming the table when the state table does not exist', async () => {
    const result = await h.run('healthy', ['cluster', 'show'], { env: { ...h.env('healthy'), PGVIGIL_TABLE: 'no-such-table' } });
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(/^ERROR: the pgvigil state table "no-such-table" in us-east-1 at http:\/\/127\.0\.0\.1:\d+ does not exist$/);
  });

  it('exits 1 with a hint when no AWS credentials can be found', async () => {
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/pgvigil-credentials');
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/pgvigil-config');
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    vi.stubEnv('AWS_PROFILE', '');
    try {
      const env = { ...h.env('healthy') };
      delete env.AWS_ACCESS_KEY_ID;
      delete env.AWS_SECRET_ACCESS_KEY;
      const result = await h.run('healthy', ['cluster', 'show'], { env });
      expect(result.code).toBe(1);
      expect(result.stderr[0]).toBe('ERROR: no AWS credentials found');
      expect(result.stderr.join('\n')).toContain('HINT: set AWS_PROFILE');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('exits 6 (ERR_DB_CONN) when DynamoDB cannot be reached', async () => {
    const port = await freePort();
    const result = await h.run('healthy', ['cluster', 'show'], { env: { ...h.env('healthy'), AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` } });
    expect(result.code).toBe(6);
    expect(result.stderr[0]).toMatch(/^ERROR: unable to reach the pgvigil state table "pgvigil-cli"/);
  });

  it('takes the cluster and the table from the repmgr.conf given with -f, and the environment over the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cli-conf-'));
    try {
      const file = join(dir, 'repmgr.conf');
      writeFileSync(file, `node_id=1\nnode_name=node1\nconninfo='host=10.0.0.1 user=repmgr dbname=repmgr'\ndata_directory='/var/lib/postgresql/data'\ncluster_id=healthy\nstate_table=${h.table}\n`);
      const env = h.env('healthy');
      delete env.PGVIGIL_CLUSTER_ID;
      delete env.PGVIGIL_TABLE;
      const fromFile = await h.run('healthy', ['-f', file, 'cluster', 'show', '--csv'], { env });
      expect([fromFile.code, fromFile.stdout.length]).toEqual([0, 4]);
      const overridden = await h.run('healthy', ['-f', file, 'cluster', 'show', '--csv'], { env: { ...env, PGVIGIL_CLUSTER_ID: 'primary-down' } });
      expect(overridden.code).toBe(25);
      writeFileSync(file, 'node_id=zero\n');
      const bad = await h.run('healthy', ['-f', file, 'cluster', 'show'], { env });
      expect(bad.code).toBe(1);
      expect(bad.stderr[0]).toMatch(/^ERROR: .*repmgr\.conf:1: "node_id"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists a malformed or foreign heartbeat as an issue and does not use it', async () => {
    const id = 'tampered';
    await h.write({ cluster: clusterRecord(id), nodes: [nodeRecord(id, 1), nodeRecord(id, 2)], heartbeats: [heartbeat(id, 1, primaryServer())] });
    const bad = { ...heartbeat(id, 2, standbyServer(1)), server: { ...standbyServer(1), receive_lsn: 'garbage' } };
    await h.client.send(new PutItemCommand({ TableName: h.table, Item: marshall({ ...bad, pk: keys.partition(id), sk: keys.heartbeat(2) }) }));
    const result = await h.run(id, ['cluster', 'show', '--json']);
    expect(result.code).toBe(25);
    const parsed = JSON.parse(result.stdout.join('\n')) as { rows: { node_id: number; status: string }[]; issues: string[] };
    expect(parsed.rows.find((r) => r.node_id === 2)?.status).toBe('? unreachable');
    expect(parsed.issues).toContainEqual(expect.stringMatching(/^a heartbeat stored for node ID 2 was rejected: server\.receive_lsn: /));
  });

  it('rejects an invalid cluster id before touching AWS', async () => {
    const result = await h.run('healthy', ['cluster', 'show', '--cluster', 'bad id!']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe('ERROR: invalid cluster id "bad id!"');
  });
});
