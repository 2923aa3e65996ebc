import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InProcessSwitchoverInvoker, defaultInvokerFactory, inProcessDeps, setSwitchoverInvokerFactory } from '../../cli/switchover.js';
import type { Heartbeat } from '../../core/model.js';
import type { HostAction, HostCommandResult, HostCommands } from '../../core/ports.js';
import { DEFAULT_TIMINGS } from '../../functions/controller.js';
import { DEFAULT_CLUSTER_SETTINGS } from '../../core/model.js';
import { startMoto, type Moto } from '../support/moto.js';
import { cliHarness, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer, type CliHarness } from '../support/cli-cluster.js';

const ID = 'swap';

/**
 * The agents' side of SSM, simulated: each host action writes the heartbeat the node's agent would
 * send after carrying it out. (The sandbox e2e runs the real agents; here the saga, the state
 * table and the CLI are real and only the hosts are played.)
 */
class SimulatedAgents implements HostCommands {
  readonly actions: string[] = [];
  private readonly results = new Map<string, HostCommandResult>();
  private seq = 1000;
  /** Nodes whose `follow` fails (their agent cannot reach the new primary). */
  readonly failFollow = new Set<number>();
  constructor(
    private readonly h: CliHarness,
    private readonly id = ID,
  ) {}

  private async beat(nodeId: number, server: Heartbeat['server'], term: number): Promise<void> {
    await this.h.store.putHeartbeat(heartbeat(this.id, nodeId, server, { seq: ++this.seq, sent_at: Date.now(), term }), true);
  }

  async send(_instanceId: string, action: HostAction): Promise<string> {
    this.actions.push(`${action.action} ${action.nodeId}${action.upstreamNodeId ? ` -> ${action.upstreamNodeId}` : ''} (term ${action.term})`);
    if (action.action === 'follow' && this.failFollow.has(action.nodeId)) {
      const id = `cmd-${this.actions.length}`;
      this.results.set(id, { status: 'Failed', exitCode: 23, output: `ERROR: node ${action.nodeId} did not start streaming` });
      return id;
    }
    let output = '';
    if (action.action === 'demote') {
      // The agent reports the fence marker demote leaves (the server is held down until it rejoins).
      await this.beat(action.nodeId, primaryServer({ postmaster_running: false, accepting_connections: false, in_recovery: null, current_lsn: '0/5000000', fenced: true }), action.term);
      output = 'NOTICE: node shut down cleanly\nDETAIL: final LSN 0/5000000';
    } else if (action.action === 'promote') {
      await this.beat(action.nodeId, primaryServer({ timeline: 2, current_lsn: '0/5000100' }), action.term);
    } else if (action.action === 'rejoin' || action.action === 'follow') {
      const upstream = action.upstreamNodeId ?? 0;
      await this.beat(action.nodeId, standbyServer(upstream, { timeline: 2, receive_lsn: '0/5000100', replay_lsn: '0/5000100' }), action.term);
    }
    const id = `cmd-${this.actions.length}`;
    this.results.set(id, { status: 'Success', exitCode: 0, output });
    return id;
  }

  async wait(commandId: string): Promise<HostCommandResult> {
    return this.results.get(commandId) ?? { status: 'Failed', exitCode: null, output: 'unknown command' };
  }
}

describe('pgvigil standby switchover through the controller saga', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
    const now = Date.now();
    await h.write({
      cluster: clusterRecord(ID),
      nodes: [nodeRecord(ID, 1), nodeRecord(ID, 2), nodeRecord(ID, 3)],
      heartbeats: [
        heartbeat(ID, 1, primaryServer(), { sent_at: now }),
        heartbeat(ID, 2, standbyServer(1), { sent_at: now }),
        heartbeat(ID, 3, standbyServer(1), { sent_at: now }),
      ],
    });
  });
  afterEach(() => setSwitchoverInvokerFactory(defaultInvokerFactory));
  afterAll(async () => {
    await moto?.stop();
  });

  it('completes, prints each step and event, and cluster show afterwards has the roles swapped', async () => {
    const agents = new SimulatedAgents(h);
    setSwitchoverInvokerFactory(
      (target, env) => new InProcessSwitchoverInvoker({ ...inProcessDeps(target, env), hosts: agents, timings: { ...DEFAULT_TIMINGS, pollIntervalMs: 100, stepRetryDelayMs: 100 } }),
    );
    const result = await h.run(ID, ['standby', 'switchover', '--candidate', 'node2', '--siblings-follow'], { clock: () => Date.now() });
    expect(result.stderr.at(-1)).toBe('NOTICE: STANDBY SWITCHOVER has completed successfully: node "node2" (ID: 2) is the primary (term 2)');
    expect(result.code).toBe(0);
    expect(agents.actions).toEqual(['demote 1 (term 2)', 'promote 2 (term 2)', 'rejoin 1 -> 2 (term 2)', 'follow 3 -> 2 (term 2)']);
    expect(result.stderr).toContainEqual(expect.stringMatching(/^NOTICE: standby_promote \(node 2\): node 2 promoted to primary of term 2/));
    expect(result.stderr).toContainEqual(expect.stringMatching(/^NOTICE: standby_switchover \(node 2\): /));

    const show = await h.run(ID, ['cluster', 'show', '--json'], { clock: () => Date.now() });
    const model = JSON.parse(show.stdout.join('\n')) as { term: number; primary_node_id: number; paused: boolean; rows: { node_id: number; role: string; status: string; upstream: string }[] };
    expect([model.term, model.primary_node_id, model.paused]).toEqual([2, 2, false]);
    expect(model.rows.map((r) => [r.node_id, r.role, r.status, r.upstream])).toEqual([
      [1, 'standby', '  running', 'node2'],
      [2, 'primary', '* running', ''],
      [3, 'standby', '  running', 'node2'],
    ]);
    expect(show.code).toBe(0);
  });

  it('still reports success when the promotion and the Elastic IP succeeded, with a follow-up that keeps failing shown as pending', async () => {
    const id = 'swap-pending';
    const now = Date.now();
    await h.write({
      cluster: clusterRecord(id, { settings: { ...DEFAULT_CLUSTER_SETTINGS, node_rejoin_timeout: 2, primary_follow_timeout: 2, election_rerun_interval: 1 } }),
      nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3)],
      heartbeats: [heartbeat(id, 1, primaryServer(), { sent_at: now }), heartbeat(id, 2, standbyServer(1), { sent_at: now }), heartbeat(id, 3, standbyServer(1), { sent_at: now })],
    });
    const agents = new SimulatedAgents(h, id);
    agents.failFollow.add(3);
    setSwitchoverInvokerFactory(
      (target, env) => new InProcessSwitchoverInvoker({ ...inProcessDeps(target, env), hosts: agents, timings: { ...DEFAULT_TIMINGS, pollIntervalMs: 100, stepRetryDelayMs: 100 } }),
    );
    const result = await h.run(id, ['standby', 'switchover', '--candidate', 'node2', '--siblings-follow'], { clock: () => Date.now() });
    expect(result.code).toBe(0);
    expect(result.stderr.at(-1)).toBe('NOTICE: STANDBY SWITCHOVER has completed successfully: node "node2" (ID: 2) is the primary (term 2)');
    expect(result.stderr).toContainEqual('INFO: follow-up rejoin of node 1: done (node 1 streams from node 2)');
    expect(result.stderr).toContainEqual(expect.stringMatching(/^WARNING: follow-up follow of node 3: pending \(node 3 does not stream from node 2 yet\); the controller carries it on$/));
    expect(agents.actions.filter((a) => a.startsWith('follow 3'))).not.toEqual([]);
  });
});
