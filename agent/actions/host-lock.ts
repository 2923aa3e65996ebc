/**
 * One rejoin at a time on a host. The controller's rejoin (SSM, `auto_rejoin`) and an operator's
 * `node rejoin` would otherwise stop and start the same server under each other: each then fails
 * (two postmasters racing for the port, a rewind of a server the other just started) and the node
 * stays down while both retry (docs/agent.md, "One rejoin at a time"). The lock is a file in
 * `agent_state_dir` naming its holder's pid; one whose process is gone is taken over, so a rejoin
 * killed half-way never blocks the next.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import type { Output } from '../../shell/output.js';

const POLL_MS = 500;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function holder(path: string): Promise<number | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  const pid = Number(text?.trim());
  return text !== null && Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Creates the lock file with this process's pid; false when another live process holds it. */
async function tryTake(path: string): Promise<{ taken: true } | { taken: false; pid: number | null }> {
  try {
    // Readable by all: an agent running as another user than an operator must see the holder's pid.
    const file = await open(path, 'wx', 0o644);
    try {
      await file.writeFile(`${process.pid}\n`);
    } finally {
      await file.close();
    }
    return { taken: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const pid = await holder(path);
  // A holder that died (or a file it had not written yet and never will: no pid) is taken over.
  if (pid === null || !alive(pid)) {
    if (pid === null) {
      // Give a holder between open and write the moment it needs.
      await new Promise((r) => setTimeout(r, 50));
      const again = await holder(path);
      if (again !== null) return { taken: false, pid: again };
    }
    await rm(path, { force: true });
    return tryTake(path);
  }
  return { taken: false, pid };
}

/**
 * Runs `fn` holding the host lock `name` in `dir`, waiting up to `waitMs` for another holder to
 * finish (saying so once); past that, a clear error and nothing done.
 */
export async function withHostLock<T>(dir: string, name: string, waitMs: number, out: Output, fn: () => Promise<T>): Promise<T> {
  const path = join(dir, `${name}.lock`);
  const deadline = Date.now() + waitMs;
  let said = false;
  for (;;) {
    let r: Awaited<ReturnType<typeof tryTake>>;
    try {
      await mkdir(dir, { recursive: true });
      r = await tryTake(path);
    } catch (error) {
      // A lock that cannot be written (permissions, a read-only directory) must not stop a rejoin:
      // it runs as it did before there was one.
      out.warning(`cannot take the ${name} lock ${path}: ${(error as Error).message}; going on without it`);
      return fn();
    }
    if (r.taken) break;
    if (Date.now() >= deadline) {
      throw new PgvigilError('REJOIN_FAIL', `another ${name} is still running on this node (pid ${r.pid ?? 'unknown'}, lock ${path}) after ${Math.round(waitMs / 1000)} s`, {
        hint: 'wait for it to finish; a lock whose process has ended is taken over by itself',
      });
    }
    if (!said) out.notice(`waiting for the ${name} already running on this node (pid ${r.pid ?? 'unknown'}) to finish`);
    said = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    if ((await holder(path)) === process.pid) await rm(path, { force: true });
  }
}
