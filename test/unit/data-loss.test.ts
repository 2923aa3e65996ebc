import { describe, expect, it } from 'vitest';
import { describeDataLoss, measureDataLoss, readDataLoss } from '../../core/data-loss.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { SnapshotBuilder } from '../support/snapshot-builder.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const FAILOVER_AT = NOW + 20_000;

function measure(snapshot: ClusterSnapshot, candidateId = 2, at = FAILOVER_AT) {
  const hb = (id: number) => snapshot.heartbeats.find((h) => h.node_id === id) ?? null;
  const name = snapshot.nodes.find((n) => n.node_id === candidateId)?.node_name ?? '';
  return measureDataLoss({ oldPrimary: hb(1), candidateName: name, candidate: hb(candidateId), at });
}

const cluster = () => new SnapshotBuilder({ now: NOW }).crashPrimary();

describe('measureDataLoss', () => {
  it('counts the bytes the old primary last reported beyond what the candidate had received, and the time since its agent read that LSN', () => {
    // The crashed primary's agent still reports the LSN it read when the server last accepted connections.
    const record = measure(cluster().setLsn(1, '0/5000060').setLsn(2, '0/5000000').build());
    expect(record).toEqual({
      old_primary_lsn: '0/5000060',
      old_primary_lsn_at: NOW - 4500,
      candidate_lsn: '0/5000000',
      candidate_synchronous: false,
      data_loss_bytes: 0x60,
      data_loss_window_ms: 24_500,
      measured_at: FAILOVER_AT,
    });
  });

  it('times a running old primary’s LSN from its heartbeat', () => {
    const running = new SnapshotBuilder({ now: NOW }).setLsn(1, '0/5000060').setLsn(2, '0/5000000').server(1, { last_accepting_at: NOW }).heartbeat(1, { sent_at: NOW - 200 });
    expect(measure(running.build())).toMatchObject({ old_primary_lsn_at: NOW - 200, data_loss_window_ms: 20_200 });
  });

  it('counts across a WAL segment boundary with 64-bit LSN arithmetic', () => {
    expect(measure(cluster().setLsn(1, '1/00000010').setLsn(2, '0/FFFFFFF0').build()).data_loss_bytes).toBe(0x20);
  });

  it('records no loss when the candidate had received the old primary’s last reported LSN', () => {
    const record = measure(cluster().setLsn(1, '0/5000060').setLsn(2, '0/5000060').build());
    expect(record).toMatchObject({ data_loss_bytes: 0, data_loss_window_ms: 0, candidate_lsn: '0/5000060' });
  });

  it('records no loss when the candidate is ahead of the old primary’s last report (it wrote more before it died)', () => {
    expect(measure(cluster().setLsn(1, '0/5000000').setLsn(2, '0/5000060').build())).toMatchObject({ data_loss_bytes: 0, data_loss_window_ms: 0 });
  });

  it('falls back to the candidate’s replay LSN when it reports no receive LSN, as the ranking does', () => {
    const record = measure(cluster().setLsn(1, '0/5000060').server(2, { receive_lsn: null, replay_lsn: '0/5000040' }).build());
    expect(record).toMatchObject({ candidate_lsn: '0/5000040', data_loss_bytes: 0x20 });
  });

  it('is unknown (null, not 0) when the old primary never wrote a heartbeat', () => {
    const record = measure(cluster().noHeartbeat(1).build());
    expect(record).toMatchObject({ old_primary_lsn: null, old_primary_lsn_at: null, data_loss_bytes: null, data_loss_window_ms: null });
  });

  it('is unknown when the old primary’s heartbeat carries no LSN or no server at all', () => {
    expect(measure(cluster().server(1, { current_lsn: null }).build())).toMatchObject({ data_loss_bytes: null, data_loss_window_ms: null });
    expect(measure(cluster().heartbeat(1, { server: null }).build())).toMatchObject({ old_primary_lsn: null, data_loss_bytes: null });
  });

  it('is unknown when the candidate reported no WAL position or no heartbeat', () => {
    expect(measure(cluster().server(2, { receive_lsn: null, replay_lsn: null }).build())).toMatchObject({ candidate_lsn: null, data_loss_bytes: null });
    expect(measure(cluster().noHeartbeat(2).build())).toMatchObject({ candidate_lsn: null, data_loss_bytes: null });
  });

  it('is 0 when the candidate was the old primary’s synchronous standby, however far behind its LSN looked', () => {
    const record = measure(cluster().setLsn(1, '0/6000000').setLsn(2, '0/5000000').synchronous([2]).build());
    expect(record).toMatchObject({ candidate_synchronous: true, data_loss_bytes: 0, data_loss_window_ms: 0, old_primary_lsn: '0/6000000', candidate_lsn: '0/5000000' });
  });

  it('counts the bytes of an asynchronous standby promoted although another node was the synchronous one', () => {
    const record = measure(cluster().setLsn(1, '0/5000060').setLsn(3, '0/5000000').synchronous([2]).build(), 3);
    expect(record).toMatchObject({ candidate_synchronous: false, data_loss_bytes: 0x60 });
  });

  it('counts the bytes of a quorum standby: a quorum commit need not have waited for this one', () => {
    const record = measure(cluster().setLsn(1, '0/5000060').setLsn(2, '0/5000000').synchronous([2, 3], 'quorum').build());
    expect(record).toMatchObject({ candidate_synchronous: false, data_loss_bytes: 0x60 });
  });

  it('does not count a sync row when synchronous_standby_names is empty (the primary no longer waits for it)', () => {
    const snapshot = cluster().setLsn(1, '0/5000060').setLsn(2, '0/5000000').synchronous([2]).server(1, { synchronous_standby_names: '' }).build();
    expect(measure(snapshot)).toMatchObject({ candidate_synchronous: false, data_loss_bytes: 0x60 });
  });

  it('never reports a negative window when the old primary’s clock ran ahead of the controller’s', () => {
    const record = measure(cluster().setLsn(1, '0/5000060').setLsn(2, '0/5000000').server(1, { last_accepting_at: FAILOVER_AT + 5000 }).heartbeat(1, { sent_at: FAILOVER_AT + 5000 }).build());
    expect(record).toMatchObject({ data_loss_bytes: 0x60, data_loss_window_ms: 0 });
  });
});

describe('readDataLoss', () => {
  it('reads back a record persisted as JSON and rejects anything else', () => {
    const record = measure(cluster().setLsn(2, '0/5000000').build());
    expect(readDataLoss(JSON.parse(JSON.stringify(record)))).toEqual(record);
    expect(readDataLoss(undefined)).toBeNull();
    expect(readDataLoss({ ...record, data_loss_bytes: -1 })).toBeNull();
    expect(readDataLoss({ ...record, old_primary_lsn: 'yesterday' })).toBeNull();
  });
});

describe('describeDataLoss', () => {
  it('says how far behind the candidate was, from what, and how long before the failover', () => {
    const record = measure(cluster().setLsn(1, '0/5000060').setLsn(2, '0/5000000').build());
    expect(describeDataLoss(record, 2)).toBe("data loss: node 2 was 96 bytes behind the old primary's last reported LSN 0/5000060 (read 24.5 s before the failover)");
  });

  it('says there was no loss, and why, for a level or synchronous candidate', () => {
    expect(describeDataLoss(measure(cluster().build()), 2)).toBe("no data loss: node 2 had received the old primary's last reported LSN 0/5000060");
    expect(describeDataLoss(measure(cluster().synchronous([2]).build()), 2)).toBe("no data loss: node 2 was the old primary's synchronous standby");
  });

  it('says which figure was missing when the loss is unknown', () => {
    expect(describeDataLoss(measure(cluster().noHeartbeat(1).build()), 2)).toBe("data loss unknown: the old primary's last LSN was never reported");
    expect(describeDataLoss(measure(cluster().noHeartbeat(2).build()), 2)).toBe("data loss unknown: node 2's receive LSN was never reported");
  });
});
