/** partition-primary: the primary's network is cut; its server and agent keep running. */
import type { Scenario } from './scenario.js';

export const partitionPrimary: Scenario = {
  name: 'partition-primary',
  summary: "cut the primary's network; its server and agent keep running",
  proves:
    'the isolated primary cannot acknowledge writes (its synchronous standbys are out of reach) and fences itself when its lease runs out (failsafe mode does not keep it: no standby it cannot reach confirms it); the majority side fails over, so there is never a second writable primary',
  failoverExpected: true,
  needsNetns: true,
  async inject(ctx) {
    await ctx.sandbox.network.cut(ctx.oldPrimary.node_name);
  },
};
