/** flapping: repeated network blips on the primary, each shorter than the detection window. */
import type { SandboxNetwork } from '../netns.js';
import { sleep } from './heal.js';
import type { Scenario } from './scenario.js';

/** Blip length: below reconnect_attempts × reconnect_interval and the lease (sandbox defaults: 2 s, 4 s). */
export const BLIP_MS = 800;
export const BLIPS = 5;

/** Cuts a host's link {@link BLIPS} times for {@link BLIP_MS}, 1.5 s apart. */
export async function flap(network: SandboxNetwork, name: string): Promise<void> {
  for (let i = 0; i < BLIPS; i++) {
    await network.cut(name);
    await sleep(BLIP_MS);
    await network.restore(name);
    if (i < BLIPS - 1) await sleep(1500);
  }
}

export const flapping: Scenario = {
  name: 'flapping',
  summary: `cut the primary's network ${BLIPS} times for ${BLIP_MS} ms, 1.5 s apart`,
  proves: 'blips shorter than the detection window cause no failover: the primary keeps its lease and the VIP stays put',
  failoverExpected: false,
  needsNetns: true,
  observeMs: 12_000,
  async inject(ctx) {
    await flap(ctx.sandbox.network, ctx.oldPrimary.node_name);
  },
  async undo(ctx) {
    if (ctx.sandbox.network.isCut(ctx.oldPrimary.node_name)) await ctx.sandbox.network.restore(ctx.oldPrimary.node_name);
  },
};
