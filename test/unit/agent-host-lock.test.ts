import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withHostLock } from '../../agent/actions/host-lock.js';
import { memoryOutput } from '../../shell/output.js';

const dir = mkdtempSync(join(tmpdir(), 'pgv-host-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the host lock of node rejoin', () => {
  it('runs a second rejoin only after the first has finished, saying that it waits', async () => {
    const order: string[] = [];
    const out = memoryOutput();
    const first = withHostLock(dir, 'a', 10_000, memoryOutput(), async () => {
      order.push('first start');
      await sleep(700);
      order.push('first end');
    });
    await sleep(50);
    const second = withHostLock(dir, 'a', 10_000, out, async () => void order.push('second'));
    await Promise.all([first, second]);
    expect(order).toEqual(['first start', 'first end', 'second']);
    expect(out.stderr.join('\n')).toContain(`waiting for the a already running on this node (pid ${process.pid}) to finish`);
    expect(existsSync(join(dir, 'a.lock'))).toBe(false);
  });

  it('takes over the lock of a process that has ended, at once', async () => {
    const child = spawn('true');
    await new Promise((r) => child.on('exit', r));
    writeFileSync(join(dir, 'b.lock'), `${child.pid}\n`);
    const out = memoryOutput();
    expect(await withHostLock(dir, 'b', 60_000, out, async () => 'ran')).toBe('ran');
    expect(out.stderr).toEqual([]);
    expect(existsSync(join(dir, 'b.lock'))).toBe(false);
  });

  it('gives up with a clear error, and runs nothing, while a live process holds it past the wait', async () => {
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'c.lock'), `${holder.pid}\n`);
      let ran = false;
      await expect(withHostLock(dir, 'c', 1200, memoryOutput(), async () => void (ran = true))).rejects.toThrow(`another c is still running on this node (pid ${holder.pid}`);
      expect(ran).toBe(false);
      expect(readFileSync(join(dir, 'c.lock'), 'utf8').trim()).toBe(String(holder.pid)); // not its to remove
    } finally {
      holder.kill();
    }
  });

  it('lets go of the lock when the rejoin fails', async () => {
    await expect(withHostLock(dir, 'd', 1000, memoryOutput(), async () => Promise.reject(new Error('pg_rewind failed')))).rejects.toThrow('pg_rewind failed');
    expect(existsSync(join(dir, 'd.lock'))).toBe(false);
  });

  it('goes on without the lock when its directory cannot hold one, with a warning', async () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, '');
    const out = memoryOutput();
    expect(await withHostLock(join(file, 'sub'), 'e', 1000, out, async () => 'ran')).toBe('ran');
    expect(out.stderr.join('\n')).toMatch(/WARNING: cannot take the e lock .*going on without it/);
  });
});
