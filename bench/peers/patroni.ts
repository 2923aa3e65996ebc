/**
 * Patroni (Debian's package) on three namespaces with one etcd member on a host of its own (`dcs`).
 * One member, not three: on two shared cores three etcd members would cost CPU every system's run
 * pays for, and with the DCS off the database hosts a dead database host never takes an etcd
 * member (or the etcd leader) with it — Patroni's figures are its best case.
 *
 * Timing at the lowest values Patroni's documentation allows: ttl=20 (its floor), loop_wait=1,
 * retry_timeout=3 (the rule loop_wait + 2 × retry_timeout ≤ ttl holds: 7 ≤ 20). Synchronous mode
 * on (like the sandbox's `ANY 1` and pg_auto_failover's default) so an acknowledged write survives a
 * failover; pg_rewind for a former primary.
 */
import { writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PG_BINDIR } from '../../shell/run-as.js';
import { NODES, PG_PORT, PeerClusterBase, PeerHosts, sleep } from './cluster.js';

export const PATRONI_TIMING = { ttl: 20, loop_wait: 1, retry_timeout: 3 } as const;
const ETCD_PORT = 2379;

export class PatroniCluster extends PeerClusterBase {
  readonly system = 'patroni' as const;
  readonly settings = [...Object.entries(PATRONI_TIMING).map(([k, v]) => `${k}=${v}`), 'synchronous_mode=true', 'use_pg_rewind=true', 'etcd: 1 member on its own host'];

  static async up(dir: string, log: (line: string) => void): Promise<PatroniCluster> {
    return PeerClusterBase.start(new PatroniCluster(await PeerHosts.create(dir, [...NODES, 'dcs'])), (c) => c.bringUp(log));
  }

  protected dataDir(node: string): string {
    return join(this.peer.dir, node, 'data');
  }

  private conf(node: string): string {
    return join(this.peer.dir, node, 'patroni.yml');
  }

  private get etcdUrl(): string {
    return `http://${this.peer.address('dcs')}:${ETCD_PORT}`;
  }

  /** The node's configuration (JSON is YAML). */
  private writeConf(node: string): void {
    const dir = this.peer.ownedDir(join(this.peer.dir, node));
    const address = this.peer.address(node);
    const config = {
      scope: 'bench',
      namespace: '/pgvigil-bench/',
      name: node,
      log: { level: 'INFO' },
      restapi: { listen: `${address}:8008`, connect_address: `${address}:8008` },
      etcd3: { hosts: [`${this.peer.address('dcs')}:${ETCD_PORT}`] },
      bootstrap: {
        dcs: {
          ...PATRONI_TIMING,
          synchronous_mode: true,
          postgresql: {
            use_pg_rewind: true,
            use_slots: true,
            parameters: { max_connections: 40, shared_buffers: '16MB', wal_keep_size: '256MB', wal_receiver_status_interval: '1s', wal_retrieve_retry_interval: '1s', hot_standby_feedback: 'on' },
          },
        },
        initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, 'data-checksums'],
      },
      postgresql: {
        listen: `${address}:${PG_PORT}`,
        connect_address: `${address}:${PG_PORT}`,
        data_dir: this.dataDir(node),
        bin_dir: DEFAULT_PG_BINDIR,
        pgpass: join(dir, 'pgpass'),
        authentication: { superuser: { username: 'postgres' }, replication: { username: 'postgres' }, rewind: { username: 'postgres' } },
        parameters: { unix_socket_directories: dir },
        pg_hba: ['local all all trust', `host all all ${this.peer.subnet} trust`, `host replication all ${this.peer.subnet} trust`],
        remove_data_directory_on_rewind_failure: true,
        remove_data_directory_on_diverged_timelines: true,
      },
    };
    writeFileSync(this.conf(node), JSON.stringify(config, null, 2), { mode: 0o600 });
    chownSync(this.conf(node), this.peer.user.uid, this.peer.user.gid);
  }

  private startPatroni(node: string): void {
    this.peer.daemon(node, 'patroni', '/usr/bin/patroni', [this.conf(node)]);
  }

  private async bringUp(log: (line: string) => void): Promise<void> {
    const data = this.peer.ownedDir(join(this.peer.dir, 'dcs', 'etcd'));
    const a = this.peer.address('dcs');
    log('patroni: etcd (1 member) on dcs');
    this.peer.daemon('dcs', 'etcd', '/usr/bin/etcd', [
      '--name', 'dcs', '--data-dir', data,
      '--listen-client-urls', this.etcdUrl, '--advertise-client-urls', this.etcdUrl,
      '--listen-peer-urls', `http://${a}:2380`, '--initial-advertise-peer-urls', `http://${a}:2380`,
      '--initial-cluster', `dcs=http://${a}:2380`, '--initial-cluster-state', 'new',
    ]);
    for (const node of NODES) this.writeConf(node);
    const [first, ...rest] = NODES;
    log(`patroni: ${first}: bootstrap`);
    this.startPatroni(first);
    await this.peer.waitPrimary([first], 120_000);
    for (const node of rest) {
      log(`patroni: ${node}: replica`);
      this.startPatroni(node);
    }
    await this.waitHealthy(first);
  }

  private waitHealthy(primary: string): Promise<void> {
    return this.waitStreaming(primary, 'patroni', 180_000);
  }

  async reset(log: (line: string) => void): Promise<string> {
    for (const h of await this.peer.restoreAll()) log(`patroni: ${h}: network restored`);
    for (const node of NODES) {
      if (!this.peer.running(node, 'patroni')) {
        log(`patroni: ${node}: patroni started again`);
        this.startPatroni(node);
      }
    }
    const primary = await this.peer.waitPrimary(NODES, 120_000);
    await this.waitHealthy(primary);
    // Patroni names the synchronous standby on its next loop; let it settle.
    await sleep(2000);
    return this.peer.waitPrimary(NODES);
  }

  protected async switchover(primary: string): Promise<string> {
    // In synchronous mode Patroni switches over only to the synchronous standby.
    const candidate = (await this.peer.syncStandby(primary)) ?? (NODES.find((n) => n !== primary) as string);
    const r = await this.peer.exec(candidate, '/usr/bin/patronictl', ['-c', this.conf(candidate), 'switchover', '--leader', primary, '--candidate', candidate, '--force'], { timeoutMs: 180_000 });
    return `patronictl switchover to ${candidate}: ${r.stdout.trim().split('\n').slice(-1)[0] ?? ''}`;
  }
}
