/**
 * Reader-route benchmark (`npm run bench:reader-lag`): how long after a standby's lag crosses the
 * reader route's bound the route stops sending it connections. A real primary and two streaming
 * standbys (test/support/reader-cluster.ts) with writes flowing, each standby behind a sandbox
 * reader route of its own running on its own 1 s timer (sandbox/routes.ts):
 *
 * - node2 as shipped: lag sampled every `rest_api_lag_sample_ms` (200), route unhealthy after 1 failed check;
 * - node3 as before: lag only at each monitoring tick (`rest_api_lag_sample_ms=0`), unhealthy after 2.
 *
 * Each round pauses replay on both at once (at a random phase of the routes' checks), polls both
 * servers until each is past the bound (the crossing, measured on the servers), and waits for each
 * route to drop its standby; then resumes and waits until both are healthy again. Prints each
 * round and the summary in ms and in health-check intervals. Asserts nothing.
 *
 * BENCH_ROUNDS (default 5) sets the number of rounds.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { HealthRoute, SANDBOX_HEALTH_CHECK, SANDBOX_READER_HEALTH_CHECK, type HealthCheck } from '../sandbox/routes.js';
import { waitFor } from '../test/support/agent.js';
import { ReaderCluster } from '../test/support/reader-cluster.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BYTES_BOUND = 1024 * 1024;
const PATH = `/replica?lag=${BYTES_BOUND}`;

interface Subject {
  label: string;
  id: number;
  route: HealthRoute;
  check: HealthCheck;
  droppedAt: number | null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * When standby `id` crossed the bound (performance.now), measured on the servers: polled on kept
 * sessions, interpolated between the last poll below the bound and the first past it (the lag of a
 * paused replay grows with the steady writes); `resolutionMs` is the spacing of those two polls.
 */
async function crossing(cluster: ReaderCluster, id: number): Promise<{ at: number; resolutionMs: number }> {
  const open = async (port: number): Promise<pg.Client> => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const [primary, standby] = await Promise.all([open(cluster.node(1).server.port), open(cluster.node(id).server.port)]);
  try {
    let previous: { t: number; bytes: number } | null = null;
    for (;;) {
      const t = performance.now();
      const lsn = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
      const bytes = Number((await standby.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text AS bytes', [lsn])).rows[0]?.bytes);
      if (bytes > BYTES_BOUND) {
        if (!previous) return { at: t, resolutionMs: 0 };
        const share = Math.min(1, Math.max(0, (BYTES_BOUND - previous.bytes) / (bytes - previous.bytes)));
        return { at: previous.t + share * (t - previous.t), resolutionMs: t - previous.t };
      }
      previous = { t, bytes };
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await Promise.all([primary.end(), standby.end()].map((p) => p.catch(() => undefined)));
  }
}

async function main(): Promise<void> {
  const cluster = await ReaderCluster.start({
    table: 'pgvigil-bench-reader-lag',
    extra: (id): Record<string, number> => (id === 3 ? { rest_api_lag_sample_ms: 0 } : {}),
    ready: [PATH],
  });
  const subjects: Subject[] = [];
  try {
    const subject = (label: string, id: number, check: HealthCheck): Subject => {
      const s: Subject = { label, id, check, droppedAt: null, route: null as unknown as HealthRoute };
      s.route = new HealthRoute({ name: label, targets: cluster.targets([id]), check, onChange: (_t, healthy) => (s.droppedAt = healthy ? null : performance.now()) });
      return s;
    };
    subjects.push(
      subject('sampled 200 ms, unhealthy after 1', 2, { ...SANDBOX_READER_HEALTH_CHECK, path: PATH }),
      subject('tick only (1 s), unhealthy after 2', 3, { ...SANDBOX_HEALTH_CHECK, path: PATH }),
    );
    for (const s of subjects) await s.route.start();
    cluster.startWriting();
    const healthy = (): boolean => subjects.every((s) => s.route.healthy.length === 1);
    const rows: Array<Record<string, string | number>> = [];
    const figures = new Map<string, number[]>(subjects.map((s) => [s.label, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      await waitFor(async () => healthy() && (await cluster.hasAll(2, 'replay')) && (await cluster.hasAll(3, 'replay')), 60_000, 20);
      // A random phase against the routes' checks.
      await new Promise((r) => setTimeout(r, Math.random() * SANDBOX_HEALTH_CHECK.intervalMs));
      for (const s of subjects) s.droppedAt = null;
      await Promise.all(subjects.map((s) => cluster.node(s.id).server.query('SELECT pg_wal_replay_pause()')));
      const crossed = await Promise.all(subjects.map((s) => crossing(cluster, s.id)));
      await waitFor(async () => subjects.every((s) => s.droppedAt !== null), 60_000, 5);
      await Promise.all(subjects.map((s) => cluster.node(s.id).server.query('SELECT pg_wal_replay_resume()')));
      subjects.forEach((s, i) => {
        const c = crossed[i] as { at: number; resolutionMs: number };
        const ms = (s.droppedAt as number) - c.at;
        figures.get(s.label)?.push(ms);
        rows.push({ round, standby: `node${s.id}: ${s.label}`, 'crossing to dropped (ms)': Math.round(ms), intervals: +(ms / s.check.intervalMs).toFixed(2), 'polls around the crossing (ms apart)': Math.round(c.resolutionMs) });
      });
    }
    const load = (await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`reader route: a standby's lag crossing ${BYTES_BOUND} bytes (measured on the servers) to the route dropping it; checks every ${SANDBOX_HEALTH_CHECK.intervalMs} ms, ${ROUNDS} rounds, load average ${load}`);
    console.table(rows);
    console.table(
      subjects.map((s) => {
        const v = figures.get(s.label) ?? [];
        const i = (ms: number): number => +(ms / s.check.intervalMs).toFixed(2);
        return { standby: `node${s.id}: ${s.label}`, 'min (ms)': Math.round(Math.min(...v)), 'median (ms)': Math.round(median(v)), 'max (ms)': Math.round(Math.max(...v)), 'min (intervals)': i(Math.min(...v)), 'median (intervals)': i(median(v)), 'max (intervals)': i(Math.max(...v)) };
      }),
    );
  } finally {
    for (const s of subjects) await s.route.stop();
    await cluster.stop();
  }
}

await main();
