/**
 * While a rejoin works on a stopped data directory (crash recovery, pg_rewind, the standby
 * configuration), nothing else may start PostgreSQL on it: systemd restarting a crashed server, an
 * operator's `systemctl start`. A server started under pg_rewind reads files as they are being
 * replaced and is left broken, and the rejoin then fails on the server it did not start. So the
 * rejoin writes `agent_state_dir/start-block` naming its pid, and the boot guard every start runs
 * first (`node startup`, postgresql.service's ExecStartPre) refuses while that process lives. The
 * rejoin lifts the block right before it starts the server itself (through the same service
 * command, which may run the boot guard too). A block whose process is gone is stale and ignored.
 * docs/agent.md, "One rejoin at a time".
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Output } from '../../shell/output.js';
import { alive } from './host-lock.js';

const FILE = 'start-block';

/** Where the block lives in an agent state directory. */
export function startBlockPath(dir: string): string {
  return join(dir, FILE);
}

/** The pid of the live process that blocks starts in `dir`; null when none does. */
export async function startBlockHolder(dir: string | undefined): Promise<number | null> {
  if (!dir) return null;
  const text = await readFile(startBlockPath(dir), 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]?.trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
}

/**
 * Runs `fn` with starts blocked in `dir` (no `dir`: unblocked). `fn` gets `lift`, which it calls
 * right before it starts the server itself; the block is lifted in any case when `fn` ends. A block
 * that cannot be written is skipped with a warning: it must never stop the rejoin itself.
 */
export async function withStartBlock<T>(dir: string | undefined, out: Output, fn: (lift: () => Promise<void>) => Promise<T>): Promise<T> {
  const path = dir ? startBlockPath(dir) : undefined;
  let held = false;
  if (path) {
    try {
      await writeFile(path, `${process.pid}\n`, { mode: 0o644 });
      held = true;
    } catch (error) {
      out.warning(`unable to write ${path} (${(error as Error).message}): other starts of PostgreSQL are not held off during this rejoin`);
    }
  }
  const lift = async (): Promise<void> => {
    if (!held || !path) return;
    held = false;
    await rm(path, { force: true });
  };
  try {
    return await fn(lift);
  } finally {
    await lift();
  }
}
