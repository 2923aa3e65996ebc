/**
 * The failover saga's data-loss record (core/data-loss.ts) in the controller: measured when the
 * failover settles on its candidate, carried in the operation's data, written into the promotion
 * event and emitted as the metric FailoverDataLossBytes (docs/controller.md, "The data-loss record").
 */
import { describeDataLoss, measureDataLoss, readDataLoss, type DataLossRecord } from '../core/data-loss.js';
import { CLUSTER_DIMENSION, METRICS } from '../core/metrics.js';
import type { ClusterSnapshot, Operation } from '../core/model.js';
import { latestHeartbeats } from '../core/node-status.js';
import type { Metrics } from '../core/ports.js';

/** Where the record lives in the operation's data. */
export const DATA_LOSS_KEY = 'data_loss';

/** The record of promoting `candidateId` at `now` (controller clock) on `snapshot`, as operation data. */
export function measureFailoverDataLoss(snapshot: ClusterSnapshot, op: Operation, candidateId: number | null, now: number): Record<string, DataLossRecord> {
  const candidate = snapshot.nodes.find((n) => n.node_id === candidateId);
  if (!candidate) return {};
  const heartbeats = latestHeartbeats(snapshot);
  const record = measureDataLoss({
    oldPrimary: op.old_primary_node_id === null ? null : (heartbeats.get(op.old_primary_node_id) ?? null),
    candidateName: candidate.node_name,
    candidate: heartbeats.get(candidate.node_id) ?? null,
    at: now,
  });
  return { [DATA_LOSS_KEY]: record };
}

/** The promotion event's sentence and structured fields, or null when the operation measured none. */
export function dataLossOfPromotion(op: Operation): { sentence: string; info: DataLossRecord } | null {
  const record = op.kind === 'failover' ? readDataLoss(op.data[DATA_LOSS_KEY]) : null;
  if (record === null || op.candidate_node_id === null) return null;
  return { sentence: describeDataLoss(record, op.candidate_node_id), info: record };
}

/** FailoverDataLossBytes, once per failover whose loss is known. */
export function putDataLossMetric(metrics: Metrics, clusterId: string, op: Operation): void {
  const bytes = readDataLoss(op.data[DATA_LOSS_KEY])?.data_loss_bytes ?? null;
  if (bytes !== null) metrics.put(METRICS.failoverDataLoss.name, bytes, 'Bytes', { [CLUSTER_DIMENSION]: clusterId });
}
