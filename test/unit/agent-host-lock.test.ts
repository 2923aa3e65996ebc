import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withHostLock } from '../../agent/actions/host-lock.js';
import { memoryOutput } from '../../shell/output.js';

const dir = mkdtempSync(join(tmpdir(), 'pgv-host-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.on('exit', r));
  return child.pid ?? 0;
}

/**
 * A process of its own that waits for `go` to exist, then takes the lock `name` and, holding it,
 * writes "enter <pid>" and "exit <pid>" to `marks` a moment apart.
 */
const RACER = `
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { withHostLock } from ${JSON.stringify(resolve('agent/actions/host-lock.ts'))};
import { memoryOutput } from ${JSON.stringify(resolve('shell/output.ts'))};
const [dir, name, marks, go] = process.argv.slice(2);
writeFileSync(\`\${go}.ready.\${process.pid}\`, '');
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 2));
await withHostLock(dir, name, 60_000, memoryOutput(), async () => {
  appendFileSync(marks, \`enter \${process.pid}\\n\`);
  await new Promise((r) => setTimeout(r, 100));
  appendFileSync(marks, \`exit \${process.pid}\\n\`);
});
`;

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
    writeFileSync(join(dir, 'b.lock'), `${await deadPid()}\n`);
    const out = memoryOutput();
    expect(await withHostLock(dir, 'b', 60_000, out, async () => 'ran')).toBe('ran');
    expect(out.stderr).toEqual([]);
    expect(existsSync(join(dir, 'b.lock'))).toBe(false);
  });

  it('takes over a dead holder\'s lock whose takeover a waiter killed half-way had begun, leaving nothing behind', async () => {
    const token = '0123456789abcdef';
    writeFileSync(join(dir, 'f.lock'), `${await deadPid()}\n${token}\n`);
    writeFileSync(join(dir, `f.lock.${token}`), `${await deadPid()}\nfedcba9876543210\n`);
    expect(await withHostLock(dir, 'f', 60_000, memoryOutput(), async () => 'ran')).toBe('ran');
    expect(readdirSync(dir).filter((f) => f.startsWith('f.lock'))).toEqual([]);
  });

  it('lets exactly one of several processes racing to take over a dead holder\'s lock hold it at a time', async () => {
    const racer = join(dir, 'racer.mts');
    writeFileSync(racer, RACER);
    for (let round = 0; round < 3; round++) {
      const name = `race${round}`;
      const marks = join(dir, `${name}.marks`);
      const go = join(dir, `${name}.go`);
      writeFileSync(join(dir, `${name}.lock`), `${await deadPid()}\n`);
      const children = Array.from({ length: 6 }, () => spawn(process.execPath, ['--import', 'tsx', racer, dir, name, marks, go], { stdio: ['ignore', 'ignore', 'pipe'] }));
      const exits = children.map((child) => {
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        return new Promise<string>((r) => child.on('exit', (code) => r(`${code} ${stderr}`)));
      });
      // All six start (the slow part) before any races, so that all of them find the dead holder.
      while (readdirSync(dir).filter((f) => f.startsWith(`${name}.go.ready.`)).length < children.length) await sleep(20);
      writeFileSync(go, '');
      expect(await Promise.all(exits)).toEqual(children.map(() => '0 '));
      const lines = readFileSync(marks, 'utf8').trim().split('\n');
      const enters = lines.filter((l) => l.startsWith('enter'));
      // Held by one at a time: every "enter" is followed by the same process's "exit"; all six ran.
      expect(lines).toEqual(enters.flatMap((e) => [e, e.replace('enter', 'exit')]));
      expect(new Set(enters).size).toBe(children.length);
      expect(existsSync(join(dir, `${name}.lock`))).toBe(false);
    }
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
