/**
 * `node rejoin --force-rewind` of a former primary whose server crashed (kill -9) and was then
 * fenced: pg_rewind must finish the unclean shutdown with single-user crash recovery, which
 * PostgreSQL refuses while standby.signal (written by the fence) is present. Found by the sandbox's
 * crash-primary drill.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, writeNodeConfig, type TestNode } from '../support/agent.js';

const TABLE = 'pgvigil-agent-rejoin-crashed';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
const nodes: TestNode[] = [];
const node = (id: number): TestNode => nodes[id - 1] as TestNode;
const f = (id: number): string[] => ['-f', node(id).configFile];

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  const dir = await pgs.tempDir('pgvigil-rejoin-conf-');
  const primary = await pgs.primary('node1');
  const standby = await pgs.server('node2');
  for (const [id, server] of [[1, primary], [2, standby]] as const) {
    // A short shutdown_check_timeout: the hung server below is stopped by escalation (fast, immediate, SIGKILL).
    const { configFile, config } = await writeNodeConfig(dir, { id, name: `node${id}`, server, location: 'az-a' }, TABLE, { shutdown_check_timeout: 5 });
    nodes.push({ id, name: `node${id}`, server, configFile, config });
  }
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('rejoining a crashed former primary', () => {
  it('rewinds a former primary that crashed and was fenced, and leaves it streaming from the new primary', async () => {
    for (const [args, id] of [
      [['primary', 'register'], 1],
      [['standby', 'clone', '-c'], 2],
    ] as const) {
      const r = await agent(env, [...args, ...f(id)]);
      expect(r.code, r.text).toBe(0);
    }
    await node(2).server.writeConfig();
    await node(2).server.start();
    const reg = await agent(env, ['standby', 'register', ...f(2), '--upstream-node-id', '1']);
    expect(reg.code, reg.text).toBe(0);

    // node2 stops receiving; node1 takes writes node2 never sees, then its postmaster is killed.
    const d = await agent(env, ['disconnect-wal-receiver', ...f(2), '--term', '1']);
    expect(d.code, d.text).toBe(0);
    await node(1).server.query('CREATE TABLE diverged AS SELECT g AS x FROM generate_series(1, 1000) g');
    const pid = Number(readFileSync(join(node(1).server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && (await node(1).server.isRunning()); i++) await new Promise((r) => setTimeout(r, 100));
    const fenced = await agent(env, ['fence', ...f(1), '--term', '1']);
    expect(fenced.code, fenced.text).toBe(0);

    const cluster = (await store.load(node(1).config.cluster_id))?.snapshot.cluster;
    expect((await store.updateCluster(node(1).config.cluster_id, cluster?.version ?? 0, { term: 2, primary_node_id: 2 }, Date.now())).ok).toBe(true);
    const promoted = await agent(env, ['promote', ...f(2), '--term', '2']);
    expect(promoted.code, promoted.text).toBe(0);

    const r = await agent(env, ['rejoin', ...f(1), '--force-rewind', '--term', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: NODE REJOIN successful');
    const [row] = await node(1).server.query<{ r: boolean; port: number }>('SELECT pg_is_in_recovery() AS r, (SELECT sender_port FROM pg_stat_wal_receiver) AS port');
    expect(row).toEqual({ r: true, port: node(2).server.port });
    expect(await node(1).server.query("SELECT 1 FROM pg_class WHERE relname = 'diverged'")).toEqual([]);
  });

  it('stops a fenced former primary that a restart brought back read-only, rewinds it and leaves it streaming', async () => {
    // The previous test left node2 the primary of term 2 and node1 its standby.
    await node(2).server.query('CREATE TABLE before_crash AS SELECT 1 AS x');
    const pid = Number(readFileSync(join(node(2).server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && (await node(2).server.isRunning()); i++) await new Promise((r) => setTimeout(r, 100));
    const fenced = await agent(env, ['fence', ...f(2), '--term', '2']);
    expect(fenced.code, fenced.text).toBe(0);
    const cluster = (await store.load(node(2).config.cluster_id))?.snapshot.cluster;
    expect((await store.updateCluster(node(2).config.cluster_id, cluster?.version ?? 0, { term: 3, primary_node_id: 1 }, Date.now())).ok).toBe(true);
    const promoted = await agent(env, ['promote', ...f(1), '--term', '3']);
    expect(promoted.code, promoted.text).toBe(0);

    // What systemd (or a person) does to a crashed server: start it again. The fence's
    // standby.signal keeps it read-only, but it is running, which a rejoin used to refuse forever.
    await node(2).server.start();
    const [before] = await node(2).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(before).toEqual({ r: true });

    const r = await agent(env, ['rejoin', ...f(2), '--force-rewind', '--term', '3']);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toContain('stopping it to rejoin');
    const [row] = await node(2).server.query<{ r: boolean; port: number }>('SELECT pg_is_in_recovery() AS r, (SELECT sender_port FROM pg_stat_wal_receiver) AS port');
    expect(row).toEqual({ r: true, port: node(1).server.port });
  });

  it('stops a fenced former primary whose server runs but accepts no connections, and rejoins it', async () => {
    // The previous test left node1 the primary of term 3 and node2 its standby: node1 crashes, is
    // fenced, and node2 becomes the primary of term 4.
    const pid = Number(readFileSync(join(node(1).server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && (await node(1).server.isRunning()); i++) await new Promise((r) => setTimeout(r, 100));
    const fenced = await agent(env, ['fence', ...f(1), '--term', '3']);
    expect(fenced.code, fenced.text).toBe(0);
    const cluster = (await store.load(node(1).config.cluster_id))?.snapshot.cluster;
    expect((await store.updateCluster(node(1).config.cluster_id, cluster?.version ?? 0, { term: 4, primary_node_id: 2 }, Date.now())).ok).toBe(true);
    const promoted = await agent(env, ['promote', ...f(2), '--term', '4']);
    expect(promoted.code, promoted.text).toBe(0);

    // The restarted server hangs (a stopped postmaster: connections wait and time out). The rejoin
    // used to refuse it forever as "running"; it takes no writes, so it is stopped and rejoined.
    await node(1).server.start();
    const hung = Number(readFileSync(join(node(1).server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(hung, 'SIGSTOP');
    try {
      const r = await agent(env, ['rejoin', ...f(1), '--force-rewind', '--term', '4']);
      expect(r.code, r.text).toBe(0);
      expect(r.text).toContain('accepts no connections');
    } finally {
      try {
        process.kill(hung, 'SIGCONT');
      } catch {
        // already gone: the rejoin stopped it
      }
    }
    const [row] = await node(1).server.query<{ r: boolean; port: number }>('SELECT pg_is_in_recovery() AS r, (SELECT sender_port FROM pg_stat_wal_receiver) AS port');
    expect(row).toEqual({ r: true, port: node(2).server.port });
  });

  it('refuses to stop the recorded primary although its server accepts no connections', async () => {
    // node2 is the primary of term 4: hung, it is still the record's primary, and a rejoin of it
    // toward its own standby must not stop it (only a failover may replace it).
    const pid = Number(readFileSync(join(node(2).server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGSTOP');
    try {
      const r = await agent(env, ['rejoin', ...f(2), '--force-rewind', '--upstream-node-id', '1', '--term', '4']);
      expect(r.code).not.toBe(0);
      expect(r.text).toContain('needs it stopped');
      expect(existsSync(join(node(2).server.dataDir, 'postmaster.pid'))).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const [row] = await node(2).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(row).toEqual({ r: false });
  });

  it('still refuses to rejoin a running server that accepts writes', async () => {
    // node2 is the primary of term 4. The record is made to name node1 (as if it lagged behind), so
    // only the server's own answer — writable — can stop the rejoin from stopping it.
    const cluster = (await store.load(node(2).config.cluster_id))?.snapshot.cluster;
    expect((await store.updateCluster(node(2).config.cluster_id, cluster?.version ?? 0, { primary_node_id: 1 }, Date.now())).ok).toBe(true);
    const r = await agent(env, ['rejoin', ...f(2), '--force-rewind', '--upstream-node-id', '1', '--term', '4']);
    expect(r.code).not.toBe(0);
    expect(r.text).toContain('needs it stopped');
    const [row] = await node(2).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(row).toEqual({ r: false });
  });
});
