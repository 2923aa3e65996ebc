import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamWatch } from '../../agent/daemon/local-watch.js';

/** A TCP server that accepts connections and drops them at once (no PostgreSQL behind it): every open fails. */
async function droppingServer(): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { port, accepted: () => accepted, close: () => new Promise((r) => server.close(() => r())) };
}

const until = async (fn: () => boolean): Promise<void> => {
  for (const deadline = Date.now() + 10_000; !fn(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
  }
};

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe('the idle session to the primary', () => {
  it('after a failed open tries again only once the retry delay has passed, and says so once per upstream', async () => {
    const server = await droppingServer();
    let mono = 0;
    const failures: string[] = [];
    const watch = new UpstreamWatch({ timeoutMs: 2000, reopenMs: 1000, retryAfterFailureMs: 30_000, monotonic: () => mono, onLost: () => undefined, onOpenFailed: (c) => failures.push(c) });
    cleanup.push(() => watch.close(), server.close);
    const conninfo = `host=127.0.0.1 port=${server.port} user=postgres dbname=postgres`;
    watch.follow(conninfo);
    await until(() => failures.length === 1);
    expect(server.accepted()).toBe(1);
    for (const t of [1000, 5000, 29_000]) {
      mono = t;
      watch.follow(conninfo);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(server.accepted()).toBe(1);
    mono = 31_000;
    watch.follow(conninfo);
    await until(() => server.accepted() === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(failures).toEqual([conninfo]);
  });

  it('opens a session to a new upstream at once when the primary changes, and none when there is no primary to watch', async () => {
    const a = await droppingServer();
    const b = await droppingServer();
    const failures: string[] = [];
    const watch = new UpstreamWatch({ timeoutMs: 2000, reopenMs: 1000, retryAfterFailureMs: 30_000, monotonic: () => 0, onLost: () => undefined, onOpenFailed: (c) => failures.push(c) });
    cleanup.push(() => watch.close(), a.close, b.close);
    const at = (port: number): string => `host=127.0.0.1 port=${port} user=postgres dbname=postgres`;
    watch.follow(at(a.port));
    await until(() => failures.length === 1);
    watch.follow(undefined);
    watch.follow(at(b.port));
    await until(() => failures.length === 2);
    expect(failures).toEqual([at(a.port), at(b.port)]);
    expect([a.accepted(), b.accepted()]).toEqual([1, 1]);
  });
});
