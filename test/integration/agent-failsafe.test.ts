/**
 * The agent's HTTP API and failsafe mode with real agents: three PostgreSQL servers (a primary and
 * two streaming standbys) run as `postgres`, DynamoDB on moto, each node's daemon in this process
 * with its API on a loopback port. The primary's DynamoDB client is cut by a wrapper that makes
 * every call fail, as an unreachable endpoint does; the standbys keep theirs.
 *
 * What must hold (docs/architecture.md, "Failsafe mode"): cut off, the primary keeps accepting
 * writes past its lease while both standbys confirm; a standby that confirmed refuses `promote`;
 * the episode is a pair of events once DynamoDB is back; and with one standby gone the primary
 * fences on time.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { jsonLogger } from '../../agent/log.js';
import { promiseFile } from '../../agent/failsafe-promise.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { ClusterStateStore } from '../../core/ports.js';
import { freePort } from '../../sandbox/ports.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, canWrite, createTable, motoEnv, waitFor, writeNodeConfig, type TestNode } from '../support/agent.js';
import { PROMOTE_NOT_STARTED } from '../../core/host-actions.js';

const TABLE = 'pgvigil-agent-failsafe';
const LEASE_SECS = 4;
const SECRET = 'failsafe-test-secret-0123456789abcdef';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
const nodes: TestNode[] = [];
const ports = new Map<number, number>();
const daemons = new Map<number, AgentDaemon>();
const logs = new Map<number, string[]>();
let cut = false;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const node = (id: number): TestNode => nodes[id - 1] as TestNode;
const f = (id: number): string[] => ['-f', node(id).configFile];

/** The primary's store: every call fails while `cut` is set. */
const cutStore = new Proxy(
  {},
  {
    get(_target, prop) {
      const v = Reflect.get(store, prop) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => (cut ? Promise.reject(new Error('connect ECONNREFUSED (the test cut DynamoDB off)')) : (v as (...a: unknown[]) => unknown).apply(store, args));
    },
  },
) as ClusterStateStore;

function http(id: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ports.get(id), method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function startDaemon(id: number): AgentDaemon {
  const lines: string[] = [];
  logs.set(id, lines);
  const d = new AgentDaemon({
    config: node(id).config,
    store: id === 1 ? cutStore : store,
    leaseStore: id === 1 ? cutStore : store,
    log: jsonLogger({ level: 'DEBUG', write: (l) => void lines.push(l) }),
    env,
    apiAddressOf: (n) => ({ nodeId: n.node_id, host: '127.0.0.1', port: ports.get(n.node_id) ?? 1 }),
  });
  daemons.set(id, d);
  return d;
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  const dir = await pgs.tempDir('pgvigil-failsafe-');
  const secretFile = join(dir, 'api-secret');
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const servers = [await pgs.primary('node1'), await pgs.server('node2'), await pgs.server('node3')];
  for (const [i, server] of servers.entries()) {
    const id = i + 1;
    ports.set(id, await freePort());
    const extra = { lease_secs: LEASE_SECS, heartbeat_interval_secs: 1, cluster_id: 'failsafe', rest_api_listen: `127.0.0.1:${ports.get(id)}`, rest_api_secret_file: secretFile, shutdown_check_timeout: 10 };
    const { configFile, config } = await writeNodeConfig(dir, { id, name: `node${id}`, server }, TABLE, extra);
    nodes.push({ id, name: `node${id}`, server, configFile, config });
  }
  await node(1).server.query('CREATE TABLE probe (x int)');
  expect((await agent(env, ['primary', 'register', ...f(1)])).code).toBe(0);
  for (const id of [2, 3]) {
    const clone = await agent(env, ['standby', 'clone', ...f(id), '-c']);
    expect(clone.code, clone.text).toBe(0);
    await node(id).server.writeConfig();
    await node(id).server.start();
    expect((await agent(env, ['standby', 'register', ...f(id)])).code).toBe(0);
  }
  for (const id of [1, 2, 3]) await startDaemon(id).start();
  await waitFor(async () => (daemons.get(1)?.status().lease.renewals ?? 0) >= 2);
  // The standbys stream, and each has read the cluster (it names node 1 as primary).
  for (const id of [2, 3]) await waitFor(async () => (await http(id, 'GET', '/replica')).status === 200, 60_000);
}, 180_000);

afterAll(async () => {
  cut = false;
  for (const d of daemons.values()) await d.stop('test over');
  await pgs.cleanup();
  await moto?.stop();
});

describe('the agent API', () => {
  it('routes writes to the primary and reads to the streaming standbys, as Patroni\'s endpoints do', async () => {
    expect((await http(1, 'GET', '/primary')).status).toBe(200);
    expect((await http(2, 'GET', '/primary')).status).toBe(503);
    expect((await http(1, 'GET', '/replica')).status).toBe(503);
    expect((await http(3, 'GET', '/replica?lag=16MB')).status).toBe(200);
    expect((await http(2, 'GET', '/read-only')).status).toBe(200);
    const head = await http(1, 'OPTIONS', '/primary');
    expect(head).toEqual({ status: 200, body: '' });
    const status = JSON.parse((await http(2, 'GET', '/status')).body) as Record<string, unknown>;
    expect(status).toMatchObject({ role: 'replica', state: 'running', replication_state: 'streaming', primary_node_id: 1, pgvigil: { node_id: 2, cluster_id: 'failsafe' } });
  });

  it('names what is wrong with a request it cannot answer', async () => {
    expect(await http(1, 'GET', '/leaderz')).toMatchObject({ status: 404, body: expect.stringContaining('unknown path /leaderz') });
    expect(await http(2, 'GET', '/replica?lag=soon')).toMatchObject({ status: 400, body: expect.stringContaining('bad lag value \\"soon\\"') });
    expect(await http(2, 'POST', '/failsafe', { 'content-type': 'application/json' }, 'x'.repeat(5000))).toMatchObject({ status: 413 });
  });

  it('refuses a confirmation request that is not signed with the cluster\'s secret, and records no promise', async () => {
    const body = JSON.stringify({ cluster_id: 'failsafe', node_id: 1, term: 1, nonce: '00112233445566778899aabbccddeeff' });
    const unsigned = await http(2, 'POST', '/failsafe', { 'content-type': 'application/json' }, body);
    expect(unsigned.status).toBe(401);
    expect(unsigned.body).toContain('must be signed');
    const forged = await http(2, 'POST', '/failsafe', { 'content-type': 'application/json', 'x-pgvigil-signature': 'ab'.repeat(32) }, body);
    expect(forged.status).toBe(401);
    expect(existsSync(promiseFile(node(2).config))).toBe(false);
    expect([...(logs.get(2) ?? []), ...(logs.get(1) ?? [])].join('')).not.toContain(SECRET);
  });
});

describe('failsafe mode', () => {
  it('keeps the primary writable past its lease while both standbys confirm, and a confirming standby refuses promote', async () => {
    const d1 = daemons.get(1) as AgentDaemon;
    const lastRenewal = d1.status().lease.renewals;
    cut = true;
    let failedWrites = 0;
    const until = Date.now() + 3 * LEASE_SECS * 1000;
    while (Date.now() < until) {
      if (!(await canWrite(node(1).server, 'probe'))) failedWrites++;
      await sleep(200);
    }
    expect(failedWrites, (logs.get(1) ?? []).filter((l) => /failsafe|lease|fenc/.test(l)).join('')).toBe(0);
    expect(d1.status().lease.renewals).toBe(lastRenewal);
    expect(d1.status()).toMatchObject({ fenced: false, failsafe: true });
    expect(JSON.parse((await http(1, 'GET', '/primary')).body)).toMatchObject({ role: 'primary', failsafe: true, lease_held: true });
    expect((await http(1, 'GET', '/primary')).status).toBe(200);
    expect(existsSync(promiseFile(node(2).config))).toBe(true);

    const promote = await agent(env, ['promote', ...f(2)]);
    expect(promote.code).not.toBe(0);
    expect(promote.text).toMatch(/failsafe/);
    expect(promote.text).toContain(PROMOTE_NOT_STARTED);
    expect((await node(2).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r).toBe(true);
  }, 60_000);

  it('leaves failsafe when DynamoDB answers again, and records the episode', async () => {
    const d1 = daemons.get(1) as AgentDaemon;
    cut = false;
    await waitFor(async () => !d1.status().failsafe, 30_000);
    await waitFor(async () => (await store.listEvents('failsafe', { event: 'failsafe_left' })).length > 0, 30_000);
    const entered = await store.listEvents('failsafe', { event: 'failsafe_entered' });
    expect(entered[0]?.details).toMatch(/every active standby confirms/);
    expect(d1.status().fenced).toBe(false);
    expect(await canWrite(node(1).server, 'probe')).toBe(true);
  }, 60_000);

  it('fences the cut-off primary on time once one standby stops confirming', async () => {
    const d1 = daemons.get(1) as AgentDaemon;
    await (daemons.get(3) as AgentDaemon).stop('test: node3 goes away');
    await waitFor(async () => d1.status().lease.renewals >= 1);
    const cutAt = Date.now();
    cut = true;
    await waitFor(async () => d1.status().fenced, 30_000);
    // No renewal and no full set of confirmations since the cut: the lease ran out from the
    // latest ground at most lease_secs before, with the confirmation round time on top.
    expect(Date.now() - cutAt).toBeLessThan(3 * LEASE_SECS * 1000);
    expect(await node(1).server.isRunning()).toBe(false);
    expect(d1.status().queuedEvents).toContain('lease_lost');
    expect((logs.get(1) ?? []).join('')).toContain('no confirmation from node 3');
  }, 60_000);
});
