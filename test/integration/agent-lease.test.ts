/**
 * The primary's lease and self-fencing (docs/agent.md) with a real PostgreSQL server and DynamoDB on
 * moto: the agent renews the lease while it is the primary, fences its server when DynamoDB is
 * unreachable for lease_secs, and a fenced or superseded primary is never started as a primary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { jsonLogger } from '../../agent/log.js';
import { createStore } from '../../agent/store.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, canWrite, createTable, motoEnv, waitFor, writeNodeConfig } from '../support/agent.js';
import type { AgentConfig } from '../../agent/config.js';

const TABLE = 'pgvigil-agent-lease';
const LEASE_SECS = 4;
const MONITOR_SECS = 1;
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let server: PostgresServer;
let config: AgentConfig;
let configFile: string;
const logs: string[] = [];

function daemon(): AgentDaemon {
  return new AgentDaemon({ config, store: createStore(config, env), log: jsonLogger({ level: 'DEBUG', write: (l) => void logs.push(l) }) });
}

/** Can a client write to the server right now? */
const writable = (): Promise<boolean> => canWrite(server, 'lease_probe');

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  server = await pgs.primary('lease1');
  await server.query('CREATE TABLE lease_probe (x int)');
  const dir = await pgs.tempDir('pgvigil-lease-conf-');
  ({ config, configFile } = await writeNodeConfig(dir, { id: 1, name: 'lease1', server }, TABLE, {
    lease_secs: LEASE_SECS,
    monitor_interval_secs: MONITOR_SECS,
    heartbeat_interval_secs: 1,
    shutdown_check_timeout: 10,
  }));
  expect((await agent(env, ['primary', 'register', '-f', configFile])).code).toBe(0);
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('agent lease and self-fencing', () => {
  it('fences a running primary at start when the cluster has moved on to another primary', async () => {
    const before = (await store.load('agent-test'))?.snapshot.cluster;
    expect((await store.updateCluster('agent-test', before?.version ?? 0, { term: 2, primary_node_id: 2 }, Date.now())).ok).toBe(true);
    const d = daemon();
    await d.start();
    await d.stop('test');
    expect(await server.isRunning()).toBe(false);
    expect(existsSync(join(server.dataDir, 'pgvigil.fence'))).toBe(true);
    // Switchover rollback: the cluster names node 1 primary again, and unfence starts it as primary.
    const now = (await store.load('agent-test'))?.snapshot.cluster;
    expect((await store.updateCluster('agent-test', now?.version ?? 0, { term: 3, primary_node_id: 1 }, Date.now())).ok).toBe(true);
    const u = await agent(env, ['unfence', '-f', configFile, '--term', '3']);
    expect(u.code, u.text).toBe(0);
    expect(await writable()).toBe(true);
  });

  it('renews the lease with a new RVN at every renewal while it is the primary', async () => {
    const d = daemon();
    await d.start();
    try {
      const rvns = new Set<string>();
      await waitFor(async () => {
        const lease = (await store.load('agent-test'))?.snapshot.cluster.lease;
        if (lease?.holder_node_id === 1 && lease.term === 3) rvns.add(lease.rvn);
        return rvns.size >= 3;
      });
      expect(rvns.size).toBeGreaterThanOrEqual(3);
    } finally {
      await d.stop('test');
    }
  });

  it('stops accepting writes within lease_secs + one monitor interval of DynamoDB becoming unreachable, and a restarted agent does not bring it back as primary', async () => {
    const d = daemon();
    await d.start();
    await waitFor(async () => (await store.load('agent-test'))?.snapshot.cluster.lease?.holder_node_id === 1);
    expect(await writable()).toBe(true);
    await moto.stop();
    const cut = performance.now();
    let lastWrite = cut;
    while (performance.now() - cut < (LEASE_SECS + MONITOR_SECS + 10) * 1000) {
      if (!(await writable())) break;
      lastWrite = performance.now();
      await new Promise((r) => setTimeout(r, 100));
    }
    const elapsedMs = lastWrite - cut;
    expect(await writable()).toBe(false);
    expect(elapsedMs).toBeLessThanOrEqual((LEASE_SECS + MONITOR_SECS) * 1000);
    await waitFor(async () => d.status().fenced);
    expect(d.status().queuedEvents).toContain('lease_lost');
    expect(await server.isRunning()).toBe(false);
    await d.stop('test');

    // A new agent (DynamoDB still down) never starts the server, and still holds the unsent event.
    const again = daemon();
    await again.start();
    expect(again.status().queuedEvents).toContain('lease_lost');
    await new Promise((r) => setTimeout(r, 3 * MONITOR_SECS * 1000));
    expect(await server.isRunning()).toBe(false);
    // Even started by hand (or by systemd's postgresql unit), the fenced server comes up read-only.
    await server.start();
    const [row] = await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(row?.r).toBe(true);
    expect(await writable()).toBe(false);
    await new Promise((r) => setTimeout(r, 2 * MONITOR_SECS * 1000));
    expect(again.status().lastServer).toMatchObject({ accepting_connections: true, in_recovery: true, fenced: true });
    // Someone removes standby.signal and starts it as a primary: the marker still holds, the agent stops it.
    await server.stop('fast');
    await rm(join(server.dataDir, 'standby.signal'));
    await server.start();
    await waitFor(async () => !(await server.isRunning()), 15_000);
    expect(existsSync(join(server.dataDir, 'standby.signal'))).toBe(true);
    await again.stop('test');
  });
});
