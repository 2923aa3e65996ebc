/**
 * repmgr's failover_validation_command, run by `promote` on the candidate of an automatic
 * failover: a non-zero exit must leave the standby in recovery; zero lets the promotion go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { Operation } from '../../core/model.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, writeNodeConfig, type TestNode } from '../support/agent.js';
import { PROMOTE_NOT_STARTED } from '../../core/host-actions.js';

const TABLE = 'pgvigil-agent-validation';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let dir: string;
let primary: TestNode;
let standby: TestNode;

async function claimFailover(kind: Operation['kind']): Promise<number> {
  const cluster = (await store.load('agent-test'))?.snapshot.cluster;
  if (!cluster) throw new Error('no cluster');
  const term = cluster.term + 1;
  const now = Date.now();
  const operation: Operation = { id: `op-${term}`, kind, term, candidate_node_id: 2, old_primary_node_id: 1, step: 'promote', owner: 'test', deadline: now + 60_000, started_at: now, data: {} };
  expect((await store.updateCluster('agent-test', cluster.version, { term, primary_node_id: 2, operation }, now)).ok).toBe(true);
  return term;
}

async function inRecovery(): Promise<boolean> {
  const rows = await standby.server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
  return rows[0]?.r === true;
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  dir = await pgs.tempDir('pgvigil-validation-');
  const p = await pgs.primary('v1');
  const s = await pgs.server('v2');
  const marker = join(dir, 'validated');
  primary = { id: 1, name: 'v1', server: p, ...(await writeNodeConfig(dir, { id: 1, name: 'v1', server: p }, TABLE)) };
  standby = {
    id: 2,
    name: 'v2',
    server: s,
    ...(await writeNodeConfig(dir, { id: 2, name: 'v2', server: s }, TABLE, {
      // Refuses while fewer than 3 nodes are visible, and leaves what it was given in a file.
      failover_validation_command: `echo "%n %a %v %t" > ${marker}; test %v -ge 3`,
    })),
  };
  expect((await agent(env, ['primary', 'register', '-f', primary.configFile])).code).toBe(0);
  expect((await agent(env, ['standby', 'clone', '-f', standby.configFile, '-c'])).code).toBe(0);
  await s.writeConfig();
  await s.start();
  expect((await agent(env, ['standby', 'register', '-f', standby.configFile])).code).toBe(0);
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('promote with failover_validation_command', () => {
  it('keeps the standby in recovery and records repmgrd_failover_aborted when the command fails', async () => {
    const term = await claimFailover('failover');
    const r = await agent(env, ['promote', '-f', standby.configFile, '--term', String(term)]);
    expect(r.code, r.text).toBe(8);
    expect(r.text).toMatch(/failover validation command returned 1: not promoting/);
    // It refused before pg_promote(), and says so: the controller may roll back (core/host-actions.ts).
    expect(r.text).toContain(PROMOTE_NOT_STARTED);
    // Placeholders: node id, node name, visible nodes (only itself: no heartbeats yet), total nodes.
    expect((await readFile(join(dir, 'validated'), 'utf8')).trim()).toBe('2 v2 1 2');
    expect(await inRecovery()).toBe(true);
    const aborted = await store.listEvents('agent-test', { event: 'repmgrd_failover_aborted' });
    expect(aborted.map((e) => [e.node_id, e.successful, e.term])).toEqual([[2, false, term]]);
  });

  it('does not run the command for a switchover, only for an automatic failover', async () => {
    await rm(join(dir, 'validated'));
    const term = await claimFailover('switchover');
    const r = await agent(env, ['promote', '-f', standby.configFile, '--term', String(term)]);
    expect(r.code, r.text).toBe(0);
    expect(r.text).not.toContain('failover_validation_command');
    expect(existsSync(join(dir, 'validated'))).toBe(false);
    expect(await inRecovery()).toBe(false);
  });
});
