/**
 * CLI start-up benchmark (`npm run bench:cli`): starts the built `pgvigil` (dist/pgvigil.mjs,
 * rebuilt first when stale) as a new process, BENCH_RUNS times per command (default 15), and
 * prints p50 and max of the wall time: `--help`, `--version`, and `cluster show` against the
 * sandbox when one runs (else it says it skipped; start one with `npx pgvigil sandbox up --detach`).
 * Node's own start (`node -e 0`) is the floor. Then the bytes every start loads and the sizes of
 * the build's artifacts. Targets: --help and --version ≤ 150 ms, cluster show ≤ 500 ms. Asserts
 * nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ARTIFACTS, builtArtifact, packageRoot } from '../build/artifacts.js';
import { describeBuild, ensureBuilt } from '../build/index.js';
import { AWS_LOCATION_VARIABLES, useRunningSandbox } from '../cli/local-sandbox.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
/** GNU time, when installed, gives each run's CPU time: on a busy machine a steadier figure than the wall time. */
const GNU_TIME = '/usr/bin/time';
const scratch = mkdtempSync(join(tmpdir(), 'pgvigil-bench-cli-'));

interface Figure {
  what: string;
  'p50 (ms)': number | string;
  'max (ms)': number | string;
  'CPU p50 (ms)': number | string;
  runs: number | string;
  note: string;
}

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;

/** Wall (and CPU) time of `node ARGS` from spawn to exit, RUNS times; fails on an exit code not in `ok`. */
function time(what: string, args: string[], env: NodeJS.ProcessEnv, note = '', ok = [0]): Figure {
  const wall: number[] = [];
  const cpu: number[] = [];
  const cpuFile = join(scratch, 'cpu');
  const timed = existsSync(GNU_TIME);
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const run = timed
      ? spawnSync(GNU_TIME, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...args], { env, encoding: 'utf8' })
      : spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    wall.push(performance.now() - t0);
    if (!ok.includes(run.status ?? -1)) throw new Error(`${what}: exit ${run.status}\n${run.stdout}${run.stderr}`);
    if (timed) cpu.push(readFileSync(cpuFile, 'utf8').trim().split(/\s+/).reduce((n, s) => n + Number(s) * 1000, 0));
  }
  return {
    what,
    'p50 (ms)': Math.round(p50(wall)),
    'max (ms)': Math.round(Math.max(...wall)),
    'CPU p50 (ms)': timed ? Math.round(p50(cpu)) : '-',
    runs: RUNS,
    note,
  };
}

/** The entry and the chunks it imports statically (`from"./chunks/…"`): what every start reads and runs. */
function startupBytes(): { files: number; bytes: number } {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/(?:from|import)\s*"(\.{1,2}\/[^"]+\.mjs)"/g)) visit(join(file, '..', m[1] as string));
  };
  visit(builtArtifact(ARTIFACTS.cli));
  return { files: seen.size, bytes: [...seen].reduce((n, f) => n + statSync(f).size, 0) };
}

async function main(): Promise<void> {
  await ensureBuilt((line) => console.log(line));
  const cli = builtArtifact(ARTIFACTS.cli);
  // Nothing in the environment says where AWS is: the sandbox's environment is added for `cluster show`.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(AWS_LOCATION_VARIABLES as readonly string[]).includes(k)));
  const rows: Figure[] = [
    time('node -e 0 (the floor)', ['-e', '0'], env),
    time('pgvigil --help', [cli, '--help'], env, 'target 150 ms'),
    time('pgvigil --version', [cli, '--version'], env, 'target 150 ms'),
    time('pgvigil -V', [cli, '-V'], env, 'target 150 ms'),
  ];
  let sandbox: ReturnType<typeof useRunningSandbox> | undefined;
  try {
    sandbox = useRunningSandbox(env);
  } catch (error) {
    rows.push({ what: 'pgvigil cluster show', 'p50 (ms)': '-', 'max (ms)': '-', 'CPU p50 (ms)': '-', runs: 0, note: `skipped: ${(error as Error).message}` });
  }
  if (sandbox) {
    // Exit 25 is a cluster with issues (a drill running in it, say): still a full run.
    rows.push(time('pgvigil cluster show', [cli, 'cluster', 'show'], sandbox.env, `target 500 ms; against the sandbox in ${sandbox.env.PGVIGIL_SANDBOX_DIR}`, [0, 25]));
  }
  rmSync(scratch, { recursive: true, force: true });
  console.log(`pgvigil CLI start-up, ${RUNS} runs each (wall time from spawn to exit; node ${process.version}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.table(rows);
  const startup = startupBytes();
  console.log(`every start loads ${startup.files} files, ${(startup.bytes / 1024).toFixed(0)} KB (the entry and its static chunks; no package)`);
  for (const line of describeBuild(packageRoot())) console.log(line);
}

await main();
