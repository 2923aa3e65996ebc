/**
 * Starts a scheduled switchover (`standby switchover --scheduled TIME`, docs/operations.md) when an
 * evaluation finds it due: the schedule is taken off the cluster record with a conditional write
 * first, so exactly one invocation starts it, and then the switchover entry point runs as if the
 * operator had invoked it at that moment — the same checks, the same saga, the same events. A
 * schedule that could not start within its window is dropped with an event instead.
 */
import { scheduleState } from '../core/scheduled-switchover.js';
import type { ClusterSnapshot } from '../core/model.js';
import { errorText, recordEvent, type ControllerDeps, type Invocation } from './controller.js';
import { runSwitchover } from './switchover.js';

export type ScheduledOutcome = 'none' | 'waiting' | 'started' | 'refused' | 'missed' | 'taken_elsewhere';

export async function runDueSwitchover(deps: ControllerDeps, inv: Invocation, snapshot: ClusterSnapshot): Promise<ScheduledOutcome> {
  const { cluster } = snapshot;
  const state = scheduleState(cluster, deps.clock.now());
  if (state.state === 'none') return 'none';
  if (state.state === 'waiting' || state.state === 'held') return 'waiting';
  const { schedule } = state;
  const taken = await deps.store.updateCluster(cluster.cluster_id, cluster.version, { scheduled_switchover: null }, deps.clock.now());
  if (!taken.ok) return 'taken_elsewhere';
  const base = { cluster_id: cluster.cluster_id, node_id: schedule.candidate_node_id, term: cluster.term };
  const what = `switchover to node ${schedule.candidate_node_id} scheduled for ${new Date(schedule.at).toISOString()} by ${schedule.requested_by}`;
  if (state.state === 'missed') {
    await recordEvent(deps, cluster.settings, { ...base, event: 'switchover_schedule_failed', successful: false, details: `${what}: ${state.reason}` });
    return 'missed';
  }
  await recordEvent(deps, cluster.settings, { ...base, event: 'switchover_schedule_started', successful: true, details: `${what}: starting` });
  try {
    const response = await runSwitchover(deps, inv, { cluster_id: cluster.cluster_id, candidate_node_id: schedule.candidate_node_id, siblings_follow: schedule.siblings_follow, dry_run: false });
    if (response.operation_id !== undefined) return 'started';
    await recordEvent(deps, cluster.settings, { ...base, event: 'switchover_schedule_failed', successful: false, details: `${what}: ${response.message}` });
    return 'refused';
  } catch (error) {
    await recordEvent(deps, cluster.settings, { ...base, event: 'switchover_schedule_failed', successful: false, details: `${what}: ${errorText(error)}` });
    return 'refused';
  }
}
