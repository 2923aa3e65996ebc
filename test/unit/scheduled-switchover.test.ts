import { describe, expect, it } from 'vitest';
import { SCHEDULE_LATEST_START_MS, SCHEDULE_MAX_AHEAD_MS, scheduleState, scheduleTimeProblem } from '../../core/scheduled-switchover.js';
import type { Operation, ScheduledSwitchover } from '../../core/model.js';

const AT = Date.UTC(2026, 11, 8, 2, 0, 0);
const schedule: ScheduledSwitchover = { at: AT, candidate_node_id: 2, siblings_follow: true, requested_by: 'ops@bastion', requested_at: AT - 3_600_000 };
const operation = { kind: 'follow' } as Operation;

describe('scheduleState', () => {
  it('has nothing to do without a schedule', () => {
    expect(scheduleState({ scheduled_switchover: null, operation: null }, AT).state).toBe('none');
    expect(scheduleState({ operation: null }, AT).state).toBe('none');
  });

  it('waits until the scheduled time', () => {
    expect(scheduleState({ scheduled_switchover: schedule, operation: null }, AT - 1).state).toBe('waiting');
  });

  it('is due from the scheduled time when no operation is in flight', () => {
    expect(scheduleState({ scheduled_switchover: schedule, operation: null }, AT).state).toBe('due');
    expect(scheduleState({ scheduled_switchover: schedule, operation: null }, AT + SCHEDULE_LATEST_START_MS).state).toBe('due');
  });

  it('is held while an operation is in flight', () => {
    expect(scheduleState({ scheduled_switchover: schedule, operation }, AT + 1).state).toBe('held');
  });

  it('is held while the cluster is paused, and missed if it stays paused past the window', () => {
    expect(scheduleState({ scheduled_switchover: schedule, operation: null, paused: true }, AT + 1).state).toBe('held');
    expect(scheduleState({ scheduled_switchover: schedule, operation: null, paused: false }, AT + 1).state).toBe('due');
    expect(scheduleState({ scheduled_switchover: schedule, operation: null, paused: true }, AT + SCHEDULE_LATEST_START_MS + 1)).toMatchObject({
      state: 'missed',
      reason: 'it could not start within 15 min of its time (the cluster was paused); it is dropped',
    });
  });

  it('is missed, saying why, once its start window has passed', () => {
    const s = scheduleState({ scheduled_switchover: schedule, operation }, AT + SCHEDULE_LATEST_START_MS + 1);
    expect(s).toMatchObject({ state: 'missed', reason: 'it could not start within 15 min of its time (a follow was in flight); it is dropped' });
  });
});

describe('scheduleTimeProblem', () => {
  it('refuses a time in the past or now', () => {
    expect(scheduleTimeProblem(AT, AT)).toBe('2026-12-08T02:00:00.000Z is in the past (now 2026-12-08T02:00:00.000Z)');
    expect(scheduleTimeProblem(AT - 1, AT)).toMatch(/is in the past/);
  });

  it('refuses a time too far ahead', () => {
    expect(scheduleTimeProblem(AT + SCHEDULE_MAX_AHEAD_MS + 1, AT)).toMatch(/more than 90 days ahead$/);
  });

  it('accepts a time in the future', () => {
    expect(scheduleTimeProblem(AT + 60_000, AT)).toBeNull();
  });
});
