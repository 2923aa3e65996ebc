/**
 * The sandbox's writer and reader routes (sandbox/routes.ts) on loopback: health endpoints that
 * answer what the test says, and TCP servers that name themselves, stand in for the agents and
 * PostgreSQL (the e2e drills run the routes against real ones).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthRoute, type RouteTarget } from '../../sandbox/routes.js';

interface FakeHost {
  name: string;
  status: number;
  http: HttpServer;
  tcp: Server;
  paths: string[];
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

async function host(name: string, status: number): Promise<{ fake: FakeHost; target: RouteTarget }> {
  const fake: FakeHost = { name, status, paths: [], http: createHttpServer(), tcp: createServer() };
  fake.http.on('request', (req, res) => {
    fake.paths.push(req.url ?? '');
    res.writeHead(fake.status).end();
  });
  const sockets = new Set<Socket>();
  fake.tcp.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write(`${name}\n`);
  });
  closers.push(async () => {
    for (const s of sockets) s.destroy();
  });
  const apiPort = await listen(fake.http);
  const port = await listen(fake.tcp);
  return { fake, target: { name, host: '127.0.0.1', port, apiHost: '127.0.0.1', apiPort } };
}

/** Connects through the route; resolves with the first line (the server's name) and the socket. */
function through(route: HealthRoute): Promise<{ name: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(route.port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.once('data', (d: string) => resolve({ name: d.trim(), socket }));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the server named itself')));
    closers.push(async () => void socket.destroy());
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const CHECK = { intervalMs: 100, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 };

describe('a route that follows the health endpoints', () => {
  it('sends connections only to the target whose check passes, with the check path of the route', async () => {
    const a = await host('a', 200);
    const b = await host('b', 503);
    const route = new HealthRoute({ name: 'writer', targets: [a.target, b.target], check: { ...CHECK, path: '/replica?lag=16MB' } });
    closers.push(() => route.stop());
    await route.start();
    await until(() => route.healthy.length === 1, 'a turns healthy');
    expect(route.healthy).toEqual(['a']);
    const names = [];
    for (let i = 0; i < 4; i++) names.push((await through(route)).name);
    expect(names).toEqual(['a', 'a', 'a', 'a']);
    expect(a.fake.paths[0]).toBe('/replica?lag=16MB');
  });

  it('closes the open connections of a target that turns unhealthy and sends new ones to the one that turned healthy', async () => {
    const a = await host('a', 200);
    const b = await host('b', 503);
    const changes: string[] = [];
    const route = new HealthRoute({ name: 'writer', targets: [a.target, b.target], check: { ...CHECK, path: '/primary' }, onChange: (t, h) => changes.push(`${t} ${h ? 'healthy' : 'unhealthy'}`) });
    closers.push(() => route.stop());
    await route.start();
    await until(() => route.healthy.includes('a'), 'a turns healthy');
    const open = await through(route);
    expect(open.name).toBe('a');
    let closed = false;
    open.socket.on('close', () => (closed = true));
    a.fake.status = 503;
    b.fake.status = 200;
    await until(() => closed, "a's open connection is closed");
    await until(() => route.healthy.join() === 'b', 'b alone is healthy');
    expect((await through(route)).name).toBe('b');
    expect(changes).toEqual(['a healthy', 'a unhealthy', 'b healthy']);
  });

  it('balances over every healthy target, and fails open to all of them when none is healthy', async () => {
    const a = await host('a', 200);
    const b = await host('b', 200);
    const route = new HealthRoute({ name: 'reader', targets: [a.target, b.target], check: { ...CHECK, path: '/replica' } });
    closers.push(() => route.stop());
    await route.start();
    await until(() => route.healthy.length === 2, 'both turn healthy');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await through(route)).name);
    expect([...seen].sort()).toEqual(['a', 'b']);
    a.fake.status = 503;
    b.fake.status = 503;
    await until(() => route.healthy.length === 0, 'both turn unhealthy');
    seen.clear();
    const failedOpen: Array<{ name: string; closed: boolean }> = [];
    for (let i = 0; i < 4; i++) {
      const { name, socket } = await through(route);
      const entry = { name, closed: false };
      socket.on('close', () => (entry.closed = true));
      failedOpen.push(entry);
      seen.add(name);
    }
    expect([...seen].sort()).toEqual(['a', 'b']);
    // Once a target is healthy again, the connections the route failed open to elsewhere are closed.
    b.fake.status = 200;
    await until(() => failedOpen.every((c) => c.closed === (c.name === 'a')), "the connections to a are closed, b's stay");
    expect(route.healthy).toEqual(['b']);
  });
});
