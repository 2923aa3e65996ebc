/**
 * A primary and two streaming standbys as `postgres`, DynamoDB on moto, and each node's daemon in
 * this process serving the agent API on a loopback port, with writes that can flow on the primary:
 * what test/integration/reader-route-lag.test.ts and bench/reader-lag.ts make standbys fall behind in.
 */
import { request } from 'node:http';
import pg from 'pg';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { jsonLogger } from '../../agent/log.js';
import { freePort } from '../../sandbox/ports.js';
import type { RouteTarget } from '../../sandbox/routes.js';
import { startMoto, type Moto } from './moto.js';
import { TestPostgres } from './postgres.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { agent, createTable, motoEnv, waitFor, writeNodeConfig, type TestNode } from './agent.js';

/** A transactional message: ~64 kB of WAL and a commit record (which sets the replay timestamp), no table growth. */
export const COMMIT_64K = "SELECT pg_logical_emit_message(true, 'pgvigil-test', repeat('x', 65536))";

export interface ApiAnswerSeen {
  status: number;
  body: { lag?: { bytes: number | null; secs: number | null } };
}

export class ReaderCluster {
  private readonly nodes: TestNode[] = [];
  private readonly daemons = new Map<number, AgentDaemon>();
  private readonly apiPorts = new Map<number, number>();
  private writing = false;
  /** The background writes wait while this is set. */
  held = false;
  private writer: Promise<void> = Promise.resolve();

  private constructor(
    private readonly pgs: TestPostgres,
    private readonly moto: Moto,
  ) {}

  /**
   * Builds the three nodes (node 1 the primary) with `extra` settings per node and starts their
   * daemons; resolves once both standbys answer 200 to `ready` paths.
   */
  static async start(opts: { table: string; extra: (id: number) => Record<string, string | number | boolean>; ready: readonly string[] }): Promise<ReaderCluster> {
    const pgs = new TestPostgres();
    // Moto starts while the primary is created, and the standbys are cloned side by side.
    const motoStarted = startMoto();
    let c: ReaderCluster | undefined;
    try {
      const dir = await pgs.tempDir('pgvigil-reader-lag-');
      const servers = [await pgs.primary('node1'), await pgs.server('node2'), await pgs.server('node3')];
      c = new ReaderCluster(pgs, await motoStarted);
      await c.setUp(dir, servers, opts);
      return c;
    } catch (error) {
      if (c) await c.stop();
      else {
        await pgs.cleanup();
        await (await motoStarted.catch(() => undefined))?.stop();
      }
      throw error;
    }
  }

  private async setUp(dir: string, servers: PostgresServer[], opts: { table: string; extra: (id: number) => Record<string, string | number | boolean>; ready: readonly string[] }): Promise<void> {
    const env = motoEnv(this.moto);
    const store = await createTable(this.moto, opts.table);
    for (const [i, server] of servers.entries()) {
      const id = i + 1;
      this.apiPorts.set(id, await freePort());
      const extra = { cluster_id: 'reader', heartbeat_interval_secs: 1, rest_api_listen: `127.0.0.1:${this.apiPorts.get(id)}`, failsafe_mode: false, ...opts.extra(id) };
      const { configFile, config } = await writeNodeConfig(dir, { id, name: `node${id}`, server }, opts.table, extra);
      this.nodes.push({ id, name: `node${id}`, server, configFile, config });
    }
    const run = async (args: string[]): Promise<void> => {
      const r = await agent(env, args);
      if (r.code !== 0) throw new Error(`${args.join(' ')} failed: ${r.text}`);
    };
    await run(['primary', 'register', '-f', this.node(1).configFile]);
    await Promise.all(
      [2, 3].map(async (id) => {
        await run(['standby', 'clone', '-f', this.node(id).configFile, '-c']);
        await this.node(id).server.writeConfig();
        await this.node(id).server.start();
        await run(['standby', 'register', '-f', this.node(id).configFile]);
      }),
    );
    for (const id of [1, 2, 3]) {
      const d = new AgentDaemon({ config: this.node(id).config, store, log: jsonLogger({ level: 'ERROR' }) });
      this.daemons.set(id, d);
      await d.start();
    }
    for (const id of [2, 3]) {
      await waitFor(async () => {
        for (const path of opts.ready) if ((await this.api(id, path)).status !== 200) return false;
        return true;
      }, 60_000);
    }
  }

  node(id: number): TestNode {
    return this.nodes[id - 1] as TestNode;
  }

  daemon(id: number): AgentDaemon {
    return this.daemons.get(id) as AgentDaemon;
  }

  /** Each node as a route target (PostgreSQL and its agent API on loopback). */
  targets(ids: readonly number[] = [1, 2, 3]): RouteTarget[] {
    return ids.map((id) => ({ name: this.node(id).name, host: '127.0.0.1', port: this.node(id).server.port, apiHost: '127.0.0.1', apiPort: this.apiPorts.get(id) as number }));
  }

  api(id: number, path: string): Promise<ApiAnswerSeen> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.apiPorts.get(id), path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiAnswerSeen['body'] }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * Resolves once node `id`'s agent answers from a lag figure taken wholly after this call: a lag
   * sample or a monitoring tick that started after it (the count has grown by two; one runs at a time).
   */
  async nextFreshAnswer(id: number): Promise<void> {
    const from = this.daemon(id).status();
    await waitFor(async () => {
      const now = this.daemon(id).status();
      return now.lagSamples >= from.lagSamples + 2 || now.ticks >= from.ticks + 2;
    }, 30_000, 10).catch(() => {
      throw new Error(`node ${id}'s agent took no lag sample and ran no tick within 30 s: its answers stayed as old as before`);
    });
  }

  /** What standby `id` has not replayed, in bytes behind the primary's current position and in seconds. */
  async groundTruth(id: number): Promise<{ bytes: number; secs: number }> {
    const [p] = await this.node(1).server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const [s] = await this.node(id).server.query<{ bytes: string; secs: number | null }>(
      `SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text AS bytes,
              EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS secs`,
      [p?.lsn],
    );
    return { bytes: Number(s?.bytes), secs: s?.secs ?? Infinity };
  }

  /** Has standby `id` received (or replayed) everything the primary has written? */
  async hasAll(id: number, what: 'receive' | 'replay'): Promise<boolean> {
    const [p] = await this.node(1).server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const [s] = await this.node(id).server.query<{ ok: boolean }>(`SELECT pg_last_wal_${what}_lsn() >= $1::pg_lsn AS ok`, [p?.lsn]);
    return s?.ok === true;
  }

  /** Starts the writes on the primary, once: commits of ~64 kB back to back with a 25 ms pause, until {@link stop}. */
  startWriting(): void {
    if (this.writing) return;
    this.writing = true;
    this.writer = this.writeLoad();
  }

  private async writeLoad(): Promise<void> {
    const client = new pg.Client({ host: '127.0.0.1', port: this.node(1).server.port, user: 'postgres', database: 'postgres' });
    client.on('error', () => undefined);
    await client.connect();
    try {
      while (this.writing) {
        if (!this.held) await client.query(COMMIT_64K);
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.writing = false;
    await this.writer.catch(() => undefined);
    for (const d of this.daemons.values()) await d.stop('test over');
    await this.pgs.cleanup();
    await this.moto.stop();
  }
}
