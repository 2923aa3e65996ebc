import { describe, expect, it } from 'vitest';
import { measureDataLoss } from '../../core/data-loss.js';
import { METRICS } from '../../core/metrics.js';
import type { Operation } from '../../core/model.js';
import { DATA_LOSS_KEY, dataLossOfPromotion, measureFailoverDataLoss, putDataLossMetric } from '../../functions/data-loss.js';
import { RecordingMetrics } from '../support/controller-fixture.js';
import { SnapshotBuilder } from '../support/snapshot-builder.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const snapshot = new SnapshotBuilder({ now: NOW }).crashPrimary().setLsn(1, '0/5000060').setLsn(2, '0/5000000').build();

function operation(kind: Operation['kind'], data: Record<string, unknown>): Operation {
  return { id: 'op-1', kind, term: 4, candidate_node_id: 2, old_primary_node_id: 1, step: 'verify_promotion', owner: 'test', deadline: NOW + 60_000, started_at: NOW, data };
}

describe('the failover’s data-loss record in the controller', () => {
  it('measures the candidate against the operation’s old primary on the snapshot, as operation data', () => {
    const data = measureFailoverDataLoss(snapshot, operation('failover', {}), 2, NOW + 1000);
    expect(data[DATA_LOSS_KEY]).toMatchObject({ old_primary_lsn: '0/5000060', candidate_lsn: '0/5000000', data_loss_bytes: 0x60, measured_at: NOW + 1000 });
    expect(measureFailoverDataLoss(snapshot, operation('failover', {}), 99, NOW)).toEqual({});
  });

  it('writes the record into a failover’s promotion only, never into a switchover’s', () => {
    const data = measureFailoverDataLoss(snapshot, operation('failover', {}), 2, NOW);
    expect(dataLossOfPromotion(operation('failover', data))).toMatchObject({ info: { data_loss_bytes: 0x60 }, sentence: expect.stringMatching(/^data loss: node 2 was 96 bytes behind/) });
    expect(dataLossOfPromotion(operation('switchover', data))).toBeNull();
    expect(dataLossOfPromotion(operation('failover', {}))).toBeNull();
    expect(dataLossOfPromotion(operation('failover', { [DATA_LOSS_KEY]: { data_loss_bytes: 'lots' } }))).toBeNull();
  });

  it('emits the metric when the loss is known, 0 included, and nothing when it is unknown', () => {
    const metrics = new RecordingMetrics();
    const known = measureDataLoss({ oldPrimary: null, candidateName: 'pg2', candidate: null, at: NOW });
    putDataLossMetric(metrics, 'main', operation('failover', { [DATA_LOSS_KEY]: known }));
    expect(metrics.points).toEqual([]);
    putDataLossMetric(metrics, 'main', operation('failover', { [DATA_LOSS_KEY]: { ...known, data_loss_bytes: 0, data_loss_window_ms: 0 } }));
    putDataLossMetric(metrics, 'main', operation('failover', measureFailoverDataLoss(snapshot, operation('failover', {}), 2, NOW)));
    expect(metrics.points).toEqual([
      { name: METRICS.failoverDataLoss.name, value: 0, dimensions: { ClusterId: 'main' } },
      { name: METRICS.failoverDataLoss.name, value: 0x60, dimensions: { ClusterId: 'main' } },
    ]);
  });
});
