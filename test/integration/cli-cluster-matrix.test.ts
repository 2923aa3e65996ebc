import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { NOW, cliHarness, clusterRecord, golden, heartbeat, nodeRecord, primaryServer, reach, standbyServer, type CliHarness } from '../support/cli-cluster.js';

describe('pgvigil cluster matrix and crosscheck', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    const id = 'mesh';
    await h.write({
      cluster: clusterRecord(id),
      nodes: [1, 2, 3].map((n) => nodeRecord(id, n)).concat([
        nodeRecord(id, 4, { node_name: 'witness', type: 'witness', location: 'eu-west-1c' }),
        nodeRecord(id, 5, { node_name: 'node5-far-away' }),
      ]),
      heartbeats: [
        heartbeat(id, 1, primaryServer()),
        heartbeat(id, 2, standbyServer(1), { reachability: [reach(1, true), reach(3, true)] }),
        // A firewall drops node3's packets to the primary.
        heartbeat(id, 3, standbyServer(1), { reachability: [reach(1, false)] }),
        heartbeat(id, 4, null, { reachability: [reach(1, true), reach(2, true), reach(3, true)] }),
        heartbeat(id, 5, standbyServer(1), { sent_at: NOW - 300_000, reachability: [reach(1, true, NOW - 300_000)] }),
      ],
    });
    const ok = 'ok';
    await h.write({
      cluster: clusterRecord(ok),
      nodes: [nodeRecord(ok, 1), nodeRecord(ok, 2), nodeRecord(ok, 3, { node_name: 'witness', type: 'witness' })],
      heartbeats: [
        heartbeat(ok, 1, primaryServer(), { reachability: [reach(2, true), reach(3, true)] }),
        heartbeat(ok, 2, standbyServer(1), { reachability: [reach(1, true), reach(3, true)] }),
        heartbeat(ok, 3, null, { reachability: [reach(1, true), reach(2, true)] }),
      ],
    });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it.each([
    ['matrix', 'mesh-matrix.txt'],
    ['crosscheck', 'mesh-crosscheck.txt'],
  ])('prints cluster %s in repmgr layout as in its golden file, exit 25 for a failed link', async (command, file) => {
    const result = await h.run('mesh', ['cluster', command]);
    expect(result.code).toBe(25);
    const { actual, expected } = golden(`cluster-matrix/${file}`, result);
    expect(actual).toBe(expected);
  });

  it('fills what the matrix does not know from the other end of each pair in crosscheck', async () => {
    const parse = (lines: string[]): Map<string, number> => new Map(lines.map((l) => l.split(',')).map(([a, b, v]) => [`${a}->${b}`, Number(v)]));
    const matrix = parse((await h.run('mesh', ['cluster', 'matrix', '--csv'])).stdout);
    const cross = parse((await h.run('mesh', ['cluster', 'crosscheck', '--csv'])).stdout);
    expect(matrix.size).toBe(25);
    expect([matrix.get('1->2'), cross.get('1->2')]).toEqual([-2, 0]);
    expect([matrix.get('3->1'), cross.get('3->1'), cross.get('1->3')]).toEqual([-1, -1, -1]);
    // A silent node's own reports are not current: unknown in the matrix, its server judged by others in crosscheck.
    expect([matrix.get('5->1'), matrix.get('5->5'), cross.get('5->5')]).toEqual([-2, -2, -2]);
    // Nobody connects to the witness (no PostgreSQL there): "-" (-3), not unknown; crosscheck fills its pairs from the witness's end.
    expect([matrix.get('1->4'), matrix.get('4->4'), matrix.get('5->4'), cross.get('4->4'), cross.get('1->4')]).toEqual([-3, -3, -3, -3, 0]);
  });

  it('exits 0 when every agent reports and every reported link works (the witness\'s own cell is "-"), and --json parses', async () => {
    const result = await h.run('ok', ['cluster', 'crosscheck', '--json']);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout.join('\n')) as { cells: { status: string }[]; issues: string[] };
    expect(parsed.cells.map((c) => c.status)).toEqual(['*', '*', '*', '*', '*', '*', '*', '*', '-']);
    expect(parsed.issues).toEqual([]);
    expect((await h.run('ok', ['cluster', 'matrix'])).code).toBe(0);
  });
});
