/**
 * `pgvigil standby promote` and `pgvigil cluster failover`: the real failover saga in this process
 * against DynamoDB on moto, with the hosts' side of SSM played (each host action writes the
 * heartbeat its agent would send); the checks, the refusal of a healthy primary and --force.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InProcessSwitchoverInvoker, defaultInvokerFactory, inProcessDeps, setSwitchoverInvokerFactory } from '../../cli/switchover.js';
import type { HostAction, HostCommandResult, HostCommands } from '../../core/ports.js';
import { DEFAULT_TIMINGS } from '../../functions/controller.js';
import { startMoto, type Moto } from '../support/moto.js';
import { cliHarness, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer, type CliHarness } from '../support/cli-cluster.js';

class PlayedHosts implements HostCommands {
  readonly actions: string[] = [];
  constructor(
    private readonly h: CliHarness,
    private readonly id: string,
  ) {}
  async send(_instanceId: string, action: HostAction): Promise<string> {
    this.actions.push(`${action.action} ${action.nodeId} (term ${action.term})`);
    if (action.action === 'promote') {
      await this.h.store.putHeartbeat(heartbeat(this.id, action.nodeId, primaryServer({ timeline: 2, current_lsn: '0/5000100' }), { seq: 5000, sent_at: Date.now(), term: action.term }), true);
    }
    return `cmd-${this.actions.length}`;
  }
  async wait(): Promise<HostCommandResult> {
    return { status: 'Success', exitCode: 0, output: '' };
  }
}

describe('pgvigil standby promote / cluster failover', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
  });
  afterEach(() => setSwitchoverInvokerFactory(defaultInvokerFactory));
  afterAll(async () => {
    await moto?.stop();
  });

  async function cluster(id: string, primaryUp: boolean): Promise<PlayedHosts> {
    const now = Date.now();
    await h.write({
      cluster: clusterRecord(id),
      nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3)],
      heartbeats: [
        heartbeat(id, 1, primaryUp ? primaryServer() : primaryServer({ postmaster_running: false, accepting_connections: false }), { sent_at: now }),
        heartbeat(id, 2, standbyServer(1), { sent_at: now }),
        heartbeat(id, 3, standbyServer(1), { sent_at: now }),
      ],
    });
    const hosts = new PlayedHosts(h, id);
    setSwitchoverInvokerFactory(
      (target, env) => new InProcessSwitchoverInvoker({ ...inProcessDeps(target, env), hosts, timings: { ...DEFAULT_TIMINGS, pollIntervalMs: 100, stepRetryDelayMs: 100, fenceWaitMs: 2000 } }),
    );
    return hosts;
  }

  it('refuses while the primary serves and holds its lease, exits 8 (ERR_PROMOTION_FAIL) and changes nothing', async () => {
    const hosts = await cluster('healthy', true);
    const before = await h.store.load('healthy');
    const result = await h.run('healthy', ['standby', 'promote', '--candidate', 'node2'], { clock: () => Date.now() });
    expect(result.code).toBe(8);
    expect(result.stderr).toContainEqual(expect.stringMatching(/^ERROR: primary_not_healthy: node 1 serves as primary and holds its lease/));
    expect(result.stderr).toContainEqual(expect.stringMatching(/^HINT: the primary is healthy: use "pgvigil standby switchover"/));
    expect(hosts.actions).toEqual([]);
    expect(await h.store.load('healthy')).toEqual(before);
  });

  it('passes its checks with --force --dry-run, saying what forcing loses, and still changes nothing', async () => {
    await cluster('forced-dry', true);
    const before = await h.store.load('forced-dry');
    const result = await h.run('forced-dry', ['cluster', 'failover', '--candidate', '2', '--force', '--dry-run'], { clock: () => Date.now() });
    expect(result.code).toBe(0);
    expect(result.stderr).toContainEqual(expect.stringMatching(/^INFO: primary_not_healthy: .*--force: it will be fenced, and what node 2 has not received is lost$/));
    expect(result.stderr.at(-1)).toBe('INFO: prerequisites for executing STANDBY PROMOTE are met');
    expect(await h.store.load('forced-dry')).toEqual(before);
  });

  it('fences the failed primary, then promotes the requested standby under a new term, printing its progress', async () => {
    const hosts = await cluster('crashed', false);
    const result = await h.run('crashed', ['standby', 'promote', '--candidate', 'node3'], { clock: () => Date.now() });
    expect(result.stderr.at(-1)).toBe('NOTICE: STANDBY PROMOTE successful: node "node3" (ID: 3) is the primary (term 2); the other standbys follow it as the controller\'s follow-ups');
    expect(result.code).toBe(0);
    // The operator's candidate, not the engine's pick, and the fence strictly before the promotion.
    expect(hosts.actions.slice(0, 2)).toEqual(['fence 1 (term 2)', 'promote 3 (term 2)']);
    expect(result.stderr).toContainEqual(expect.stringMatching(/^NOTICE: fence_applied \(node 1\): ssm: the agent confirmed the fence/));
    // Step lines come from polling the record every 500 ms and may be missed when a step is quick;
    // the events are printed for certain.
    expect(result.stderr).toContainEqual(expect.stringMatching(/^NOTICE: failover_started \(node 1\): term 2: promotion of node 3 requested by an operator/));
    expect(result.stderr).toContainEqual(expect.stringMatching(/^NOTICE: repmgrd_failover_promote \(node 3\): node 3 promoted to primary of term 2/));
    const after = (await h.store.load('crashed'))?.snapshot;
    expect([after?.cluster.term, after?.cluster.primary_node_id, after?.cluster.operation]).toEqual([2, 3, null]);
    const started = (await h.store.listEvents('crashed', { event: 'failover_started' }))[0];
    expect(started?.details).toMatch(/promotion of node 3 requested by an operator/);
  });

  it('with --force, fences a primary that still serves before promoting', async () => {
    const hosts = await cluster('forced', true);
    const result = await h.run('forced', ['cluster', 'failover', '--candidate', '2', '--force'], { clock: () => Date.now() });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('WARNING: --force: a primary that still serves is fenced, and every transaction the candidate has not received is lost');
    expect(hosts.actions.slice(0, 2)).toEqual(['fence 1 (term 2)', 'promote 2 (term 2)']);
    expect((await h.store.load('forced'))?.snapshot.cluster.primary_node_id).toBe(2);
  });
});
