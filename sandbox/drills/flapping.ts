/** flapping: repeated network blips on the primary, each shorter than the detection window. */
import { sleep, type Scenario } from './runner.js';

/** Blip length: below reconnect_attempts × reconnect_interval and the lease (sandbox defaults: 2 s, 4 s). */
export const BLIP_MS = 800;
export const BLIPS = 5;

export const flapping: Scenario = {
  name: 'flapping',
  summary: `cut the primary's network ${BLIPS} times for ${BLIP_MS} ms, 1.5 s apart`,
  proves: 'blips shorter than the detection window cause no failover: the primary keeps its lease and the VIP stays put',
  failoverExpected: false,
  needsNetns: true,
  observeMs: 12_000,
  async inject(ctx) {
    const { network } = ctx.sandbox;
    const name = ctx.oldPrimary.node_name;
    for (let i = 0; i < BLIPS; i++) {
      await network.cut(name);
      await sleep(BLIP_MS);
      await network.restore(name);
      if (i < BLIPS - 1) await sleep(1500);
    }
  },
  async undo(ctx) {
    if (ctx.sandbox.network.isCut(ctx.oldPrimary.node_name)) await ctx.sandbox.network.restore(ctx.oldPrimary.node_name);
  },
};
