/**
 * `promote` and synchronous replication: a promoted server has no standby following it yet, so with
 * `sync_downgrade_after_secs` > 0 the promote itself clears synchronous_standby_names (writes flow
 * as soon as the promote returns) and saves the value for the daemon to restore; with 0 (never
 * downgrade) it leaves the setting alone. Real PostgreSQL servers run as `postgres`, moto for DynamoDB.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { SAVED_SYNC_NAMES } from '../../agent/pg/sync.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, writeNodeConfig, type TestNode } from '../support/agent.js';

const TABLE = 'pgvigil-agent-promote-sync';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
const nodes: TestNode[] = [];
const node = (id: number): TestNode => nodes[id - 1] as TestNode;
const f = (id: number): string[] => ['-f', node(id).configFile];
const SYNC = 'ANY 1 (node1, node2, node3)';

async function syncNames(id: number): Promise<string | undefined> {
  return (await node(id).server.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v"))[0]?.v;
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  const dir = await pgs.tempDir('pgvigil-promote-sync-');
  const servers = [await pgs.primary('node1'), await pgs.server('node2'), await pgs.server('node3')];
  for (const [i, server] of servers.entries()) {
    const id = i + 1;
    // node2 accepts asynchronous replication after a promotion; node3 never downgrades.
    const extra = { sync_downgrade_after_secs: id === 3 ? 0 : 10 };
    const { configFile, config } = await writeNodeConfig(dir, { id, name: `node${id}`, server }, TABLE, extra);
    nodes.push({ id, name: `node${id}`, server, configFile, config });
  }
  expect((await agent(env, ['primary', 'register', ...f(1)])).code).toBe(0);
  for (const id of [2, 3]) {
    const clone = await agent(env, ['standby', 'clone', ...f(id), '-c']);
    expect(clone.code, clone.text).toBe(0);
    await node(id).server.writeConfig();
    await node(id).server.start();
    expect((await agent(env, ['standby', 'register', ...f(id)])).code).toBe(0);
    // The setting every node carries for when it is primary (as the sandbox and a repmgr setup do).
    await node(id).server.query(`ALTER SYSTEM SET synchronous_standby_names = '${SYNC}'`);
    await node(id).server.query('SELECT pg_reload_conf()');
  }
}, 120_000);

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('promote with synchronous replication configured', () => {
  it('clears synchronous_standby_names before returning when sync_downgrade_after_secs > 0, saving it for the daemon to restore', async () => {
    expect(await syncNames(2)).toBe(SYNC);
    const r = await agent(env, ['promote', ...f(2)]);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr.join('\n')).toContain(`synchronous_standby_names "${SYNC}" cleared until a synchronous standby has caught up`);
    expect(await syncNames(2)).toBe('');
    expect(readFileSync(join(node(2).server.dataDir, SAVED_SYNC_NAMES), 'utf8').trim()).toBe(SYNC);
    // Writes are acknowledged at once although no standby follows the new primary.
    await node(2).server.query('CREATE TABLE written_right_after_promote (x int)');
    const events = await store.listEvents('agent-test', { event: 'sync_downgraded' });
    expect(events.map((e) => [e.node_id, e.successful])).toEqual([[2, true]]);
  });

  it('leaves synchronous_standby_names alone when sync_downgrade_after_secs = 0 (never downgrade)', async () => {
    const r = await agent(env, ['promote', ...f(3)]);
    expect(r.code, r.text).toBe(0);
    expect(await syncNames(3)).toBe(SYNC);
    expect((await store.listEvents('agent-test', { event: 'sync_downgraded' })).map((e) => e.node_id)).toEqual([2]);
  });
});
