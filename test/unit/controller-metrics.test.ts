import { describe, expect, it } from 'vitest';
import { METRICS } from '../../core/metrics.js';
import type { ControllerDeps } from '../../functions/controller.js';
import { emitStateMetrics } from '../../functions/evaluator.js';
import { RecordingMetrics } from '../support/controller-fixture.js';
import { clusterSnapshot } from '../support/snapshot-builder.js';

function emitted(builder: ReturnType<typeof clusterSnapshot>): Map<string, number> {
  const metrics = new RecordingMetrics();
  emitStateMetrics({ metrics } as unknown as ControllerDeps, builder.build(), builder.now);
  return new Map(metrics.points.map((p) => [p.name, p.value]));
}

describe('emitStateMetrics', () => {
  it("reports the primary's heartbeat age, the worst lag in bytes and seconds, and the lease age", () => {
    const b = clusterSnapshot().server(3, { replication_lag_secs: 4 }).server(2, { replication_lag_secs: 1 }).leaseObservedFor(7000);
    const m = emitted(b);
    expect(m.get(METRICS.heartbeatAge.name)).toBeGreaterThanOrEqual(0);
    expect(m.get(METRICS.replicationLag.name)).toBeGreaterThan(0);
    expect(m.get(METRICS.replicationLagSeconds.name)).toBe(4);
    expect(m.get(METRICS.leaseAge.name)).toBe(7);
  });

  it('reports no lease age while the lease carries another RVN than the one observed', () => {
    const b = clusterSnapshot().leaseObservedFor(7000);
    const snapshot = b.build();
    if (snapshot.cluster.lease) snapshot.cluster.lease.rvn = 'renewed-since';
    const metrics = new RecordingMetrics();
    emitStateMetrics({ metrics } as unknown as ControllerDeps, snapshot, b.now);
    expect(metrics.points.map((p) => p.name)).not.toContain(METRICS.leaseAge.name);
  });
});
