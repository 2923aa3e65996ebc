/** kill-primary-host: every process of the primary's host dies at once and its network goes down. */
import type { Scenario } from './scenario.js';

export const killPrimaryHost: Scenario = {
  name: 'kill-primary-host',
  summary: "every process of the primary's host dies (SIGKILL in one instant) and its network goes down",
  proves:
    'a silent primary (no agent, no server, no network) is detected by its lease and the standbys, fenced by stopping its instance, and replaced without losing an acknowledged write',
  failoverExpected: true,
  async inject(ctx) {
    const { sandbox, oldPrimary } = ctx;
    const killed = await sandbox.supervisor.killHost(oldPrimary.node_name);
    if (sandbox.network.mode === 'netns') await sandbox.network.cut(oldPrimary.node_name);
    ctx.notes.push(`killed ${killed.length} processes on ${oldPrimary.node_name}${sandbox.network.mode === 'netns' ? ' and cut its network' : ''}`);
  },
};
