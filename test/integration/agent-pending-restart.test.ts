/**
 * The agent's probe reports the settings a real PostgreSQL 15 server holds back until a restart
 * (`pg_settings.pending_restart`), which `cluster show` marks and `cluster restart --pending` uses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { probeLocalServer } from '../../agent/pg/local.js';
import { TestPostgres } from '../support/postgres.js';

const pgs = new TestPostgres();
afterAll(async () => {
  await pgs.cleanup();
});

describe('the local probe and pending restarts', () => {
  it('lists a setting changed with ALTER SYSTEM and reloaded until the server restarts', async () => {
    const server = await pgs.primary('pending');
    const probe = () => probeLocalServer({ conninfo: server.conninfo(), dataDir: server.dataDir, timeoutMs: 5000, nodes: [] });
    expect((await probe()).pending_restart).toEqual([]);
    await server.query('ALTER SYSTEM SET max_connections = 123');
    await server.query('SELECT pg_reload_conf()');
    await expect.poll(async () => (await probe()).pending_restart, { timeout: 15_000, interval: 200 }).toEqual(['max_connections']);
    await server.stop();
    await server.start();
    await server.waitReady();
    expect((await probe()).pending_restart).toEqual([]);
  });
});
