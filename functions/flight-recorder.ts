/**
 * Keeps the evaluator's decisions in the flight recorder (core/flight-recorder.ts says which). What
 * was kept last is remembered per recorder and cluster for the life of the Lambda container: a
 * cold start keeps the next unhealthy decision again, which costs one item, never a lost one.
 * Keeping is best effort: a failed write is logged and the evaluation goes on.
 */
import type { Decision } from '../core/decision.js';
import { FLIGHT_RECORDER_TTL_SECS, decisionDigest, worthKeeping, type LastKept } from '../core/flight-recorder.js';
import type { ClusterSnapshot } from '../core/model.js';
import type { FlightRecorder } from '../core/ports.js';
import type { ControllerDeps } from './controller.js';

const lastKept = new WeakMap<FlightRecorder, Map<string, LastKept>>();

export async function keepDecision(deps: ControllerDeps, snapshot: ClusterSnapshot, decision: Decision, now: number): Promise<void> {
  const recorder = deps.recorder;
  if (!recorder) return;
  let kept = lastKept.get(recorder);
  if (!kept) {
    kept = new Map();
    lastKept.set(recorder, kept);
  }
  const clusterId = snapshot.cluster.cluster_id;
  if (!worthKeeping(kept.get(clusterId), decision, now)) return;
  try {
    const healthy = decision.code === 'healthy';
    const outcome = await recorder.record({ cluster_id: clusterId, decided_at: now, decision, snapshot: healthy ? null : snapshot }, FLIGHT_RECORDER_TTL_SECS);
    if (outcome === 'too_large') deps.log.warn('decision not kept by the flight recorder: its snapshot is too large', { cluster_id: clusterId, code: decision.code });
    kept.set(clusterId, { code: decision.code, digest: decisionDigest(decision), at: now });
  } catch (error) {
    deps.log.warn('could not keep the decision in the flight recorder', { cluster_id: clusterId, code: decision.code, error });
  }
}
