import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuBetween, formatCpuComparison, formatCpuReport, parseProcStat, readMachineTicks, readProcesses, snapshotGroups, type ProcStat } from '../../sandbox/cpu.js';

/** A /proc/PID/stat line with the given times (utime stime cutime cstime). */
function statLine(pid: number, comm: string, ppid: number, [utime, stime, cutime, cstime]: [number, number, number, number]): string {
  const after = ['S', ppid, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0, 12345];
  return `${pid} (${comm}) ${after.join(' ')}\n`;
}

const procs = (...list: ProcStat[]): Map<number, ProcStat> => new Map(list.map((p) => [p.pid, p]));
const p = (pid: number, ppid: number, ticks: number, comm = 'node'): ProcStat => ({ pid, ppid, comm, ticks });

describe('parseProcStat', () => {
  it('sums user, system and reaped children’s time, even when the name holds spaces and parentheses', () => {
    expect(parseProcStat(statLine(42, 'postgres: walwriter (x)', 7, [10, 5, 3, 2]))).toEqual({ pid: 42, ppid: 7, comm: 'postgres: walwriter (x)', ticks: 20 });
  });

  it('returns null for a line it cannot read', () => {
    expect(parseProcStat('garbage')).toBeNull();
    expect(parseProcStat('12 (x) S 1 2')).toBeNull();
  });
});

describe('readMachineTicks', () => {
  it('counts every state but idle, iowait and guest time as busy', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    expect(readMachineTicks('cpu  100 10 50 800 40 5 5 0 7 3\ncpu0 1 2 3\n')).toEqual({ busy: 170, total: 1020 });
  });
});

describe('snapshotGroups and cpuBetween', () => {
  it('charges each group its whole process tree, and a process claimed once to the first group that lists it', () => {
    // 10 is the sandbox process; 20 a postmaster it started, with a backend 21; 30 moto under the sandbox.
    const processes = procs(p(10, 1, 100), p(20, 10, 50, 'postgres'), p(21, 20, 25, 'postgres'), p(30, 10, 400, 'python3'));
    const roots = [
      { label: 'node1/postgres', pid: 20 },
      { label: 'root/moto', pid: 30 },
      { label: 'root/sandbox', pid: 10 },
    ];
    const snap = snapshotGroups(roots, processes, { busy: 0, total: 0 }, 0);
    expect(Object.fromEntries(snap.groups)).toEqual({ 'node1/postgres': 75, 'root/moto': 400, 'root/sandbox': 100 });
  });

  it('reports each group’s share of one core over the window, the busiest first, and the rest of the machine', () => {
    const roots = [
      { label: 'root/moto', pid: 30 },
      { label: 'root/sandbox', pid: 10 },
    ];
    const before = snapshotGroups(roots, procs(p(10, 1, 100), p(30, 10, 400)), { busy: 1000, total: 4000 }, 0);
    // Over 2 s: moto used 60 ticks (0.6 s → 30 % of a core), the sandbox 10 ticks (5 %).
    // The machine (2 cores, 400 jiffies in 2 s) was busy 200 of them: 100 % of one core.
    const after = snapshotGroups(roots, procs(p(10, 1, 110), p(30, 10, 460)), { busy: 1200, total: 4400 }, 2000);
    const report = cpuBetween(before, after, 2);
    expect(report.groups).toEqual([
      { label: 'root/moto', corePct: 30 },
      { label: 'root/sandbox', corePct: 5 },
    ]);
    expect(report.sandboxPct).toBe(35);
    expect(report.machinePct).toBe(100);
    expect(report.otherPct).toBe(65);
    expect(formatCpuReport(report)).toEqual([
      'CPU over 2.0 s (percent of one core; 2 cores):',
      '  root/moto              30.0 %',
      '  root/sandbox            5.0 %',
      '  sandbox, all           35.0 %',
      '  rest of the machine    65.0 %',
    ]);
  });

  it('never reports a negative share for a group whose process was restarted in the window', () => {
    const roots = [{ label: 'root/controller', pid: 50 }];
    const before = snapshotGroups(roots, procs(p(50, 1, 900)), { busy: 0, total: 100 }, 0);
    const after = snapshotGroups([{ label: 'root/controller', pid: 51 }], procs(p(51, 1, 3)), { busy: 10, total: 200 }, 1000);
    expect(cpuBetween(before, after, 2).groups).toEqual([{ label: 'root/controller', corePct: 0 }]);
  });
});

describe('readProcesses', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every numeric entry of a proc directory and skips the rest', () => {
    dir = mkdtempSync(join(tmpdir(), 'pgv-proc-'));
    for (const [pid, line] of [
      ['7', statLine(7, 'init', 0, [1, 1, 0, 0])],
      ['8', 'unreadable'],
    ] as const) {
      mkdirSync(join(dir, pid));
      writeFileSync(join(dir, pid, 'stat'), line);
    }
    mkdirSync(join(dir, 'self'));
    mkdirSync(join(dir, '9')); // exited between the listing and the read: no stat file
    expect([...readProcesses(dir).values()]).toEqual([{ pid: 7, ppid: 0, comm: 'init', ticks: 2 }]);
  });
});

describe('formatCpuComparison', () => {
  it('puts each group’s share before and after side by side, with groups of either run, and the sandbox as a whole', () => {
    const before = { groups: [{ label: 'root/moto', corePct: 37 }, { label: 'root/old', corePct: 2 }], sandboxPct: 39 };
    const after = { groups: [{ label: 'root/moto', corePct: 27.9 }, { label: 'root/new', corePct: 1 }], sandboxPct: 28.9 };
    expect(formatCpuComparison(before, after)).toEqual([
      '  group                  before    after',
      '  root/moto              37.0 %   27.9 %  -9.1',
      '  root/new                    -    1.0 %  ',
      '  root/old                2.0 %        -  ',
      '  sandbox, all           39.0 %   28.9 %  -10.1',
    ]);
  });
});
