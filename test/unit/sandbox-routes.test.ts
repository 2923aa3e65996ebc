import { describe, expect, it } from 'vitest';
import { nextHealth, SANDBOX_HEALTH_CHECK, SANDBOX_READER_HEALTH_CHECK } from '../../sandbox/routes.js';

const check = { healthyThreshold: 2, unhealthyThreshold: 3 };
const run = (results: boolean[], thresholds = check): boolean[] => {
  let state = { healthy: false, streak: 0, lastPassed: null as boolean | null };
  return results.map((passed) => (state = nextHealth(state, passed, thresholds)).healthy);
};

describe("the routes' target health, as an NLB target group's", () => {
  it('starts a target unhealthy and turns it healthy only after the healthy threshold of passes in a row', () => {
    expect(run([true, false, true, true, true])).toEqual([false, false, false, true, true]);
  });

  it('turns a healthy target unhealthy only after the unhealthy threshold of failures in a row', () => {
    expect(run([true, true, false, false, true, false, false, false])).toEqual([false, true, true, true, true, true, true, false]);
  });

  it("drops a reader on the sandbox reader route's first failed check, but a writer only on the second", () => {
    expect(run([true, true, true, false, true, true], SANDBOX_READER_HEALTH_CHECK)).toEqual([false, true, true, false, false, true]);
    expect(run([true, true, true, false, true, false, false], SANDBOX_HEALTH_CHECK)).toEqual([false, true, true, true, true, true, false]);
  });
});
