import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../core/model.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { cliHarness, type CliHarness } from '../support/cli-cluster.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let h: CliHarness;
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
  h = await cliHarness(f.moto);
});
afterAll(async () => {
  await f?.stop();
});

const iso = (ms: number): string => new Date(ms).toISOString();
const cli = (id: string, argv: string[]) => h.run(id, argv, { clock: () => f.clock.now(), env: { ...h.env(id), PGVIGIL_TABLE: f.table, USER: 'ops' } });

async function healthyCluster(patch: (b: SnapshotBuilder) => SnapshotBuilder = (b) => b): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `scheduled-${counter}`;
  const snapshot = withClusterId(patch(new SnapshotBuilder({ now: f.clock.now() })).build(), id);
  await f.seed(snapshot);
  await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
  return { id, snapshot };
}

/** Time passes: every agent has reported since. */
async function advance(id: string, ms: number): Promise<void> {
  f.clock.advance(ms);
  for (const n of [1, 2, 3, 4]) await f.patchHeartbeat(id, n, (hb) => hb);
}

async function events(id: string): Promise<string[]> {
  return (await f.store.listEvents(id)).map((e) => `${e.event}:${e.node_id}:${e.successful}`);
}

describe('standby switchover --scheduled', () => {
  it('schedules a switchover that cluster show lists, and records it', async () => {
    const { id } = await healthyCluster();
    const at = f.clock.now() + 3_600_000;
    const r = await cli(id, ['standby', 'switchover', '--candidate', 'pg2', '--siblings-follow', '--scheduled', iso(at)]);
    expect(r.code).toBe(0);
    expect(r.stderr[0]).toMatch(new RegExp(`^NOTICE: switchover to node "pg2" \\(ID: 2\\) scheduled for ${iso(at)}, siblings follow \\(requested by ops@`));
    const cluster = (await f.store.load(id))?.snapshot.cluster;
    expect(cluster?.scheduled_switchover).toMatchObject({ at, candidate_node_id: 2, siblings_follow: true });
    const show = await cli(id, ['cluster', 'show']);
    expect(show.stderr.some((l) => l.startsWith(`NOTICE: a switchover to node "pg2" (ID: 2) scheduled for ${iso(at)}`))).toBe(true);
    expect(await events(id)).toContain('switchover_scheduled:2:true');
  });

  it('refuses a time in the past, and a second schedule, changing nothing', async () => {
    const { id } = await healthyCluster();
    const past = await cli(id, ['standby', 'switchover', '--candidate', '2', '--scheduled', iso(f.clock.now() - 1000)]);
    expect(past.code).toBe(1);
    expect(past.stderr[0]).toMatch(/^ERROR: cannot schedule a switchover: .* is in the past/);
    expect((await f.store.load(id))?.snapshot.cluster.scheduled_switchover ?? null).toBeNull();
    const primary = await cli(id, ['standby', 'switchover', '--candidate', '1', '--scheduled', iso(f.clock.now() + 60_000)]);
    expect(primary.code).toBe(1);
    expect(primary.stderr[0]).toBe('ERROR: node "pg1" (ID: 1) is the primary: choose a standby');
    expect((await cli(id, ['standby', 'switchover', '--candidate', '2', '--scheduled', iso(f.clock.now() + 60_000)])).code).toBe(0);
    const second = await cli(id, ['standby', 'switchover', '--candidate', '3', '--scheduled', iso(f.clock.now() + 120_000)]);
    expect(second.code).toBe(18);
    expect((await f.store.load(id))?.snapshot.cluster.scheduled_switchover?.candidate_node_id).toBe(2);
  });

  it('is cancelled by --cancel and by cluster cancel-switchover, with an event', async () => {
    const { id } = await healthyCluster();
    const at = iso(f.clock.now() + 60_000);
    await cli(id, ['standby', 'switchover', '--candidate', '2', '--scheduled', at]);
    const cancel = await cli(id, ['standby', 'switchover', '--cancel']);
    expect(cancel.code).toBe(0);
    expect(cancel.stderr[0]).toMatch(/^NOTICE: cancelled: switchover to node "pg2" \(ID: 2\) scheduled for /);
    expect((await f.store.load(id))?.snapshot.cluster.scheduled_switchover ?? null).toBeNull();
    await cli(id, ['standby', 'switchover', '--candidate', '3', '--scheduled', at]);
    expect((await cli(id, ['cluster', 'cancel-switchover'])).code).toBe(0);
    const again = await cli(id, ['cluster', 'cancel-switchover']);
    expect(again.stderr).toEqual([`NOTICE: no switchover is scheduled for cluster "${id}"`]);
    expect((await events(id)).filter((e) => e.startsWith('switchover_schedule_cancelled'))).toEqual(['switchover_schedule_cancelled:2:true', 'switchover_schedule_cancelled:3:true']);
    const show = await cli(id, ['cluster', 'show']);
    expect(show.stderr.some((l) => l.includes('scheduled for'))).toBe(false);
  });
});

describe('the controller and a scheduled switchover', () => {
  it('waits until its time, then runs the switchover once and clears the schedule', async () => {
    const { id, snapshot } = await healthyCluster();
    await cli(id, ['standby', 'switchover', '--candidate', '2', '--scheduled', iso(f.clock.now() + 60_000)]);
    await evaluateCluster(f.deps(), invocation(), id, { sweep: true });
    expect((await f.store.load(id))?.snapshot.cluster.primary_node_id).toBe(1);
    await advance(id, 61_000);
    await evaluateCluster(f.deps(), invocation(), id, { sweep: true });
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.primary_node_id).toBe(2);
    expect(after?.term).toBe(snapshot.cluster.term + 1);
    expect(after?.scheduled_switchover ?? null).toBeNull();
    const log = await events(id);
    expect(log).toContain('switchover_schedule_started:2:true');
    expect(log).toContain('switchover_started:2:true');
  });

  it('drops a schedule it could not start within its window, with an event, and switches nothing', async () => {
    const { id, snapshot } = await healthyCluster();
    await cli(id, ['standby', 'switchover', '--candidate', '2', '--scheduled', iso(f.clock.now() + 60_000)]);
    await advance(id, 60_000 + 16 * 60_000);
    await evaluateCluster(f.deps(), invocation(), id, { sweep: true });
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.primary_node_id).toBe(1);
    expect(after?.term).toBe(snapshot.cluster.term);
    expect(after?.scheduled_switchover ?? null).toBeNull();
    const failed = (await f.store.listEvents(id, { event: 'switchover_schedule_failed' }))[0];
    expect(failed?.details).toMatch(/could not start within 15 min of its time \(the controller did not run\); it is dropped$/);
  });

  it('records why when the switchover checks refuse it at its time', async () => {
    const { id } = await healthyCluster();
    await cli(id, ['standby', 'switchover', '--candidate', '2', '--scheduled', iso(f.clock.now() + 60_000)]);
    await advance(id, 61_000);
    await f.patchHeartbeat(id, 2, (hb) => ({ ...hb, server: hb.server && { ...hb.server, wal_receiver_status: null } }));
    await evaluateCluster(f.deps(), invocation(), id, { sweep: true });
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after?.primary_node_id).toBe(1);
    expect(after?.scheduled_switchover ?? null).toBeNull();
    const failed = (await f.store.listEvents(id, { event: 'switchover_schedule_failed' }))[0];
    expect(failed?.details).toMatch(/switchover not possible: .*candidate_streaming/);
  });
});
