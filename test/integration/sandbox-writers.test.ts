import { afterAll, describe, expect, it } from 'vitest';
import { DrillWriter, WritabilityProbe, ackedWritesLost, ensureDrillTable, firstAckAfter, writeOutageMs, type PgTarget } from '../../sandbox/writers.js';
import { TestPostgres } from '../support/postgres.js';

const pgs = new TestPostgres();
afterAll(() => pgs.cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await sleep(20);
  }
}

describe('drill writers against real PostgreSQL', () => {
  it('measure the write outage while the server is down, and lose no acknowledged write across a crash', async () => {
    const socketDir = await pgs.tempDir('pgv-sock-');
    const server = await pgs.primary('writers', { settings: { unix_socket_directories: socketDir } });
    const tcp: PgTarget = { host: server.host, port: server.port };
    const local: PgTarget = { host: socketDir, port: server.port };
    await ensureDrillTable(tcp);
    const viaTcp = new DrillWriter({ name: 'tcp', target: tcp, intervalMs: 50, statementTimeoutMs: 500, connectTimeoutMs: 300 });
    const viaSocket = new DrillWriter({ name: 'socket', target: local, intervalMs: 50, statementTimeoutMs: 500, connectTimeoutMs: 300 });
    viaTcp.start();
    viaSocket.start();
    await until(() => viaTcp.acked().length >= 5 && viaSocket.acked().length >= 5);

    const fault = Date.now();
    await server.kill9();
    await sleep(1200);
    const back = Date.now();
    await server.start();
    await until(() => firstAckAfter(viaTcp.attempts, back) !== null && firstAckAfter(viaSocket.attempts, back) !== null);
    await sleep(200);
    await viaTcp.stop();
    await viaSocket.stop();
    const end = Date.now();

    const outage = writeOutageMs(viaTcp.attempts, fault, end);
    expect(outage).toBeGreaterThanOrEqual(back - fault);
    expect(outage).toBeLessThan(end - fault);
    expect(viaTcp.attempts.some((a) => a.error !== null)).toBe(true);
    expect(writeOutageMs(viaSocket.attempts, fault, end)).toBeGreaterThanOrEqual(back - fault);
    expect(await ackedWritesLost(tcp, 'tcp', viaTcp.acked())).toEqual([]);
    expect(await ackedWritesLost(tcp, 'socket', viaSocket.acked())).toEqual([]);
  });

  it('report acknowledged writes that the final primary does not have', async () => {
    const first = await pgs.primary('lost-a');
    const second = await pgs.primary('lost-b');
    const a: PgTarget = { host: first.host, port: first.port };
    const b: PgTarget = { host: second.host, port: second.port };
    await ensureDrillTable(a);
    await ensureDrillTable(b);
    const writer = new DrillWriter({ name: 'w', target: a, intervalMs: 20 });
    writer.start();
    await until(() => writer.acked().length >= 3);
    await writer.stop();
    // Written to one server, looked for on another: every acknowledged id is missing there.
    expect(await ackedWritesLost(b, 'w', writer.acked())).toEqual(writer.acked());
    expect(await ackedWritesLost(a, 'w', writer.acked())).toEqual([]);
  });

  it('probe sees two writable primaries at once when there are two, and one after the other stops', async () => {
    const one = await pgs.primary('probe-a');
    const two = await pgs.primary('probe-b');
    const nodes = [
      { name: 'probe-a', target: { host: one.host, port: one.port } },
      { name: 'probe-b', target: { host: two.host, port: two.port } },
    ];
    const both = new WritabilityProbe({ nodes, intervalMs: 50, timeoutMs: 500 });
    both.start();
    await until(() => new Set(both.acks.map((a) => a.node)).size === 2 && both.acks.length >= 6);
    await both.stop();
    expect(both.maxWritable()).toMatchObject({ count: 2, nodes: ['probe-a', 'probe-b'] });

    await two.stop('fast');
    const after = new WritabilityProbe({ nodes, intervalMs: 50, timeoutMs: 500 });
    after.start();
    await until(() => after.acks.length >= 6);
    await after.stop();
    expect(after.maxWritable()).toMatchObject({ count: 1, nodes: ['probe-a'] });
  });

  it('count a primary waiting for a synchronous standby it cannot reach as not writable, and abandon its writes', async () => {
    const server = await pgs.primary('sync-wait');
    const target: PgTarget = { host: server.host, port: server.port };
    await ensureDrillTable(target);
    await server.query("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (nobody)'");
    await server.query('SELECT pg_reload_conf()');
    await sleep(300); // the reload reaches the postmaster asynchronously
    const probe = new WritabilityProbe({ nodes: [{ name: 'sync-wait', target }], intervalMs: 50, timeoutMs: 300 });
    const writer = new DrillWriter({ name: 'held', target, intervalMs: 50, statementTimeoutMs: 300 });
    probe.start();
    writer.start();
    await sleep(1500);
    await probe.stop();
    await writer.stop();
    expect(probe.maxWritable().count).toBe(0);
    expect(writer.acked()).toEqual([]);
    expect(writer.attempts.some((a) => a.error?.includes('no answer after 300 ms'))).toBe(true);
    // The held backends go with a fast stop.
    await server.stop('immediate');
  });
});
