import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventRecord } from '../../core/model.js';
import { startMoto, type Moto } from '../support/moto.js';
import { NOW, cliHarness, clusterRecord, golden, nodeRecord, type CliHarness } from '../support/cli-cluster.js';

const ID = 'events';

function event(i: number, overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    cluster_id: ID,
    node_id: (i % 3) + 1,
    event: 'agent_start',
    successful: true,
    timestamp: NOW - (100 - i) * 60_000,
    details: `agent started (${i})`,
    term: 1,
    ...overrides,
  };
}

describe('pgvigil cluster event', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    await h.write({ cluster: clusterRecord(ID), nodes: [1, 2, 3].map((n) => nodeRecord(ID, n)), heartbeats: [] });
    await h.write({ cluster: clusterRecord('quiet'), nodes: [nodeRecord('quiet', 1)], heartbeats: [] });
    for (let i = 0; i < 25; i++) await h.store.appendEvent(event(i));
    await h.store.appendEvent(event(30, { node_id: 2, event: 'standby_promote', details: 'server "node2" (ID: 2) was successfully promoted to primary' }));
    await h.store.appendEvent(event(31, { node_id: 1, event: 'fence_applied', successful: false, details: 'fence timed out,\nthen "stopped" the instance' }));
    // An event of a node that is no longer registered keeps its id; its name is blank.
    await h.store.appendEvent(event(32, { node_id: 9, event: 'standby_unregister', details: 'node 9 unregistered' }));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('lists the newest 20 events by default, newest first, in repmgr columns', async () => {
    const result = await h.run(ID, ['cluster', 'event']);
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toMatch(/^ Node ID \| Name +\| Event +\| OK \| Timestamp +\| Details$/);
    expect(result.stdout).toHaveLength(22);
    expect(result.stdout[2]).toMatch(/^ 9 +\| +\| standby_unregister \| t +\| 2025-10-09 07:45:20 \| node 9 unregistered$/);
  });

  it('prints the table as in its golden file', async () => {
    const result = await h.run(ID, ['cluster', 'event', '--limit', '4']);
    const { actual, expected } = golden('cluster-event/limit-4.txt', result);
    expect(actual).toBe(expected);
  });

  it('honours --limit and --all', async () => {
    expect((await h.run(ID, ['cluster', 'event', '--limit=3'])).stdout).toHaveLength(5);
    expect((await h.run(ID, ['cluster', 'event', '--all'])).stdout).toHaveLength(2 + 28);
  });

  it('filters by --event, --node-id and --node-name', async () => {
    const promote = await h.run(ID, ['cluster', 'event', '--event=standby_promote']);
    expect(promote.stdout.slice(2).map((l) => l.split('|')[2]?.trim())).toEqual(['standby_promote']);
    const node2 = await h.run(ID, ['cluster', 'event', '--node-id=2', '--all', '--csv']);
    expect(node2.stdout.length).toBe(9);
    expect(node2.stdout.every((l) => l.startsWith('2,node2,'))).toBe(true);
    const byName = await h.run(ID, ['cluster', 'event', '--node-name', 'node2', '--all', '--csv']);
    expect(byName.stdout).toEqual(node2.stdout);
    const both = await h.run(ID, ['cluster', 'event', '--node-id=1', '--event=fence_applied', '--csv']);
    expect(both.stdout).toEqual(['1,node1,fence_applied,f,2025-10-09 07:44:20']);
  });

  it('omits Details with --compact', async () => {
    const result = await h.run(ID, ['cluster', 'event', '--compact', '--limit=1']);
    expect(result.stdout[0]).toMatch(/^ Node ID \| Name \| Event +\| OK \| Timestamp$/);
  });

  it('prints --json that parses', async () => {
    const result = await h.run(ID, ['cluster', 'event', '--json', '--limit=2']);
    const parsed = JSON.parse(result.stdout.join('\n')) as { cluster_id: string; events: { event: string; node_name: string; timestamp_iso: string }[] };
    expect(parsed.cluster_id).toBe(ID);
    expect(parsed.events.map((e) => [e.event, e.node_name])).toEqual([
      ['standby_unregister', ''],
      ['fence_applied', 'node1'],
    ]);
    expect(parsed.events[0]?.timestamp_iso).toBe('2025-10-09T07:45:20.000Z');
  });

  it('says so when no event matches', async () => {
    const result = await h.run('quiet', ['cluster', 'event']);
    expect(result.code).toBe(0);
    expect(result.stdout).toEqual(['no matching events found']);
  });

  it.each([
    [['--event=standby_promoted'], 'ERROR: unknown event "standby_promoted"'],
    [['--node-name=node7'], 'ERROR: no node with name "node7" is registered in cluster "events"'],
    [['--node-id=1', '--node-name=node1'], 'ERROR: give either --node-id or --node-name, not both'],
    [['--limit=0'], 'ERROR: option --limit expects a positive integer, got 0'],
    [['--limit=ten'], 'ERROR: option --limit expects an integer, got "ten"'],
  ])('exits 1 for bad arguments %j', async (args, message) => {
    const result = await h.run(ID, ['cluster', 'event', ...args]);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(message);
  });
});
