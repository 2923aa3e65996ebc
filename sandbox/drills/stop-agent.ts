/** stop-agent: the primary's agent dies (SIGKILL, not restarted); the server keeps serving. */
import type { Scenario } from './scenario.js';

export const stopAgent: Scenario = {
  name: 'stop-agent',
  summary: "kill -9 the primary's agent and keep it down for 12 s; the server keeps serving",
  proves: 'a dead agent is not a dead database: with the standbys still streaming from the primary, nobody fails over',
  failoverExpected: false,
  observeMs: 12_000,
  async inject(ctx) {
    const { supervisor } = ctx.sandbox;
    await supervisor.kill(ctx.oldPrimary.node_name, 'agent', 'SIGKILL');
    await supervisor.stop(ctx.oldPrimary.node_name, 'agent'); // no restart while the drill runs
  },
  async undo(ctx) {
    await ctx.sandbox.startAgent(ctx.oldPrimary.node_name);
  },
};
