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
    const extra = { sync_downgrade_after_secs: id === 3 ? 0 : 10, wal_receive_check_timeout: 1 };
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

/** The controller's switchover saga as the agent sees it: a claimed term and the demoted primary's final LSN. */
async function claimSwitchover(candidate: number, finalLsn: string): Promise<number> {
  const cluster = (await store.load('agent-test'))?.snapshot.cluster;
  if (!cluster) throw new Error('no cluster record');
  const term = cluster.term + 1;
  const operation = { id: `switchover-${term}`, kind: 'switchover' as const, term, candidate_node_id: candidate, old_primary_node_id: 1, step: 'promote', owner: 'test', deadline: Date.now() + 60_000, started_at: Date.now(), data: { final_lsn: finalLsn } };
  expect((await store.updateCluster('agent-test', cluster.version, { term, operation }, Date.now())).ok).toBe(true);
  return term;
}

async function endOperation(): Promise<void> {
  const cluster = (await store.load('agent-test'))?.snapshot.cluster;
  expect((await store.updateCluster('agent-test', cluster?.version ?? 0, { operation: null }, Date.now())).ok).toBe(true);
}

async function inRecovery(id: number): Promise<boolean | undefined> {
  return (await node(id).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r;
}

describe('promote as the candidate of a switchover', () => {
  it("refuses, changing nothing, while the standby has not received the demoted primary's final LSN", async () => {
    const term = await claimSwitchover(2, 'FF/0');
    const r = await agent(env, ['promote', ...f(2), '--term', String(term)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.join('\n')).toMatch(/STANDBY PROMOTE refused: this standby is missing WAL the old primary wrote/);
    expect(r.stderr.join('\n')).toMatch(/not the demoted primary's final LSN FF\/0, within wal_receive_check_timeout=1s/);
    expect(await inRecovery(2)).toBe(true);
    expect(await syncNames(2)).toBe(SYNC);
    const refused = await store.listEvents('agent-test', { event: 'standby_promote' });
    expect(refused.map((e) => [e.node_id, e.successful])).toEqual([[2, false]]);
    await endOperation();
  });
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
    expect((await store.listEvents('agent-test', { event: 'standby_promote' })).map((e) => [e.node_id, e.successful])).toEqual([[2, false], [2, true]]);
  });

  it('leaves synchronous_standby_names alone when sync_downgrade_after_secs = 0 (never downgrade); a switchover candidate holding the final LSN promotes', async () => {
    // node3 still streams from node1: the position it has received is the "final LSN" of a demote.
    const [rx] = await node(3).server.query<{ lsn: string }>('SELECT pg_last_wal_receive_lsn()::text AS lsn');
    const term = await claimSwitchover(3, rx?.lsn ?? '0/0');
    const r = await agent(env, ['promote', ...f(3), '--term', String(term)]);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr.join('\n')).toContain(`the standby has received the demoted primary's final LSN ${rx?.lsn}`);
    expect(await inRecovery(3)).toBe(false);
    expect(await syncNames(3)).toBe(SYNC);
    expect((await store.listEvents('agent-test', { event: 'sync_downgraded' })).map((e) => e.node_id)).toEqual([2]);
  });
});
