/**
 * The CPU sampler (sandbox/cpu.ts) on real processes: a group's share is what its process tree
 * used, a short-lived child's time included after it was reaped, and nothing of another group's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { CLOCK_TICKS, cpuBetween, readMachineTicks, readProcesses, sampleSandboxCpu, sandboxGroupRoots, snapshotGroups } from '../../sandbox/cpu.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** CPU the child burns on each line read (measured by itself, so the machine's load only stretches the time). */
const BURN_MS = 400;

/**
 * A process that, on each line on stdin, runs a child that burns {@link BURN_MS} of CPU and exits,
 * waits for it (reaps it), then says `done`; it uses almost nothing itself.
 */
function startBurner(): ChildProcess {
  const burn = `const s=process.cpuUsage();for(;;){const u=process.cpuUsage(s);if((u.user+u.system)/1000>=${BURN_MS})break}`;
  const script = `const {spawnSync}=require('node:child_process');process.stdin.setEncoding('utf8');process.stdin.on('data',()=>{spawnSync(process.execPath,['-e',${JSON.stringify(burn)}]);process.stdout.write('done\\n')});process.stdout.write('ready\\n')`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

function startIdle(): ChildProcess {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function line(child: ChildProcess, expected: string): Promise<void> {
  let text = '';
  while (!text.includes(`${expected}\n`)) {
    const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    text += chunk.toString();
  }
}

/** A sandbox directory as `sandbox up` leaves it: processes.json names the supervised processes. */
function sandboxDir(processes: { host: string; name: string; pid: number }[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgv-cpu-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'processes.json'), JSON.stringify(processes.map((p) => ({ ...p, startTime: null }))));
  return dir;
}

describe('the sandbox CPU sampler', () => {
  it("charges a group the CPU of a child it ran and reaped in the window, and an idle group nothing", async () => {
    const burner = startBurner();
    const idle = startIdle();
    const owner = startIdle();
    await line(burner, 'ready');
    // A postmaster.pid naming a process that is not PostgreSQL (a reused pid) is no group.
    const stale = mkdtempSync(join(tmpdir(), 'pgv-cpu-data-'));
    dirs.push(stale);
    writeFileSync(join(stale, 'postmaster.pid'), `${idle.pid}\n${stale}\n`);
    const dir = sandboxDir([
      { host: 'root', name: 'burner', pid: burner.pid as number },
      { host: 'node1', name: 'agent', pid: idle.pid as number },
    ]);
    const state = { owner: { pid: owner.pid as number }, dataDirectories: { node1: stale } };
    const snap = () => {
      const processes = readProcesses();
      return snapshotGroups(sandboxGroupRoots(dir, state, processes), processes, readMachineTicks());
    };
    expect(sandboxGroupRoots(dir, state, readProcesses()).map((r) => r.label)).toEqual(['root/burner', 'node1/agent', 'root/sandbox']);

    const before = snap();
    burner.stdin?.write('go\n');
    await line(burner, 'done');
    const report = cpuBetween(before, snap(), 2);

    const cpuMs = (label: string): number => ((report.groups.find((g) => g.label === label)?.corePct ?? -1) / 100) * report.windowMs;
    // Clock ticks are 10 ms; the share is rounded to 0.1 % of a core.
    expect(cpuMs('root/burner')).toBeGreaterThanOrEqual(BURN_MS - 2 * (1000 / CLOCK_TICKS) - report.windowMs / 1000);
    expect(cpuMs('node1/agent')).toBe(0);
    expect(cpuMs('root/sandbox')).toBe(0);
    expect(report.sandboxPct).toBeCloseTo(report.groups.reduce((n, g) => n + g.corePct, 0), 0);
  });

  it('samples a running directory over a window, leaving out processes that are gone', async () => {
    const owner = startIdle();
    const dir = sandboxDir([{ host: 'root', name: 'moto', pid: 2 ** 22 + 1 }]); // above pid_max: never a live process
    const report = await sampleSandboxCpu(dir, { owner: { pid: owner.pid as number }, dataDirectories: {} }, 300, 2);
    expect(report.groups.map((g) => g.label)).toEqual(['root/sandbox']);
    expect(report.windowMs).toBeGreaterThanOrEqual(290);
    expect(report.machinePct).toBeGreaterThanOrEqual(0);
  });
});
