/**
 * The data-loss record of a failover (docs/controller.md, "The data-loss record"): how much WAL the
 * old primary last reported that the promoted standby had not received, and how long before the
 * failover its agent read that position. Measured once, when the failover settles on its candidate
 * (the re-ranking, after the old primary is fenced), from the heartbeats in the snapshot.
 */
import { lsnDiff } from './lsn.js';
import { epochMs, lsn, type Heartbeat } from './model.js';
import { boolean, integer, nullable, object, type Infer } from './schema.js';

export const DataLossRecordSchema = object('data-loss record', {
  /** The old primary's last reported WAL position (its latest heartbeat's current_lsn). */
  old_primary_lsn: nullable(lsn),
  /**
   * When its agent last read that position from a running server (agent clock): the server's
   * `last_accepting_at` — an agent whose server is down keeps reporting the last LSN it read —
   * else the heartbeat's send time.
   */
  old_primary_lsn_at: nullable(epochMs),
  /** What the candidate had received (receive LSN, else replay LSN) when the failover chose it. */
  candidate_lsn: nullable(lsn),
  /** The old primary last reported the candidate as a `sync` standby of synchronous replication. */
  candidate_synchronous: boolean,
  /** WAL bytes the old primary reported beyond the candidate; 0 when none; null when unknown. */
  data_loss_bytes: nullable(integer(0)),
  /**
   * From `old_primary_lsn_at` (agent clock) to the measurement (controller clock) when that position
   * is beyond the candidate's; 0 when nothing is lost; null when unknown.
   */
  data_loss_window_ms: nullable(integer(0)),
  /** When the failover measured it (controller clock). */
  measured_at: epochMs,
});
export type DataLossRecord = Infer<typeof DataLossRecordSchema>;

export interface DataLossInput {
  /** The old primary's latest heartbeat, null when it never wrote one. */
  oldPrimary: Heartbeat | null;
  /** The candidate's `node_name` (its application_name in the old primary's pg_stat_replication). */
  candidateName: string;
  /** The candidate's latest heartbeat when the failover chose it, before its promotion. */
  candidate: Heartbeat | null;
  /** Controller time of the measurement. */
  at: number;
}

export function measureDataLoss({ oldPrimary, candidateName, candidate, at }: DataLossInput): DataLossRecord {
  const old = oldPrimary?.server ?? null;
  const cand = candidate?.server ?? null;
  const record = {
    old_primary_lsn: old?.current_lsn ?? null,
    old_primary_lsn_at: oldPrimary && old ? Math.min(oldPrimary.sent_at, old.last_accepting_at ?? oldPrimary.sent_at) : null,
    // The same position the engine ranks candidates by (core/engine/candidates.ts).
    candidate_lsn: cand ? (cand.receive_lsn ?? cand.replay_lsn) : null,
    candidate_synchronous: synchronousStandby(oldPrimary, candidateName),
    measured_at: at,
  };
  // A commit under synchronous replication waits for the sync standby's flush: whatever WAL the
  // old primary had beyond it was never acknowledged to a client.
  if (record.candidate_synchronous) return { ...record, data_loss_bytes: 0, data_loss_window_ms: 0 };
  if (record.old_primary_lsn === null || record.candidate_lsn === null || record.old_primary_lsn_at === null) {
    return { ...record, data_loss_bytes: null, data_loss_window_ms: null };
  }
  const gap = lsnDiff(record.old_primary_lsn, record.candidate_lsn);
  if (gap <= 0n) return { ...record, data_loss_bytes: 0, data_loss_window_ms: 0 };
  return { ...record, data_loss_bytes: Number(gap), data_loss_window_ms: Math.max(0, at - record.old_primary_lsn_at) };
}

/** Did the old primary last report `name` as its `sync` standby (not `quorum`: see docs/controller.md)? */
function synchronousStandby(oldPrimary: Heartbeat | null, name: string): boolean {
  const s = oldPrimary?.server;
  if (!s || (s.synchronous_standby_names ?? '').trim() === '') return false;
  return s.replication.some((r) => r.application_name === name && r.sync_state === 'sync');
}

/** The record as it was persisted in the operation's data, or null when absent or not a record. */
export function readDataLoss(value: unknown): DataLossRecord | null {
  const checked = DataLossRecordSchema.check(value);
  return checked.ok ? checked.value : null;
}

/** One short sentence for the promotion event's details (the figures are in its `info`). */
export function describeDataLoss(record: DataLossRecord, candidateId: number): string {
  const bytes = record.data_loss_bytes;
  if (record.candidate_synchronous) return `no data loss: node ${candidateId} was the old primary's synchronous standby`;
  if (bytes === null) {
    const missing = record.old_primary_lsn === null ? "the old primary's last LSN" : `node ${candidateId}'s receive LSN`;
    return `data loss unknown: ${missing} was never reported`;
  }
  if (bytes === 0) return `no data loss: node ${candidateId} had received the old primary's last reported LSN ${record.old_primary_lsn ?? '?'}`;
  const secs = ((record.data_loss_window_ms ?? 0) / 1000).toFixed(1);
  return `data loss: node ${candidateId} was ${bytes} bytes behind the old primary's last reported LSN ${record.old_primary_lsn ?? '?'} (read ${secs} s before the failover)`;
}
