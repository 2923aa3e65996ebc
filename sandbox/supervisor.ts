/**
 * Starts, stops and kills the sandbox's long-running processes (agents, moto, the Lambda runtime …),
 * grouped by host, with output in `<dir>/logs/<host>.<name>.log`.
 *
 * `killHost` is the sandbox's "instance stop" and the kill-primary-host drill: every process of the
 * host dies at once — the supervised ones, whatever runs inside its network namespace (PostgreSQL
 * started by `pg_ctl` has left the agent's process group), and the pids of registered sources
 * (postmaster.pid in loopback mode) with their descendants.
 *
 * Every started pid is recorded with its kernel start time in `<dir>/processes.json`, so
 * {@link teardownProcesses} ends exactly these processes after a crash and never a recycled pid.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgvigilError } from '../core/errors.js';
import type { SandboxNetwork } from './netns.js';

export interface ProcessSpec {
  /** The host the process belongs to (a name known to the network). */
  host: string;
  /** Unique per host, e.g. `agent`, `moto`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Start it again after it exits on its own (systemd `Restart=always`). @default false */
  restart?: boolean;
  /** @default 1000 */
  restartDelayMs?: number;
}

export interface ProcessStatus {
  host: string;
  name: string;
  pid: number | null;
  running: boolean;
  restarts: number;
  lastExit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null;
  log: string;
}

interface Entry {
  spec: ProcessSpec;
  child: ChildProcess | null;
  pid: number | null;
  startTime: string | null;
  restarts: number;
  lastExit: ProcessStatus['lastExit'];
  /** Set while we are stopping it on purpose (no restart). */
  stopping: boolean;
  restartTimer: NodeJS.Timeout | null;
  exited: Promise<void>;
  log: string;
}

interface RecordedProcess {
  host: string;
  name: string;
  pid: number;
  startTime: string;
}

const STATE_FILE = 'processes.json';
/** Hosts stopped by {@link Supervisor.killHost}, for other processes (the controller's SSM runner). */
const HOSTS_DOWN_FILE = 'hosts-down.json';

/** The hosts a sandbox's supervisor has stopped (from any process). */
export function readHostsDown(dir: string): string[] {
  try {
    return JSON.parse(readFileSync(join(dir, HOSTS_DOWN_FILE), 'utf8')) as string[];
  } catch {
    return [];
  }
}

/** The kernel start time of a process (field 22 of /proc/PID/stat), or null when it is gone. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return null;
  }
}

/** Children of every process, from one scan of /proc. */
function childrenMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const parent = parentOf(pid);
    if (parent === null) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  return children;
}

/** A process and all its descendants (by parent pid), root first. */
export function processTree(root: number, children: Map<number, number[]> = childrenMap()): number[] {
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    if (tree.includes(pid)) continue;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** SIGKILLs a process tree: stopped first so no member can fork or be reparented unseen. */
export function killTree(root: number): void {
  if (procStartTime(root) === null) return;
  const tree = processTree(root);
  for (const pid of tree) signal(pid, 'SIGSTOP');
  const again = [...new Set([...tree, ...tree.flatMap((p) => processTree(p))])];
  for (const pid of again) signal(pid, 'SIGKILL');
}

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pids.every((p) => !alive(p))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True when the process runs (a zombie does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export type PidSource = () => Promise<number[]> | number[];

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly pidSources = new Map<string, PidSource[]>();
  private readonly downHosts = new Set<string>();
  readonly logDir: string;

  constructor(
    readonly dir: string,
    private readonly network: SandboxNetwork,
    private readonly onExit?: (status: ProcessStatus) => void,
  ) {
    this.logDir = join(dir, 'logs');
  }

  private key(host: string, name: string): string {
    return `${host}/${name}`;
  }

  /** Starts a process on its host; throws when one of that name already runs there. */
  start(spec: ProcessSpec): ProcessStatus {
    this.network.host(spec.host); // throws for an unknown host
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(spec.name)) {
      throw new PgvigilError('BAD_ARGUMENT', `process name "${spec.name}" must be lower-case letters, digits or "-"`);
    }
    const key = this.key(spec.host, spec.name);
    const existing = this.entries.get(key);
    if (existing?.child && existing.pid !== null && existing.child.exitCode === null && existing.child.signalCode === null) {
      throw new PgvigilError('CONFLICT', `${spec.name} already runs on ${spec.host} (pid ${existing.pid})`);
    }
    if (existing?.restartTimer) clearTimeout(existing.restartTimer);
    if (this.downHosts.delete(spec.host)) this.saveHostsDown();
    mkdirSync(this.logDir, { recursive: true });
    const entry: Entry = existing ?? {
      spec,
      child: null,
      pid: null,
      startTime: null,
      restarts: 0,
      lastExit: null,
      stopping: false,
      restartTimer: null,
      exited: Promise.resolve(),
      log: join(this.logDir, `${spec.host}.${spec.name}.log`),
    };
    entry.spec = spec;
    entry.stopping = false;
    entry.restartTimer = null;
    this.entries.set(key, entry);
    this.launch(entry);
    return this.statusOf(entry);
  }

  private launch(entry: Entry): void {
    const { spec } = entry;
    const fd = openSync(entry.log, 'a');
    let child: ChildProcess;
    try {
      child = this.network.spawnIn(spec.host, spec.command, spec.args, {
        stdio: ['ignore', fd, fd],
        ...(spec.env ? { env: spec.env } : {}),
        ...(spec.cwd ? { cwd: spec.cwd } : {}),
        ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
        ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
      });
    } finally {
      closeSync(fd);
    }
    entry.child = child;
    entry.pid = child.pid ?? null;
    entry.startTime = entry.pid === null ? null : procStartTime(entry.pid);
    entry.exited = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        entry.pid = null;
        entry.startTime = null;
        entry.lastExit = { code: null, signal: null, at: Date.now() };
        try {
          writeFileSync(entry.log, `supervisor: could not start ${spec.command}: ${error.message}\n`, { flag: 'a' });
        } catch {
          // the log directory is gone: nothing more to say
        }
        this.save();
        resolve();
      });
      child.once('exit', (code, sig) => {
        entry.lastExit = { code, signal: sig, at: Date.now() };
        entry.pid = null;
        entry.startTime = null;
        this.save();
        this.onExit?.(this.statusOf(entry));
        if (spec.restart && !entry.stopping && !this.downHosts.has(spec.host)) {
          entry.restartTimer = setTimeout(() => {
            entry.restartTimer = null;
            if (entry.stopping || this.downHosts.has(spec.host)) return;
            entry.restarts += 1;
            this.launch(entry);
          }, spec.restartDelayMs ?? 1000);
        }
        resolve();
      });
    });
    this.save();
  }

  /** Registers extra pids that belong to a host (e.g. the postmaster from postmaster.pid). */
  addPidSource(host: string, source: PidSource): void {
    const list = this.pidSources.get(host) ?? [];
    list.push(source);
    this.pidSources.set(host, list);
  }

  /** Stops one process: SIGTERM to its process group, SIGKILL after `timeoutMs`. */
  async stop(host: string, name: string, timeoutMs = 10_000): Promise<void> {
    const entry = this.entries.get(this.key(host, name));
    if (!entry) throw new PgvigilError('NOT_FOUND', `no process ${name} on ${host}`);
    entry.stopping = true;
    if (entry.restartTimer) clearTimeout(entry.restartTimer);
    entry.restartTimer = null;
    if (entry.pid === null) return;
    const pid = entry.pid;
    signal(-pid, 'SIGTERM');
    signal(-pid, 'SIGCONT'); // a stopped process (a chaos fault) must run to see its SIGTERM
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs));
    if ((await Promise.race([entry.exited.then(() => 'exited' as const), timeout])) === 'timeout') {
      killTree(pid);
      signal(-pid, 'SIGKILL');
      await entry.exited;
    }
  }

  /** Sends a signal to one process (default SIGKILL: the stop-agent drill). A restartable one comes back. */
  async kill(host: string, name: string, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const entry = this.entries.get(this.key(host, name));
    if (!entry) throw new PgvigilError('NOT_FOUND', `no process ${name} on ${host}`);
    if (entry.pid === null) return;
    const exited = entry.exited;
    if (sig === 'SIGKILL') killTree(entry.pid);
    signal(-entry.pid, sig);
    if (sig === 'SIGKILL') await exited;
  }

  /**
   * Sends a signal to one process alone — not its group, not its children (SIGSTOP/SIGCONT of an
   * agent or of the controller; SIGKILL of a controller whose in-flight SSM commands run on).
   * Returns its pid, or null when it is not running. A restartable process killed this way comes back.
   */
  signal(host: string, name: string, sig: NodeJS.Signals): number | null {
    const entry = this.entries.get(this.key(host, name));
    if (!entry) throw new PgvigilError('NOT_FOUND', `no process ${name} on ${host}`);
    if (entry.pid === null) return null;
    signal(entry.pid, sig);
    return entry.pid;
  }

  /** The pid of a supervised process, or null when it is not running. */
  pid(host: string, name: string): number | null {
    return this.entries.get(this.key(host, name))?.pid ?? null;
  }

  /**
   * Every process of the host dies (SIGKILL) and none is restarted until {@link start} is called
   * for that host again. Returns the pids killed.
   */
  async killHost(host: string): Promise<number[]> {
    this.network.host(host);
    this.downHosts.add(host);
    this.saveHostsDown();
    const waits: Promise<void>[] = [];
    const roots: number[] = [];
    for (const entry of this.entries.values()) {
      if (entry.spec.host !== host) continue;
      if (entry.restartTimer) clearTimeout(entry.restartTimer);
      entry.restartTimer = null;
      if (entry.pid === null) continue;
      roots.push(entry.pid);
      waits.push(entry.exited);
    }
    for (const source of this.pidSources.get(host) ?? []) roots.push(...(await source()));
    // Gather everything first (in netns mode the namespace knows every process, including those
    // pg_ctl started), then stop all of it at once and kill it: a host dies in one instant, so no
    // process of it can answer a peer after another one has gone.
    const all = new Set<number>();
    const children = childrenMap();
    for (const pid of [...roots, ...(await this.network.pids(host))]) for (const p of processTree(pid, children)) all.add(p);
    for (const pid of all) signal(pid, 'SIGSTOP');
    for (const pid of all) signal(pid, 'SIGKILL');
    const killed = new Set(all);
    for (let round = 0; round < 20; round++) {
      const stragglers = (await this.network.pids(host)).filter((p) => alive(p));
      if (stragglers.length === 0) break;
      for (const pid of stragglers) {
        killed.add(pid);
        killTree(pid);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await Promise.all(waits);
    await waitGone([...killed], 5000);
    return [...killed].sort((a, b) => a - b);
  }

  /** True after {@link killHost} until a process is started on the host again. */
  isHostDown(host: string): boolean {
    return this.downHosts.has(host);
  }

  status(): ProcessStatus[] {
    return [...this.entries.values()].map((e) => this.statusOf(e));
  }

  private statusOf(entry: Entry): ProcessStatus {
    return {
      host: entry.spec.host,
      name: entry.spec.name,
      pid: entry.pid,
      running: entry.pid !== null,
      restarts: entry.restarts,
      lastExit: entry.lastExit,
      log: entry.log,
    };
  }

  /** Stops everything (SIGTERM, then SIGKILL after `timeoutMs`) and removes the state file. */
  async stopAll(timeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.stop(e.spec.host, e.spec.name, timeoutMs)));
    rmSync(join(this.dir, STATE_FILE), { force: true });
  }

  private saveHostsDown(): void {
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, HOSTS_DOWN_FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify([...this.downHosts]));
    renameSync(`${file}.tmp`, file);
  }

  private save(): void {
    const recorded: RecordedProcess[] = [];
    for (const e of this.entries.values()) {
      if (e.pid !== null && e.startTime !== null) recorded.push({ host: e.spec.host, name: e.spec.name, pid: e.pid, startTime: e.startTime });
    }
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, STATE_FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify(recorded, null, 2));
    renameSync(`${file}.tmp`, file);
  }
}

/**
 * Kills the processes a (possibly crashed) supervisor recorded in `dir`, checking each pid's start
 * time so a recycled pid is never touched. Returns the pids killed.
 */
export async function teardownProcesses(dir: string): Promise<number[]> {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return [];
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as RecordedProcess[];
  const killed: number[] = [];
  for (const p of recorded) {
    if (procStartTime(p.pid) !== p.startTime) continue;
    const tree = processTree(p.pid);
    killTree(p.pid);
    signal(-p.pid, 'SIGKILL');
    killed.push(...tree);
  }
  await waitGone(killed, 5000);
  rmSync(file, { force: true });
  return killed;
}
