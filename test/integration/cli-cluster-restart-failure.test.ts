/**
 * `cluster restart --rolling` stops at the first failure: a standby whose restart fails through SSM
 * ends the run with repmgr's ERR_LOCAL_COMMAND (5) and `cluster_restart_failed`, and nothing after it
 * is sent — no second standby, no switchover. The cluster state is in moto; the hosts' SSM answers
 * are this test's (moto's SendCommand runs nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostAction, HostCommands } from '../../core/ports.js';
import { startMoto, type Moto } from '../support/moto.js';
import { cliHarness, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer, type CliHarness } from '../support/cli-cluster.js';

const ID = 'restart-failure';

describe('a rolling restart whose first step fails', () => {
  let moto: Moto;
  let h: CliHarness;

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto, 'pgvigil-cli-restart-failure');
    const streaming = (name: string) => ({ application_name: name, client_addr: null, state: 'streaming', sync_state: 'async' as const, sent_lsn: '0/5000000', write_lsn: '0/5000000', flush_lsn: '0/5000000', replay_lsn: '0/5000000' });
    await h.write({
      cluster: clusterRecord(ID),
      nodes: [nodeRecord(ID, 1), nodeRecord(ID, 2), nodeRecord(ID, 3)],
      heartbeats: [
        heartbeat(ID, 1, primaryServer({ replication: [streaming('node2'), streaming('node3')] })),
        heartbeat(ID, 2, standbyServer(1)),
        heartbeat(ID, 3, standbyServer(1)),
      ],
    });
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('exits 5 at the first standby whose restart fails, records cluster_restart_failed, and sends nothing more', async () => {
    const sent: HostAction[] = [];
    const hosts: HostCommands = {
      async send(_instance, action) {
        sent.push(action);
        return `cmd-${sent.length}`;
      },
      async wait() {
        return { status: 'Failed', exitCode: 5, output: 'ERROR: unable to restart the local PostgreSQL server\nDETAIL: pg_ctl: could not start server' };
      },
    };
    const r = await h.run(ID, ['cluster', 'restart', '--rolling'], { deps: { hostCommands: () => hosts } });
    expect(r.code, r.stderr.join('\n')).toBe(5);
    expect(sent.map((a) => `${a.action}:${a.nodeId}`)).toEqual(['node-service:2']);
    expect(r.stderr.join('\n')).toContain('rolling restart stopped at the restart of node "node2" (ID: 2); the steps after it were not run');
    const events = await h.store.listEvents(ID);
    const names = events.map((e) => e.event);
    expect(names).toContain('cluster_restart_started');
    expect(names).not.toContain('cluster_restart_node');
    expect(names).not.toContain('switchover_started');
    const failed = events.find((e) => e.event === 'cluster_restart_failed');
    expect(failed).toMatchObject({ successful: false });
    expect(failed?.details).toMatch(/^rolling restart stopped at the restart of node "node2" \(ID: 2\): .*did not succeed: SSM status Failed, exit code 5/);
  });
});
