import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';
import { NOW, cliHarness, clusterRecord, heartbeat, nodeRecord, primaryServer, reach, standbyServer, type CliHarness } from '../support/cli-cluster.js';

describe('pgvigil cluster explain (live form)', () => {
  let moto: Moto;
  let h: CliHarness;
  let dir: string;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    dir = mkdtempSync(join(tmpdir(), 'pgvigil-explain-'));
    const id = 'live';
    await h.write({
      cluster: clusterRecord(id),
      nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3, { node_name: 'witness', type: 'witness' })],
      heartbeats: [
        heartbeat(id, 1, primaryServer({ postmaster_running: false, accepting_connections: false, in_recovery: null, down_since: NOW - 5_000 })),
        heartbeat(id, 2, standbyServer(1, { wal_receiver_status: null }), { reachability: [reach(1, false)] }),
        heartbeat(id, 3, null, { reachability: [reach(1, false)] }),
      ],
    });
  });
  afterAll(async () => {
    await moto?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('explains the state read from the table exactly as the snapshot form explains the same state', async () => {
    const file = join(dir, 'live.json');
    const live = await h.run('live', ['cluster', 'explain', '--save', file]);
    expect(live.code).toBe(0);
    expect(live.stdout[0]).toMatch(/^Cluster "live"/);
    expect(live.stdout[0]).toContain('2025-10-09T08:53:20.000Z');
    expect(live.stdout[1]).toMatch(/^Decision: /);
    expect(live.stderr).toEqual([`INFO: cluster state saved to "${file}"`]);
    const offline = await h.run('live', ['cluster', 'explain', '--snapshot', file]);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toEqual(live.stdout);
  });

  it('prints the decision as JSON that parses', async () => {
    const result = await h.run('live', ['cluster', 'explain', '--json']);
    const parsed = JSON.parse(result.stdout.join('\n')) as { cluster_id: string; now: string; decision: { code: string; reasons: string[] } };
    expect(parsed.cluster_id).toBe('live');
    expect(parsed.now).toBe('2025-10-09T08:53:20.000Z');
    expect(parsed.decision.reasons.length).toBeGreaterThan(0);
  });

  it('exits 1 for an unknown cluster', async () => {
    const result = await h.run('absent', ['cluster', 'explain']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe('ERROR: cluster "absent" not found in table "pgvigil-cli"');
  });
});
