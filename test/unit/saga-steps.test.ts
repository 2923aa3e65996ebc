import { describe, expect, it } from 'vitest';
import { promotedTimelineOf } from '../../functions/sagas/steps.js';

describe('the timeline a promote command reports having verified', () => {
  it('is the new timeline of a promotion the agent confirmed', () => {
    const output = 'NOTICE: promoting standby to primary\nDETAIL: server "node2" (ID: 2) was successfully promoted to primary (timeline 3 → 4)\n';
    expect(promotedTimelineOf(output)).toBe(4);
  });

  it('is the current timeline of a node that was already primary', () => {
    expect(promotedTimelineOf('NOTICE: node "node2" (ID: 2) is already primary (timeline 7); nothing to do')).toBe(7);
  });

  it('is unknown when the output names no timeline, so the saga waits for a heartbeat', () => {
    expect(promotedTimelineOf('')).toBeNull();
    expect(promotedTimelineOf('ERROR: STANDBY PROMOTE failed: the server did not leave recovery on a new timeline')).toBeNull();
  });
});

