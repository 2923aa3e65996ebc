import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { NOW, cliHarness, clusterRecord, golden, heartbeat, nodeRecord, primaryServer, reach, standbyServer, type CliHarness } from '../support/cli-cluster.js';

describe('pgvigil service status, pause and unpause', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    const id = 'svc';
    await h.write({
      cluster: clusterRecord(id),
      nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3), nodeRecord(id, 4, { node_name: 'witness', type: 'witness' })],
      heartbeats: [
        heartbeat(id, 1, primaryServer()),
        // Last reached its upstream 5 s before it sent this heartbeat (agent clock), 2 s ago.
        heartbeat(id, 2, standbyServer(1), { reachability: [{ node_id: 1, ok: true, checked_at: NOW - 2_000, last_ok_at: NOW - 7_000, failures: 0 }] }),
        heartbeat(id, 3, standbyServer(1), { sent_at: NOW - 45_000, agent_version: '0.0.9', reachability: [reach(1, true, NOW - 45_000)] }),
      ],
    });
    await h.write({ cluster: clusterRecord('pausable'), nodes: [nodeRecord('pausable', 1)], heartbeats: [heartbeat('pausable', 1, primaryServer())] });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('shows each agent as in its golden file and exits 25 when an active node has no running agent', async () => {
    const result = await h.run('svc', ['service', 'status']);
    expect(result.code).toBe(25);
    const { actual, expected } = golden('service-status/svc.txt', result);
    expect(actual).toBe(expected);
  });

  it('prints --csv and --json that parse', async () => {
    const csv = await h.run('svc', ['service', 'status', '--csv']);
    expect(csv.stdout).toEqual(['1,node1,primary,1,0,2,-1', '2,node2,standby,1,0,2,7', '3,node3,standby,0,0,45,45', '4,witness,witness,0,0,-1,-1']);
    const json = JSON.parse((await h.run('svc', ['service', 'status', '--json'])).stdout.join('\n')) as { rows: { agent: string }[] };
    expect(json.rows.map((r) => r.agent)).toEqual(['running', 'running', 'not running', 'never seen']);
  });

  it('pauses the cluster with a conditional write and records cluster_paused, then unpauses', async () => {
    const before = (await h.store.load('pausable'))!.snapshot.cluster;
    const paused = await h.run('pausable', ['service', 'pause']);
    expect(paused.code).toBe(0);
    expect(paused.stderr).toEqual(['NOTICE: cluster "pausable" paused: the controller reports but does not act until "pgvigil service unpause"']);
    const after = (await h.store.load('pausable'))!.snapshot.cluster;
    expect(after.paused).toBe(true);
    expect(after.version).toBe(before.version + 1);
    expect((await h.run('pausable', ['service', 'status', '--json'])).stdout.join('')).toContain('"paused": true');

    const again = await h.run('pausable', ['service', 'pause']);
    expect(again.code).toBe(0);
    expect(again.stderr).toEqual(['NOTICE: cluster "pausable" is already paused']);

    const unpaused = await h.run('pausable', ['service', 'unpause']);
    expect(unpaused.code).toBe(0);
    expect((await h.store.load('pausable'))!.snapshot.cluster.paused).toBe(false);

    const events = await h.store.listEvents('pausable');
    expect(events.map((e) => [e.event, e.node_id, e.successful])).toEqual([
      ['cluster_paused', 1, true],
      ['cluster_unpaused', 1, true],
    ]);
  });

  it('changes nothing with --dry-run', async () => {
    const before = (await h.store.load('pausable'))!.snapshot.cluster;
    const result = await h.run('pausable', ['service', 'pause', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toBe('INFO: would pause cluster "pausable" (term 1)');
    expect((await h.store.load('pausable'))!.snapshot.cluster).toEqual(before);
  });

  it('warns that an operation in flight lifts only a pause it set itself', async () => {
    const id = 'busy';
    await h.write({
      cluster: clusterRecord(id, {
        operation: { id: 'op-3', kind: 'switchover', term: 2, candidate_node_id: 2, old_primary_node_id: 1, step: 'promote', owner: 'x', deadline: NOW + 60_000, started_at: NOW, data: {} },
      }),
      nodes: [nodeRecord(id, 1), nodeRecord(id, 2)],
      heartbeats: [],
    });
    const result = await h.run(id, ['service', 'pause']);
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toBe('WARNING: a switchover is in progress (step "promote"); it lifts only a pause it set itself, never this one');
    expect((await h.store.load(id))!.snapshot.cluster.paused).toBe(true);
  });

  it('makes the engine report instead of failing over while paused, as cluster explain shows', async () => {
    const id = 'crashed';
    const lost = { wal_receiver_status: null, wal_receiver_upstream_node_id: null };
    await h.write({
      cluster: clusterRecord(id),
      nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3, { node_name: 'witness', type: 'witness', location: 'eu-west-1c' })],
      heartbeats: [
        heartbeat(id, 1, primaryServer({ postmaster_running: false, accepting_connections: false, in_recovery: null, down_since: NOW - 8_000 })),
        heartbeat(id, 2, standbyServer(1, lost), { reachability: [reach(1, false)] }),
        heartbeat(id, 3, null, { reachability: [reach(1, false)] }),
      ],
    });
    const decision = async (): Promise<{ code: string; reasons: string[] }> =>
      (JSON.parse((await h.run(id, ['cluster', 'explain', '--json'])).stdout.join('\n')) as { decision: { code: string; reasons: string[] } }).decision;
    expect((await decision()).code).toBe('failover');
    expect((await h.run(id, ['service', 'pause'])).code).toBe(0);
    const paused = await decision();
    expect(paused.code).toBe('report_only');
    expect(paused.reasons.join(' ')).toMatch(/paused/);
    expect((await h.run(id, ['service', 'unpause'])).code).toBe(0);
    expect((await decision()).code).toBe('failover');
  });

  it('exits 1 for an unknown cluster', async () => {
    const result = await h.run('nope', ['service', 'pause']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe('ERROR: cluster "nope" not found in table "pgvigil-cli"');
  });
});
