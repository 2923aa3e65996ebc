/**
 * A standby that really falls behind, and the reader route: a PostgreSQL primary and two streaming
 * standbys run as `postgres`, DynamoDB on moto, each node's daemon in this process serving the
 * agent API on a loopback port, and writes flowing on the primary throughout. One standby's replay
 * is paused, the other's delayed with `recovery_min_apply_delay`, so their byte and time lag grow
 * past the bounds while their WAL receivers keep streaming; then they are let go and catch up.
 *
 * What must hold (docs/agent.md, "The HTTP API"): `/replica?lag=` answers 503 from the first lag
 * figure taken after the lag crossed the bound (a lag sample, every `rest_api_lag_sample_ms`, or a
 * monitoring tick) and 200 from the first one after it caught up; the sandbox's reader route
 * (sandbox/routes.ts), checking `/replica?lag=` as the NLB's reader target group does, drops the
 * standby at the first check round that gets such an answer, closes the connections it had there,
 * never drops a standby whose lag moves about below the bound, and sends it new connections again
 * once it answers 200.
 *
 * "The first figure after" is counted, not measured in seconds: a sample (or tick) that started
 * after the test saw the lag past the bound has ended once the count has grown by two (one runs
 * at a time). Node 3 runs no monitoring tick after its first (monitor_interval_secs=3600), so every
 * change of its answers is a lag sample's.
 */
import { request } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { jsonLogger } from '../../agent/log.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { freePort } from '../../sandbox/ports.js';
import { HealthRoute, SANDBOX_READER_HEALTH_CHECK, type RouteTarget } from '../../sandbox/routes.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, waitFor, writeNodeConfig, type TestNode } from '../support/agent.js';

const TABLE = 'pgvigil-reader-lag';
const BYTES_BOUND = 1024 * 1024;
const SECS_BOUND = 2;
/** Commits of 64 kB a standby falls behind by, one step after another, all below BYTES_BOUND (16 × 64 kB). */
const HOVER_STEPS = [4, 14, 8, 13, 2, 14];
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
const nodes: TestNode[] = [];
const apiPorts = new Map<number, number>();
const daemons = new Map<number, AgentDaemon>();
const node = (id: number): TestNode => nodes[id - 1] as TestNode;
const daemon = (id: number): AgentDaemon => daemons.get(id) as AgentDaemon;

/** Node 3's monitoring ticks once started: no more may run (see the header). */
let node3Ticks = 0;
let writing = false;
/** The background writes wait while this is set (the test writes exactly what it needs). */
let held = false;
let writer: Promise<void> = Promise.resolve();

/** Starts the writes on the primary, once; they flow until the end of the file. */
function startWriting(): void {
  if (writing) return;
  writing = true;
  writer = writeLoad();
}

/** A transactional message: ~64 kB of WAL and a commit record (which sets the replay timestamp), no table growth. */
const COMMIT_64K = "SELECT pg_logical_emit_message(true, 'pgvigil-test', repeat('x', 65536))";

/** Commits of ~64 kB of WAL each, back to back with a short pause, until told to stop. */
async function writeLoad(): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: node(1).server.port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    while (writing) {
      if (!held) await client.query(COMMIT_64K);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

function api(id: number, path: string): Promise<{ status: number; body: { lag?: { bytes: number | null; secs: number | null } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: apiPorts.get(id), path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { lag?: { bytes: number | null; secs: number | null } } }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Resolves once node `id`'s agent answers from a lag figure taken wholly after this call: a lag
 * sample or a monitoring tick that started after it (the count has grown by two; one runs at a time).
 */
async function nextFreshAnswer(id: number): Promise<void> {
  const from = daemon(id).status();
  await waitFor(async () => {
    const now = daemon(id).status();
    return now.lagSamples >= from.lagSamples + 2 || now.ticks >= from.ticks + 2;
  }, 30_000, 10).catch(() => {
    throw new Error(`node ${id}'s agent took no lag sample and ran no tick within 30 s: its answers stayed as old as before`);
  });
}

/** Sets node `id`'s recovery_min_apply_delay (empty: resets it) and reloads. */
async function applyDelay(id: number, delay: string): Promise<void> {
  await node(id).server.query(delay === '' ? 'ALTER SYSTEM RESET recovery_min_apply_delay' : `ALTER SYSTEM SET recovery_min_apply_delay = '${delay}'`);
  await node(id).server.query('SELECT pg_reload_conf()');
}

/** What the standby has not replayed, in bytes behind the primary's current position and in seconds. */
async function groundTruth(id: number): Promise<{ bytes: number; secs: number }> {
  const [p] = await node(1).server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const [s] = await node(id).server.query<{ bytes: string; secs: number | null }>(
    `SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text AS bytes,
            EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS secs`,
    [p?.lsn],
  );
  return { bytes: Number(s?.bytes), secs: s?.secs ?? Infinity };
}

/** Has node `id` received (or replayed) everything the primary has written? */
async function hasAll(id: number, what: 'receive' | 'replay'): Promise<boolean> {
  const [p] = await node(1).server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const [s] = await node(id).server.query<{ ok: boolean }>(`SELECT pg_last_wal_${what}_lsn() >= $1::pg_lsn AS ok`, [p?.lsn]);
  return s?.ok === true;
}

const behind = async (id: number): Promise<boolean> => {
  const g = await groundTruth(id);
  return g.bytes > 2 * BYTES_BOUND && g.secs > SECS_BOUND + 1;
};
const caughtUp = async (id: number): Promise<boolean> => {
  const g = await groundTruth(id);
  return g.bytes < BYTES_BOUND / 4 && g.secs < SECS_BOUND / 2;
};

beforeAll(async () => {
  // Moto starts while the primary is created, and the standbys are cloned side by side: this file
  // must stay cheap.
  const motoStarted = startMoto();
  const dir = await pgs.tempDir('pgvigil-reader-lag-');
  const servers = [await pgs.primary('node1'), await pgs.server('node2'), await pgs.server('node3')];
  moto = await motoStarted;
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  for (const [i, server] of servers.entries()) {
    const id = i + 1;
    apiPorts.set(id, await freePort());
    const extra = {
      cluster_id: 'reader',
      heartbeat_interval_secs: 1,
      rest_api_listen: `127.0.0.1:${apiPorts.get(id)}`,
      failsafe_mode: false,
      ...(id === 3 ? { monitor_interval_secs: 3600 } : {}),
    };
    const { configFile, config } = await writeNodeConfig(dir, { id, name: `node${id}`, server }, TABLE, extra);
    nodes.push({ id, name: `node${id}`, server, configFile, config });
  }
  expect((await agent(env, ['primary', 'register', '-f', node(1).configFile])).code).toBe(0);
  await Promise.all(
    [2, 3].map(async (id) => {
      const clone = await agent(env, ['standby', 'clone', '-f', node(id).configFile, '-c']);
      expect(clone.code, clone.text).toBe(0);
      await node(id).server.writeConfig();
      await node(id).server.start();
      const register = await agent(env, ['standby', 'register', '-f', node(id).configFile]);
      expect(register.code, register.text).toBe(0);
    }),
  );
  for (const id of [1, 2, 3]) {
    const d = new AgentDaemon({ config: node(id).config, store, log: jsonLogger({ level: 'ERROR' }) });
    daemons.set(id, d);
    await d.start();
  }
  for (const id of [2, 3]) await waitFor(async () => (await api(id, `/replica?lag=${BYTES_BOUND}`)).status === 200 && (await api(id, `/replica?lag=${SECS_BOUND}s`)).status === 200, 60_000);
  node3Ticks = daemon(3).status().ticks;
}, 120_000);

afterAll(async () => {
  writing = false;
  await writer.catch(() => undefined);
  for (const d of daemons.values()) await d.stop('test over');
  await pgs.cleanup();
  await moto?.stop();
});

describe('a standby that falls behind', () => {
  it('answers 503 to /replica with a byte or a time bound from the first lag figure after its paused replay fell past it, and 200 from the first after it caught up', async () => {
    // Paused before the writes start, node 2 has most likely replayed no transaction since it
    // started: its time lag is then unknown (outside any bound), not 0.
    await node(2).server.query('SELECT pg_wal_replay_pause()');
    try {
      startWriting();
      await waitFor(() => behind(2), 30_000);
      await nextFreshAnswer(2);
      const bytes = await api(2, '/replica?lag=1MB');
      const secs = await api(2, `/replica?lag=${SECS_BOUND}s`);
      expect([bytes.status, secs.status]).toEqual([503, 503]);
      expect(bytes.body.lag?.bytes).toBeGreaterThan(BYTES_BOUND);
      expect(secs.body.lag?.secs ?? Infinity).toBeGreaterThan(SECS_BOUND);
      // Still a streaming standby, only too far behind; the other standby is not.
      expect((await api(2, '/replica')).status).toBe(200);
      expect((await api(3, `/replica?lag=${BYTES_BOUND}`)).status).toBe(200);
      expect((await api(3, `/replica?lag=${SECS_BOUND}s`)).status).toBe(200);
    } finally {
      await node(2).server.query('SELECT pg_wal_replay_resume()');
    }
    await waitFor(() => caughtUp(2), 30_000);
    await nextFreshAnswer(2);
    expect((await api(2, `/replica?lag=${BYTES_BOUND}`)).status).toBe(200);
    expect((await api(2, `/replica?lag=${SECS_BOUND}s`)).status).toBe(200);
  }, 60_000);

  it('is dropped by the reader route at the first check round whose answer came after its delayed apply fell past the bound, never while its lag moves about below it, its open connections closed, and routed to again once it caught up', async () => {
    const targets: RouteTarget[] = nodes.map((n) => ({ name: n.name, host: '127.0.0.1', port: n.server.port, apiHost: '127.0.0.1', apiPort: apiPorts.get(n.id) as number }));
    // The sandbox reader route's check; its rounds are run by the test (checkAll), so they are counted, not timed.
    const check = { ...SANDBOX_READER_HEALTH_CHECK, intervalMs: 3_600_000, path: `/replica?lag=${BYTES_BOUND}` };
    const route = new HealthRoute({ name: 'reader', targets, check });
    const clients: pg.Client[] = [];
    /** A session through the route, and the node it reached. */
    const connect = async (): Promise<{ client: pg.Client; node: string; closed: () => boolean }> => {
      const client = new pg.Client({ host: '127.0.0.1', port: route.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5000 });
      let closed = false;
      client.on('error', () => (closed = true));
      client.on('end', () => (closed = true));
      clients.push(client);
      await client.connect();
      const rows = (await client.query<{ port: string }>("SELECT current_setting('port') AS port")).rows;
      const reached = nodes.find((n) => String(n.server.port) === rows[0]?.port)?.name ?? '?';
      return { client, node: reached, closed: () => closed };
    };
    const reached = async (n: number): Promise<string[]> => {
      const names: string[] = [];
      for (let i = 0; i < n; i++) {
        const c = await connect();
        names.push(c.node);
        await c.client.end();
      }
      return [...new Set(names)].sort();
    };
    startWriting();
    try {
      await route.start();
      await waitFor(async () => {
        await route.checkAll();
        return route.healthy.length === 2;
      }, 30_000);
      expect(route.healthy).toEqual(['node2', 'node3']);
      expect(await reached(4)).toEqual(['node2', 'node3']);
      let open = await connect();
      while (open.node !== 'node3') open = await connect();

      // Lag that moves about below the bound, step by step: with the background writes held, node 3's
      // replay is paused while the primary commits a known amount, then resumed. With an unhealthy
      // threshold of 1, no round may drop it, behind or caught up (each round after a fresh answer).
      held = true;
      await new Promise((r) => setTimeout(r, 200));
      const hover: number[] = [];
      for (const [step, commits] of HOVER_STEPS.entries()) {
        await node(3).server.query('SELECT pg_wal_replay_pause()');
        for (let i = 0; i < commits; i++) await node(1).server.query(COMMIT_64K);
        await waitFor(() => hasAll(3, 'receive'), 30_000, 20);
        hover.push((await groundTruth(3)).bytes);
        await nextFreshAnswer(3);
        await route.checkAll();
        expect(route.healthy, `step ${step + 1}, ${hover.at(-1)} bytes behind`).toEqual(['node2', 'node3']);
        await node(3).server.query('SELECT pg_wal_replay_resume()');
        // Caught up in bytes (with the writes held, its time lag is the age of the last commit).
        await waitFor(() => hasAll(3, 'replay'), 30_000, 20);
        await nextFreshAnswer(3);
        await route.checkAll();
        expect(route.healthy, `step ${step + 1}, caught up again`).toEqual(['node2', 'node3']);
      }
      // What the rounds saw, measured on the servers: up to just below the bound, never past it.
      expect(Math.max(...hover)).toBeGreaterThan(13 * 65536);
      expect(Math.max(...hover)).toBeLessThan(BYTES_BOUND);
      held = false;

      await applyDelay(3, '30s');
      await waitFor(() => behind(3), 30_000);
      // The first round whose answer was taken after the lag was seen past the bound drops it.
      await nextFreshAnswer(3);
      await route.checkAll();
      expect(route.healthy).toEqual(['node2']);
      expect((await api(3, `/replica?lag=${BYTES_BOUND}`)).status).toBe(503);
      // It has replayed transactions before the delay: its time lag is known, and past the bound.
      const secs = await api(3, `/replica?lag=${SECS_BOUND}s`);
      expect(secs.status).toBe(503);
      expect(secs.body.lag?.secs).toBeGreaterThan(SECS_BOUND);
      await waitFor(async () => open.closed(), 10_000);
      expect(await reached(4)).toEqual(['node2']);

      await applyDelay(3, '');
      await waitFor(() => caughtUp(3), 30_000);
      await nextFreshAnswer(3);
      expect((await api(3, `/replica?lag=${BYTES_BOUND}`)).status).toBe(200);
      for (let i = 0; i < check.healthyThreshold; i++) await route.checkAll();
      expect(route.healthy).toEqual(['node2', 'node3']);
      expect(await reached(4)).toEqual(['node2', 'node3']);
      // Every change of node 3's answers came from a lag sample (see the header).
      expect(daemon(3).status().ticks).toBe(node3Ticks);
    } finally {
      held = false;
      await node(3).server.query('SELECT pg_wal_replay_resume()');
      await applyDelay(3, '');
      for (const c of clients) await c.end().catch(() => undefined);
      await route.stop();
    }
  }, 120_000);
});
