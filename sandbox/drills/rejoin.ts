/** rejoin: after a failover (crash of the primary), the old primary's host comes back and rejoins as a standby. */
import { killPostmaster } from './crash-primary.js';
import { nodeState, rejoinNode, sleep } from './heal.js';
import type { Scenario } from './scenario.js';

export const rejoin: Scenario = {
  name: 'rejoin',
  summary: "crash the primary's server, wait for the failover, then bring the old primary back with `node rejoin --force-rewind`",
  proves:
    'a fenced former primary is rewound (pg_rewind) and ends streaming from the new primary, discarding only writes that were never acknowledged',
  failoverExpected: true,
  async inject(ctx) {
    killPostmaster(ctx);
  },
  async afterFailover(ctx) {
    await rejoinNode(ctx.sandbox, ctx.oldPrimary);
    for (let i = 0; i < 100 && (await nodeState(ctx.sandbox, ctx.oldPrimary)) !== 'standby_streaming'; i++) await sleep(100);
    ctx.marks.rejoined = Date.now();
  },
};
