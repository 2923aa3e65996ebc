/**
 * How the agent checks other nodes (connection_check_type): `ping` answers without credentials,
 * `connection` needs them, `query` keeps its session; a dead port or a server that is starting up
 * is not answering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReachabilityChecker, ping } from '../../agent/pg/reachability.js';
import { probeLocalServer } from '../../agent/pg/local.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { freePort } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';

const pgs = new TestPostgres();
let locked: PostgresServer;
let open: PostgresServer;

beforeAll(async () => {
  locked = await pgs.primary('locked', { auth: 'scram-sha-256', superuserPassword: 'test-superuser-secret' });
  await locked.query("CREATE ROLE app LOGIN PASSWORD 'secret-not-known-to-the-agent'");
  open = await pgs.primary('open');
});

afterAll(() => pgs.cleanup());

describe('ReachabilityChecker', () => {
  it('counts a server that asks for a password as answering a ping, with no credentials at all', async () => {
    const conninfo = `host=127.0.0.1 port=${locked.port} user=app dbname=postgres`;
    expect((await new ReachabilityChecker('ping', 'SELECT 1').check(conninfo, 2000)).ok).toBe(true);
    const session = await new ReachabilityChecker('connection', 'SELECT 1').check(conninfo, 2000);
    expect(session.ok).toBe(false);
    expect(session.detail).toMatch(/password/);
  });

  it('counts an unknown role as answering a ping (the server spoke the protocol)', async () => {
    const r = await ping('127.0.0.1', open.port, 'no_such_role', 'postgres', 2000);
    expect(r.ok).toBe(true);
  });

  it('reports a port with nothing listening as not answering', async () => {
    const port = await freePort();
    const r = await new ReachabilityChecker('ping', 'SELECT 1').check(`host=127.0.0.1 port=${port} user=postgres`, 1000);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/ECONNREFUSED/);
  });

  it('runs connection_check_query on one kept session and reconnects after the server restarts', async () => {
    const checker = new ReachabilityChecker('query', 'SELECT 1');
    const conninfo = open.conninfo();
    expect((await checker.check(conninfo, 2000)).ok).toBe(true);
    expect((await checker.check(conninfo, 2000)).ok).toBe(true);
    const sessions = await open.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgvigil'");
    expect(sessions[0]?.n).toBe(1);
    await open.stop('fast');
    expect((await checker.check(conninfo, 1000)).ok).toBe(false);
    await open.start();
    expect((await checker.check(conninfo, 2000)).ok).toBe(true);
    await checker.closeAll();
  });
});

describe('probeLocalServer', () => {
  it('reports a stopped server as not running and not accepting, without throwing', async () => {
    const server = await pgs.primary('probe');
    const up = await probeLocalServer({ conninfo: server.conninfo(), dataDir: server.dataDir, timeoutMs: 2000, nodes: [] });
    expect(up).toMatchObject({ postmaster_running: true, accepting_connections: true, in_recovery: false, timeline: 1, data_directory_writable: true, error: null });
    await server.kill9();
    const down = await probeLocalServer({ conninfo: server.conninfo(), dataDir: server.dataDir, timeoutMs: 1000, nodes: [] });
    expect(down).toMatchObject({ postmaster_running: false, accepting_connections: false, in_recovery: null, timeline: null });
    expect(down.error).toMatch(/connection to database failed/);
    // A stopped server's directory may be under pg_rewind: the disk check leaves it alone (a probe
    // file coming and going there broke a rewind halfway).
    expect(down.data_directory_writable).toBeNull();
  });
});
