/**
 * hg_repmgr's synchronous-replication downgrade (SPEC §7.3): when no synchronous standby has been
 * connected for `sync_downgrade_after_secs`, the primary switches to asynchronous replication (so
 * writes stop hanging), remembering its setting; it switches back once a standby named in that
 * setting is streaming and has caught up.
 */
import type { ReplicationRow } from '../../core/model.js';
import { lsnDiff } from '../../core/lsn.js';
import { readDataFile, removeDataFile, writeDataFile } from '../host.js';
import { withSession } from './session.js';

/** Where the original synchronous_standby_names is kept while downgraded. */
export const SAVED_SYNC_NAMES = 'pgvigil.synchronous_standby_names';

/** Standby names in a synchronous_standby_names value (`FIRST 1 (a, "b")`, `ANY 2 (a,b)`, `a, b`, `*`). */
export function syncStandbyNames(value: string): string[] {
  const inner = /\(([^)]*)\)/.exec(value)?.[1] ?? value;
  return inner
    .split(',')
    .map((n) => n.trim().replace(/^"(.*)"$/, '$1'))
    .filter((n) => n !== '');
}

/** Has a standby named in `names` caught up (streaming, flushed within `maxLagBytes`)? */
export function caughtUp(rows: readonly ReplicationRow[], names: readonly string[], currentLsn: string | null, maxLagBytes = 1024 * 1024): boolean {
  return rows.some(
    (r) =>
      r.state === 'streaming' &&
      (names.includes('*') || names.includes(r.application_name)) &&
      r.flush_lsn !== null &&
      (currentLsn === null || lsnDiff(currentLsn, r.flush_lsn) <= BigInt(maxLagBytes)),
  );
}

export async function savedSyncNames(dataDir: string): Promise<string | undefined> {
  return (await readDataFile(dataDir, SAVED_SYNC_NAMES).catch(() => undefined))?.trim() || undefined;
}

async function setSyncNames(conninfo: string, value: string, timeoutMs: number): Promise<void> {
  await withSession(conninfo, timeoutMs, async (s) => {
    await s.query(`ALTER SYSTEM SET synchronous_standby_names = '${value.replace(/'/g, "''")}'`);
    await s.query('SELECT pg_reload_conf()');
  });
}

export async function downgradeSync(conninfo: string, dataDir: string, current: string, timeoutMs: number): Promise<void> {
  await writeDataFile(dataDir, SAVED_SYNC_NAMES, current);
  await setSyncNames(conninfo, '', timeoutMs);
}

export async function restoreSync(conninfo: string, dataDir: string, original: string, timeoutMs: number): Promise<void> {
  await setSyncNames(conninfo, original, timeoutMs);
  await removeDataFile(dataDir, SAVED_SYNC_NAMES);
}
