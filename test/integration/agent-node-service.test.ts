/**
 * `pgvigil-agent node service` on a real PostgreSQL 15 primary registered in moto's state table:
 * the primary's guard (refused without --force; with it, automatic failover paused meanwhile) and
 * stop/start/reload through the agent's service layer (pg_ctl).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { agent, createTable, motoEnv, writeNodeConfig } from '../support/agent.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';

const TABLE = 'pgvigil-node-service';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let server: PostgresServer;
let f: string[];

async function startTime(): Promise<string> {
  const [row] = await server.query<{ t: string }>('SELECT pg_postmaster_start_time()::text AS t');
  return row?.t ?? '';
}

async function events(): Promise<string[]> {
  return (await store.listEvents('agent-test')).filter((e) => e.event !== 'primary_register' && e.event !== 'cluster_created').map((e) => `${e.event} ${String(e.successful)}`);
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  const dir = await pgs.tempDir('pgvigil-service-conf-');
  server = await pgs.primary('node1');
  const { configFile } = await writeNodeConfig(dir, { id: 1, name: 'node1', server }, TABLE);
  f = ['-f', configFile];
  const reg = await agent(env, ['primary', 'register', ...f]);
  expect(reg.code, reg.text).toBe(0);
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('pgvigil-agent node service', () => {
  it('refuses to restart or stop the primary without --force, and changes nothing', async () => {
    const before = await startTime();
    for (const action of ['restart', 'stop']) {
      const r = await agent(env, ['node', 'service', ...f, '--action', action]);
      expect(r.code, r.text).toBe(1);
      expect(r.text).toContain(`node 1 is the primary: "node service --action ${action}" would look to the controller like a failed primary`);
    }
    expect(await startTime()).toBe(before);
    expect((await store.load('agent-test'))?.snapshot.cluster.paused).toBe(false);
    expect(await events()).toEqual(['action_refused false', 'action_refused false']);
  });

  it('says what it would do with --dry-run and changes nothing', async () => {
    const before = await startTime();
    const r = await agent(env, ['node', 'service', ...f, '--action', 'restart', '--force', '--dry-run']);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain('would restart the local PostgreSQL server of node 1, with automatic failover paused meanwhile');
    expect(await startTime()).toBe(before);
  });

  it('restarts the primary with --force, pausing automatic failover only meanwhile', async () => {
    const before = await startTime();
    const earlier = await events();
    const r = await agent(env, ['node', 'service', ...f, '--action', 'restart', '--force', '--checkpoint']);
    expect(r.code, r.text).toBe(0);
    expect(await startTime()).not.toBe(before);
    expect((await store.load('agent-test'))?.snapshot.cluster).toMatchObject({ paused: false, paused_by: null });
    expect(await events()).toEqual([...earlier, 'cluster_paused true', 'node_service true', 'cluster_unpaused true']);
  });

  it('stops the primary with --force and leaves automatic failover paused; start brings it back; reload needs it running', async () => {
    expect((await agent(env, ['node', 'service', ...f, '--action', 'stop', '--force'])).code).toBe(0);
    expect(await server.isRunning()).toBe(false);
    expect((await store.load('agent-test'))?.snapshot.cluster.paused).toBe(true);
    const reload = await agent(env, ['node', 'service', ...f, '--action', 'reload']);
    expect(reload.code, reload.text).toBe(5);
    expect(reload.text).toContain('the local PostgreSQL server is not running: nothing to reload');
    const start = await agent(env, ['node', 'service', ...f, '--action', 'start']);
    expect(start.code, start.text).toBe(0);
    expect(start.text).toContain('automatic failover is paused: "pgvigil service unpause" resumes it');
    await server.waitReady();
    expect((await agent(env, ['node', 'service', ...f, '--action', 'reload'])).code).toBe(0);
    expect((await agent(env, ['node', 'service', ...f, '--action', 'start'])).text).toContain('the local PostgreSQL server is already running; nothing to do');
  });
});
