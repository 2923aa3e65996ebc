/**
 * PostgreSQL servers for integration tests: each on a free loopback port in a temp directory owned
 * by the `postgres` OS user. Call {@link TestPostgres.cleanup} in afterAll; it stops every server this
 * helper started and removes its directories.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PostgresServer, makeOwnedTempDir, type PostgresServerOptions } from '../../sandbox/postgres.js';
import { freePort } from './moto.js';

export class TestPostgres {
  private readonly servers: PostgresServer[] = [];
  private readonly dirs: string[] = [];

  /** A fresh temp directory owned by postgres (removed by cleanup). */
  async tempDir(prefix = 'pgvigil-test-'): Promise<string> {
    const dir = await makeOwnedTempDir(prefix);
    this.dirs.push(dir);
    return dir;
  }

  /** A server object on a free port whose data directory does not exist yet. */
  async server(name: string, options: Partial<PostgresServerOptions> = {}): Promise<PostgresServer> {
    const dir = await this.tempDir(`pgvigil-${name}-`);
    const server = new PostgresServer({ dataDir: join(dir, 'data'), port: await freePort(), clusterName: name, ...options });
    this.servers.push(server);
    return server;
  }

  /** initdb + start. */
  async primary(name = 'node1', options: Partial<PostgresServerOptions> = {}): Promise<PostgresServer> {
    const server = await this.server(name, options);
    await server.initdb();
    await server.start();
    return server;
  }

  async cleanup(): Promise<void> {
    for (const s of this.servers) {
      try {
        await s.stop('immediate', 20);
      } catch {
        await s.kill9().catch(() => undefined);
      }
    }
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}
