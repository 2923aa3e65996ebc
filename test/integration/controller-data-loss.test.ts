import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRows, renderEventJson } from '../../cli/render/cluster-event.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

/**
 * The data-loss record of a failover (docs/controller.md, "The data-loss record") through the real
 * saga against moto: the promotion event's fields, its sentence, the metric, and `cluster event --json`.
 */
let f: ControllerFixture;
let clusters = 0;

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
});
afterAll(async () => {
  await f?.stop();
});

/** Fails over a cluster whose primary crashed after `shape` set the LSNs; returns the promotion and the metric. */
async function failOver(shape: (b: SnapshotBuilder) => SnapshotBuilder) {
  clusters += 1;
  const id = `data-loss-${clusters}`;
  const built = shape(new SnapshotBuilder({ now: f.clock.now() }).crashPrimary()).build();
  await f.seed(withClusterId(built, id));
  // The crashed primary's agent last read its LSN when the server last accepted connections.
  const primaryLsnAt = built.heartbeats.find((h) => h.node_id === 1)?.server?.last_accepting_at ?? 0;
  const result = await evaluateCluster(f.deps(), invocation(), id);
  expect(result).toMatchObject({ code: 'failover', saga: 'completed' });
  const events = await f.store.listEvents(id);
  const promotion = events.find((e) => e.event === 'repmgrd_failover_promote');
  const metric = f.metrics.points.filter((p) => p.name === METRICS.failoverDataLoss.name && p.dimensions[CLUSTER_DIMENSION] === id);
  return { id, events, promotion, metric, primaryLsnAt };
}

describe('the data-loss record of a failover', () => {
  it('records the bytes the new primary lacked, and the time since the old primary’s agent read its last LSN, in the promotion event and the metric', async () => {
    const { promotion, metric, primaryLsnAt } = await failOver((b) => b.setLsn(1, '0/5001000').setLsn(2, '0/5000800').setLsn(3, '0/5000000'));
    expect(promotion).toMatchObject({ node_id: 2, successful: true });
    expect(promotion?.info).toMatchObject({
      former_primary_node_id: 1,
      old_primary_lsn: '0/5001000',
      old_primary_lsn_at: primaryLsnAt,
      candidate_lsn: '0/5000800',
      candidate_synchronous: false,
      data_loss_bytes: 2048,
    });
    // Measured on the controller's clock, after the crash the builder dates 4.5 s before its start.
    const window = promotion?.info?.data_loss_window_ms as number;
    expect(window).toBeGreaterThanOrEqual(4500);
    expect(window).toBe((promotion?.info?.measured_at as number) - primaryLsnAt);
    expect(promotion?.details).toMatch(/^node 2 promoted to primary of term \d+ \(timeline \d+\); data loss: node 2 was 2048 bytes behind the old primary's last reported LSN 0\/5001000 \(read \d+\.\d s before the failover\)$/);
    expect(metric.map((p) => p.value)).toEqual([2048]);
  });

  it('records 0 bytes when the new primary had received everything the old primary reported', async () => {
    const { promotion, metric } = await failOver((b) => b.setLsn(1, '0/5001000').setLsn(2, '0/5001000'));
    expect(promotion?.info).toMatchObject({ old_primary_lsn: '0/5001000', candidate_lsn: '0/5001000', data_loss_bytes: 0, data_loss_window_ms: 0 });
    expect(promotion?.details).toContain("; no data loss: node 2 had received the old primary's last reported LSN 0/5001000");
    expect(metric.map((p) => p.value)).toEqual([0]);
  });

  it('records 0 bytes when the new primary was the old primary’s synchronous standby, though its LSN was behind', async () => {
    const { promotion, metric } = await failOver((b) => b.setLsn(1, '0/5001000').setLsn(2, '0/5000800').synchronous([2]));
    expect(promotion).toMatchObject({ node_id: 2 });
    expect(promotion?.info).toMatchObject({ candidate_synchronous: true, data_loss_bytes: 0, candidate_lsn: '0/5000800' });
    expect(metric.map((p) => p.value)).toEqual([0]);
  });

  it('shows the record in cluster event --json', async () => {
    const { id, events } = await failOver((b) => b.setLsn(1, '0/5000100').setLsn(2, '0/5000000'));
    const parsed = JSON.parse(renderEventJson(id, eventRows(events, new Map()))) as { events: { event: string; info?: Record<string, unknown> }[] };
    const promotion = parsed.events.find((e) => e.event === 'repmgrd_failover_promote');
    expect(promotion?.info).toMatchObject({ data_loss_bytes: 256, old_primary_lsn: '0/5000100', candidate_lsn: '0/5000000' });
  });
});
