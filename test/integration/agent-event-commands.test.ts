/**
 * event_notification_command end to end on the real parts: the controller's failover saga records
 * its events in DynamoDB on moto, and each node's runner (the agent daemon's, agent/daemon/
 * event-commands.ts) runs the command through /bin/sh for the events about its own node only,
 * filtered, once each, within its time limit.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventCommandRunner } from '../../agent/daemon/event-commands.js';
import { jsonLogger } from '../../agent/log.js';
import type { EventName } from '../../core/events.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let dir: string;
const log = jsonLogger({ level: 'ERROR' });

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
  dir = await mkdtemp(join(tmpdir(), 'pgvigil-event-cmd-'));
});
afterAll(async () => {
  await f?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runnerFor(clusterId: string, nodeId: number, command: string, options: { filter?: string[]; timeoutSecs?: number; floorMs?: number; snapshot?: ClusterSnapshot } = {}) {
  const recorded: Array<{ event: EventName; successful: boolean; details: string }> = [];
  const runner = new EventCommandRunner({
    config: {
      cluster_id: clusterId,
      node_id: nodeId,
      event_notification_command: command,
      event_notifications: options.filter ?? ['all'],
      event_notification_timeout: options.timeoutSecs ?? 30,
      heartbeat_interval_secs: 5,
    },
    store: f.store,
    log,
    now: () => f.clock.now(),
    cluster: () => (options.snapshot ? { snapshot: options.snapshot, rejected: [] } : undefined),
    record: (event, successful, details) => recorded.push({ event, successful, details }),
    floorMs: options.floorMs ?? f.clock.now() - 1000,
  });
  return { runner, recorded };
}

const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

describe('event_notification_command', () => {
  it('runs on the new primary for the promotion and on the follower for its follow, with repmgr\'s placeholders', async () => {
    const id = 'notify-failover';
    const floor = f.clock.now() - 1000;
    await f.seed(withClusterId(new SnapshotBuilder({ now: f.clock.now() }).crashPrimary().build(), id));
    await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
    expect((await evaluateCluster(f.deps(), invocation(), id)).saga).toBe('completed');
    const snapshot = (await f.store.load(id))?.snapshot;
    const newPrimary = snapshot?.nodes.find((n) => n.node_id === 2);

    const files = new Map<number, string>();
    const runners = [1, 2, 3].map((nodeId) => {
      const file = join(dir, `failover-${nodeId}.log`);
      files.set(nodeId, file);
      const cmd = `echo "%n|%e|%s|%p|%a|%c|%t|%d" >> ${file}`;
      // %a and %c come from the cluster as the node's daemon read it last.
      return runnerFor(id, nodeId, cmd, { filter: ['repmgrd_failover_promote', 'repmgrd_failover_follow'], floorMs: floor, ...(snapshot ? { snapshot } : {}) }).runner;
    });
    for (const r of runners) await r.poll();

    const promoted = await lines(files.get(2) ?? '');
    expect(promoted).toHaveLength(1);
    const [n, e, s, p, , , t, d] = (promoted[0] ?? '').split('|');
    expect([n, e, s, p]).toEqual(['2', 'repmgrd_failover_promote', '1', '1']);
    expect(t).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+00$/);
    expect(d).toMatch(/^node 2 promoted to primary of term \d+/);

    const followed = await lines(files.get(3) ?? '');
    expect(followed).toHaveLength(1);
    expect(followed[0]?.split('|').slice(0, 6)).toEqual(['3', 'repmgrd_failover_follow', '1', '2', newPrimary?.node_name, newPrimary?.conninfo]);

    // The old primary's events (its fence) are not in the filter; nothing ran there.
    expect((await f.store.listEvents(id, { nodeId: 1 })).map((ev) => ev.event)).toContain('fence_applied');
    expect(await lines(files.get(1) ?? '')).toEqual([]);

    // Polled again, nothing runs twice.
    for (const r of runners) await r.poll();
    expect(await lines(files.get(2) ?? '')).toHaveLength(1);
    expect(await lines(files.get(3) ?? '')).toHaveLength(1);
  });

  it('kills a command past event_notification_timeout, records the failure and goes on with the next event', async () => {
    const id = 'notify-timeout';
    const file = join(dir, 'timeout.log');
    const { runner, recorded } = runnerFor(id, 5, `case %e in agent_start) sleep 60 ;; *) echo %e >> ${file} ;; esac`, { timeoutSecs: 1 });
    const at = f.clock.now();
    await f.store.appendEvent({ cluster_id: id, node_id: 5, event: 'agent_start', successful: true, timestamp: at, details: 'started', term: 1 });
    await f.store.appendEvent({ cluster_id: id, node_id: 5, event: 'agent_stop', successful: true, timestamp: at + 1, details: 'stopped', term: 1 });
    const started = Date.now();
    await runner.poll();
    // Bounded by the 1 s limit, not by the 60 s sleep (generous: a loaded machine).
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(runner.runs.map((r) => [r.event, r.code])).toEqual([['agent_start', null], ['agent_stop', 0]]);
    expect(await lines(file)).toEqual(['agent_stop']);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ event: 'event_notification_failed', successful: false });
    expect(recorded[0]?.details).toMatch(/^event_notification_command for agent_start .* did not finish within event_notification_timeout=1 s and was killed/);
  });

  it('records a non-zero exit with the end of the command\'s output, and never runs events older than its floor', async () => {
    const id = 'notify-exit';
    const at = f.clock.now();
    await f.store.appendEvent({ cluster_id: id, node_id: 6, event: 'agent_start', successful: true, timestamp: at - 10_000, details: 'before the floor', term: 1 });
    await f.store.appendEvent({ cluster_id: id, node_id: 6, event: 'standby_promote', successful: false, timestamp: at, details: 'promotion failed', term: 1 });
    const { runner, recorded } = runnerFor(id, 6, 'echo "could not reach pgbouncer for %e"; exit 3', { floorMs: at - 1000 });
    await runner.poll();
    expect(runner.runs.map((r) => r.event)).toEqual(['standby_promote']);
    expect(recorded[0]?.details).toBe('event_notification_command for standby_promote (recorded at ' + at + ') exited with code 3; output ends: could not reach pgbouncer for standby_promote');
  });
});
