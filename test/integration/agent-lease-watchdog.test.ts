/**
 * The lease watchdog (agent/daemon/watchdog.ts, docs/agent.md "The lease watchdog") against a real
 * PostgreSQL 15 server: the process the agent starts beside itself stops a primary whose agent has
 * stopped moving the deadline, writes the fence marker and standby.signal, and reports it; it leaves
 * a server alone while the deadline keeps moving, once the agent has stopped it, and when the server
 * is a standby. The frozen agent itself (SIGSTOP of the deployed bundle) is in agent-bundle.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LeaseWatchdog, watchdogDeadlineFile } from '../../agent/daemon/watchdog.js';
import { readFence } from '../../agent/fence.js';
import { jsonLogger } from '../../agent/log.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import { TestPostgres } from '../support/postgres.js';
import { waitFor } from '../support/agent.js';

const pgs = new TestPostgres();
let server: PostgresServer;
let stateDir: string;
const logLines: string[] = [];
const log = jsonLogger({ write: (line) => void logLines.push(line) });

function watchdog(deadlineMono: () => number, fenced: string[]): LeaseWatchdog {
  return new LeaseWatchdog({
    file: watchdogDeadlineFile(stateDir, 1),
    dataDir: server.dataDir,
    log,
    monotonic: () => performance.now(),
    refreshEveryMs: 200,
    deadlineMono,
    term: () => 7,
    onFenced: (detail) => void fenced.push(detail),
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  [server, stateDir] = await Promise.all([pgs.primary('watchdog1'), pgs.tempDir('pgvigil-watchdog-')]);
}, 60_000);

afterAll(async () => {
  await pgs.cleanup();
});

describe('the lease watchdog', () => {
  it('leaves the primary running while the deadline keeps moving, and goes away with the agent', async () => {
    const fenced: string[] = [];
    const w = watchdog(() => performance.now() + 600, fenced);
    w.start();
    const pid = w.pid;
    expect(pid).toBeTypeOf('number');
    await pause(2000);
    expect(await server.isRunning()).toBe(true);
    w.stop();
    await waitFor(async () => !alive(pid as number), 5000);
    // The last deadline written has passed: nobody is left to act on it.
    await pause(1500);
    expect(await server.isRunning()).toBe(true);
    expect(await server.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(fenced).toEqual([]);
    expect(existsSync(join(server.dataDir, 'pgvigil.fence'))).toBe(false);
  }, 30_000);

  it('stops a primary whose deadline stopped moving, fences it, and reports it', async () => {
    const fenced: string[] = [];
    const frozenDeadline = performance.now() + 800;
    const w = watchdog(() => frozenDeadline, fenced);
    w.start();
    try {
      await waitFor(async () => !(await server.isRunning()), 10_000);
      await waitFor(async () => fenced.length > 0, 5000);
    } finally {
      w.stop();
    }
    expect(fenced[0]).toMatch(/^the lease watchdog stopped the server \(postmaster pid \d+\) \d+ ms after the lease's deadline/);
    expect(await readFence(server.dataDir)).toMatchObject({ term: 7, reason: 'lease_lost', created_standby_signal: true });
    expect(existsSync(join(server.dataDir, 'standby.signal'))).toBe(true);
  }, 30_000);

  it('leaves a standby alone past the deadline', async () => {
    // The server fenced above starts again read-only (standby.signal), as any restart would.
    await server.start();
    const fenced: string[] = [];
    const w = watchdog(() => performance.now() - 1000, fenced);
    w.start();
    try {
      await pause(1500);
      expect(await server.isRunning()).toBe(true);
      expect(await server.query('SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
      expect(fenced).toEqual([]);
    } finally {
      w.stop();
    }
  }, 60_000);

  it('starts again when it ends while the agent runs', async () => {
    const w = watchdog(() => performance.now() + 5000, []);
    w.start();
    try {
      const first = w.pid as number;
      process.kill(first, 'SIGKILL');
      await waitFor(async () => w.pid !== undefined && w.pid !== first, 10_000);
      expect(logLines.join('\n')).toContain('the lease watchdog ended; starting it again');
    } finally {
      w.stop();
    }
  }, 30_000);
});
