/**
 * `pgvigil-agent node startup`, the boot guard systemd runs before PostgreSQL starts
 * (deploy/systemd/postgresql.service.d/): the deployed bundle against a real PostgreSQL 15 data
 * directory and DynamoDB on a private moto server. The tests run in order on one node, whose
 * server is stopped between them as it is at boot.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { FENCE_FILE } from '../../agent/fence.js';
import { freePort, startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { createTable, motoEnv, runBundle, writeNodeConfig } from '../support/agent.js';

const TABLE = 'pgvigil-agent-node-startup';
const CLUSTER = 'agent-test';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let server: PostgresServer;
let dir: string;
let configFile: string;

const marker = (): string => join(server.dataDir, FENCE_FILE);
const standbySignal = (): string => join(server.dataDir, 'standby.signal');
const startup = (file = configFile, withEnv = env) => runBundle(withEnv, ['node', 'startup', '-f', file]);

async function inRecovery(): Promise<boolean | undefined> {
  return (await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r;
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  dir = await pgs.tempDir('pgvigil-node-startup-');
  server = await pgs.primary('node1');
  configFile = (await writeNodeConfig(dir, { id: 1, name: 'node1', server }, TABLE)).configFile;
}, 60_000);

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('node startup, before PostgreSQL starts at boot', () => {
  it("leaves the term's own primary unchanged, and it starts writable", async () => {
    const reg = await runBundle(env, ['primary', 'register', '-f', configFile]);
    expect(reg.code, reg.text).toBe(0);
    await server.stop('fast');

    const r = await startup();
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(`NOTICE: cluster "${CLUSTER}" has node 1 as primary at term 1; nothing to do`);
    expect(existsSync(marker())).toBe(false);
    expect(existsSync(standbySignal())).toBe(false);
    await server.start();
    expect(await inRecovery()).toBe(false);
    await server.stop('fast');
  });

  it('changes nothing when the cluster cannot be read on a first boot (its agent never ran here), says so and exits 0', async () => {
    // From here on the cluster has moved on to node 2: a read would fence node 1.
    const cluster = (await store.load(CLUSTER))?.snapshot.cluster;
    expect((await store.updateCluster(CLUSTER, cluster?.version ?? 0, { term: 2, primary_node_id: 2 }, Date.now())).ok).toBe(true);

    const closed = { ...env, AWS_ENDPOINT_URL: `http://127.0.0.1:${await freePort()}` };
    const r = await startup(configFile, closed);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(/WARNING: unable to read cluster "agent-test" within 10 s .*; node 1 starts unchanged: its agent has never run here/);
    expect(existsSync(marker())).toBe(false);
    expect(existsSync(standbySignal())).toBe(false);
  });

  it('holds a node whose agent has run here read-only when the cluster cannot be read: it cannot confirm it is still the primary', async () => {
    const state = join(dir, 'agent-1.json');
    await writeFile(state, JSON.stringify({ seq: 7, events: [] }));
    try {
      const closed = { ...env, AWS_ENDPOINT_URL: `http://127.0.0.1:${await freePort()}` };
      const r = await startup(configFile, closed);
      expect(r.code, r.text).toBe(0);
      expect(r.text).toMatch(/WARNING: unable to read cluster "agent-test" within 10 s .*; node 1 will start read-only \(standby.signal\)/);
      expect(existsSync(marker())).toBe(true);
      expect(existsSync(standbySignal())).toBe(true);
      await server.start();
      expect(await inRecovery()).toBe(true);
      await server.stop('fast');
    } finally {
      await rm(state, { force: true });
      await rm(marker(), { force: true });
      await rm(standbySignal(), { force: true });
    }
  });

  it('changes nothing when standby.signal is present: the server starts as a standby', async () => {
    await writeFile(standbySignal(), '');
    try {
      const r = await startup();
      expect(r.code, r.text).toBe(0);
      expect(r.text).toContain('NOTICE: standby.signal is present: node 1 starts as a standby; nothing to do');
      expect(existsSync(marker())).toBe(false);
    } finally {
      await rm(standbySignal());
    }
  });

  it('refuses to start PostgreSQL while a rejoin works on the data directory (a start-block naming a live process), changing nothing; a stale block holds nothing off', async () => {
    const block = join(dir, 'start-block');
    await writeFile(block, `${process.pid}\n`);
    try {
      const r = await startup();
      expect(r.code, r.text).toBe(4);
      expect(r.text).toContain(`ERROR: not starting PostgreSQL on node 1: a rejoin (pid ${process.pid}) is working on its data directory and starts the server itself when done`);
      expect(existsSync(marker())).toBe(false);
      expect(existsSync(standbySignal())).toBe(false);
      // The rejoin was killed half-way: its pid is gone, and the guard judges the node as usual.
      await writeFile(block, `${spawnSync('true').pid}\n`);
      const stale = await startup();
      expect(stale.code, stale.text).toBe(0);
      expect(stale.text).toContain('NOTICE: node 1 will start read-only, fenced (standby.signal)');
    } finally {
      await rm(block, { force: true });
      await rm(marker(), { force: true });
      await rm(standbySignal(), { force: true });
    }
  });

  it('refuses a bad configuration with an error naming the file and key, and writes nothing (nor prints the password)', async () => {
    const bad = join(dir, 'bad.conf');
    const text = (await readFile(configFile, 'utf8')).replace(/^lease_secs=.*$/m, 'lease_secs=soon').replace(/^conninfo='(.*)'$/m, "conninfo='$1 password=s3cret-pw'");
    expect(text).toContain('s3cret-pw');
    await writeFile(bad, text);
    const r = await startup(bad);
    expect(r.code).toBe(1);
    expect(r.text).toContain(bad);
    expect(r.text).toContain('lease_secs');
    expect(r.text).not.toContain('s3cret-pw');
    expect(existsSync(marker())).toBe(false);
    expect(existsSync(standbySignal())).toBe(false);
  });

  it('has nothing to do when the data directory does not exist', async () => {
    const { configFile: missing } = await writeNodeConfig(dir, { id: 3, name: 'node3', server }, TABLE, { data_directory: join(dir, 'no-such-data') });
    const r = await startup(missing);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain(`NOTICE: data directory "${join(dir, 'no-such-data')}" does not exist; nothing to do`);
  });

  it('holds a former primary the cluster has replaced read-only, while the rejoin that started its instance is in flight: fence marker written, and pg_ctl start brings it up in recovery', async () => {
    // What the controller's auto_rejoin does: a rejoin of node 1 claims the cluster, then starts its instance.
    const cluster = (await store.load(CLUSTER))?.snapshot.cluster;
    const now = Date.now();
    const rejoin = { id: 'rejoin-1', kind: 'rejoin' as const, term: 2, candidate_node_id: 1, old_primary_node_id: 1, step: 'start_instance', owner: 'test', deadline: now + 600_000, started_at: now, data: {} };
    expect((await store.updateCluster(CLUSTER, cluster?.version ?? 0, { operation: rejoin }, now)).ok).toBe(true);
    const since = Date.now();
    const r = await startup();
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain('NOTICE: node 1 will start read-only, fenced (standby.signal): cluster "agent-test" has node 2 as primary at term 2');
    expect(JSON.parse(await readFile(marker(), 'utf8'))).toMatchObject({ reason: 'superseded', term: 2, created_standby_signal: true });
    expect(existsSync(standbySignal())).toBe(true);
    const events = await store.listEvents(CLUSTER, { event: 'fence_applied', sinceMs: since });
    expect(events.map((e) => [e.node_id, e.successful, e.term])).toEqual([[1, true, 2]]);

    await server.start();
    expect(await inRecovery()).toBe(true);
  });
});
