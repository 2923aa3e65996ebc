/**
 * The host actions through the deployed agent: the single-file bundle `npm run build` makes
 * (dist/pgvigil-agent.mjs, rebuilt by the project's setup when stale), run as separate processes with the Node flags of the systemd unit,
 * against real PostgreSQL servers (run as `postgres`) and DynamoDB on a private moto server. The
 * other agent tests run the same code from source in-process; this one catches what only the
 * bundle can get wrong (bundling, build-time defines, the unit's V8 flags), for the host actions
 * and the daemon. The tests run in order on one two-node cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { readFence } from '../../agent/fence.js';
import { join } from 'node:path';
import { systemdNodeFlags } from '../../agent/build.js';
import { ARTIFACTS, builtArtifact } from '../../build/artifacts.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { createTable, motoEnv, runBundle, waitFor, writeNodeConfig, type RunResult } from '../support/agent.js';

const TABLE = 'pgvigil-agent-bundle';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let bundlePath: string;
let nodeFlags: string[];
let primary: PostgresServer;
let standby: PostgresServer;
let dir: string;
const configs: Record<number, string> = {};
const f = (id: number): string[] => ['-f', configs[id] as string];

/** Runs `node <unit flags> pgvigil-agent.mjs ARGS` as its own process. */
const bundle = (args: string[]): Promise<RunResult> => runBundle(env, args, nodeFlags);

async function timelineOf(server: PostgresServer): Promise<string | undefined> {
  return (await server.query<{ t: string }>('SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS t'))[0]?.t;
}

async function inRecovery(server: PostgresServer): Promise<boolean | undefined> {
  return (await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r;
}

beforeAll(async () => {
  moto = await startMoto();
  env = { ...motoEnv(moto), NODE_ENV: 'production' };
  store = await createTable(moto, TABLE);
  dir = await pgs.tempDir('pgvigil-agent-bundle-');
  bundlePath = builtArtifact(ARTIFACTS.agent);
  const [flags, server1, server2] = await Promise.all([systemdNodeFlags(), pgs.primary('node1'), pgs.server('node2')]);
  nodeFlags = flags;
  primary = server1;
  standby = server2;
  for (const [id, server] of [[1, primary], [2, standby]] as const) {
    configs[id] = (await writeNodeConfig(dir, { id, name: `node${id}`, server }, TABLE)).configFile;
  }
}, 60_000);

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('the deployed agent bundle', () => {
  it('registers the primary, creating the cluster record at term 1', async () => {
    const r = await bundle(['primary', 'register', ...f(1)]);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: primary node record (ID: 1) registered');
    const loaded = await store.load('agent-test');
    expect(loaded?.snapshot.cluster).toMatchObject({ term: 1, primary_node_id: 1, lease: null });
    expect(loaded?.snapshot.nodes).toEqual([expect.objectContaining({ node_id: 1, type: 'primary', upstream_node_id: null, active: true })]);
  });

  it('clones a standby with pg_basebackup and registers it once it runs', async () => {
    const clone = await bundle(['standby', 'clone', ...f(2), '-c']);
    expect(clone.code, clone.text).toBe(0);
    expect(clone.stderr).toContain('NOTICE: standby clone (using pg_basebackup) complete');
    expect(existsSync(join(standby.dataDir, 'standby.signal'))).toBe(true);
    await standby.writeConfig();
    await standby.start();
    expect(await inRecovery(standby)).toBe(true);
    const reg = await bundle(['standby', 'register', ...f(2)]);
    expect(reg.code, reg.text).toBe(0);
    expect(reg.stderr).toContain('NOTICE: standby node "node2" (ID: 2) successfully registered');
    const nodes = (await store.load('agent-test'))?.snapshot.nodes;
    expect(nodes?.map((n) => [n.node_id, n.type, n.upstream_node_id])).toEqual([
      [1, 'primary', null],
      [2, 'standby', 1],
    ]);
  });

  it("reports the standby's status and the primary's checks, with exit code 0", async () => {
    const deadline = Date.now() + 20_000;
    while ((await primary.query("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'")).length === 0) {
      if (Date.now() > deadline) throw new Error('the standby did not start streaming');
      await new Promise((r) => setTimeout(r, 200));
    }
    const status = await bundle(['node', 'status', ...f(2), '--csv']);
    expect(status.code, status.text).toBe(0);
    expect(status.stdout).toContain('"Role","standby"');
    expect(status.stdout).toContain('"Upstream node","node1 (ID: 1)"');
    const check = await bundle(['node', 'check', ...f(1)]);
    expect(check.code, check.text).toBe(0);
    expect(check.stdout[0]).toBe('Node "node1":');
    expect(check.stdout).toContain('\tServer role: OK (node is primary)');
    expect(check.stdout).toContain('\tDownstream servers: OK (1 of 1 downstream nodes attached)');
    const role = await bundle(['node', 'check', ...f(2), '--role', '--nagios']);
    expect([role.code, role.stdout]).toEqual([0, ['REPMGR_SERVER_ROLE OK: node is standby']]);
  });

  it('exits 1 and changes nothing when promote carries an outdated term', async () => {
    const r = await bundle(['promote', ...f(2), '--term', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERROR: refusing "promote": term 0 is older than the cluster\'s current term 1');
    expect(await inRecovery(standby)).toBe(true);
  });

  it('fences the old primary and promotes the standby onto a new timeline; a second promote succeeds without another', async () => {
    const fence = await bundle(['fence', ...f(1), '--term', '1']);
    expect(fence.code, fence.text).toBe(0);
    expect(await primary.isRunning()).toBe(false);
    const cluster = (await store.load('agent-test'))?.snapshot.cluster;
    // The controller claims term 2 for node 2 before it sends promote.
    expect((await store.updateCluster('agent-test', cluster?.version ?? 0, { term: 2, primary_node_id: 2 }, Date.now())).ok).toBe(true);
    const r = await bundle(['promote', ...f(2), '--term', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: STANDBY PROMOTE successful');
    expect(await inRecovery(standby)).toBe(false);
    expect(await timelineOf(standby)).toBe('00000002');
    const again = await bundle(['promote', ...f(2), '--term', '2']);
    expect(again.code, again.text).toBe(0);
    expect(again.stderr.join('\n')).toMatch(/is already primary \(timeline 2\); nothing to do/);
    expect(await timelineOf(standby)).toBe('00000002');
    const loaded = await store.load('agent-test');
    expect(loaded?.snapshot.nodes.find((n) => n.node_id === 2)).toMatchObject({ type: 'primary', upstream_node_id: null });
    const promotes = await store.listEvents('agent-test', { event: 'standby_promote' });
    expect(promotes.map((e) => [e.node_id, e.successful, e.term])).toEqual([
      [2, true, 2],
      [2, true, 2],
    ]);
    expect(promotes[1]?.details).toMatch(/already primary on timeline 2/);
  });

  it('runs the daemon for the new primary: heartbeats, lease renewal, and a clean stop on SIGTERM', async () => {
    const child = spawn(process.execPath, [...nodeFlags, bundlePath, 'run', ...f(2)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const loaded = await store.load('agent-test');
        const hb = loaded?.snapshot.heartbeats.find((h) => h.node_id === 2);
        if (hb?.server?.in_recovery === false && hb.term === 2 && loaded?.snapshot.cluster.lease?.holder_node_id === 2) break;
        if (Date.now() > deadline) throw new Error(`no heartbeat and lease from the bundle's daemon: ${Buffer.concat(stderr).toString()}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const loaded = await store.load('agent-test');
    expect(loaded?.rejected).toEqual([]);
    expect(loaded?.snapshot.cluster.lease).toMatchObject({ holder_node_id: 2, term: 2 });
    const events = (await store.listEvents('agent-test', { nodeId: 2 })).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['agent_start', 'agent_stop']));
  });

  it("stops the primary at the lease's deadline through its watchdog while the daemon is frozen, and records lease_lost once it thaws", async () => {
    // A short lease, so the deadline comes within seconds.
    configs[2] = (await writeNodeConfig(dir, { id: 2, name: 'node2', server: standby }, TABLE, { lease_secs: 4 })).configFile;
    expect(await inRecovery(standby)).toBe(false);
    // What the earlier daemon left must not pass for this one's.
    rmSync(join(dir, 'lease-deadline-2'), { force: true });
    const since = Date.now();
    const child = spawn(process.execPath, [...nodeFlags, bundlePath, 'run', ...f(2)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => {
        const loaded = await store.load('agent-test');
        const lease = loaded?.snapshot.cluster.lease;
        return lease?.holder_node_id === 2 && lease.renewed_at > since && existsSync(join(dir, 'lease-deadline-2'));
      }, 20_000);
      child.kill('SIGSTOP');
      try {
        // Nothing of the agent runs now; the server stops all the same.
        await waitFor(async () => !(await standby.isRunning()), 15_000).catch((error: unknown) => {
          throw new Error(`${String(error)}; the agent's log: ${Buffer.concat(stderr).toString().slice(-3000)}`);
        });
        expect(await readFence(standby.dataDir)).toMatchObject({ term: 2, reason: 'lease_lost', created_standby_signal: true });
        expect(existsSync(join(standby.dataDir, 'standby.signal'))).toBe(true);
      } finally {
        child.kill('SIGCONT');
      }
      await waitFor(async () => (await store.listEvents('agent-test', { nodeId: 2 })).some((e) => e.event === 'lease_lost'), 15_000);
      await waitFor(async () => Buffer.concat(stderr).toString().includes('the lease watchdog stopped the server'), 5000);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(await standby.isRunning()).toBe(false);
  }, 60_000);
});
