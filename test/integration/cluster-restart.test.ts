/**
 * `pgvigil cluster restart --rolling --pending` and `pgvigil node service --node-id` against a real
 * three-node PostgreSQL 15 cluster with its agents, moto, the controller and the switchover function
 * (the sandbox, in loopback mode). The CLI runs in this process; its SSM Run Command goes to the
 * sandbox's SSM runner, which runs the deployed NodeService document on the node's host (moto's
 * SendCommand runs nothing).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliDeps, cliProgram } from '../../cli/main.js';
import { sandboxEnvironment } from '../../cli/commands/sandbox.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { latestHeartbeats } from '../../core/node-status.js';
import { Sandbox } from '../../sandbox/index.js';
import { freePort } from '../../sandbox/ports.js';
import { snapshotOf, storeFor } from '../../sandbox/drills/index.js';
import { runProgram } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';
import { canWrite } from '../support/agent.js';

const NODES = ['node1', 'node2', 'node3'];
let sandbox: Sandbox;
let parent: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'pgv-restart-'));
  chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
  sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), mode: 'loopback' });
  env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...sandboxEnvironment(sandbox.dir, sandbox.state) };
}, 400_000);

afterAll(async () => {
  await sandbox?.down();
  if (parent) rmSync(parent, { recursive: true, force: true });
}, 200_000);

async function pgvigil(args: string[]): Promise<{ code: number; stderr: string[]; why: string }> {
  const out = memoryOutput();
  // The CLI's SSM Run Command goes to the sandbox's runner (moto's SendCommand runs nothing).
  const code = await runProgram(cliProgram(cliDeps({ hostCommands: () => sandbox.hostCommands })), args, out, env);
  return { code, stderr: out.stderr, why: `pgvigil ${args.join(' ')} → ${code}\n${[...out.stdout, ...out.stderr].join('\n')}` };
}

async function snapshot(): Promise<ClusterSnapshot> {
  const { store, close } = storeFor(sandbox);
  try {
    return await snapshotOf(store, sandbox);
  } finally {
    close();
  }
}

async function startTime(name: string): Promise<string> {
  const [row] = await sandbox.server(name).query<{ t: string }>('SELECT pg_postmaster_start_time()::text AS t');
  return row?.t ?? '';
}

async function pendingOnServer(name: string): Promise<string[]> {
  return (await sandbox.server(name).query<{ name: string }>('SELECT name FROM pg_settings WHERE pending_restart ORDER BY name')).map((r) => r.name);
}

/** What each node's latest heartbeat reports waiting for a restart. */
async function pendingInHeartbeats(): Promise<Record<number, string[]>> {
  const latest = latestHeartbeats(await snapshot());
  return Object.fromEntries([1, 2, 3].map((id) => [id, latest.get(id)?.server?.pending_restart ?? []]));
}

describe('rolling restart of a real cluster', () => {
  it('refuses to restart the primary through SSM without --force, and changes nothing', async () => {
    const before = await startTime('node1');
    const r = await pgvigil(['node', 'service', '--node-id', '1', '--action', 'restart']);
    expect(r.code, r.why).toBe(1);
    expect(r.why).toContain('node 1 is the primary: "node service --action restart" would look to the controller like a failed primary');
    expect(await startTime('node1')).toBe(before);
    expect((await snapshot()).cluster).toMatchObject({ primary_node_id: 1, paused: false });
  });

  it('reloads a standby through SSM Run Command', async () => {
    const before = await startTime('node2');
    const r = await pgvigil(['node', 'service', '--node-id', '2', '--action', 'reload']);
    expect(r.code, r.why).toBe(0);
    expect(r.stderr).toContain('NOTICE: node service --action reload completed');
    expect(await startTime('node2')).toBe(before);
  });

  it('restarts every node with a pending setting, standbys first, moves the primary, and leaves a writable primary', async () => {
    // A setting that takes effect only at a restart, raised on every node (a standby needs at least the primary's value).
    const [{ v } = { v: '100' }] = await sandbox.server('node1').query<{ v: string }>("SELECT current_setting('max_connections') AS v");
    const raised = Number(v) + 7;
    for (const name of NODES) {
      await sandbox.server(name).query(`ALTER SYSTEM SET max_connections = ${raised}`);
      await sandbox.server(name).query('SELECT pg_reload_conf()');
    }
    await expect.poll(pendingInHeartbeats, { timeout: 60_000, interval: 500 }).toEqual({ 1: ['max_connections'], 2: ['max_connections'], 3: ['max_connections'] });
    const started = Object.fromEntries(await Promise.all(NODES.map(async (n) => [n, await startTime(n)] as const)));
    const dry = await pgvigil(['cluster', 'restart', '--rolling', '--pending', '--dry-run']);
    expect(dry.code, dry.why).toBe(0);
    expect(dry.stderr.at(-1), dry.why).toBe('INFO: prerequisites for executing CLUSTER RESTART are met');
    expect(await startTime('node2')).toBe(started.node2);
    expect((await snapshot()).cluster.primary_node_id).toBe(1);
    const since = Date.now();

    const r = await pgvigil(['cluster', 'restart', '--rolling', '--pending', '--wait-timeout', '240']);
    expect(r.code, r.why).toBe(0);
    const plan = r.stderr.filter((l) => /^INFO: \d\. /.test(l));
    expect(plan, r.why).toEqual([
      'INFO: 1. restart the standby node "node2" (ID: 2) (pending: max_connections) and wait until it streams again',
      'INFO: 2. restart the standby node "node3" (ID: 3) (pending: max_connections) and wait until it streams again',
      expect.stringMatching(/^INFO: 3\. switch over from node "node1" \(ID: 1\) \(pending: max_connections\) to node "node[23]" \(ID: [23]\)$/),
      'INFO: 4. wait until the old primary node "node1" (ID: 1) streams from the new primary (the switchover stops and restarts it)',
    ]);
    expect(r.stderr.at(-1), r.why).toMatch(/^NOTICE: CLUSTER RESTART has completed successfully: node "node[23]" \(ID: [23]\) is the primary$/);

    for (const name of NODES) {
      expect(await startTime(name), name).not.toBe(started[name]);
      expect(await pendingOnServer(name), name).toEqual([]);
      const [{ max_connections } = { max_connections: '' }] = await sandbox.server(name).query<{ max_connections: string }>('SHOW max_connections');
      expect(max_connections, name).toBe(String(raised));
    }
    const after = await snapshot();
    const primary = after.cluster.primary_node_id;
    expect([2, 3]).toContain(primary);
    expect(after.cluster.paused).toBe(false);
    const primaryName = `node${String(primary)}`;
    await sandbox.server(primaryName).query('CREATE TABLE IF NOT EXISTS restart_probe (v int)');
    expect(await canWrite(sandbox.server(primaryName), 'restart_probe')).toBe(true);

    const { store, close } = storeFor(sandbox);
    try {
      const events = await store.listEvents(sandbox.state.clusterId, { sinceMs: since - 1000 });
      const ours = events.filter((e) => e.event.startsWith('cluster_restart_')).map((e) => [e.event, e.node_id]);
      expect(ours).toEqual([
        ['cluster_restart_started', 1],
        ['cluster_restart_node', 2],
        ['cluster_restart_node', 3],
        ['cluster_restart_node', 1],
        ['cluster_restart_completed', primary],
      ]);
      expect(events.filter((e) => e.event === 'node_service' && e.successful).map((e) => e.node_id)).toEqual([2, 3]);
    } finally {
      close();
    }

    // Nothing waits for a restart any more (and the switchover's follow-ups are done): --pending says so and does nothing.
    await expect.poll(pendingInHeartbeats, { timeout: 60_000, interval: 500 }).toEqual({ 1: [], 2: [], 3: [] });
    await expect.poll(async () => (await snapshot()).cluster.operation, { timeout: 120_000, interval: 500 }).toBeNull();
    const again = await pgvigil(['cluster', 'restart', '--rolling', '--pending']);
    expect(again.code, again.why).toBe(0);
    expect(again.stderr).toContain(`NOTICE: no node of cluster "${sandbox.state.clusterId}" has settings waiting for a restart: nothing to do`);
  });
});
