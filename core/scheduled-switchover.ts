/**
 * When a scheduled switchover (`standby switchover --scheduled TIME`) runs, decided from the cluster
 * record and the time (docs/operations.md, "Scheduled switchover"). Pure.
 */
import type { ClusterRecord, ScheduledSwitchover } from './model.js';

/**
 * A schedule is started at most this late (the sweep runs every minute; an operation in flight may
 * hold it up). Later than that it is dropped with an event: a maintenance window has an end, and a
 * switchover hours after it was meant is worse than none.
 */
export const SCHEDULE_LATEST_START_MS = 15 * 60_000;

/** How far ahead a switchover may be scheduled. */
export const SCHEDULE_MAX_AHEAD_MS = 90 * 86_400_000;

export type ScheduleState =
  | { state: 'none' }
  | { state: 'waiting'; schedule: ScheduledSwitchover }
  /**
   * Due, but an operation is in flight or the cluster is paused (an operator's "hands off", which a
   * schedule set earlier does not override): it starts once that has ended (within the window).
   */
  | { state: 'held'; schedule: ScheduledSwitchover }
  | { state: 'due'; schedule: ScheduledSwitchover }
  | { state: 'missed'; schedule: ScheduledSwitchover; reason: string };

export function scheduleState(cluster: Pick<ClusterRecord, 'scheduled_switchover' | 'operation'> & Partial<Pick<ClusterRecord, 'paused'>>, now: number): ScheduleState {
  const schedule = cluster.scheduled_switchover ?? null;
  if (!schedule) return { state: 'none' };
  if (now < schedule.at) return { state: 'waiting', schedule };
  const late = now - schedule.at;
  if (late > SCHEDULE_LATEST_START_MS) {
    const why = cluster.operation ? `a ${cluster.operation.kind} was in flight` : cluster.paused === true ? 'the cluster was paused' : 'the controller did not run';
    return { state: 'missed', schedule, reason: `it could not start within ${SCHEDULE_LATEST_START_MS / 60_000} min of its time (${why}); it is dropped` };
  }
  return cluster.operation || cluster.paused === true ? { state: 'held', schedule } : { state: 'due', schedule };
}

/** The problem with a requested schedule time, or null when it can be scheduled. */
export function scheduleTimeProblem(at: number, now: number): string | null {
  if (at <= now) return `${new Date(at).toISOString()} is in the past (now ${new Date(now).toISOString()})`;
  if (at - now > SCHEDULE_MAX_AHEAD_MS) return `${new Date(at).toISOString()} is more than ${SCHEDULE_MAX_AHEAD_MS / 86_400_000} days ahead`;
  return null;
}
