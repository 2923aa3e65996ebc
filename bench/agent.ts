/**
 * Agent benchmark (`npm run bench:agent`): runs a real `pgvigil-agent run` process for a standby
 * at monitor_interval_secs=1 against real PostgreSQL and DynamoDB on moto, and prints its resident
 * memory, its CPU share of one core, and how many heartbeats it wrote per minute, first with a
 * healthy upstream and then with the upstream (the primary) stopped. It measures the bundle systemd
 * runs (dist/pgvigil-agent.mjs, rebuilt first when stale, started with the unit's Node flags) and,
 * for comparison, Node alone with the same flags and the bundle without them. Asserts nothing.
 *
 * BENCH_SECS (default 60) sets the length of each phase.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { performance } from 'node:perf_hooks';
import { TestPostgres } from '../test/support/postgres.js';
import { startMoto } from '../test/support/moto.js';
import { freePort } from '../sandbox/ports.js';
import { agent, createTable, motoEnv, writeNodeConfig } from '../test/support/agent.js';
import { systemdNodeFlags } from '../agent/build.js';
import { ARTIFACTS, builtArtifact } from '../build/artifacts.js';
import { ensureBuilt } from '../build/index.js';

const PHASE_SECS = Number(process.env.BENCH_SECS ?? 60);
const TABLE = 'pgvigil-bench-agent';
const CLK_TCK = 100;

interface Sample {
  rssKb: number;
  cpuTicks: number;
}

async function sample(pid: number): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  // Fields after "(comm) ": state is [0]; utime and stime are fields 14 and 15 overall → [11], [12].
  return { rssKb, cpuTicks: Number(stat[11]) + Number(stat[12]) };
}

/** Resident pages backed by files (the node binary), from /proc/PID/smaps_rollup. */
async function fileBackedKb(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return kb('Rss') - kb('Anonymous');
}

/** GET /health every 100 ms on a new connection each (as a load balancer's checks); round trips in ms. */
function pollHealth(port: number): { stop: () => Promise<number[]> } {
  const times: number[] = [];
  let running = true;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = httpGet({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          times.push(performance.now() - t0);
          resolve();
        });
      });
      req.on('error', () => resolve());
    });
  const loop = (async () => {
    while (running) {
      await once();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return times;
    },
  };
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function main(): Promise<void> {
  const pgs = new TestPostgres();
  const moto = await startMoto();
  const env = motoEnv(moto);
  const store = await createTable(moto, TABLE);
  try {
    const dir = await pgs.tempDir('pgvigil-bench-');
    const primary = await pgs.primary('bench1');
    const standby = await pgs.server('bench2');
    const extra = { monitor_interval_secs: 1, heartbeat_interval_secs: 5, lease_secs: 20, log_level: process.env.BENCH_LOG_LEVEL ?? 'WARNING' };
    const p = await writeNodeConfig(dir, { id: 1, name: 'bench1', server: primary }, TABLE, extra);
    // The measured agent serves its HTTP API, polled during every phase as a load balancer would.
    const apiPort = await freePort();
    const s = await writeNodeConfig(dir, { id: 2, name: 'bench2', server: standby }, TABLE, { ...extra, rest_api_listen: `127.0.0.1:${apiPort}` });
    for (const args of [['primary', 'register', '-f', p.configFile], ['standby', 'clone', '-c', '-f', s.configFile]]) {
      const r = await agent(env, args);
      if (r.code !== 0) throw new Error(`${args.join(' ')} failed: ${r.text}`);
    }
    await standby.writeConfig();
    await standby.start();
    await agent(env, ['standby', 'register', '-f', s.configFile]);

    // What systemd runs: the bundle `npm run build` makes, started with the unit's Node flags; for
    // comparison, the same bundle with Node's default flags.
    await ensureBuilt((line) => console.log(line));
    const bundle = builtArtifact(ARTIFACTS.agent);
    const unitFlags = await systemdNodeFlags();
    const seqOf = async (): Promise<number> => (await store.load('agent-test'))?.snapshot.heartbeats.find((h) => h.node_id === 2)?.seq ?? 0;
    const rows: Array<Record<string, string | number>> = [];
    const runs: Array<{ name: string; args: string[]; phases: Array<'idle' | 'healthy' | 'upstream down'> }> = [
      // The floor: Node itself, doing nothing, with the same flags.
      { name: 'node alone (idle timer)', args: [...unitFlags, '-e', 'setInterval(() => {}, 1000)'], phases: ['idle'] },
      { name: 'bundle, default Node flags', args: [bundle], phases: ['healthy'] },
      { name: 'bundle (deployed)', args: [...unitFlags, bundle], phases: ['healthy', 'upstream down'] },
    ];
    for (const run of runs) {
      const idle = run.phases[0] === 'idle';
      const child = spawn(process.execPath, idle ? run.args : [...run.args, 'run', '-f', s.configFile], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      const pid = child.pid as number;
      try {
        // Let it start (first heartbeat) before measuring.
        const first = await seqOf();
        for (let i = 0; !idle && i < 100 && (await seqOf()) === first; i++) await new Promise((r) => setTimeout(r, 200));
        await new Promise((r) => setTimeout(r, 3000));
        for (const phase of run.phases) {
          // Count from before the stop, so the immediate write on the change is in the figure.
          const seq0 = await seqOf();
          if (phase === 'upstream down') await primary.stop('fast');
          const s0 = await sample(pid);
          const t0 = performance.now();
          const health = idle ? undefined : pollHealth(apiPort);
          let maxRss = s0.rssKb;
          let sumRss = 0;
          let n = 0;
          while (performance.now() - t0 < PHASE_SECS * 1000) {
            await new Promise((r) => setTimeout(r, 1000));
            const x = await sample(pid);
            maxRss = Math.max(maxRss, x.rssKb);
            sumRss += x.rssKb;
            n++;
          }
          const times = (await health?.stop()) ?? [];
          const s1 = await sample(pid);
          const fileKb = await fileBackedKb(pid);
          const wallSecs = (performance.now() - t0) / 1000;
          const seq1 = await seqOf();
          rows.push({
            agent: run.name,
            phase,
            seconds: Math.round(wallSecs),
            'RSS avg (MB)': +(sumRss / Math.max(1, n) / 1024).toFixed(1),
            'RSS max (MB)': +(maxRss / 1024).toFixed(1),
            // Pages of the node binary itself (shared, clean); the rest is this process's own memory.
            'of which node binary (MB)': +(fileKb / 1024).toFixed(1),
            'CPU (% of one core)': +(((s1.cpuTicks - s0.cpuTicks) / CLK_TCK / wallSecs) * 100).toFixed(2),
            'heartbeats/min': idle ? '-' : +(((seq1 - seq0) / wallSecs) * 60).toFixed(1),
            'GET /health': idle ? '-' : times.length,
            'p50 (ms)': idle ? '-' : +percentile(times, 0.5).toFixed(2),
            'p99 (ms)': idle ? '-' : +percentile(times, 0.99).toFixed(2),
          });
        }
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
    console.log(`pgvigil-agent for a standby, monitor_interval_secs=1, heartbeat_interval_secs=5, ${PHASE_SECS} s per phase (targets: RSS < 60 MB, CPU < 2 %, GET /health p99 < 5 ms, polled every 100 ms)`);
    console.log(`bundle and node alone run with the systemd unit's flags: node ${unitFlags.join(' ')}`);
    console.log(`bundle: ${((await stat(bundle)).size / 1024).toFixed(0)} KB (${ARTIFACTS.agent}, options in agent/build.ts: no validation library, no undici; docs/agent.md, "Figures")`);
    console.table(rows);
  } finally {
    await pgs.cleanup();
    await moto.stop();
  }
}

await main();
