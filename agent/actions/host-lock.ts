/**
 * One rejoin at a time on a host. The controller's rejoin (SSM, `auto_rejoin`) and an operator's
 * `node rejoin` would otherwise stop and start the same server under each other: each then fails
 * (two postmasters racing for the port, a rewind of a server the other just started) and the node
 * stays down while both retry (docs/agent.md, "One rejoin at a time"). The lock is a file in
 * `agent_state_dir` naming its holder's pid; one whose process is gone is taken over, so a rejoin
 * killed half-way never blocks the next.
 *
 * Every step that changes the lock is atomic, so that of any number of waiters exactly one holds
 * it: a lock file appears whole (written aside, then hard-linked into place, which fails when one
 * exists), and only its holder removes it, or, once its holder is dead, the one waiter holding the
 * takeover lock named after it (the same kind of lock, one level down). Removing a file by name
 * after reading it is otherwise a race: two waiters that both read the dead pid would each remove
 * the file and create their own, the second removing the first's.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import type { Output } from '../../shell/output.js';

const POLL_MS = 500;

/** Who holds a lock: the pid, and a token no other lock file ever had (pids are reused). */
type Holder = { pid: number | null; token: string };

/** Whether `pid` names a live process (another user's counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's holder; null when there is no lock file. */
async function readHolder(path: string): Promise<Holder | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const [first, second] = text.split('\n');
  const pid = Number(first?.trim());
  // The token names the takeover lock: a file without one of ours (written by hand, by an older
  // agent, or cut short) is known by its whole text instead.
  const token = second !== undefined && /^[0-9a-f]{16}$/.test(second) ? second : `text-${Buffer.from(text).toString('hex').slice(0, 64) || 'empty'}`;
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : null, token };
}

/** Creates `path` naming this process, whole or not at all; false when it exists. */
async function create(path: string, token: string): Promise<boolean> {
  const aside = `${path}.${process.pid}.${token}.new`;
  // Readable by all: an agent running as another user than an operator must see the holder's pid.
  await writeFile(aside, `${process.pid}\n${token}\n`, { mode: 0o644 });
  try {
    await link(aside, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(aside, { force: true });
  }
}

type Attempt = { taken: true; token: string } | { taken: false; pid: number | null };

/**
 * Takes the lock at `path` without waiting: creates it, or takes over a dead holder's. The takeover
 * holds the lock `path.<dead holder's token>` while it checks that the file still names the dead
 * holder and removes it, so two waiters never both remove it; that lock's own dead holder (a waiter
 * killed during a takeover) is taken over the same way.
 */
async function tryTake(path: string): Promise<Attempt> {
  const token = randomBytes(8).toString('hex');
  // A few rounds: each either takes the lock, finds a live holder, or saw the lock change meanwhile.
  for (let round = 0; round < 5; round++) {
    if (await create(path, token)) return { taken: true, token };
    const seen = await readHolder(path);
    if (seen === null) continue; // released meanwhile
    if (seen.pid !== null && alive(seen.pid)) return { taken: false, pid: seen.pid };
    if (seen.pid === null) {
      // Give a writer of the older kind (open, then write) the moment it needs.
      await new Promise((r) => setTimeout(r, 50));
      const again = await readHolder(path);
      if (again?.token !== seen.token) continue;
    }
    const takeover = await tryTake(`${path}.${seen.token}`);
    if (!takeover.taken) return { taken: false, pid: takeover.pid }; // another waiter is taking it over
    try {
      if ((await readHolder(path))?.token === seen.token) await rm(path, { force: true });
    } finally {
      await release(`${path}.${seen.token}`, takeover.token);
    }
  }
  return { taken: false, pid: null };
}

/** Removes the lock file if it is still this holder's (only its holder, alive, removes it). */
async function release(path: string, token: string): Promise<void> {
  if ((await readHolder(path).catch(() => null))?.token === token) await rm(path, { force: true });
}

/**
 * Runs `fn` holding the host lock `name` in `dir`, waiting up to `waitMs` for another holder to
 * finish (saying so once); past that, a clear error and nothing done.
 */
export async function withHostLock<T>(dir: string, name: string, waitMs: number, out: Output, fn: () => Promise<T>): Promise<T> {
  const path = join(dir, `${name}.lock`);
  const deadline = Date.now() + waitMs;
  let said = false;
  let token: string;
  for (;;) {
    let r: Attempt;
    try {
      await mkdir(dir, { recursive: true });
      r = await tryTake(path);
    } catch (error) {
      // A lock that cannot be written (permissions, a read-only directory) must not stop a rejoin:
      // it runs as it did before there was one.
      out.warning(`cannot take the ${name} lock ${path}: ${(error as Error).message}; going on without it`);
      return fn();
    }
    if (r.taken) {
      token = r.token;
      break;
    }
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
    await release(path, token);
  }
}
