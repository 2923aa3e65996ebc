/**
 * hg_repmgr's synchronous-replication downgrade (docs/configuration.md): when no synchronous
 * standby has been connected for `sync_downgrade_after_secs`, the primary switches to asynchronous
 * replication (so writes stop hanging), remembering its setting; it switches back once a standby
 * named in that setting is streaming and has caught up. When to do either is decided in
 * agent/daemon/policy.ts (`judgeSync`); this module does it.
 */
import { readDataFile, removeDataFile, writeDataFile } from '../host.js';
import { withSession } from '../../adapters/pg-session.js';

/** Where the original synchronous_standby_names is kept while downgraded. */
export const SAVED_SYNC_NAMES = 'pgvigil.synchronous_standby_names';

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
