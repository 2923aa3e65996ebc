/**
 * Every failure drill once, on one shared sandbox: each drill starts by healing the
 * sandbox back to a healthy 3-node cluster (rejoining the previous drill's fenced former primary),
 * so one bring-up serves them all and the file stays within a few minutes on 2 cores.
 *
 * The drills run with auto_rejoin off: their heal and the rejoin drill rejoin the old primary by
 * hand (`node rejoin --force-rewind`), which must not race the controller doing the same. The last
 * test turns it on (the sandbox's default) and shows a crashed old primary coming back by itself.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../sandbox/index.js';
import { freePort } from '../../sandbox/ports.js';
import { readNotifications } from '../../sandbox/notifications.js';
import { SCENARIOS, controllerTail, heal, nodeState, runDrill, sleep, snapshotOf, storeFor, type DrillResult, type ScenarioName } from '../../sandbox/drills/index.js';

let sandbox: Sandbox;
let parent: string;

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'pgv-drills-'));
  chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
  sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), overrides: { text: 'auto_rejoin=false\n', file: 'drills.conf' } });
});

afterAll(async () => {
  await sandbox?.down();
  if (parent) rmSync(parent, { recursive: true, force: true });
});

async function drill(name: ScenarioName): Promise<{ r: DrillResult; why: string }> {
  const r = await runDrill(sandbox, SCENARIOS[name]);
  return { r, why: `${JSON.stringify(r, null, 1)}\ncontroller:\n${controllerTail(sandbox, 4)}` };
}

/** What every drill must show, failover or not. */
function expectSafe(r: DrillResult, why: string): void {
  expect(r.acked_writes, why).toBeGreaterThan(0);
  expect(r.acked_writes_lost, why).toBe(0);
  expect(r.direct_acked_writes_lost, why).toBe(0);
  // The writer through the load balancer's writer route (network namespaces; null on loopback).
  if (r.route_acked_writes !== null) expect(r.route_acked_writes_lost, why).toBe(0);
  expect(r.max_writable_primaries, why).toBeLessThanOrEqual(1);
  expect(r.vip_target, why).toBe(r.new_primary);
}

function expectFailover(r: DrillResult, why: string): void {
  expectSafe(r, why);
  expect(r.failover_happened, why).toBe(true);
  expect(r.new_primary, why).not.toBe(r.old_primary);
  expect(r.term_after, why).toBe(r.term_before + 1);
  expect(r.promotions, why).toBe(1);
  expect(r.timings_ms.vip_moved, why).not.toBeNull();
  expect(r.timings_ms.first_write_via_vip, why).not.toBeNull();
}

function expectNoFailover(r: DrillResult, why: string): void {
  expectSafe(r, why);
  expect(r.failover_happened, why).toBe(false);
  expect(r.term_after, why).toBe(r.term_before);
  expect(r.new_primary, why).toBe(r.old_primary);
  expect(r.old_primary_state, why).toBe('primary');
  expect(r.timings_ms.vip_moved, why).toBeNull();
}

describe.sequential('the failure drills on one sandbox', () => {
  it('partition-witness: cutting the witness off causes no failover', async () => {
    const { r, why } = await drill('partition-witness');
    expectNoFailover(r, why);
    expect(r.ok, why).toBe(true);
  });

  it("stop-agent: the primary's dead agent causes no failover while its server keeps serving", async () => {
    const { r, why } = await drill('stop-agent');
    expectNoFailover(r, why);
    expect(r.ok, why).toBe(true);
  });

  it('flapping: network blips shorter than the detection window cause no failover', async () => {
    const { r, why } = await drill('flapping');
    expectNoFailover(r, why);
    expect(r.ok, why).toBe(true);
  });

  it('control-plane-outage: every host cut from AWS for a minute: the primary keeps serving in failsafe, nobody fences or fails over, writes flow through the VIP and the writer route', async () => {
    const { r, why } = await drill('control-plane-outage');
    expectNoFailover(r, why);
    expect(r.route_acked_writes, why).toBeGreaterThan(0);
    expect(r.events.filter((e) => e.event.startsWith('failsafe_')).map((e) => e.event), why).toEqual(expect.arrayContaining(['failsafe_entered', 'failsafe_left']));
    expect(r.ok, why).toBe(true);
  });

  it('primary-cut-from-aws: the primary alone cut from AWS keeps serving on its standbys\' confirmations and no standby is promoted', async () => {
    const { r, why } = await drill('primary-cut-from-aws');
    expectNoFailover(r, why);
    expect(r.route_acked_writes, why).toBeGreaterThan(0);
    expect(r.ok, why).toBe(true);
  });

  it('switchover: the planned switchover started through SSM Automation moves the primary and the VIP and leaves the old primary streaming', async () => {
    const { r, why } = await drill('switchover');
    expectFailover(r, why);
    expect(r.old_primary_state, why).toBe('standby_streaming');
    expect(r.notes.join('\n'), why).toMatch(/through SSM Automation pgvigil-\S*Switchover\S* \(\S+\): Success: /);
    expect(r.ok, why).toBe(true);
  });

  it('crash-primary: a killed postmaster is replaced by a standby and the old primary stays fenced', async () => {
    const { r, why } = await drill('crash-primary');
    expectFailover(r, why);
    expect(['fenced', 'stopped'], why).toContain(r.old_primary_state);
    // The stack's failover alarm, raised on the controller's metric and published to the topic.
    expect(r.notifications.filter((n) => /FailoverHappened/.test(n.alarm)).map((n) => n.to)[0], why).toBe('ALARM');
    expect(r.ok, why).toBe(true);
  });

  it('kill-controller-mid-saga: a new controller resumes the claimed failover and completes it exactly once', async () => {
    const { r, why } = await drill('kill-controller-mid-saga');
    expectFailover(r, why);
    // The failover alarm crash-primary raised cleared through SNS before this drill's failover raised it again.
    const failoverAlarm = readNotifications(sandbox.dir).filter((n) => /FailoverHappened/.test(n.alarm?.name ?? '')).map((n) => n.alarm?.to);
    expect(failoverAlarm.join(' '), why).toMatch(/ALARM OK ALARM( OK)?$/);
    expect(r.timings_ms.controller_killed, why).not.toBeNull();
    expect(r.notes.join('\n'), why).toMatch(/controller killed at saga step/);
    expect(r.ok, why).toBe(true);
  });

  it('kill-primary-host: a dead host is fenced by stopping it and replaced', async () => {
    const { r, why } = await drill('kill-primary-host');
    expectFailover(r, why);
    expect(['fenced', 'stopped'], why).toContain(r.old_primary_state);
    expect(r.ok, why).toBe(true);
  });

  it('partition-primary: the cut-off primary fences itself by lease while the majority fails over', async () => {
    const { r, why } = await drill('partition-primary');
    expectFailover(r, why);
    expect(r.old_primary_state, why).toBe('fenced');
    expect(r.ok, why).toBe(true);
  });

  it('rejoin: the old primary comes back after a failover and ends streaming as a standby', async () => {
    const { r, why } = await drill('rejoin');
    expectFailover(r, why);
    expect(r.old_primary_state, why).toBe('standby_streaming');
    expect(r.timings_ms.rejoined, why).not.toBeNull();
    expect(r.ok, why).toBe(true);
  });

  it('auto_rejoin: after a crash-primary failover the old primary is rewound and streams again without a person', async () => {
    const { store, close } = storeFor(sandbox);
    try {
      // Healed by hand first, with auto_rejoin still off; then the sandbox's default is switched on
      // (the cluster-wide setting the controller reads from the cluster record).
      await heal(sandbox);
      const before = await snapshotOf(store, sandbox);
      const on = await store.updateCluster(before.cluster.cluster_id, before.cluster.version, { settings: { ...before.cluster.settings, auto_rejoin: true } }, Date.now());
      expect(on.ok).toBe(true);
      const r = await runDrill(sandbox, SCENARIOS['crash-primary'], { healBefore: false });
      const why = `${JSON.stringify(r, null, 1)}\ncontroller:\n${controllerTail(sandbox, 4)}`;
      expectFailover(r, why);
      const old = sandbox.plan.nodes.find((n) => n.node_name === r.old_primary);
      if (!old) throw new Error(`no node ${r.old_primary}`);
      let state = await nodeState(sandbox, old);
      for (let i = 0; i < 240 && state !== 'standby_streaming'; i++) {
        await sleep(500);
        state = await nodeState(sandbox, old);
      }
      expect(state, `${why}\ncontroller:\n${controllerTail(sandbox, 8)}`).toBe('standby_streaming');
      // The controller records the rejoin once the node's own heartbeat shows it streaming, which
      // can come a little after its server does.
      const rejoinedEvent = async (): Promise<boolean> =>
        (await store.listEvents(before.cluster.cluster_id, { event: 'node_rejoin', sinceMs: before.cluster.updated_at })).some((e) => e.successful && /rejoined as a standby of node/.test(e.details));
      let rejoined = await rejoinedEvent();
      for (let i = 0; i < 120 && !rejoined; i++) {
        await sleep(500);
        rejoined = await rejoinedEvent();
      }
      expect(rejoined, `${why}\ncontroller:\n${controllerTail(sandbox, 8)}`).toBe(true);
    } finally {
      close();
    }
  });
});
