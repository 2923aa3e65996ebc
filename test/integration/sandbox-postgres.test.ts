import { afterAll, describe, expect, it } from 'vitest';
import { TestPostgres } from '../support/postgres.js';

const pgs = new TestPostgres();
afterAll(() => pgs.cleanup());

describe('PostgresServer', () => {
  it('initialises, starts, answers SQL as a replication-ready primary, and stops', async () => {
    const server = await pgs.primary('sbx');
    const [row] = await server.query<{ wal_level: string; checksums: string; running_as: string }>(
      "SELECT current_setting('wal_level') AS wal_level, current_setting('data_checksums') AS checksums, (SELECT usename FROM pg_user WHERE usesysid = 10) AS running_as",
    );
    expect(row).toEqual({ wal_level: 'replica', checksums: 'on', running_as: 'postgres' });
    expect(await server.isRunning()).toBe(true);
    await server.stop('fast');
    expect(await server.isRunning()).toBe(false);
  });

  it('leaves postmaster.pid behind after kill -9 but reports the server as not running', async () => {
    const server = await pgs.primary('sbx2');
    const pid = await server.postmasterPid();
    await server.kill9();
    expect(await server.postmasterPid()).toBe(pid);
    expect(await server.isRunning()).toBe(false);
    await server.start();
    expect(await server.isRunning()).toBe(true);
  });
});
