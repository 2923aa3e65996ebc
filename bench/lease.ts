/**
 * Lease benchmark (`npm run bench:lease`): how close a healthy primary's lease comes to its fence
 * on this machine, and how early the server is stopped when DynamoDB really stops answering. Runs
 * the deployed agent (the bundle, with the systemd unit's Node flags) for a primary against real
 * PostgreSQL and moto, with simulated peers loading moto as a cluster's other agents would, and:
 *
 * 1. healthy, BENCH_SECS (default 60): renewal round trips, attempts abandoned at their time limit,
 *    and the longest time between two successful renewals' sending against the moment the fence
 *    would start (lease_secs less the fence lead);
 * 2. BENCH_STALLS (default 3) stalls of the endpoint, BENCH_STALL_SECS each (default 2.5): moto
 *    paused with SIGSTOP, then resumed; the primary must keep its lease;
 * 3. the endpoint paused for good: the last successful renewal's sending, the fence's start, the
 *    last write the server acknowledged and the end of the stop, against lease_secs.
 *
 * Run it as the campaign does, next to two busy loops (`sh -c 'while :; do :; done' &`, twice).
 * BENCH_LEASE_SECS (default: the sandbox's), BENCH_PEERS (default 3). Asserts nothing.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { buildAgent, systemdNodeFlags } from '../agent/build.js';
import { leaseTimings } from '../agent/daemon/policy.js';
import { SANDBOX_DEFAULTS } from '../sandbox/cluster-plan.js';
import { agent, createTable, motoEnv, writeNodeConfig } from '../test/support/agent.js';
import { heartbeat, standbyServer } from '../test/support/cli-cluster.js';
import { startMoto } from '../test/support/moto.js';
import { TestPostgres } from '../test/support/postgres.js';

const LEASE_SECS = Number(process.env.BENCH_LEASE_SECS ?? SANDBOX_DEFAULTS.lease_secs);
const HEALTHY_SECS = Number(process.env.BENCH_SECS ?? 60);
const STALLS = Number(process.env.BENCH_STALLS ?? 3);
const STALL_SECS = Number(process.env.BENCH_STALL_SECS ?? 2.5);
const PEERS = Number(process.env.BENCH_PEERS ?? 3);
const TABLE = 'pgvigil-bench-lease';

interface LogLine {
  ts: string;
  msg: string;
  ms?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const timings = leaseTimings({ lease_secs: LEASE_SECS });
  const pgs = new TestPostgres();
  const moto = await startMoto();
  const env = motoEnv(moto);
  const store = await createTable(moto, TABLE);
  let peersRunning = true;
  let peers: Array<Promise<void>> = [];
  try {
    const dir = await pgs.tempDir('pgvigil-bench-lease-');
    const logFile = join(dir, 'agent.log');
    const server = await pgs.primary('lease1');
    await server.query('CREATE TABLE bench_writes (at double precision)');
    const { configFile } = await writeNodeConfig(dir, { id: 1, name: 'lease1', server }, TABLE, {
      lease_secs: LEASE_SECS,
      monitor_interval_secs: 1,
      heartbeat_interval_secs: 1,
      shutdown_check_timeout: 10,
      log_level: 'DEBUG',
      log_file: logFile,
    });
    const registered = await agent(env, ['primary', 'register', '-f', configFile]);
    if (registered.code !== 0) throw new Error(`primary register failed: ${registered.text}`);

    // The cluster's other agents: a strong read and a heartbeat each per second, as theirs do.
    peers = Array.from({ length: PEERS }, async (_, i): Promise<void> => {
      const id = i + 2;
      while (peersRunning) {
        const t = performance.now();
        await store.load('agent-test').catch(() => undefined);
        await store.putHeartbeat(heartbeat('agent-test', id, standbyServer(1), { sent_at: Date.now() }), false).catch(() => undefined);
        await sleep(Math.max(0, 1000 - (performance.now() - t)));
      }
    });

    const bundle = join(dir, 'pgvigil-agent.mjs');
    await buildAgent(bundle);
    const child = spawn(process.execPath, [...(await systemdNodeFlags()), bundle, 'run', '-f', configFile], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const lines = async (): Promise<LogLine[]> =>
      (await readFile(logFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine);
    const renewals = async (): Promise<Array<{ sent: number; ms: number }>> =>
      (await lines()).filter((l) => l.msg === 'lease renewed').map((l) => ({ sent: Date.parse(l.ts) - (l.ms ?? 0), ms: l.ms ?? 0 }));
    const fenced = async (): Promise<boolean> => (await lines()).some((l) => l.msg.startsWith('fencing the local server'));
    try {
      for (let i = 0; i < 150 && (await renewals()).length === 0; i++) await sleep(200);
      if ((await renewals()).length === 0) throw new Error(`the agent never renewed its lease; see ${logFile}`);

      // 1 + 2: healthy, then stalls of the endpoint
      const healthyFrom = Date.now();
      await sleep(HEALTHY_SECS * 1000);
      const healthyTo = Date.now();
      const stallsFrom = Date.now();
      for (let i = 0; i < STALLS; i++) {
        process.kill(moto.pid, 'SIGSTOP');
        await sleep(STALL_SECS * 1000);
        process.kill(moto.pid, 'SIGCONT');
        await sleep(10_000);
      }
      const stallsTo = Date.now();
      const fencedByStalls = await fenced();

      // 3: the endpoint paused for good, while a client writes every 20 ms
      const db = { host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 };
      let lastAck = 0;
      let writing = true;
      const writer = (async () => {
        while (writing) {
          const client = new pg.Client(db);
          client.on('error', () => undefined);
          try {
            await client.connect();
            while (writing) {
              await client.query('INSERT INTO bench_writes VALUES ($1)', [Date.now()]);
              lastAck = Date.now();
              await sleep(20);
            }
          } catch {
            await sleep(20);
          } finally {
            await client.end().catch(() => undefined);
          }
        }
      })();
      await sleep(2000);
      const cutAt = Date.now();
      process.kill(moto.pid, 'SIGSTOP');
      for (let i = 0; i < 300 && !(await lines()).some((l) => l.msg === 'local server stopped and fenced'); i++) await sleep(100);
      await sleep(1000);
      writing = false;
      await writer;
      process.kill(moto.pid, 'SIGCONT');

      const all = await lines();
      const rs = await renewals();
      const inWindow = (from: number, to: number): Array<{ sent: number; ms: number }> => rs.filter((r) => r.sent >= from && r.sent <= to);
      const maxGap = (xs: Array<{ sent: number }>): number => Math.max(0, ...xs.slice(1).map((x, i) => x.sent - (xs[i] as { sent: number }).sent));
      const healthy = inWindow(healthyFrom, healthyTo);
      const rtt = healthy.map((r) => r.ms).sort((a, b) => a - b);
      const count = (msg: string, from: number, to: number): number => all.filter((l) => l.msg === msg && Date.parse(l.ts) >= from && Date.parse(l.ts) <= to).length;
      const fenceAt = timings.leaseMs - timings.fenceLeadMs;
      const lastOk = rs.filter((r) => r.sent <= cutAt).at(-1)?.sent ?? NaN;
      const decision = Date.parse(all.find((l) => l.msg.startsWith('fencing the local server'))?.ts ?? '');
      const stopped = Date.parse(all.find((l) => l.msg === 'local server stopped and fenced')?.ts ?? '');

      console.log(`lease_secs=${LEASE_SECS}: fence starts ${fenceAt} ms after the last successful renewal was sent; renewal every ${timings.renewEveryMs} ms, each attempt cut off at ${Math.round(timings.attemptLimitMs)} ms`);
      console.log(`${PEERS} simulated peers; load average now ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
      console.table([
        {
          phase: `healthy ${HEALTHY_SECS} s`,
          renewals: healthy.length,
          'p50 ms': quantile(rtt, 0.5),
          'p99 ms': quantile(rtt, 0.99),
          'max ms': rtt.at(-1) ?? NaN,
          abandoned: count('lease renewal abandoned at its time limit', healthyFrom, healthyTo),
          'longest gap ms': maxGap(healthy),
          'margin to fence ms': fenceAt - maxGap(healthy),
          fenced: false,
        },
        {
          phase: `${STALLS} stalls of ${STALL_SECS} s`,
          renewals: inWindow(stallsFrom, stallsTo).length,
          'p50 ms': NaN,
          'p99 ms': NaN,
          'max ms': NaN,
          abandoned: count('lease renewal abandoned at its time limit', stallsFrom, stallsTo),
          'longest gap ms': maxGap(inWindow(stallsFrom, stallsTo)),
          'margin to fence ms': fenceAt - maxGap(inWindow(stallsFrom, stallsTo)),
          fenced: fencedByStalls,
        },
      ]);
      console.log('endpoint paused for good, from the last successful renewal sent (ms; the controller may count the lease expired from lease_secs + clock_skew_margin_ms after it):');
      console.table([
        {
          'endpoint paused': cutAt - lastOk,
          'fence starts': decision - lastOk,
          'last write acknowledged': lastAck - lastOk,
          'server stopped (pg_ctl returned)': stopped - lastOk,
          lease_secs: timings.leaseMs,
          'margin: lease_secs - last write': timings.leaseMs - (lastAck - lastOk),
          'fence start to last write': lastAck - decision,
        },
      ]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    peersRunning = false;
    await Promise.all(peers);
    try {
      process.kill(moto.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await pgs.cleanup();
    await moto.stop();
  }
}

await main();
