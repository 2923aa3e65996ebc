import { DescribeAddressesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot, Operation } from '../../core/model.js';
import type { HostCommandResult, HostCommands } from '../../core/ports.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { switchoverHandler } from '../../functions/handlers/switchover.js';
import { parseSwitchoverRequest } from '../../functions/switchover.js';
import { switchoverEntry } from '../../functions/switchover-entry.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let counter = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
});
afterAll(async () => {
  await f?.stop();
});

async function healthyCluster(patch: (b: SnapshotBuilder) => SnapshotBuilder = (b) => b): Promise<{ id: string; snapshot: ClusterSnapshot }> {
  counter += 1;
  const id = `switchover-${counter}`;
  const built = patch(new SnapshotBuilder({ now: f.clock.now() })).build();
  const snapshot = withClusterId(built, id);
  await f.seed(snapshot);
  await f.deps().vip.moveTo(f.allocationId, f.instances.get(1) ?? '');
  return { id, snapshot };
}

async function sent(id: string): Promise<string[]> {
  return (await f.commands()).filter((c) => c.parameters.ClusterId === id).map((c) => `${c.documentName.replace('pgvigil-', '')}:${c.parameters.NodeId}`);
}

/** `hosts` whose waits go through `onWait`, which knows the action each command carries. */
function byAction(hosts: HostCommands, onWait: (action: string, wait: () => Promise<HostCommandResult>, timeoutMs: number) => Promise<HostCommandResult>): HostCommands {
  const actions = new Map<string, string>();
  return {
    async send(instance, action) {
      const cmd = await hosts.send(instance, action);
      actions.set(cmd, action.action);
      return cmd;
    },
    wait: (cmd, instance, timeout) => onWait(actions.get(cmd) ?? '?', () => hosts.wait(cmd, instance, timeout), timeout),
  };
}

async function vipInstance(): Promise<string | undefined> {
  const r = await f.ec2.send(new DescribeAddressesCommand({ AllocationIds: [f.allocationId] }));
  return r.Addresses?.[0]?.InstanceId;
}

describe('switchover --dry-run', () => {
  it('lists every check as passed for a caught-up standby and changes nothing', async () => {
    const { id, snapshot } = await healthyCluster();
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, siblings_follow: true, dry_run: true }));
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual([
      'no_operation_in_progress',
      'primary_registered',
      'primary_running',
      'candidate_is_standby',
      'candidate_streaming',
      'same_system_and_timeline',
      'candidate_lag',
      'ssm_targets',
      'siblings_reporting',
      'vip',
    ]);
    expect(r.checks.every((c) => c.passed)).toBe(true);
    expect(r.message).toBe('prerequisites for executing STANDBY SWITCHOVER are met');
    expect(await sent(id)).toEqual([]);
    expect((await f.store.load(id))?.snapshot.cluster.version).toBe(snapshot.cluster.version);
  });

  it('fails the checks for a witness, a stale standby and a standby on another timeline, saying why', async () => {
    const { id } = await healthyCluster((b) => b.silence(3).server(2, { timeline: 1 }));
    const witness = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 4, dry_run: true }));
    expect(witness.checks.find((c) => c.name === 'candidate_is_standby')).toMatchObject({ passed: false, detail: 'node 4 is witness' });
    const stale = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 3, dry_run: true }));
    expect(stale.checks.find((c) => c.name === 'candidate_streaming')?.passed).toBe(false);
    const timeline = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, dry_run: true }));
    expect(timeline.ok).toBe(false);
    expect(timeline.checks.find((c) => c.name === 'same_system_and_timeline')?.passed).toBe(false);
    expect(await sent(id)).toEqual([]);
  });

  it('refuses a malformed request with a clear error', async () => {
    await expect(switchoverHandler(f.deps())({ cluster_id: 'bad id; rm -rf /', candidate_node_id: -2 })).rejects.toMatchObject({
      code: 'BAD_INPUT',
      detail: expect.stringMatching(/cluster_id: .*\n.*candidate_node_id/) as string,
    });
  });
});

describe('switchover', () => {
  it('demotes, waits for the final LSN, promotes, moves the Elastic IP, rejoins the old primary and makes the siblings follow', async () => {
    const { id, snapshot } = await healthyCluster();
    const r = await switchoverHandler(f.deps())({ cluster_id: id, candidate_node_id: '2', siblings_follow: 'true', dry_run: false });
    expect(r).toMatchObject({ ok: true, outcome: 'completed', term: snapshot.cluster.term + 1 });
    expect(await sent(id)).toEqual(['Demote:1', 'Promote:2', 'Rejoin:1', 'Follow:3']);
    const rejoin = (await f.commands()).find((c) => c.parameters.ClusterId === id && c.documentName === 'pgvigil-Rejoin');
    expect(rejoin?.parameters).toMatchObject({ UpstreamNodeId: '2', ForceRewind: 'false', Term: String(snapshot.cluster.term + 1) });
    expect(await vipInstance()).toBe(f.instances.get(2));
    const after = (await f.store.load(id))?.snapshot;
    expect(after?.cluster).toMatchObject({ primary_node_id: 2, term: snapshot.cluster.term + 1, paused: false, operation: null });
    expect(after?.nodes.find((n) => n.node_id === 1)).toMatchObject({ type: 'standby', upstream_node_id: 2, active: true, fenced: false });
    const events = (await f.store.listEvents(id)).map((e) => `${e.event}:${e.successful}`);
    expect(events).toEqual(expect.arrayContaining(['switchover_started:true', 'demote:true', 'standby_promote:true', 'vip_moved:true', 'node_rejoin:true', 'standby_follow:true', 'standby_switchover:true']));
  });

  it('waits out a sibling whose heartbeat is late instead of refusing, then runs', async () => {
    // A minute old: past node_timeout_secs, so node3 is not reporting until it writes again.
    const { id, snapshot } = await healthyCluster((b) => b.silence(3));
    // node3's agent reports again a moment later, as a busy host's does. Only its own heartbeat:
    // rewriting the others would race the switchover's hosts and undo what they report.
    let reporting = Number.POSITIVE_INFINITY;
    const late = (async () => {
      await new Promise((r) => setTimeout(r, 700));
      reporting = f.clock.now();
      await f.patchHeartbeat(id, 3, (hb) => hb);
    })();
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, siblings_follow: true }));
    await late;
    expect(r, r.message).toMatchObject({ ok: true, outcome: 'completed', term: snapshot.cluster.term + 1 });
    expect(r.checks.every((c) => c.passed)).toBe(true);
    // It waited for node3's report rather than starting without it.
    const started = (await f.store.listEvents(id)).find((e) => e.event === 'switchover_started');
    expect(started?.timestamp).toBeGreaterThanOrEqual(reporting);
  });

  it('refuses at once what waiting cannot clear (a witness as the candidate), even on a real run', async () => {
    const { id, snapshot } = await healthyCluster();
    const started = Date.now();
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 4 }));
    expect(r.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(snapshot.cluster.settings.node_timeout_secs * 1000);
    expect((await f.store.load(id))?.snapshot.cluster.term).toBe(snapshot.cluster.term);
  });

  it("waits for the old primary's rejoin as long as the cluster's node_rejoin_timeout says", async () => {
    const { id } = await healthyCluster((b) => b.settings({ node_rejoin_timeout: 7 }));
    const deps = f.deps();
    const waits: Array<[string, number]> = [];
    deps.hosts = byAction(deps.hosts, (action, wait, timeout) => {
      waits.push([action, timeout]);
      return wait();
    });
    const r = await switchoverEntry(deps, invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }));
    expect(r).toMatchObject({ ok: true, outcome: 'completed' });
    expect(waits.filter(([a]) => a === 'rejoin')).toEqual([['rejoin', 7000]]);
  });

  it('rolls back without promoting when the candidate does not receive the final LSN: old primary restarted, Elastic IP kept, unpaused', async () => {
    // Node 3 is 96 bytes behind the primary's last LSN and will not catch up.
    const { id, snapshot } = await healthyCluster();
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 3 }));
    expect(r).toMatchObject({ ok: false, outcome: 'completed' });
    // The candidate's own promote checks the final LSN and refuses, changing nothing.
    expect(await sent(id)).toEqual(['Demote:1', 'Promote:3', 'Unfence:1']);
    expect(await vipInstance()).toBe(f.instances.get(1));
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ primary_node_id: 1, paused: false, operation: null, term: snapshot.cluster.term + 1 });
    const rolledBack = await f.store.listEvents(id, { event: 'switchover_rolled_back' });
    expect(rolledBack[0]?.details).toMatch(/promote on node 3 failed: .*not the demoted primary's final LSN 0\/5000060.*node 1 restarted as primary/);
    expect((await f.store.listEvents(id, { event: 'standby_switchover' }))[0]?.successful).toBe(false);
  });

  it('never restarts the old primary after a promote that failed once it had asked PostgreSQL to promote: the candidate is fenced and the switchover ends incomplete', async () => {
    // bench:peers under load: the candidate's promote exited 8 after pg_promote() (its wait ran
    // out), the saga rolled back and restarted node 1 as primary, the promotion completed anyway,
    // and node 1 acknowledged writes until it saw itself superseded; they were lost.
    const { id } = await healthyCluster();
    const deps = f.deps();
    deps.hosts = byAction(deps.hosts, async (action, wait) => {
      const result = await wait();
      // The candidate did promote (the simulated host moved on); its promote still reports failure.
      return action === 'promote' ? { status: 'Failed', exitCode: 8, output: 'ERROR: promotion did not complete within 60 seconds\n' } : result;
    });
    const r = await switchoverEntry(deps, invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }));
    expect(r.ok).toBe(false);
    const commands = await sent(id);
    expect(commands).not.toContain('Unfence:1');
    expect(commands).toContain('Fence:2');
    expect(await f.store.listEvents(id, { event: 'switchover_rolled_back' })).toEqual([]);
    const outcome = await f.store.listEvents(id, { event: 'standby_switchover' });
    expect(outcome[0]).toMatchObject({ successful: false });
    expect(outcome[0]?.details).toMatch(/switchover incomplete: promote on node 2 failed: .*may still complete there; node 1 stays shut down, node 2 is fenced/);
  });

  it('of two switchovers started together, exactly one runs', async () => {
    const { id } = await healthyCluster();
    const results = await Promise.all([2, 2].map((c) => switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: c }))));
    expect(results.filter((r) => r.outcome === 'completed')).toHaveLength(1);
    expect((await sent(id)).filter((s) => s.startsWith('Promote'))).toHaveLength(1);
  });

  it('is finished by the evaluator when the switchover invocation dies after demoting the primary', async () => {
    const { id, snapshot } = await healthyCluster();
    await expect(
      switchoverEntry(
        f.deps(),
        invocation({ crashAfter: (step) => { if (step === 'demote_primary') throw new Error('Lambda timed out'); } }),
        parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }),
      ),
    ).rejects.toThrow('Lambda timed out');
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ paused: true, operation: { kind: 'switchover', step: 'wait_catchup' } });
    // The demoted primary looks down, but while the switchover owns the cluster no failover starts.
    expect((await evaluateCluster(f.deps(), invocation(), id)).saga).toBe('in_progress');
    expect((await sent(id)).filter((s) => s.startsWith('Promote') || s.startsWith('Fence'))).toEqual([]);
    f.clock.advance(10 * 60_000);
    await f.refreshHeartbeats(id);
    const resumed = await evaluateCluster(f.deps(), invocation(), id);
    expect(resumed.saga).toBe('completed');
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ primary_node_id: 2, term: snapshot.cluster.term + 1, paused: false, operation: null });
    expect((await sent(id)).filter((s) => s.startsWith('Demote') || s.startsWith('Promote'))).toEqual(['Demote:1', 'Promote:2']);
  });

  it('does not promote for a stale term when a resumed switchover finds the term moved on; it rolls back instead', async () => {
    const { id, snapshot } = await healthyCluster();
    await expect(
      switchoverEntry(
        f.deps(),
        invocation({ crashAfter: (step) => { if (step === 'wait_catchup') throw new Error('Lambda timed out'); } }),
        parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }),
      ),
    ).rejects.toThrow('Lambda timed out');
    const c = (await f.store.load(id))?.snapshot.cluster;
    if (!c) throw new Error('no cluster');
    await f.store.updateCluster(id, c.version, { term: c.term + 1 }, f.clock.now());
    f.clock.advance(10 * 60_000);
    await f.refreshHeartbeats(id);
    await evaluateCluster(f.deps(), invocation(), id);
    expect((await sent(id)).filter((s) => s.startsWith('Promote'))).toEqual([]);
    const rolledBack = await f.store.listEvents(id, { event: 'switchover_rolled_back' });
    expect(rolledBack[0]?.details).toMatch(new RegExp(`cluster is at term ${snapshot.cluster.term + 2}, this switchover claimed term ${snapshot.cluster.term + 1}`));
  });
});

describe('switchover over a follow-up in its cooldown', () => {
  /**
   * A cooldown of `kind` on node 3, ten minutes long (election_rerun_interval=600). For a rejoin,
   * node 3 is a fenced former primary whose rewind failed (auto_rejoin on), as after a failover.
   */
  async function cooling(kind: 'rejoin' | 'failover', data: Record<string, unknown> = {}, settings: Partial<ClusterSnapshot['cluster']['settings']> = {}): Promise<{ id: string; snapshot: ClusterSnapshot; cooldown: Operation }> {
    const now = f.clock.now();
    const cooldown: Operation = {
      id: `${kind}-cooling-${counter + 1}`,
      kind,
      term: 3,
      candidate_node_id: 3,
      old_primary_node_id: 1,
      step: 'cooldown',
      owner: 'cooldown',
      deadline: now + 600_000,
      started_at: now - 30_000,
      data: { step_started_at: now - 5000, ...data },
    };
    const { id, snapshot } = await healthyCluster((b) => {
      const built = b.settings({ auto_rejoin: true, election_rerun_interval: 600, ...settings }).cluster({ operation: cooldown });
      return kind === 'rejoin' ? built.node(3, { fenced: true }).server(3, { postmaster_running: false, accepting_connections: false, fenced: true, wal_receiver_status: null }) : built;
    });
    return { id, snapshot, cooldown };
  }

  async function stuckStateEvents(id: string): Promise<{ node_id: number; successful: boolean; details: string }[]> {
    return (await f.store.listEvents(id, { event: 'stuck_state_recovery' })).map((e) => ({ node_id: e.node_id, successful: e.successful, details: e.details }));
  }

  it('takes over the cooldown of a rejoin that gave up, says so in an event, and the rejoin is decided again toward the new primary', async () => {
    const { id, snapshot, cooldown } = await cooling('rejoin', { upstream_node_id: 1, timeout_ms: 300_000, force_rewind: true, not_sent: 'pg_rewind failed' });
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }));
    expect(r, r.message).toMatchObject({ ok: true, outcome: 'completed', term: snapshot.cluster.term + 1 });
    expect(r.checks.find((c) => c.name === 'no_operation_in_progress')).toMatchObject({ passed: true });
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ primary_node_id: 2, term: snapshot.cluster.term + 1, paused: false });
    expect(await stuckStateEvents(id)).toEqual([
      {
        node_id: 3,
        successful: true,
        details: `cooldown_superseded: the cooldown after the rejoin of node 3 (operation ${cooldown.id}, until ${new Date(cooldown.deadline).toISOString()}) gives way to the switchover to node 2: it only held back that same rejoin, which the controller decides again after the switchover`,
      },
    ]);
    // What the cooldown held back is the engine's again: node 3 rejoins, now under node 2.
    await evaluateCluster(f.deps(), invocation(), id);
    const rejoins = (await f.commands()).filter((c) => c.parameters.ClusterId === id && c.documentName === 'pgvigil-Rejoin').map((c) => `${c.parameters.NodeId}->${c.parameters.UpstreamNodeId}`);
    expect(rejoins).toEqual(['1->2', '3->2']);
  });

  it('of two switchovers started together over such a cooldown, exactly one runs and records it', async () => {
    const { id } = await cooling('rejoin', { upstream_node_id: 1, timeout_ms: 300_000, force_rewind: true });
    const results = await Promise.all([2, 2].map((c) => switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: c }))));
    expect(results.map((r) => r.outcome).sort()).toEqual(['completed', 'not_claimed']);
    expect((await sent(id)).filter((s) => s.startsWith('Promote'))).toEqual(['Promote:2']);
    expect(await stuckStateEvents(id)).toHaveLength(1);
  });

  it("refuses over a failover's hard cooldown, changing nothing", async () => {
    // Short heartbeat settings: the real run waits max(5 s, 2 × node_timeout_secs) for the check to clear.
    const { id, snapshot, cooldown } = await cooling('failover', { cooldown_hard: true, candidate_fenced: true }, { heartbeat_interval_secs: 1, node_timeout_secs: 2 });
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }));
    expect(r.ok).toBe(false);
    expect(r.outcome).toBeUndefined();
    expect(r.checks.find((c) => c.name === 'no_operation_in_progress')).toMatchObject({
      passed: false,
      detail: `a failover (operation ${cooldown.id}) is at step "cooldown" until ${new Date(cooldown.deadline).toISOString()}, a hard one: a promote may have reached node 3, whose fence was not confirmed; a switchover supersedes only the cooldown of a follow or rejoin`,
    });
    expect(await sent(id)).toEqual([]);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ version: snapshot.cluster.version, term: snapshot.cluster.term, operation: { id: cooldown.id, step: 'cooldown' } });
    expect(await stuckStateEvents(id)).toEqual([]);
  });

  it('--dry-run says the cooldown will be superseded, and changes nothing', async () => {
    const { id, snapshot, cooldown } = await cooling('rejoin', { upstream_node_id: 1, timeout_ms: 300_000, force_rewind: true });
    const r = await switchoverEntry(f.deps(), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2, dry_run: true }));
    expect(r.ok).toBe(true);
    expect(r.message).toBe('prerequisites for executing STANDBY SWITCHOVER are met');
    expect(r.checks.find((c) => c.name === 'no_operation_in_progress')).toMatchObject({
      passed: true,
      detail: `no saga is in flight: the rejoin of node 3 (operation ${cooldown.id}) gave up and only cools down until ${new Date(cooldown.deadline).toISOString()} (election_rerun_interval); the switchover will supersede that cooldown, and the controller decides the rejoin again after it`,
    });
    expect(await sent(id)).toEqual([]);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ version: snapshot.cluster.version, operation: { id: cooldown.id } });
  });
});
