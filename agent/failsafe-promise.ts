/**
 * A standby's failsafe promise on disk (docs/architecture.md, "Failsafe mode"): the daemon records
 * it before it answers a confirmation, and `promote` — a separate process, started by SSM — reads
 * it and refuses while it holds. Both measure on the host's monotonic clock (CLOCK_MONOTONIC,
 * shared by every process of one boot), never on the wall clock.
 *
 * The daemon and `promote` each write their own file first and then read the other's, so at least
 * one of them sees the other: a confirmation and a promotion can never both go ahead.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from './config.js';

type Paths = Pick<AgentConfig, 'agent_state_dir' | 'node_id'>;

/** The host's monotonic clock in ms: the same in every process until the next boot. */
export function hostMonotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/** This boot's identity: a promise made in an earlier boot is measured from this boot's start. */
export async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
}

export function promiseFile(c: Paths): string {
  return join(c.agent_state_dir, `failsafe-promise-${c.node_id}.json`);
}

export function promotingFile(c: Paths): string {
  return join(c.agent_state_dir, `promoting-${c.node_id}.json`);
}

export interface FailsafePromise {
  boot_id: string;
  /** hostMonotonicMs() when the promise was made. */
  confirmed_mono_ms: number;
  /** The primary it confirmed, and its term (for the refusal's message). */
  primary_node_id: number;
  term: number;
}

/** Writes a file durably and atomically (a crash leaves the old file or the new one). */
async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

export async function recordPromise(c: Paths, promise: FailsafePromise): Promise<void> {
  await mkdir(c.agent_state_dir, { recursive: true });
  await writeDurably(promiseFile(c), JSON.stringify(promise));
}

/**
 * When the latest promise was made, on this boot's monotonic clock; null when there is none. A
 * promise from an earlier boot counts as made at this boot's start (time 0): at least that much
 * time has passed since. A file that cannot be read as a promise counts as made now — the safe
 * side — and says so.
 */
export async function readPromise(c: Paths): Promise<{ confirmedMono: number | null; promise?: FailsafePromise; problem?: string }> {
  let text: string;
  try {
    text = await readFile(promiseFile(c), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { confirmedMono: null };
    return { confirmedMono: hostMonotonicMs(), problem: `unreadable: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
  }
  try {
    const p = JSON.parse(text) as FailsafePromise;
    if (typeof p.confirmed_mono_ms !== 'number' || typeof p.boot_id !== 'string') throw new Error('missing boot_id or confirmed_mono_ms');
    return { confirmedMono: p.boot_id === (await bootId()) ? p.confirmed_mono_ms : 0, promise: p };
  } catch (error) {
    return { confirmedMono: hostMonotonicMs(), problem: `not a failsafe promise: ${(error as Error).message}` };
  }
}

/** `promote` announces itself before it reads the promise. */
export async function markPromoting(c: Paths): Promise<void> {
  await mkdir(c.agent_state_dir, { recursive: true });
  await writeDurably(promotingFile(c), JSON.stringify({ pid: process.pid }));
}

export async function clearPromoting(c: Paths): Promise<void> {
  await unlink(promotingFile(c)).catch(() => undefined);
}

/** Is a promote running (its marker names a live process)? A marker that cannot be read counts as one. */
export async function promoting(c: Paths): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(promotingFile(c), 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  let pid = NaN;
  try {
    pid = Number((JSON.parse(text) as { pid?: unknown }).pid);
  } catch {
    // cut short or edited: counts as a promote running (the safe side)
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
