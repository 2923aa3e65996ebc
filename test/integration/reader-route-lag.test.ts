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
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthRoute, SANDBOX_READER_HEALTH_CHECK } from '../../sandbox/routes.js';
import { waitFor } from '../support/agent.js';
import { COMMIT_64K, ReaderCluster } from '../support/reader-cluster.js';

const BYTES_BOUND = 1024 * 1024;
const SECS_BOUND = 2;
/** Commits of 64 kB a standby falls behind by, one step after another, all below BYTES_BOUND (16 × 64 kB). */
const HOVER_STEPS = [4, 14, 8, 13, 2, 14];
let cluster: ReaderCluster;
const node = (id: number) => cluster.node(id);
const daemon = (id: number) => cluster.daemon(id);
const api = (id: number, path: string) => cluster.api(id, path);
const groundTruth = (id: number) => cluster.groundTruth(id);
const nextFreshAnswer = (id: number) => cluster.nextFreshAnswer(id);
/** Node 3's monitoring ticks once started: no more may run (see the header). */
let node3Ticks = 0;

/** Sets node `id`'s recovery_min_apply_delay (empty: resets it) and reloads. */
async function applyDelay(id: number, delay: string): Promise<void> {
  await node(id).server.query(delay === '' ? 'ALTER SYSTEM RESET recovery_min_apply_delay' : `ALTER SYSTEM SET recovery_min_apply_delay = '${delay}'`);
  await node(id).server.query('SELECT pg_reload_conf()');
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
  cluster = await ReaderCluster.start({
    table: 'pgvigil-reader-lag',
    extra: (id): Record<string, number> => (id === 3 ? { monitor_interval_secs: 3600 } : {}),
    ready: [`/replica?lag=${BYTES_BOUND}`, `/replica?lag=${SECS_BOUND}s`],
  });
  node3Ticks = daemon(3).status().ticks;
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('a standby that falls behind', () => {
  it('answers 503 to /replica with a byte or a time bound from the first lag figure after its paused replay fell past it, and 200 from the first after it caught up', async () => {
    // Paused before the writes start, node 2 has most likely replayed no transaction since it
    // started: its time lag is then unknown (outside any bound), not 0.
    await node(2).server.query('SELECT pg_wal_replay_pause()');
    try {
      cluster.startWriting();
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
    // The sandbox reader route's check; its rounds are run by the test (checkAll), so they are counted, not timed.
    const check = { ...SANDBOX_READER_HEALTH_CHECK, intervalMs: 3_600_000, path: `/replica?lag=${BYTES_BOUND}` };
    const route = new HealthRoute({ name: 'reader', targets: cluster.targets(), check });
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
      const reached = [1, 2, 3].map(node).find((n) => String(n.server.port) === rows[0]?.port)?.name ?? '?';
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
    cluster.startWriting();
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
      cluster.held = true;
      await new Promise((r) => setTimeout(r, 200));
      const hover: number[] = [];
      for (const [step, commits] of HOVER_STEPS.entries()) {
        await node(3).server.query('SELECT pg_wal_replay_pause()');
        for (let i = 0; i < commits; i++) await node(1).server.query(COMMIT_64K);
        await waitFor(() => cluster.hasAll(3, 'receive'), 30_000, 20);
        hover.push((await groundTruth(3)).bytes);
        await nextFreshAnswer(3);
        await route.checkAll();
        expect(route.healthy, `step ${step + 1}, ${hover.at(-1)} bytes behind`).toEqual(['node2', 'node3']);
        await node(3).server.query('SELECT pg_wal_replay_resume()');
        // Caught up in bytes (with the writes held, its time lag is the age of the last commit).
        await waitFor(() => cluster.hasAll(3, 'replay'), 30_000, 20);
        await nextFreshAnswer(3);
        await route.checkAll();
        expect(route.healthy, `step ${step + 1}, caught up again`).toEqual(['node2', 'node3']);
      }
      // What the rounds saw, measured on the servers: up to just below the bound, never past it.
      expect(Math.max(...hover)).toBeGreaterThan(13 * 65536);
      expect(Math.max(...hover)).toBeLessThan(BYTES_BOUND);
      cluster.held = false;

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
      cluster.held = false;
      await node(3).server.query('SELECT pg_wal_replay_resume()');
      await applyDelay(3, '');
      for (const c of clients) await c.end().catch(() => undefined);
      await route.stop();
    }
  }, 120_000);
});
