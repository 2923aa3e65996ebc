/**
 * pg_auto_failover 2.0 (Debian's postgresql-15-auto-failover) at its defaults: a monitor on a host
 * of its own and three keepers (`pg_autoctl create postgres --run`); its default replication is
 * synchronous (replication quorum, `ANY 1` of the standbys). Switchover is
 * `pg_autoctl perform switchover` on the monitor.
 *
 * Only the ports differ from a plain setup: every namespace shares the file system and so
 * /var/run/postgresql, where each server puts its Unix socket named after its port. Our own clients
 * connect from the root namespace, so each node's pg_hba.conf also admits the cluster's subnet.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { DEFAULT_PG_BINDIR } from '../../shell/run-as.js';
import { NODES, PeerClusterBase, PeerHosts, sleep } from './cluster.js';

const PORTS: Record<string, number> = { monitor: 25431, node1: 25432, node2: 25433, node3: 25434 };
const PG_AUTOCTL = '/usr/bin/pg_autoctl';

export class AutoFailoverCluster extends PeerClusterBase {
  readonly system = 'pg_auto_failover' as const;
  readonly settings = ['defaults (monitor health checks, synchronous replication quorum)', 'monitor on its own host'];
  private readonly admitted = new Set<string>();

  private constructor(peer: PeerHosts) {
    super(peer);
    peer.ports = { ...PORTS };
  }

  static async up(dir: string, log: (line: string) => void): Promise<AutoFailoverCluster> {
    return PeerClusterBase.start(new AutoFailoverCluster(await PeerHosts.create(dir, [...NODES, 'monitor'])), (c) => c.bringUp(log));
  }

  protected dataDir(node: string): string {
    return this.pgdata(node);
  }

  private pgdata(host: string): string {
    return join(this.peer.dir, host, 'data');
  }

  /** pg_autoctl keeps its configuration and state under XDG directories: one pair per cluster. */
  private env(): NodeJS.ProcessEnv {
    const xdg = join(this.peer.dir, 'xdg');
    return this.peer.env({ XDG_CONFIG_HOME: join(xdg, 'config'), XDG_DATA_HOME: join(xdg, 'share'), XDG_RUNTIME_DIR: join(xdg, 'run'), PG_CONFIG: join(DEFAULT_PG_BINDIR, 'pg_config') });
  }

  private get monitorUri(): string {
    return `postgres://autoctl_node@${this.peer.address('monitor')}:${PORTS.monitor}/pg_auto_failover?sslmode=disable`;
  }

  private common(host: string): string[] {
    return ['--pgdata', this.pgdata(host), '--pgport', String(PORTS[host]), '--hostname', this.peer.address(host), '--auth', 'trust', '--no-ssl', '--pgctl', join(DEFAULT_PG_BINDIR, 'pg_ctl')];
  }

  private startKeeper(node: string): void {
    this.peer.daemon(node, 'keeper', PG_AUTOCTL, ['create', 'postgres', ...this.common(node), '--name', node, '--monitor', this.monitorUri, '--run'], this.env());
  }

  /** Lets our clients (root namespace, the bridge's address) in: pg_autoctl admits only its nodes. */
  private async admitSubnet(host: string): Promise<void> {
    if (this.admitted.has(host)) return;
    appendFileSync(join(this.pgdata(host), 'pg_hba.conf'), `\n# bench:peers clients\nhost all all ${this.peer.subnet} trust\nhost replication all ${this.peer.subnet} trust\n`);
    await this.peer.exec(host, join(DEFAULT_PG_BINDIR, 'pg_ctl'), ['-D', this.pgdata(host), 'reload'], { allowFailure: true });
    this.admitted.add(host);
  }

  private async bringUp(log: (line: string) => void): Promise<void> {
    const xdg = join(this.peer.dir, 'xdg');
    for (const d of ['config', 'share', 'run']) this.peer.ownedDir(join(xdg, d));
    for (const h of [...NODES, 'monitor']) this.peer.ownedDir(join(this.peer.dir, h));
    log('pg_auto_failover: monitor');
    await this.peer.exec('monitor', PG_AUTOCTL, ['create', 'monitor', ...this.common('monitor')], { env: this.env(), timeoutMs: 120_000 });
    this.peer.daemon('monitor', 'monitor', PG_AUTOCTL, ['run', '--pgdata', this.pgdata('monitor')], this.env());
    await this.admitSubnet('monitor');
    for (const node of NODES) {
      log(`pg_auto_failover: ${node}: keeper`);
      this.startKeeper(node);
      await this.waitStates(NODES.slice(0, NODES.indexOf(node) + 1), 180_000);
      await this.admitSubnet(node);
    }
  }

  /** The monitor's view: node name → [reported state, goal state]. */
  private async states(): Promise<Map<string, [string, string]>> {
    const client = new pg.Client({ host: this.peer.address('monitor'), port: PORTS.monitor, user: 'postgres', database: 'pg_auto_failover', connectionTimeoutMillis: 2000, query_timeout: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const r = await client.query<{ name: string; reported: string; goal: string }>('SELECT nodename AS name, reportedstate::text AS reported, goalstate::text AS goal FROM pgautofailover.node');
      return new Map(r.rows.map((x) => [x.name, [x.reported, x.goal]]));
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Waits until `nodes` are one primary and the rest secondaries, each where the monitor wants it. */
  private async waitStates(nodes: readonly string[], timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    for (;;) {
      try {
        const s = await this.states();
        seen = [...s].map(([n, [r, g]]) => `${n}=${r}/${g}`).join(' ');
        const settled = nodes.every((n) => s.get(n)?.[0] === s.get(n)?.[1]);
        const primaries = nodes.filter((n) => s.get(n)?.[0] === (nodes.length === 1 ? 'single' : 'primary'));
        const secondaries = nodes.filter((n) => s.get(n)?.[0] === 'secondary');
        if (settled && primaries.length === 1 && secondaries.length === nodes.length - 1) return primaries[0] as string;
      } catch {
        // the monitor is starting
      }
      if (Date.now() > deadline) throw new Error(`pg_auto_failover: not healthy after ${timeoutMs / 1000} s (${seen || 'monitor not answering'})`);
      await sleep(500);
    }
  }

  async reset(log: (line: string) => void): Promise<string> {
    for (const h of await this.peer.restoreAll()) log(`pg_auto_failover: ${h}: network restored`);
    for (const node of NODES) {
      if (!this.peer.running(node, 'keeper')) {
        log(`pg_auto_failover: ${node}: keeper started again`);
        this.peer.daemon(node, 'keeper', PG_AUTOCTL, ['run', '--pgdata', this.pgdata(node)], this.env());
      }
    }
    const primary = await this.waitStates(NODES, 240_000);
    const streaming = await this.peer.streaming(primary);
    if (streaming.length < NODES.length - 1) await sleep(1000);
    return primary;
  }

  protected async switchover(): Promise<string> {
    const r = await this.peer.exec('monitor', PG_AUTOCTL, ['perform', 'switchover', '--pgdata', this.pgdata('monitor')], { env: this.env(), timeoutMs: 180_000 });
    return `pg_autoctl perform switchover: ${r.stdout.trim().split('\n').slice(-1)[0] ?? ''}`;
  }
}
