import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isZombie, postmasterStatus, removeStaleLockFile } from '../../agent/pg/local.js';

const dirs: string[] = [];
const pids: number[] = [];

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDirWithPid(pid: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgv-pm-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'postmaster.pid'), `${pid}\n${dir}\n1700000000\n5432\n`);
  return dir;
}

/**
 * A "postmaster" whose parent never reaps it: `sh` starts it in the background and then execs into
 * a sleep that never calls wait(), like an init that reaps lazily.
 */
async function unreapedChild(cwd?: string): Promise<{ child: number; parent: number }> {
  const sh = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'], ...(cwd ? { cwd } : {}) });
  pids.push(sh.pid as number);
  const line = await new Promise<string>((resolve) => sh.stdout.once('data', (d: Buffer) => resolve(d.toString())));
  const child = Number(line.trim());
  pids.push(child);
  // Only once the shell has become the sleep is nobody going to reap the child (a shell may).
  await until(async () => (await readFile(`/proc/${sh.pid}/comm`, 'utf8').catch(() => '')).trim() === 'sleep');
  return { child, parent: sh.pid as number };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('postmasterStatus', () => {
  it('reads a live process named by postmaster.pid, working in the data directory, as running', async () => {
    const dir = dataDirWithPid(0);
    const { child } = await unreapedChild(dir);
    writeFileSync(join(dir, 'postmaster.pid'), `${child}\n${dir}\n1700000000\n5432\n`);
    await expect(postmasterStatus(dir)).resolves.toEqual({ running: true, pid: child });
    await expect(isZombie(child)).resolves.toBe(false);
    // A running postmaster's lock file is never removed.
    await expect(removeStaleLockFile(dir)).resolves.toBeNull();
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(true);
  });

  it("removes the lock file whose pid another process (not postgres, working elsewhere) now has: the dead postmaster's pid was reused", async () => {
    const { child } = await unreapedChild();
    const dir = dataDirWithPid(child);
    // PostgreSQL would refuse to start on this lock file (kill(pid, 0) succeeds): it is removed.
    await expect(removeStaleLockFile(dir)).resolves.toBe(child);
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false);
  });

  it('reads a killed postmaster that its parent has not reaped yet (a zombie) as not running', async () => {
    const { child } = await unreapedChild();
    process.kill(child, 'SIGKILL');
    await until(() => isZombie(child));
    // kill(pid, 0) still succeeds on the zombie: only its state tells that it is dead.
    expect(() => process.kill(child, 0)).not.toThrow();
    const dir = dataDirWithPid(child);
    await expect(postmasterStatus(dir)).resolves.toEqual({ running: false, pid: child });
    await expect(removeStaleLockFile(dir)).resolves.toBe(child);
  });

  it('reads a missing or malformed postmaster.pid as not running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgv-pm-'));
    dirs.push(dir);
    await expect(postmasterStatus(dir)).resolves.toEqual({ running: false, pid: null });
    writeFileSync(join(dir, 'postmaster.pid'), 'not-a-pid\n');
    await expect(postmasterStatus(dir)).resolves.toEqual({ running: false, pid: null });
  });
});
