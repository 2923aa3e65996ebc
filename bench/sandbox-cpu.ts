/**
 * `npm run bench:sandbox-cpu [-- [--latency local|aws] [--before FILE] IDLE_SECS [SCENARIO …]]`: where the sandbox's CPU goes
 * (docs/sandbox.md, "CPU"). Brings a sandbox up, lets it settle, then samples every sandbox process
 * over IDLE_SECS (default 60) with the cluster idle and over each drill (default crash-primary,
 * heal included), and prints the share of a core each used, the requests each AWS proxy route
 * forwarded by operation, and the log volume. A benchmark: it prints, never asserts.
 *
 * `--before FILE`: the output of an earlier run (its JSON lines; e.g. run on main) — each
 * measurement is then printed next to the earlier one of the same label, group by group.
 */
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from '../sandbox/index.js';
import { freePort } from '../sandbox/ports.js';
import { SCENARIOS, runDrill, scenario, type ScenarioName } from '../sandbox/drills/index.js';
import { cpuBetween, formatCpuComparison, formatCpuReport, type CpuReport, readMachineTicks, readProcesses, sandboxGroupRoots, snapshotGroups, type CpuSnapshot } from '../sandbox/cpu.js';
import type { RouteStatus } from '../sandbox/aws-proxy.js';
import { latencyFlag } from '../sandbox/latency.js';
import { ensureBuilt } from '../build/index.js';

const { latency, rest: args } = latencyFlag(process.argv.slice(2));
const beforeAt = args.indexOf('--before');
const beforeFile = beforeAt >= 0 ? args[beforeAt + 1] : undefined;
if (beforeAt >= 0 && !beforeFile) {
  process.stderr.write('ERROR: --before needs a file (the output of an earlier run)\n');
  process.exit(1);
}
const rest = beforeAt >= 0 ? [...args.slice(0, beforeAt), ...args.slice(beforeAt + 2)] : args;
/** The earlier run's reports by label (the JSON lines of its output that carry a `label`). */
const earlier = new Map<string, CpuReport>();
if (beforeFile) {
  for (const line of readFileSync(beforeFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as Partial<CpuReport> & { label?: string };
    if (typeof parsed.label === 'string' && Array.isArray(parsed.groups) && typeof parsed.sandboxPct === 'number') earlier.set(parsed.label, parsed as CpuReport);
  }
  if (earlier.size === 0) {
    process.stderr.write(`ERROR: --before ${beforeFile}: no measurement in it (expected the JSON lines bench:sandbox-cpu prints)\n`);
    process.exit(1);
  }
}
const idleSecs = Number(rest[0] ?? 60);
if (!Number.isInteger(idleSecs) || idleSecs < 1) {
  process.stderr.write(`ERROR: IDLE_SECS must be a positive integer, got "${rest[0]}"\n`);
  process.exit(1);
}
const drills: ScenarioName[] = rest.length > 1 ? rest.slice(1).map((n) => scenario(n).name) : ['crash-primary'];
const say = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);

// The sandbox's hosts run the built agent and its emulated AWS the built Lambda code.
await ensureBuilt((line) => say(`INFO: ${line}`));
const parent = mkdtempSync(join(tmpdir(), 'pgv-bench-cpu-'));
chmodSync(parent, 0o755);
const dir = join(parent, 'sandbox');
const sandbox = await Sandbox.up({ dir, vipPort: await freePort(), latency, progress: (l) => say(`INFO: ${l}`) });

const snap = (): CpuSnapshot => {
  const processes = readProcesses();
  return snapshotGroups(sandboxGroupRoots(dir, sandbox.state, processes), processes, readMachineTicks());
};
const logBytes = (): number => readdirSync(join(dir, 'logs')).reduce((n, f) => n + statSync(join(dir, 'logs', f)).size, 0);
const routes = async (): Promise<Record<string, RouteStatus>> => (await sandbox.awsProxy?.status()) ?? {};

function requestRates(before: Record<string, RouteStatus>, after: Record<string, RouteStatus>, secs: number): string[] {
  const lines: string[] = [];
  for (const [route, status] of Object.entries(after)) {
    const ops = Object.entries(status.operations)
      .map(([op, n]) => [op, n - (before[route]?.operations[op] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = ops.reduce((n, [, c]) => n + c, 0);
    lines.push(`  ${route.padEnd(11)} ${(total / secs).toFixed(1).padStart(6)} req/s  ${ops.map(([op, n]) => `${op} ${(n / secs).toFixed(2)}`).join(', ')}`);
  }
  return lines;
}

async function measure(label: string, body: () => Promise<void>): Promise<void> {
  const load = loadavg().map((x) => x.toFixed(2)).join(' / ');
  const [c0, r0, l0] = [snap(), await routes(), logBytes()];
  await body();
  const [c1, r1, l1] = [snap(), await routes(), logBytes()];
  const report = cpuBetween(c0, c1, cpus().length);
  const secs = report.windowMs / 1000;
  process.stdout.write(`\n${label} (latency profile ${latency.name}; load average before ${load})\n`);
  for (const line of formatCpuReport(report)) process.stdout.write(`${line}\n`);
  process.stdout.write(`requests through the AWS proxy (per route, forwarded):\n${requestRates(r0, r1, secs).join('\n')}\n`);
  process.stdout.write(`logs: ${((l1 - l0) / 1024 / secs).toFixed(1)} KiB/s\n`);
  const then = earlier.get(label);
  if (then) process.stdout.write(`before (${beforeFile}) and now, percent of one core:\n${formatCpuComparison(then, report).join('\n')}\n`);
  process.stdout.write(`${JSON.stringify({ label, profile: latency.name, ...report })}\n`);
}

try {
  say('settling 10 s');
  await new Promise((r) => setTimeout(r, 10_000));
  await measure(`idle, ${idleSecs} s`, () => new Promise((r) => setTimeout(r, idleSecs * 1000)));
  for (const name of drills) {
    await measure(`drill ${name} (heal included)`, async () => {
      const r = await runDrill(sandbox, SCENARIOS[name], { log: (l) => say(`INFO: ${l}`) });
      process.stdout.write(`${JSON.stringify({ ...r, events: undefined })}\n`);
    });
  }
} finally {
  await sandbox.down();
  rmSync(parent, { recursive: true, force: true });
}
