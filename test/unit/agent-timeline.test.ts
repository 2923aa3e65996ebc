import { describe, expect, it } from 'vitest';
import { steadyTimeline } from '../../agent/daemon/policy.js';
import type { ServerState } from '../../core/model.js';

const before = (timeline: number | null, system_identifier: string | null = '7300000000000000001'): ServerState =>
  ({ timeline, system_identifier }) as ServerState;

describe("the timeline a standby's agent reports", () => {
  it('stays on the new timeline when the WAL receiver is gone and only the older checkpoint timeline is left', () => {
    expect(steadyTimeline({ timeline: 1, system_identifier: '7300000000000000001' }, before(2))).toBe(2);
  });

  it('moves forward as soon as the server reports a higher timeline', () => {
    expect(steadyTimeline({ timeline: 3, system_identifier: '7300000000000000001' }, before(2))).toBe(3);
  });

  it('does not carry a timeline over to another system (a node re-cloned from a different cluster)', () => {
    expect(steadyTimeline({ timeline: 1, system_identifier: '7300000000000000002' }, before(2))).toBe(1);
  });

  it('reports no timeline when the server reports none, and the first one as it is', () => {
    expect(steadyTimeline({ timeline: null, system_identifier: null }, before(2))).toBeNull();
    expect(steadyTimeline({ timeline: 1, system_identifier: '7300000000000000001' }, null)).toBe(1);
  });
});
