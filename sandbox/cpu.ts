/**
 * Where the sandbox's CPU goes (docs/sandbox.md, "CPU"): the share of a core each of its processes
 * used over a window, from /proc (utime + stime, plus the children each has reaped: an SSM
 * command's `pgvigil-agent`, a PostgreSQL backend that exited, `pg_ctl`).
 *
 * A group is one process and its descendants. Its total at an instant is the sum over its live
 * members of their own time and their reaped children's, so the CPU of a short-lived child is
 * counted once, in the child while it runs and in its parent once reaped, and a delta between two
 * samples is what the group used in between. A pid is counted in one group only: the first that
 * claims it (PostgreSQL's postmasters, which leave the tree that started them, are listed before
 * the sandbox process whose descendants everything else is).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on). */
export const CLOCK_TICKS = 100;

/** One process as /proc/PID/stat shows it. */
export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

/** Parses /proc/PID/stat (the command name may hold spaces and parentheses: split after the last ")"). */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const fields = text.slice(close + 2).trim().split(' ');
  // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  const n = (i: number): number => Number(fields[i]);
  if (fields.length < 15 || ![1, 11, 12, 13, 14].every((i) => Number.isFinite(n(i)))) return null;
  return { pid, ppid: n(1), comm: text.slice(open + 1, close), ticks: n(11) + n(12) + n(13) + n(14) };
}

/** Every process now, by pid. */
export function readProcesses(procDir = '/proc'): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseProcStat(readFileSync(join(procDir, entry, 'stat'), 'utf8'));
      if (stat) out.set(stat.pid, stat);
    } catch {
      // gone between the listing and the read
    }
  }
  return out;
}

/** Busy and total jiffies of the whole machine (the first line of /proc/stat). */
export function readMachineTicks(text = readFileSync('/proc/stat', 'utf8')): { busy: number; total: number } {
  const cpu = (text.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  // idle (3) and iowait (4) are not work; guest time is already in user.
  const busy = total - (cpu[3] ?? 0) - (cpu[4] ?? 0) - (cpu[8] ?? 0) - (cpu[9] ?? 0);
  return { busy, total };
}

/** A named group of processes: `root` and its descendants. */
export interface GroupRoot {
  label: string;
  pid: number;
}

export interface CpuSnapshot {
  at: number;
  /** label → ticks of the group's live members (own and reaped children's). */
  groups: Map<string, number>;
  machine: { busy: number; total: number };
}

/** The groups' totals now; a pid already claimed by an earlier group is not counted again. */
export function snapshotGroups(roots: readonly GroupRoot[], processes: Map<number, ProcStat>, machine: { busy: number; total: number }, at = Date.now()): CpuSnapshot {
  const children = new Map<number, number[]>();
  for (const p of processes.values()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const claimed = new Set<number>();
  const groups = new Map<string, number>();
  for (const root of roots) {
    let ticks = 0;
    const queue = [root.pid];
    while (queue.length > 0) {
      const pid = queue.pop() as number;
      const stat = processes.get(pid);
      if (!stat || claimed.has(pid)) continue;
      claimed.add(pid);
      ticks += stat.ticks;
      queue.push(...(children.get(pid) ?? []));
    }
    groups.set(root.label, (groups.get(root.label) ?? 0) + ticks);
  }
  return { at, groups, machine };
}

export interface CpuShare {
  label: string;
  /** Share of one core over the window, in percent (100 = one core busy the whole time). */
  corePct: number;
}

export interface CpuReport {
  windowMs: number;
  /** The busiest first. */
  groups: CpuShare[];
  /** Every group together. */
  sandboxPct: number;
  /** The whole machine's busy time, in percent of one core (2 cores busy = 200). */
  machinePct: number;
  /** What the machine did besides these groups. */
  otherPct: number;
  cores: number;
}

const pct = (ticks: number, ms: number): number => Math.round(((ticks / CLOCK_TICKS) * 1000 * 1000) / Math.max(1, ms)) / 10;

/**
 * The shares between two snapshots. A group whose root was restarted in between can show less than
 * it used (the old process's time left with it); it is never negative.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, cores: number): CpuReport {
  const windowMs = Math.max(1, after.at - before.at);
  const groups: CpuShare[] = [];
  let sandbox = 0;
  for (const [label, ticks] of after.groups) {
    const used = Math.max(0, ticks - (before.groups.get(label) ?? 0));
    sandbox += used;
    groups.push({ label, corePct: pct(used, windowMs) });
  }
  groups.sort((a, b) => b.corePct - a.corePct || a.label.localeCompare(b.label));
  const busy = after.machine.busy - before.machine.busy;
  const total = after.machine.total - before.machine.total;
  // /proc/stat counts every core: busy / total × cores is the machine's load in cores.
  const machinePct = total > 0 ? Math.round((busy / total) * cores * 1000) / 10 : 0;
  const sandboxPct = pct(sandbox, windowMs);
  return { windowMs, groups, sandboxPct, machinePct, otherPct: Math.max(0, Math.round((machinePct - sandboxPct) * 10) / 10), cores };
}

/**
 * The sandbox's process groups from its directory: each node's PostgreSQL (postmaster.pid), each
 * supervised process (processes.json: moto, the AWS proxy, the controller, the agents), then the
 * `sandbox up` process itself (the VIP proxy, the drills' writers and probes, the instance watcher,
 * the switchover function and the SSM commands it runs).
 */
export function sandboxGroupRoots(
  dir: string,
  state: { owner: { pid: number }; dataDirectories: Record<string, string> },
  processes: Map<number, ProcStat>,
): GroupRoot[] {
  const roots: GroupRoot[] = [];
  for (const [node, dataDir] of Object.entries(state.dataDirectories)) {
    try {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (processes.get(pid)?.comm.startsWith('postgres')) roots.push({ label: `${node}/postgres`, pid });
    } catch {
      // the server is down
    }
  }
  try {
    const recorded = JSON.parse(readFileSync(join(dir, 'processes.json'), 'utf8')) as { host: string; name: string; pid: number }[];
    for (const p of recorded) if (processes.has(p.pid)) roots.push({ label: `${p.host}/${p.name}`, pid: p.pid });
  } catch {
    // no supervised process yet
  }
  roots.push({ label: 'root/sandbox', pid: state.owner.pid });
  return roots;
}

/** Samples the sandbox in `dir` over `windowMs` (what `pgvigil sandbox status --cpu` shows). */
export async function sampleSandboxCpu(
  dir: string,
  state: { owner: { pid: number }; dataDirectories: Record<string, string> },
  windowMs: number,
  cores: number,
): Promise<CpuReport> {
  const take = (): CpuSnapshot => {
    const processes = readProcesses();
    return snapshotGroups(sandboxGroupRoots(dir, state, processes), processes, readMachineTicks());
  };
  const before = take();
  await new Promise((r) => setTimeout(r, windowMs));
  return cpuBetween(before, take(), cores);
}

/** The report as lines: one per group, then the sandbox, the rest of the machine. */
export function formatCpuReport(report: CpuReport): string[] {
  const f = (n: number): string => `${n.toFixed(1).padStart(6)} %`;
  return [
    `CPU over ${(report.windowMs / 1000).toFixed(1)} s (percent of one core; ${report.cores} cores):`,
    ...report.groups.map((g) => `  ${g.label.padEnd(20)} ${f(g.corePct)}`),
    `  ${'sandbox, all'.padEnd(20)} ${f(report.sandboxPct)}`,
    `  ${'rest of the machine'.padEnd(20)} ${f(report.otherPct)}`,
  ];
}

/**
 * Two reports side by side, group by group (`bench:sandbox-cpu --before FILE`: an earlier run's
 * figures, e.g. on main, next to this one's): each group's share before and after, the groups of
 * either run, the busiest now first, then the sandbox as a whole.
 */
export function formatCpuComparison(before: Pick<CpuReport, 'groups' | 'sandboxPct'>, after: Pick<CpuReport, 'groups' | 'sandboxPct'>): string[] {
  const was = new Map(before.groups.map((g) => [g.label, g.corePct]));
  const now = new Map(after.groups.map((g) => [g.label, g.corePct]));
  const labels = [...after.groups.map((g) => g.label), ...before.groups.map((g) => g.label).filter((l) => !now.has(l))];
  const cell = (n: number | undefined): string => (n === undefined ? '-' : `${n.toFixed(1)} %`).padStart(8);
  const row = (label: string, a: number | undefined, b: number | undefined): string => {
    const delta = a !== undefined && b !== undefined ? `${b - a >= 0 ? '+' : ''}${(b - a).toFixed(1)}` : '';
    return `  ${label.padEnd(20)} ${cell(a)} ${cell(b)}  ${delta}`;
  };
  return [
    `  ${'group'.padEnd(20)} ${'before'.padStart(8)} ${'after'.padStart(8)}`,
    ...labels.map((l) => row(l, was.get(l), now.get(l))),
    row('sandbox, all', before.sandboxPct, after.sandboxPct),
  ];
}
