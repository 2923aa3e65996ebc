/**
 * What every peer cluster of `bench:peers` shares: its hosts are network namespaces
 * (sandbox/netns.ts) and its long-running processes live under the sandbox's Supervisor, so a dead
 * host is real (every process of its namespace killed in one instant, its link down) and teardown
 * ends exactly what was started and deletes the namespaces. PostgreSQL runs as the `postgres` user.
 */
import { chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import { query } from '../../sandbox/drills/heal.js';
import { SandboxNetwork, type ExecResult } from '../../sandbox/netns.js';
import { DEFAULT_PG_BINDIR, lookupOsUser, type OsUser } from '../../shell/run-as.js';
import { Supervisor } from '../../sandbox/supervisor.js';
import type { PgTarget } from '../../sandbox/writers.js';
import type { FaultName, SystemName } from './stats.js';

export const PG_PORT = 5432;
export const NODES = ['node1', 'node2', 'node3'] as const;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A peer system's cluster, as the measuring loop drives it. */
export interface PeerCluster {
  readonly system: SystemName;
  /** What differs from a plain setup, for the report (settings chosen and why). */
  readonly settings: string[];
  /** Brings the cluster back to a healthy 3-node state (one primary, two streaming standbys); returns the primary. */
  reset(log: (line: string) => void): Promise<string>;
  /** The hosts a client lists, `primary` first (see docs/drills.md). */
  hosts(primary: string): PgTarget[];
  /** The node a server address belongs to. */
  nodeAt(address: string): string | undefined;
  /** Injects the fault on `primary`; a switchover returns once the tool answered. */
  inject(fault: FaultName, primary: string, log: (line: string) => void): Promise<string>;
  down(): Promise<void>;
}

export type Role = 'primary' | 'standby' | 'down';

/**
 * What the three peers share: the client's host list, the crash and dead-host faults (a system
 * supplies its data directories and its switchover), teardown.
 */
export abstract class PeerClusterBase implements PeerCluster {
  abstract readonly system: PeerCluster['system'];
  abstract readonly settings: string[];
  constructor(readonly peer: PeerHosts) {}

  /** Brings a cluster up with `bringUp`, tearing everything down when it fails. */
  protected static async start<C extends PeerClusterBase>(cluster: C, bringUp: (c: C) => Promise<void>): Promise<C> {
    try {
      await bringUp(cluster);
    } catch (error) {
      await cluster.down();
      throw error;
    }
    return cluster;
  }

  abstract reset(log: (line: string) => void): Promise<string>;
  protected abstract dataDir(node: string): string;
  /** Runs the system's own switchover tool away from `primary`; returns what it said. */
  protected abstract switchover(primary: string): Promise<string>;

  hosts(primary: string): PgTarget[] {
    return [primary, ...NODES.filter((n) => n !== primary)].map((n) => this.peer.target(n));
  }

  nodeAt(address: string): string | undefined {
    return this.peer.network.hosts.find((h) => h.address === address)?.name;
  }

  async inject(fault: FaultName, primary: string): Promise<string> {
    switch (fault) {
      case 'crash-primary':
        return `killed postmaster ${this.peer.killPostmaster(this.dataDir(primary))}`;
      case 'kill-primary-host':
        return `killed ${await this.peer.killHost(primary)} processes and cut the link`;
      case 'switchover':
        return this.switchover(primary);
    }
  }

  /** Waits until both other nodes stream from `primary` and `daemon` runs on every node. */
  protected async waitStreaming(primary: string, daemon: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const want = NODES.filter((n) => n !== primary);
    for (;;) {
      const streaming = await this.peer.streaming(primary);
      if (want.every((n) => streaming.includes(n)) && NODES.every((n) => this.peer.running(n, daemon))) return;
      if (Date.now() > deadline) throw new Error(`${this.system}: not healthy after ${timeoutMs / 1000} s (primary ${primary}, streaming: ${streaming.join(',') || 'none'})`);
      await sleep(250);
    }
  }

  async down(): Promise<void> {
    await this.peer.down();
  }
}

/** Hosts, processes and PostgreSQL helpers of one peer cluster (see the module comment). */
export class PeerHosts {
  readonly user: OsUser = lookupOsUser('postgres');
  readonly supervisor: Supervisor;

  private constructor(
    readonly dir: string,
    readonly network: SandboxNetwork,
  ) {
    this.supervisor = new Supervisor(dir, network);
  }

  /** A namespace per host on a private /24 of its own; `dir` must not exist yet. */
  static async create(dir: string, hosts: readonly string[]): Promise<PeerHosts> {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const network = await SandboxNetwork.create({ dir, mode: 'netns', prefix: undefined });
    const peer = new PeerHosts(dir, network);
    try {
      for (const h of hosts) await network.addHost(h);
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return peer;
  }

  address(host: string): string {
    return this.network.host(host).address;
  }

  /** The subnet as pg_hba.conf wants it (the root namespace reaches it from the bridge's address). */
  get subnet(): string {
    return this.network.subnetCidr as string;
  }

  /** Where a node's server listens; `ports` overrides {@link PG_PORT} per host. */
  target(host: string): PgTarget {
    return { host: this.address(host), port: this.ports[host] ?? PG_PORT };
  }

  /** Per-host server ports (pg_auto_failover: distinct ports, see autofailover.ts). */
  ports: Record<string, number> = {};

  /** A directory owned by the PostgreSQL user. */
  ownedDir(path: string): string {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 }); // parents the user can traverse
    mkdirSync(path, { recursive: true, mode: 0o700 });
    chownSync(path, this.user.uid, this.user.gid);
    return path;
  }

  /** The environment of every command and daemon (PostgreSQL's binaries on PATH, HOME in the cluster dir). */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { PATH: `${DEFAULT_PG_BINDIR}:/usr/bin:/bin:/usr/sbin:/sbin`, HOME: this.dir, USER: this.user.name, LC_ALL: 'C', ...extra };
  }

  /** Runs a command on a host as the PostgreSQL user; throws with its output when it fails. */
  async exec(host: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFailure?: boolean } = {}): Promise<ExecResult> {
    const r = await this.network.exec(host, command, args, { uid: this.user.uid, gid: this.user.gid, env: options.env ?? this.env(), cwd: '/', timeoutMs: options.timeoutMs ?? 120_000 });
    if (r.code !== 0 && !options.allowFailure) {
      throw new PgvigilError('SYS_FAILURE', `${host}: ${command} ${args.join(' ')} failed (exit ${r.code ?? r.signal}${r.timedOut ? ', timed out' : ''})`, {
        detail: `${r.stdout}${r.stderr}`.trim().slice(-3000),
      });
    }
    return r;
  }

  /** Starts a daemon on a host as the PostgreSQL user (log in `<dir>/logs/<host>.<name>.log`). */
  daemon(host: string, name: string, command: string, args: string[], env: NodeJS.ProcessEnv = this.env()): void {
    this.supervisor.start({ host, name, command, args, env, cwd: '/', uid: this.user.uid, gid: this.user.gid });
  }

  running(host: string, name: string): boolean {
    return this.supervisor.status().some((s) => s.host === host && s.name === name && s.running);
  }

  /** Where a node's server stands, asked over TCP (`down`: no answer in 2 s). */
  async role(host: string): Promise<Role> {
    try {
      const [row] = await query<{ r: boolean }>(this.target(host), 'SELECT pg_is_in_recovery() AS r', 2000);
      return row?.r ? 'standby' : 'primary';
    } catch {
      return 'down';
    }
  }

  /** The one node that is not in recovery, once there is exactly one (waits up to `timeoutMs`). */
  async waitPrimary(nodes: readonly string[], timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const roles = await Promise.all(nodes.map(async (n) => [n, await this.role(n)] as const));
      const primaries = roles.filter(([, r]) => r === 'primary').map(([n]) => n);
      if (primaries.length === 1) return primaries[0] as string;
      if (Date.now() > deadline) {
        throw new PgvigilError('SYS_FAILURE', `${this.dir}: ${primaries.length} primaries after ${timeoutMs / 1000} s (${roles.map(([n, r]) => `${n}=${r}`).join(' ')})`);
      }
      await sleep(250);
    }
  }

  /** Standbys streaming from `primary`, by application_name. */
  async streaming(primary: string): Promise<string[]> {
    try {
      const rows = await query<{ name: string }>(this.target(primary), "SELECT application_name AS name FROM pg_stat_replication WHERE state = 'streaming'", 2000);
      return rows.map((r) => r.name);
    } catch {
      return [];
    }
  }

  /** The standby `primary` replicates to synchronously (sync_state `sync`), if any. */
  async syncStandby(primary: string): Promise<string | undefined> {
    const rows = await query<{ name: string }>(this.target(primary), "SELECT application_name AS name FROM pg_stat_replication WHERE sync_state = 'sync' ORDER BY 1", 2000);
    return rows[0]?.name;
  }

  /** SIGKILL to a data directory's postmaster (a crashed server); returns its pid. */
  killPostmaster(dataDir: string): number {
    const file = join(dataDir, 'postmaster.pid');
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 1) throw new PgvigilError('SYS_FAILURE', `no postmaster pid in ${file}`);
    process.kill(pid, 'SIGKILL');
    return pid;
  }

  /** A dead host: every process in its namespace killed at once, then its link down. */
  async killHost(host: string): Promise<number> {
    const killed = await this.supervisor.killHost(host);
    await this.network.cut(host);
    return killed.length;
  }

  /** Restores every cut host's link. */
  async restoreAll(): Promise<string[]> {
    const restored: string[] = [];
    for (const h of this.network.hosts) {
      if (this.network.isCut(h.name)) {
        await this.network.restore(h.name);
        restored.push(h.name);
      }
    }
    return restored;
  }

  /** Stops every daemon, kills whatever is left in the namespaces, deletes them and the directory. */
  async down(): Promise<void> {
    await this.supervisor.stopAll(5000).catch(() => undefined);
    await this.network.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
