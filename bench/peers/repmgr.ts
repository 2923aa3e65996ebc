/**
 * repmgr 5 (Debian's postgresql-15-repmgr) on three namespaces: node1 primary, node2 and node3
 * cloned with `repmgr standby clone`, repmgrd on every node at the pgvigil sandbox's check settings
 * (monitor_interval_secs=1, reconnect_attempts=2, reconnect_interval=1), automatic failover with
 * repmgr's own promote and follow commands, and `primary_visibility_consensus=false` (repmgr's
 * default): with `true` and 1 s monitoring, a sibling that saw the primary within the last second
 * cancels the election, and repmgr 5.3 does not hold another one — a bench:peers run on a loaded
 * machine was left with no primary at all that way (docs/drills.md). Replication is synchronous `ANY 1 (the other two)` on every node, as in the
 * sandbox, so an acknowledged write survives any single failure. Switchover is
 * `repmgr standby switchover --siblings-follow` on the candidate, its ssh served by ssh.ts.
 */
import { rmSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PG_BINDIR } from '../../shell/run-as.js';
import { PostgresServer } from '../../sandbox/postgres.js';
import { NODES, PG_PORT, PeerClusterBase, PeerHosts, sleep } from './cluster.js';
import { startSshShim, type SshShim } from './ssh.js';

const REPMGR = join(DEFAULT_PG_BINDIR, 'repmgr');
const REPMGRD = join(DEFAULT_PG_BINDIR, 'repmgrd');

/** The repmgr.conf settings that decide failover speed (the rest identifies the node). */
export const REPMGR_SETTINGS: Record<string, string> = {
  failover: 'automatic',
  monitor_interval_secs: '1',
  reconnect_attempts: '2',
  reconnect_interval: '1',
  primary_visibility_consensus: 'false',
  connection_check_type: 'ping',
  use_replication_slots: 'true',
};

export class RepmgrCluster extends PeerClusterBase {
  readonly system = 'repmgr' as const;
  readonly settings = Object.entries(REPMGR_SETTINGS).map(([k, v]) => `${k}=${v}`);
  private ssh: SshShim | null = null;

  static async up(dir: string, log: (line: string) => void): Promise<RepmgrCluster> {
    return PeerClusterBase.start(new RepmgrCluster(await PeerHosts.create(dir, NODES)), (c) => c.bringUp(log));
  }

  private nodeDir(node: string): string {
    return join(this.peer.dir, node);
  }
  private conf(node: string): string {
    return join(this.nodeDir(node), 'repmgr.conf');
  }
  protected dataDir(node: string): string {
    return join(this.nodeDir(node), 'data');
  }

  private server(node: string): PostgresServer {
    const others = NODES.filter((n) => n !== node);
    return new PostgresServer({
      dataDir: this.dataDir(node),
      port: PG_PORT,
      host: this.peer.address(node),
      hbaNetworks: [this.peer.subnet],
      clusterName: node,
      settings: { shared_preload_libraries: 'repmgr', synchronous_standby_names: `ANY 1 (${others.join(', ')})` },
    });
  }

  private writeConf(node: string): void {
    const id = NODES.indexOf(node as (typeof NODES)[number]) + 1;
    const data = this.dataDir(node);
    const pgctl = join(DEFAULT_PG_BINDIR, 'pg_ctl');
    const lines: Record<string, string> = {
      node_id: String(id),
      node_name: node,
      conninfo: `host=${this.peer.address(node)} port=${PG_PORT} user=postgres dbname=postgres connect_timeout=2`,
      data_directory: data,
      pg_bindir: DEFAULT_PG_BINDIR,
      ...REPMGR_SETTINGS,
      promote_command: `${REPMGR} standby promote -f ${this.conf(node)} --log-to-file`,
      follow_command: `${REPMGR} standby follow -f ${this.conf(node)} --log-to-file --upstream-node-id=%n`,
      // pg_ctl with a log file: without one the server's output would hold repmgr's pipe open.
      service_start_command: `${pgctl} -D ${data} -l ${data}.log -w -t 60 start`,
      service_stop_command: `${pgctl} -D ${data} -m fast -w -t 60 stop`,
      service_restart_command: `${pgctl} -D ${data} -l ${data}.log -m fast -w -t 60 restart`,
      log_file: join(this.nodeDir(node), 'repmgr.log'),
      log_level: 'INFO',
      repmgrd_pid_file: join(this.nodeDir(node), 'repmgrd.pid'),
      ssh_options: '-q',
    };
    const text = Object.entries(lines)
      .map(([k, v]) => (/^(true|false|automatic|\d+|ping)$/.test(v) ? `${k}=${v}` : `${k}='${v}'`))
      .join('\n');
    writeFileSync(this.conf(node), `${text}\n`, { mode: 0o644 });
    chownSync(this.conf(node), this.peer.user.uid, this.peer.user.gid);
  }

  private repmgr(node: string, args: string[], timeoutMs = 180_000) {
    return this.peer.exec(node, REPMGR, ['-f', this.conf(node), ...args], { timeoutMs, env: this.peer.env({ PATH: `${this.ssh?.binDir ?? ''}:${this.peer.env().PATH}` }) });
  }

  private async startServer(node: string): Promise<void> {
    const data = this.dataDir(node);
    await this.peer.exec(node, join(DEFAULT_PG_BINDIR, 'pg_ctl'), ['-D', data, '-l', `${data}.log`, '-w', '-t', '60', 'start'], { timeoutMs: 70_000 });
  }

  private startRepmgrd(node: string): void {
    this.peer.daemon(node, 'repmgrd', REPMGRD, ['-f', this.conf(node), '--daemonize=false']);
  }

  private async bringUp(log: (line: string) => void): Promise<void> {
    this.ssh = await startSshShim(this.peer, this.peer.dir);
    for (const node of NODES) {
      this.peer.ownedDir(this.nodeDir(node));
      this.writeConf(node);
    }
    const [first, ...rest] = NODES;
    log(`repmgr: ${first}: initdb, start, primary register`);
    await this.server(first).initdb();
    await this.startServer(first);
    await this.repmgr(first, ['primary', 'register']);
    for (const node of rest) await this.clone(node, first, log);
    for (const node of NODES) this.startRepmgrd(node);
    await this.waitHealthy(first);
  }

  /** (Re)builds `node` as a standby of `primary`: a fresh `standby clone`, start, register. */
  private async clone(node: string, primary: string, log: (line: string) => void): Promise<void> {
    log(`repmgr: ${node}: standby clone from ${primary}`);
    if (this.peer.running(node, 'repmgrd')) await this.peer.supervisor.stop(node, 'repmgrd');
    await this.stopServer(node);
    rmSync(this.dataDir(node), { recursive: true, force: true });
    this.peer.ownedDir(this.dataDir(node));
    await this.repmgr(node, ['-h', this.peer.address(primary), '-p', String(PG_PORT), '-U', 'postgres', '-d', 'postgres', 'standby', 'clone', '--fast-checkpoint']);
    await this.server(node).writeConfig(); // its own address: the clone copied the primary's
    await this.startServer(node);
    await this.repmgr(node, ['standby', 'register', '--force']);
  }

  /** Stops a node's server whatever its state (immediate; SIGKILL when pg_ctl cannot). */
  private async stopServer(node: string): Promise<void> {
    const data = this.dataDir(node);
    const r = await this.peer.exec(node, join(DEFAULT_PG_BINDIR, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', '-t', '20', 'stop'], { allowFailure: true, timeoutMs: 30_000 });
    if (r.code !== 0) {
      try {
        this.peer.killPostmaster(data);
      } catch {
        // no server
      }
    }
  }

  private waitHealthy(primary: string): Promise<void> {
    return this.waitStreaming(primary, 'repmgrd', 90_000);
  }

  async reset(log: (line: string) => void): Promise<string> {
    for (const h of await this.peer.restoreAll()) log(`repmgr: ${h}: network restored`);
    const primary = await this.peer.waitPrimary(NODES);
    const streaming = await this.peer.streaming(primary);
    for (const node of NODES) {
      if (node === primary || streaming.includes(node)) continue;
      await this.clone(node, primary, log);
    }
    for (const node of NODES) if (!this.peer.running(node, 'repmgrd')) this.startRepmgrd(node);
    await this.waitHealthy(primary);
    // Let every repmgrd see the healthy cluster once before the next fault.
    await sleep(2000);
    return primary;
  }

  protected async switchover(primary: string): Promise<string> {
    const candidate = NODES.find((n) => n !== primary) as string;
    const r = await this.repmgr(candidate, ['standby', 'switchover', '--siblings-follow', '--force-rewind'], 300_000);
    return `repmgr standby switchover on ${candidate}: ${r.stdout.trim().split('\n').slice(-1)[0] ?? ''}`;
  }

  override async down(): Promise<void> {
    await this.ssh?.close();
    await super.down();
  }
}
