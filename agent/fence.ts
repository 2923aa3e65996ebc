/**
 * The fence marker: a file in the data directory saying "this server was stopped by pgvigil and
 * must not run as a primary". Fencing also writes standby.signal, so that even a start by hand or
 * by systemd's postgresql unit brings the server up read-only, never as a second primary.
 */
import { readDataFile, removeDataFile, writeDataFile } from './host.js';

export const FENCE_FILE = 'pgvigil.fence';

export interface FenceMarker {
  /** The cluster term when the fence was applied. */
  term: number;
  /** Agent clock, ms since the epoch. */
  at: number;
  reason: 'fence' | 'lease_lost' | 'superseded' | 'demote';
  /** True when the fence created standby.signal (unfence removes it again). */
  created_standby_signal: boolean;
  /** For demote: the final checkpoint LSN. */
  final_lsn?: string;
}

export async function readFence(dataDir: string): Promise<FenceMarker | undefined> {
  const text = await readDataFile(dataDir, FENCE_FILE).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as FenceMarker;
  } catch {
    // A damaged marker still fences: be safe.
    return { term: 0, at: 0, reason: 'fence', created_standby_signal: false };
  }
}

export async function writeFence(dataDir: string, marker: FenceMarker): Promise<void> {
  await writeDataFile(dataDir, FENCE_FILE, `${JSON.stringify(marker)}\n`);
}

export async function removeFence(dataDir: string): Promise<boolean> {
  return removeDataFile(dataDir, FENCE_FILE);
}
