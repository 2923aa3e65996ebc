/**
 * CLI start-up benchmark (`npm run bench:cli`): starts the built `pgvigil` (rebuilt first when
 * stale) as a new process, BENCH_RUNS rounds (default 15) of one run per case, and prints p50 and
 * max of the wall time and, where GNU time is installed, p50 of the CPU time: `--help`,
 * `--version`, `-V` and a command's `--help` through the installed command (bin/pgvigil.cjs, what
 * npm links as `pgvigil`: CommonJS, no ES module loaded), `--help` through dist/pgvigil.cjs (what
 * the hosts link) and the same four through the ES module entry (dist/pgvigil.mjs), and
 * `cluster show` against the sandbox when one runs (else it says it skipped; start one with
 * `npx pgvigil sandbox up --detach`). Node's own start (`node -e 0`) is the floor. Then the bytes
 * each start loads and the sizes of the build's artifacts. Targets: --help and --version ≤ 150 ms,
 * cluster show ≤ 500 ms. Asserts nothing.
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

interface Case {
  what: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  note: string;
  /** Exit codes that count as a full run. */
  ok: number[];
}

/**
 * Wall (and CPU) time of `node ARGS` from spawn to exit for each case, RUNS rounds, one run of each
 * case per round, the order turned by one each round: a busy spell of the machine then weighs on
 * every case alike, and no case always runs first or last.
 */
function measure(cases: Case[]): Figure[] {
  const wall = cases.map(() => [] as number[]);
  const cpu = cases.map(() => [] as number[]);
  const cpuFile = join(scratch, 'cpu');
  const timed = existsSync(GNU_TIME);
  for (let round = 0; round < RUNS; round++) {
    const order = cases.map((_, i) => (i + round) % cases.length);
    for (const i of order) {
      const c = cases[i] as Case;
      const t0 = performance.now();
      const run = timed
        ? spawnSync(GNU_TIME, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...c.args], { env: c.env, encoding: 'utf8' })
        : spawnSync(process.execPath, c.args, { env: c.env, encoding: 'utf8' });
      wall[i]?.push(performance.now() - t0);
      if (!c.ok.includes(run.status ?? -1)) throw new Error(`${c.what}: exit ${run.status}\n${run.stdout}${run.stderr}`);
      if (timed) cpu[i]?.push(readFileSync(cpuFile, 'utf8').trim().split(/\s+/).reduce((n, x) => n + Number(x) * 1000, 0));
    }
  }
  return cases.map((c, i) => ({
    what: c.what,
    'p50 (ms)': Math.round(p50(wall[i] as number[])),
    'max (ms)': Math.round(Math.max(...(wall[i] as number[]))),
    'CPU p50 (ms)': timed ? Math.round(p50(cpu[i] as number[])) : '-',
    runs: RUNS,
    note: c.note,
  }));
}

/** The ES module entry and the chunks it imports statically (`from"./chunks/…"`): what each of its starts reads and runs. */
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
  // What `npm install` links as `pgvigil` (it requires dist/pgvigil.cjs, what the hosts link).
  const bin = join(packageRoot(), (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.pgvigil as string);
  const command = builtArtifact(ARTIFACTS.cliCommand);
  // Nothing in the environment says where AWS is: the sandbox's environment is added for `cluster show`.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(AWS_LOCATION_VARIABLES as readonly string[]).includes(k)));
  const cases: Case[] = [
    { what: 'node -e 0 (the floor)', args: ['-e', '0'], env, note: '', ok: [0] },
    { what: 'pgvigil --help', args: [bin, '--help'], env, note: 'target 150 ms; the installed command', ok: [0] },
    { what: 'pgvigil --version', args: [bin, '--version'], env, note: 'target 150 ms; the installed command', ok: [0] },
    { what: 'pgvigil -V', args: [bin, '-V'], env, note: 'target 150 ms; the installed command', ok: [0] },
    { what: 'pgvigil cluster show --help', args: [bin, 'cluster', 'show', '--help'], env, note: 'target 150 ms; the installed command', ok: [0] },
    { what: 'dist/pgvigil.cjs --help', args: [command, '--help'], env, note: "target 150 ms; the hosts' /usr/local/bin/pgvigil", ok: [0] },
    { what: 'dist/pgvigil.mjs --help', args: [cli, '--help'], env, note: 'the ES module entry', ok: [0] },
    { what: 'dist/pgvigil.mjs --version', args: [cli, '--version'], env, note: 'the ES module entry', ok: [0] },
    { what: 'dist/pgvigil.mjs -V', args: [cli, '-V'], env, note: 'the ES module entry', ok: [0] },
    { what: 'dist/pgvigil.mjs cluster show --help', args: [cli, 'cluster', 'show', '--help'], env, note: 'the ES module entry', ok: [0] },
  ];
  let skipped: Figure | undefined;
  try {
    const sandbox = useRunningSandbox(env);
    // Exit 25 is a cluster with issues (a drill running in it, say): still a full run.
    cases.push({ what: 'pgvigil cluster show', args: [bin, 'cluster', 'show'], env: sandbox.env, note: `target 500 ms; against the sandbox in ${sandbox.env.PGVIGIL_SANDBOX_DIR}`, ok: [0, 25] });
  } catch (error) {
    skipped = { what: 'pgvigil cluster show', 'p50 (ms)': '-', 'max (ms)': '-', 'CPU p50 (ms)': '-', runs: 0, note: `skipped: ${(error as Error).message}` };
  }
  const rows = [...measure(cases), ...(skipped ? [skipped] : [])];
  rmSync(scratch, { recursive: true, force: true });
  console.log(`pgvigil CLI start-up, ${RUNS} runs each (wall time from spawn to exit; node ${process.version}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.table(rows);
  const startup = startupBytes();
  const fast = [bin, command].reduce((n, f) => n + statSync(f).size, 0);
  console.log(`the installed command's help and version load 2 CommonJS files, ${(fast / 1024).toFixed(0)} KB, and no ES module`);
  console.log(`every start of ${ARTIFACTS.cli} (and every command that runs) loads ${startup.files} ES module files, ${(startup.bytes / 1024).toFixed(0)} KB (the entry and its static chunks; no package)`);
  for (const line of describeBuild(packageRoot())) console.log(line);
}

await main();
