/**
 * Starts a private moto server (AWS emulator, server mode) on a free loopback port for one test
 * file, and stops it afterwards. Each file gets its own, so tests never share state. It runs
 * through sandbox/moto_server.py, whose DynamoDB conditional writes are atomic as DynamoDB's are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { motoServerArgs } from '../../sandbox/moto-server.js';

export interface Moto {
  endpoint: string;
  port: number;
  /** The server's process (to pause it with SIGSTOP, as a stalled endpoint). */
  pid: number;
  /** SDK client settings pointing at this server. */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startMoto(options: { env?: Record<string, string>; host?: string } = {}): Promise<Moto> {
  // Another address than loopback (a sandbox network's gateway) lets network namespaces reach it.
  const host = options.host ?? '127.0.0.1';
  const port = await freePort();
  const child: ChildProcess = spawn('python3', motoServerArgs(host, port), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true', ...options.env },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://${host}:${port}`;
  // Its imports take seconds of CPU: on a 2-core machine running several test files, well over 30 s.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto server exited (${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok || res.status === 404) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto server did not start on ${endpoint}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    port,
    pid: child.pid as number,
    clientConfig: {
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
