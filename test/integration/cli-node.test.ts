import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { NOW, cliHarness, clusterRecord, golden, heartbeat, nodeRecord, primaryServer, reach, standbyServer, type CliHarness } from '../support/cli-cluster.js';

const ID = 'nodes';

describe('pgvigil node status and node check for any node from its heartbeat', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    await h.write({
      cluster: clusterRecord(ID),
      nodes: [nodeRecord(ID, 1), nodeRecord(ID, 2), nodeRecord(ID, 3), nodeRecord(ID, 4), nodeRecord(ID, 5, { node_name: 'witness', type: 'witness' })],
      heartbeats: [
        heartbeat(ID, 1, primaryServer({
          replication: [
            { application_name: 'node2', client_addr: '10.0.0.2', state: 'streaming', sync_state: 'sync', sent_lsn: '0/5000000', write_lsn: '0/5000000', flush_lsn: '0/5000000', replay_lsn: '0/5000000' },
          ],
          synchronous_standby_names: 'ANY 1 (node2, node3)',
        })),
        heartbeat(ID, 2, standbyServer(1), { reachability: [reach(1, true)] }),
        // Lagging 400 s behind (above replication_lag_warning=300) and 1 MB behind.
        heartbeat(ID, 3, standbyServer(1, { replay_lsn: '0/4F00000', receive_lsn: '0/4F00000', replication_lag_secs: 400 }), { reachability: [reach(1, true)] }),
        heartbeat(ID, 4, standbyServer(1), { sent_at: NOW - 120_000 }),
        heartbeat(ID, 5, null, { reachability: [reach(1, true), reach(2, true)] }),
      ],
    });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it.each([
    [['node', 'status', '--node-id=1'], 'status-primary.txt'],
    [['node', 'status', '--node-id=3'], 'status-lagging-standby.txt'],
    [['node', 'check', '--node-id=1'], 'check-primary.txt'],
    [['node', 'check', '--node-id=3'], 'check-lagging-standby.txt'],
    [['node', 'check', '--node-id=4'], 'check-silent-standby.txt'],
    [['node', 'check', '--node-id=5'], 'check-witness.txt'],
  ])('prints %j as in its golden file', async (argv, file) => {
    const { actual, expected } = golden(`node/${file}`, await h.run(ID, argv));
    expect(actual).toBe(expected);
  });

  it('exits 0 when every check is OK and 25 when one is not', async () => {
    expect((await h.run(ID, ['node', 'check', '--node-id=2'])).code).toBe(0);
    expect((await h.run(ID, ['node', 'check', '--node-id=1'])).code).toBe(25);
  });

  it("exits with Nagios' codes for single checks and prints Nagios lines with perfdata", async () => {
    const ok = await h.run(ID, ['node', 'check', '--node-id=2', '--replication-lag', '--nagios']);
    expect([ok.code, ok.stdout]).toEqual([0, ['REPMGR_REPLICATION_LAG OK: 0 seconds | lag=0;300;600']]);
    const warn = await h.run(ID, ['node', 'check', '--node-id=3', '--replication-lag', '--nagios']);
    expect([warn.code, warn.stdout]).toEqual([1, ['REPMGR_REPLICATION_LAG WARNING: 400 seconds | lag=400;300;600']]);
    const crit = await h.run(ID, ['node', 'check', '--node-id=1', '--downstream']);
    expect([crit.code, crit.stdout]).toEqual([2, ['CRITICAL (2 of 3 downstream nodes not attached; missing: node3 (ID: 3), node4 (ID: 4))']]);
    const unknown = await h.run(ID, ['node', 'check', '--node-id=4', '--role', '--nagios']);
    expect(unknown.code).toBe(3);
    expect(unknown.stdout[0]).toMatch(/^REPMGR_SERVER_ROLE UNKNOWN: no fresh heartbeat: no heartbeat for 2 min 0 s/);
    const local = await h.run(ID, ['node', 'check', '--node-id=2', '--archive-ready']);
    expect([local.code, local.stdout]).toEqual([3, ['UNKNOWN (not reported in heartbeats; run "pgvigil node check --archive-ready" on the node itself)']]);
  });

  it('prints --csv and --json that parse', async () => {
    const csv = await h.run(ID, ['node', 'check', '--node-id=2', '--csv']);
    expect(csv.stdout[0]).toBe('"Node name","node2"');
    expect(csv.stdout.slice(2).map((l) => l.split('","')[1])).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK']);
    const json = JSON.parse((await h.run(ID, ['node', 'check', '--node-id=3', '--json'])).stdout.join('\n')) as { status: string; checks: { check: string; status: string }[] };
    expect(json.status).toBe('WARNING');
    expect(json.checks.find((c) => c.check === 'replication-lag')?.status).toBe('WARNING');
    const status = JSON.parse((await h.run(ID, ['node', 'status', '--node-id=3', '--json'])).stdout.join('\n')) as { facts: Record<string, string> };
    expect(status.facts['Replication lag']).toBe('400 seconds, 1024 kB');
    const statusCsv = await h.run(ID, ['node', 'status', '--node-id=2', '--csv']);
    expect(statusCsv.stdout.slice(0, 3)).toEqual(['"Node name","node2"', '"Node ID","2"', '"Role","standby"']);
  });

  it("runs the agent's local checks on the node itself when given -f and no --node-id", async () => {
    const result = await h.run(ID, ['-f', '/nonexistent/pgvigil/repmgr.conf', 'node', 'check']);
    expect(result.code).toBe(1);
    // The agent's configuration loader answers: a local check needs the node's own file.
    expect(result.stderr[0]).toMatch(/^ERROR: .*\/nonexistent\/pgvigil\/repmgr\.conf/);
  });

  it("reports on the configuration file's own node from its heartbeat with --json or a pgvigil-only check", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cli-node-'));
    try {
      const file = join(dir, 'repmgr.conf');
      writeFileSync(file, `node_id=3\nnode_name=node3\nconninfo='host=10.0.0.3 user=repmgr dbname=repmgr'\ndata_directory='/var/lib/postgresql/data'\ncluster_id=${ID}\nstate_table=${h.table}\n`);
      const env = h.env(ID);
      delete env.PGVIGIL_CLUSTER_ID;
      const status = await h.run(ID, ['-f', file, 'node', 'status', '--json'], { env });
      expect((JSON.parse(status.stdout.join('\n')) as { node_id: number }).node_id).toBe(3);
      const agent = await h.run(ID, ['-f', file, 'node', 'check', '--agent', '--nagios'], { env });
      expect([agent.code, agent.stdout]).toEqual([0, ['PGVIGIL_AGENT OK: last heartbeat 2 s ago | age=2s']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['node', 'check', '--node-id=9'], 'ERROR: no node with ID 9 is registered in cluster "nodes"'],
    [['node', 'status', '--node-id=0'], 'ERROR: option --node-id expects a node id (a positive integer), got 0'],
    [['node', 'status'], 'ERROR: no node given'],
    [['node', 'check', '--node-id=1', '--role', '--upstream'], 'ERROR: only one single check may be given at a time'],
  ])('exits 1 for %j', async (argv, message) => {
    const result = await h.run(ID, argv);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(message);
  });
});
