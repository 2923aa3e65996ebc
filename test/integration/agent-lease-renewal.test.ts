/**
 * The lease renewal's own path, tried against what made healthy primaries fence themselves: a
 * heartbeat write that hangs, a renewal that never answers, network blips that swallow requests,
 * and a cluster record that moved on. Real PostgreSQL and DynamoDB on moto; the slowness comes
 * from a wrapper that holds chosen store calls, or from a proxy in front of moto that stops
 * delivering packets (the agent's own SDK clients and their time limits then do the rest).
 *
 * "On time" is the safety rule of docs/agent.md: the server accepts no write later than lease_secs
 * after the last successful renewal was sent, the earliest the controller could count the lease
 * expired (it adds clock_skew_margin_ms on top).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { jsonLogger } from '../../agent/log.js';
import { createLeaseStore, createStore } from '../../agent/store.js';
import type { AgentConfig } from '../../agent/config.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { ClusterStateStore, RequestOptions, WriteResult } from '../../core/ports.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { BlackholeProxy } from '../support/blackhole-proxy.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, canWrite, createTable, motoEnv, waitFor, writeNodeConfig } from '../support/agent.js';

const TABLE = 'pgvigil-agent-lease-renewal';
const LEASE_SECS = 4;
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;

interface Primary {
  clusterId: string;
  server: PostgresServer;
  config: AgentConfig;
  logs: string[];
  writable: () => Promise<boolean>;
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A registered primary of a cluster of its own (each test fences or breaks one). */
async function primary(name: string): Promise<Primary> {
  const server = await pgs.primary(name);
  await server.query('CREATE TABLE probe (x int)');
  const dir = await pgs.tempDir(`pgvigil-${name}-`);
  const { config, configFile } = await writeNodeConfig(dir, { id: 1, name, server }, TABLE, {
    cluster_id: name,
    lease_secs: LEASE_SECS,
    monitor_interval_secs: 1,
    heartbeat_interval_secs: 1,
    shutdown_check_timeout: 10,
  });
  const r = await agent(env, ['primary', 'register', '-f', configFile]);
  expect(r.code, r.text).toBe(0);
  return { clusterId: name, server, config, logs: [], writable: () => canWrite(server, 'probe') };
}

function daemon(p: Primary, stores: { store: ClusterStateStore; leaseStore?: ClusterStateStore }): AgentDaemon {
  return new AgentDaemon({ config: p.config, ...stores, log: jsonLogger({ level: 'DEBUG', write: (l) => void p.logs.push(l) }) });
}

async function leaseRvn(clusterId: string): Promise<string | undefined> {
  return (await store.load(clusterId))?.snapshot.cluster.lease?.rvn;
}

/** Writes as a client would, every 50 ms, until stopped; returns when the last one was acknowledged. */
function writer(p: Primary): { stop: () => Promise<number> } {
  let running = true;
  let lastAck = -Infinity;
  const loop = (async () => {
    while (running) {
      if (await p.writable()) lastAck = performance.now();
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return lastAck;
    },
  };
}

/** Runs `d` until its server is fenced; checks the fence came on time and says why. */
async function expectFencedOnTime(p: Primary, d: AgentDaemon, w: { stop: () => Promise<number> }): Promise<void> {
  await waitFor(async () => d.status().fenced, 30_000);
  const lastAck = await w.stop();
  const lastRenewalSent = d.status().lease.lastSentMono;
  expect(lastRenewalSent).not.toBeNull();
  expect(lastAck - (lastRenewalSent as number), p.logs.filter((l) => /lease|fenc/.test(l)).join('')).toBeLessThanOrEqual(LEASE_SECS * 1000);
  expect(await p.server.isRunning()).toBe(false);
  expect(existsSync(join(p.server.dataDir, 'pgvigil.fence'))).toBe(true);
  // Queued, or already written by the publisher (when the store still takes events).
  await waitFor(async () => d.status().queuedEvents.includes('lease_lost') || (await store.listEvents(p.clusterId, { event: 'lease_lost' })).length > 0, 10_000);
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('the lease renewal on a path of its own', () => {
  it('keeps the lease while every heartbeat write hangs: a stuck publisher never delays a renewal', async () => {
    const p = await primary('hb-hangs');
    let heartbeatCalls = 0;
    const hanging: ClusterStateStore = Object.assign(Object.create(store) as ClusterStateStore, {
      putHeartbeat: async () => {
        heartbeatCalls++;
        return never<void>();
      },
    });
    const d = daemon(p, { store: hanging, leaseStore: store });
    await d.start();
    try {
      await waitFor(async () => (await leaseRvn(p.clusterId)) !== undefined);
      const rvns = new Set<string>();
      const until = performance.now() + 3 * LEASE_SECS * 1000;
      while (performance.now() < until) {
        rvns.add((await leaseRvn(p.clusterId)) ?? '');
        await sleep(500);
      }
      expect(heartbeatCalls).toBe(1); // the first round hung, and no other could start
      expect(d.status().heartbeatsWritten).toBe(0);
      expect(rvns.size).toBeGreaterThanOrEqual(8);
      expect(d.status().fenced).toBe(false);
      expect(await p.writable()).toBe(true);
    } finally {
      await d.stop('test');
    }
  });

  it('fences on time when its renewals stop answering, each attempt aborted at its time limit', async () => {
    const p = await primary('renew-hangs');
    let hang = false;
    let signals: AbortSignal[] = [];
    const leaseStore: ClusterStateStore = Object.assign(Object.create(store) as ClusterStateStore, {
      renewLease: async (c: string, n: number, term: number, rvn: string, now: number, options?: RequestOptions): Promise<WriteResult> => {
        if (!hang) return store.renewLease(c, n, term, rvn, now, options);
        if (options?.abortSignal) signals.push(options.abortSignal);
        return never(); // and it does not even listen to the abort
      },
    });
    const d = daemon(p, { store, leaseStore });
    await d.start();
    const w = writer(p);
    try {
      await waitFor(async () => d.status().lease.renewals >= 2);
      expect(await p.writable()).toBe(true);
      signals = [];
      hang = true;
      await expectFencedOnTime(p, d, w);
      expect(d.status().lease.abandoned).toBeGreaterThanOrEqual(2);
      expect(signals.filter((s) => s.aborted).length).toBeGreaterThanOrEqual(2);
    } finally {
      await w.stop();
      await d.stop('test');
    }
  });

  it('fences when a renewal is refused because the cluster moved on to another primary at a newer term', async () => {
    const p = await primary('moved-on');
    // The heartbeat publisher's reads hang: only the refused renewal can tell the lease path.
    const stuck: ClusterStateStore = Object.assign(Object.create(store) as ClusterStateStore, { load: async () => never() });
    const d = daemon(p, { store: stuck, leaseStore: store });
    await d.start();
    const w = writer(p);
    try {
      await waitFor(async () => d.status().lease.renewals >= 2);
      const cluster = (await store.load(p.clusterId))?.snapshot.cluster;
      expect((await store.updateCluster(p.clusterId, cluster?.version ?? 0, { term: (cluster?.term ?? 1) + 1, primary_node_id: 2 }, Date.now())).ok).toBe(true);
      await expectFencedOnTime(p, d, w);
      expect(d.status().lease.refusals).toBe(1);
      expect(p.logs.join('')).toContain('lease renewal refused: the cluster record changed');
    } finally {
      await w.stop();
      await d.stop('test');
    }
  });
});

describe('the lease renewal through a network that drops packets (the agent\'s own SDK clients)', () => {
  let proxy: BlackholeProxy;

  beforeAll(async () => {
    proxy = await BlackholeProxy.start({ host: '127.0.0.1', port: moto.port });
  });

  afterAll(async () => {
    await proxy?.close();
  });

  function throughProxy(p: Primary): AgentDaemon {
    const proxied = { ...env, AWS_ENDPOINT_URL: proxy.endpoint };
    return daemon(p, { store: createStore(p.config, proxied), leaseStore: createLeaseStore(p.config, proxied) });
  }

  it('keeps the lease through the flapping drill\'s blips (0.8 s without a packet, five times)', async () => {
    const p = await primary('blips');
    const d = throughProxy(p);
    await d.start();
    try {
      await waitFor(async () => d.status().lease.renewals >= 2);
      for (let i = 0; i < 5; i++) {
        proxy.hold();
        await sleep(800);
        proxy.pass();
        await sleep(1500);
      }
      await sleep(LEASE_SECS * 1000);
      expect(d.status().fenced, p.logs.filter((l) => /lease|fenc/.test(l)).join('')).toBe(false);
      expect(await p.writable()).toBe(true);
    } finally {
      proxy.pass();
      await d.stop('test');
    }
  });

  it('fences on time when DynamoDB stops answering for good: each request is abandoned at its time limit and retried on a new connection', async () => {
    const p = await primary('silent');
    const d = throughProxy(p);
    await d.start();
    const w = writer(p);
    try {
      await waitFor(async () => d.status().lease.renewals >= 2);
      const connections = proxy.connections;
      proxy.hold();
      await expectFencedOnTime(p, d, w);
      expect(d.status().lease.abandoned).toBeGreaterThanOrEqual(2);
      expect(proxy.connections - connections).toBeGreaterThanOrEqual(2);
    } finally {
      await w.stop();
      proxy.pass();
      await d.stop('test');
    }
  });
});
