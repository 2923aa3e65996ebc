/**
 * The machine a `bench:peers` run measured on: CPU model, cores, load average before and after,
 * and the CPU that processes other than the benchmark's own used meanwhile ("what else ran").
 */
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export interface CpuSample {
  at: number;
  /** pid → [command, CPU ticks so far]. */
  procs: Map<number, [string, number]>;
}

/** utime + stime of every process now. */
export function sampleCpu(): CpuSample {
  const procs = new Map<number, [string, number]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      procs.set(Number(entry), [comm, Number(fields[11]) + Number(fields[12])]);
    } catch {
      // gone
    }
  }
  return { at: Date.now(), procs };
}

/** This process and its ancestors (npm, tsx …): not "something else". */
export function ownLine(): Set<number> {
  const own = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !own.has(pid)) {
    own.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return own;
}

/**
 * Processes that existed before the run and used CPU during it (our clusters did not exist yet, so
 * they are not counted), grouped by command: percent of one core, the busiest first.
 */
export function otherCpu(before: CpuSample, after: CpuSample, exclude: Set<number>, hz = 100): { command: string; core_pct: number }[] {
  const byCommand = new Map<string, number>();
  for (const [pid, [comm, ticks]] of after.procs) {
    const start = before.procs.get(pid);
    if (!start || start[0] !== comm || exclude.has(pid)) continue;
    byCommand.set(comm, (byCommand.get(comm) ?? 0) + (ticks - start[1]));
  }
  const secs = Math.max(1, (after.at - before.at) / 1000);
  return [...byCommand]
    .map(([command, ticks]) => ({ command, core_pct: Math.round((ticks / hz / secs) * 1000) / 10 }))
    .filter((x) => x.core_pct >= 1)
    .sort((a, b) => b.core_pct - a.core_pct)
    .slice(0, 8);
}

export interface MachineInfo {
  cpu_model: string;
  cores: number;
  load_before: number[];
  load_after: number[] | null;
  other_cpu: { command: string; core_pct: number }[] | null;
}

export function machineNow(): MachineInfo {
  return { cpu_model: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, load_before: loadavg().map((x) => Math.round(x * 100) / 100), load_after: null, other_cpu: null };
}

export function describeMachine(m: MachineInfo): string {
  const load = (l: number[] | null) => (l ? l.map((x) => x.toFixed(2)).join(' / ') : '?');
  const others = m.other_cpu && m.other_cpu.length > 0 ? m.other_cpu.map((o) => `${o.command} ${o.core_pct}%`).join(', ') : 'nothing above 1 % of a core';
  return `${m.cpu_model}, ${m.cores} cores; load average (1/5/15 min) ${load(m.load_before)} before, ${load(m.load_after)} after; other processes meanwhile: ${others}`;
}
