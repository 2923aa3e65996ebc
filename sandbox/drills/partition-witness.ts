/** partition-witness: the witness's network is cut for longer than the detection window. */
import type { Scenario } from './scenario.js';

export const partitionWitness: Scenario = {
  name: 'partition-witness',
  summary: "cut the witness's network for 12 s, then restore it",
  proves: 'losing the witness alone is no reason to fail over: the primary keeps its lease and keeps serving',
  failoverExpected: false,
  needsNetns: true,
  observeMs: 12_000,
  async inject(ctx) {
    await ctx.sandbox.network.cut('witness');
  },
  async undo(ctx) {
    await ctx.sandbox.network.restore('witness');
  },
};
